import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DETECTIONS_DIR, loadRules } from '../src/engine/loader.js';
import { CATALOGUE_FILE, renderCatalogue } from '../src/rule-tools/rule-docs.js';
import { formatCaseResult, lintFixtures, readCases, runRuleCase } from '../src/rule-tools/rule-tests.js';
import { AlertSchema } from '../src/model/index.js';

/** What no alert may carry: SAS signatures (unless redacted), account keys, bearer tokens, JWTs. */
const SECRETS = [/sig=(?!\[|REDACTED)[^&"\s]/i, /AccountKey=/i, /Bearer\s+[\w.-]{20,}/i, /eyJ[\w-]{8,}\.[\w-]{8,}/];

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
        for (const alert of result.alerts) {
          expect(AlertSchema.safeParse(alert).error).toBeUndefined();
          for (const secret of SECRETS) expect(JSON.stringify(alert)).not.toMatch(secret);
        }
      });
    }
  });
}

describe('the rules catalogue (detections/README.md)', () => {
  it('is what `warden rules docs` generates from the rule files and fixtures', async () => {
    const committed = await readFile(join(DETECTIONS_DIR, CATALOGUE_FILE), 'utf8').catch(() => '(missing)');
    // On failure: run `npm run -s warden -- rules docs` and commit detections/README.md.
    expect(committed).toBe(await renderCatalogue(rules));
  });

  it('lists every rule with its kind, severity, MITRE ids and tunable defaults', async () => {
    const text = await renderCatalogue(rules);
    for (const { rule } of rules) {
      const row = text.split('\n').find((l) => l.startsWith(`| [\`${rule.id}\`]`));
      expect(row, rule.id).toBeDefined();
      expect(row).toContain(` ${rule.kind} | ${rule.severity} |`);
      for (const t of rule.techniques) expect(row).toContain(t);
      for (const name of Object.keys(rule.tunables ?? {})) expect(row).toContain(`\`${name}\` = `);
      expect(text).toContain(`## ${rule.id}\n`);
    }
  });
});
