import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';

const repo = join(import.meta.dirname, '..', '..');

function capturingIO() {
  const out: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => out.push(l), progress: false };
  return { io, out };
}

/** The README's "Add a rule" section: its fenced blocks in order, by language. */
function addRuleSection(): { lang: string; text: string }[] {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Add a rule'), readme.indexOf('\n## ', readme.indexOf('## Add a rule') + 1));
  return [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
}

const dir = mkdtempSync(join(tmpdir(), 'warden-readme-rule-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the README worked example (Add a rule)', () => {
  it("scaffolds, then with the README's rule, fixtures and cases, passes and prints what the README shows", async () => {
    const blocks = addRuleSection();
    const shown = (command: string) =>
      blocks
        .find((b) => b.text.startsWith(`$ npm run -s warden -- ${command}`))!
        .text.split('\n')
        .slice(1)
        .filter(Boolean);

    const scaffold = capturingIO();
    expect(await main(['rules', 'new', 'ai-deployment-deleted', '--kind', 'match', '--dir', dir], scaffold.io)).toBe(0);
    // The README shows the scaffold run from the repository: the same files, under detections/.
    expect(scaffold.out.map((l) => l.replace(`${relative(process.cwd(), dir) || dir}${sep}`, 'detections/'))).toEqual(
      shown('rules new ai-deployment-deleted --kind match'),
    );

    const [rule] = blocks.filter((b) => b.lang === 'ts');
    const [positive, benign, cases] = blocks.filter((b) => b.lang === 'json');
    // The README's import is relative to detections/; here the rule lives in a temporary folder.
    const api = relative(dir, join(repo, 'src/engine/api.js')).split(sep).join('/');
    writeFileSync(join(dir, 'ai-deployment-deleted.ts'), rule.text.replace("'../src/engine/api.js'", `'${api}'`));
    const fixtures = join(dir, 'ai-deployment-deleted.fixtures');
    rmSync(join(fixtures, 'positive.json'));
    rmSync(join(fixtures, 'benign.json'));
    writeFileSync(join(fixtures, 'sp-deletes-deployment.json'), positive.text);
    writeFileSync(join(fixtures, 'pipeline-redeploys.json'), benign.text);
    writeFileSync(join(fixtures, 'cases.json'), cases.text);

    const lint = capturingIO();
    expect(await main(['rules', 'lint', '--dir', dir], lint.io)).toBe(0);
    const test = capturingIO();
    expect(await main(['rules', 'test', 'ai-deployment-deleted', '--dir', dir], test.io)).toBe(0);
    expect(test.out).toEqual(shown('rules test ai-deployment-deleted'));
  });
});
