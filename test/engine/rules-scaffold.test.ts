import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { RULE_KINDS } from '../../src/engine/rule.js';

function capturingIO() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false };
  return { io, out, err };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDetections(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rules-new-'));
  dirs.push(dir);
  return dir;
}

describe('warden rules new', () => {
  it.each(RULE_KINDS)('scaffolds a %s rule that loads and lints, and whose test fails saying what to fill in', async (kind) => {
    const dir = tempDetections();
    const id = `my-${kind.toLowerCase()}-rule`;
    const created = capturingIO();
    expect(await main(['rules', 'new', id, '--kind', kind, '--dir', dir], created.io)).toBe(0);
    expect(created.out.filter((l) => l.startsWith('created '))).toHaveLength(4);
    expect(readFileSync(join(dir, `${id}.ts`), 'utf8')).toContain(`kind: '${kind}'`);

    const list = capturingIO();
    expect(await main(['rules', 'list', '--dir', dir], list.io)).toBe(0);
    // The learning columns: what the skeleton's kind learns (a sequence learns only once a step asks for firstSeen).
    const learning = { anomaly: '2h \\(24 × 5m buckets\\)\\s+key', firstSeen: '7d\\s+principal age' }[kind as string] ?? '-\\s+-';
    expect(list.out[1]).toMatch(new RegExp(`^${id}\\s+${kind}\\s+Medium\\s+${learning}\\s+activity$`));

    const lint = capturingIO();
    expect(await main(['rules', 'lint', '--dir', dir], lint.io)).toBe(0);
    expect(lint.out).toEqual(['✓ 1 rule valid, each with a positive and a negative case']);

    const test = capturingIO();
    expect(await main(['rules', 'test', '--dir', dir], test.io)).toBe(1);
    const text = test.out.join('\n');
    expect(text).toContain(`✗ ${id} › TODO: the attack this rule catches`);
    expect(text).toContain('still to do: put captured records that must raise the alert in positive.json');
    expect(text).toContain('still to do: put captured records of the normal activity that looks most like the attack in benign.json');
    expect(text).toContain('then remove "todo" from the case in cases.json');
    expect(test.out.at(-1)).toBe('2 cases of 1 rule: 0 passed, 2 failed');
  });

  it('passes once the engineer fills in the cases with real captures', async () => {
    const dir = tempDetections();
    const id = 'openai-key-listing';
    expect(await main(['rules', 'new', id, '--kind', 'match', '--dir', dir], capturingIO().io)).toBe(0);
    const rule = join(dir, `${id}.ts`);
    writeFileSync(
      rule,
      readFileSync(rule, 'utf8').replace("// operations: ['TODO/OPERATION'],", "operations: ['MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION'],"),
    );
    const fixtures = join(dir, `${id}.fixtures`);
    const real = join(import.meta.dirname, '../../detections/ai-key-listing.fixtures');
    writeFileSync(join(fixtures, 'positive.json'), readFileSync(join(real, 'sp-lists-openai-keys.json')));
    writeFileSync(join(fixtures, 'benign.json'), readFileSync(join(real, 'storage-keys-listed.json')));
    writeFileSync(
      join(fixtures, 'cases.json'),
      JSON.stringify({
        cases: [
          { name: 'an SP lists OpenAI keys', captures: ['positive.json'], expect: [{ principal: '3f2a9c1e-5b7d-4e8f-a1c2-9d0e4b6f8a21', count: 1 }] },
          { name: 'storage keys are another rule', captures: ['benign.json'], expect: [] },
        ],
      }),
    );
    const test = capturingIO();
    expect(await main(['rules', 'test', '--dir', dir], test.io)).toBe(0);
    expect(test.out.at(-1)).toBe('2 cases of 1 rule: 2 passed, 0 failed');
  });

  it('refuses a bad id, an unknown kind, a missing kind and an existing rule with one line (exit 2)', async () => {
    const dir = tempDetections();
    expect(await main(['rules', 'new', 'taken', '--kind', 'match', '--dir', dir], capturingIO().io)).toBe(0);
    const cases: [string[], string][] = [
      [['rules', 'new', 'Bad_Id', '--kind', 'match'], "warden rules: 'Bad_Id' is not a rule id: use lower-case words joined by '-' (e.g. 'storage-sas-burst')"],
      [['rules', 'new', 'ok-id', '--kind', 'window'], "warden rules: 'window' is not a rule kind: use match, threshold, anomaly, firstSeen, sequence"],
      [['rules', 'new', 'ok-id'], 'warden rules: give --kind: match, threshold, anomaly, firstSeen or sequence'],
      [
        ['rules', 'new', 'taken', '--kind', 'threshold'],
        `warden rules: ${relative(process.cwd(), join(dir, 'taken.ts'))} already exists: pick another id or remove it`,
      ],
    ];
    for (const [argv, message] of cases) {
      const run = capturingIO();
      expect(await main([...argv, '--dir', dir], run.io), argv.join(' ')).toBe(2);
      expect(run.err).toEqual([message]);
    }
  });
});

describe('warden rules docs', () => {
  it('writes the catalogue, and --check fails once the rules change until it is regenerated', async () => {
    const dir = tempDetections();
    expect(await main(['rules', 'new', 'first-rule', '--kind', 'threshold', '--dir', dir], capturingIO().io)).toBe(0);
    const missing = capturingIO();
    expect(await main(['rules', 'docs', '--check', '--dir', dir], missing.io)).toBe(1);
    expect(missing.out[0]).toMatch(/^✗ .*README\.md is stale: run 'npm run -s warden -- rules docs' and commit it$/);

    const write = capturingIO();
    expect(await main(['rules', 'docs', '--dir', dir], write.io)).toBe(0);
    expect(write.out[0]).toMatch(/^wrote .*README\.md$/);
    const catalogue = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(catalogue).toContain('| [`first-rule`](#first-rule) | TODO: what it detects, in a few words | threshold | Medium | activity |');
    expect(catalogue).toContain('`threshold` = `10`<br>`window` = `"10m"`');
    expect(await main(['rules', 'docs', '--check', '--dir', dir], capturingIO().io)).toBe(0);

    // A rule added (files already imported stay cached in this process, so a new one stands in for an edit).
    expect(await main(['rules', 'new', 'second-rule', '--kind', 'firstSeen', '--dir', dir], capturingIO().io)).toBe(0);
    expect(await main(['rules', 'docs', '--check', '--dir', dir], capturingIO().io)).toBe(1);
    expect(await main(['rules', 'docs', '--dir', dir], capturingIO().io)).toBe(0);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('## second-rule');
  });
});
