import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');

/** The no-restricted-imports messages eslint gives a rule file that imports `from`. */
async function refusals(from: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: repo });
  const [result] = await eslint.lintText(`import * as x from '${from}';\nexport default x;\n`, { filePath: join(repo, 'detections/probe-rule.ts') });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('a rule file (detections/*.ts) imports only the rule API', () => {
  it('may import src/engine/api.js', async () => {
    expect(await refusals('../src/engine/api.js')).toEqual([]);
  });

  it.each(['../src/engine/index.js', '../src/model/index.js', '../src/engine/rule.js', '../src/ingest/pipeline.js'])('may not import %s', async (from) => {
    expect(await refusals(from)).toEqual([expect.stringContaining('A rule imports only the rule API (src/engine/api.js)')]);
  });
});
