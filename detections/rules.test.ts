import { describe, expect, it } from 'vitest';
import { loadRules } from '../src/engine/loader.js';
import { formatCaseResult, lintFixtures, readCases, runRuleCase } from '../src/engine/rule-tests.js';

// One test per case of every rule in detections/: `npm test` runs the whole pack's fixtures.
const rules = await loadRules();

for (const loaded of rules) {
  describe(loaded.rule.id, async () => {
    it('has valid fixtures with a positive and a negative case', async () => {
      expect(await lintFixtures(loaded)).toEqual([]);
    });
    const cases = await readCases(loaded).catch(() => []);
    for (const ruleCase of cases) {
      it(ruleCase.name, async () => {
        const result = await runRuleCase(loaded, ruleCase);
        expect(result.passed, formatCaseResult(result)).toBe(true);
      });
    }
  });
}
