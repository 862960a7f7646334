import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';

const engine = resolve('src/engine/index.js');
const realFixtures = resolve('detections/ai-key-listing.fixtures');
const SP_ROGUE = '3f2a9c1e-5b7d-4e8f-a1c2-9d0e4b6f8a21';

function capturingIO() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false };
  return { io, out, err };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A detections folder with one match rule on AI key listing and the given cases. */
function detections(id: string, cases: unknown, ruleExtra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rules-cli-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, `${id}.ts`),
    `import { defineRule } from ${JSON.stringify(engine)};
export default defineRule({ id: '${id}', version: '1', title: 'keys listed', description: 'd', severity: 'High', tactics: ['CredentialAccess'], techniques: ['T1552'], sources: ['activity'], operations: ['MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION']${ruleExtra}, kind: 'match' });\n`,
  );
  const fixtures = join(dir, `${id}.fixtures`);
  mkdirSync(fixtures);
  copyFileSync(join(realFixtures, 'sp-lists-openai-keys.json'), join(fixtures, 'listing.json'));
  copyFileSync(join(realFixtures, 'storage-keys-listed.json'), join(fixtures, 'storage.json'));
  writeFileSync(join(fixtures, 'cases.json'), JSON.stringify({ cases }));
  return dir;
}

describe('warden rules', () => {
  it('list prints id, kind, severity, learning period and what it is measured against, and sources', async () => {
    const { io, out } = capturingIO();
    expect(await main(['rules', 'list', '--dir', detections('key-rule', [])], io)).toBe(0);
    expect(out).toEqual(['ID        KIND   SEVERITY  LEARNING  MEASURED AGAINST  SOURCES', 'key-rule  match  High      -         -                 activity']);
  });

  it("list shows each pack rule's learning: principal age for first-seen values and sequence steps, the key's own buckets for anomalies", async () => {
    const { io, out } = capturingIO();
    expect(await main(['rules', 'list', '--json'], io)).toBe(0);
    const columns = (id: string) => out.find((l) => l.startsWith(`${id} `))?.split(/ {2,}/);
    expect(columns('ai-new-caller')).toEqual(['ai-new-caller', 'firstSeen', 'Low', '7d', 'principal age', 'ai']);
    expect(columns('cross-subscription-read-write-sequence')).toEqual([
      'cross-subscription-read-write-sequence',
      'sequence',
      'Medium',
      '7d (step write)',
      'principal age',
      'storage, keyvault',
    ]);
    expect(columns('ai-invocation-rate-anomaly')).toEqual(['ai-invocation-rate-anomaly', 'anomaly', 'Medium', '2h (24 × 5m buckets)', 'key', 'ai']);
    expect(columns('ai-key-listing')).toEqual(['ai-key-listing', 'match', 'Medium', '-', '-', 'activity, ai']);
    const { rules } = JSON.parse(out.at(-1)!) as { rules: { id: string; learning: unknown[] }[] };
    expect(rules.find((r) => r.id === 'nhi-new-ip-then-key-access')?.learning).toEqual([{ period: '7d', against: 'principal', what: 'step signin' }]);
    expect(rules.find((r) => r.id === 'storage-read-volume-anomaly')?.learning).toEqual([{ period: '4h', against: 'key', what: '16 × 15m buckets' }]);
  });

  it('test passes the cases whose alerts match, and ends with a JSON summary (exit 0)', async () => {
    const dir = detections('key-rule', [
      { name: 'positive', captures: ['listing.json'], expect: [{ principal: SP_ROGUE, count: 2 }] },
      { name: 'negative', captures: ['storage.json'], expect: [] },
    ]);
    const { io, out } = capturingIO();
    expect(await main(['rules', 'test', 'key-rule', '--dir', dir, '--json'], io)).toBe(0);
    const text = out.join('\n');
    // No suppression in this rule: Start and Success are two alerts, and the case says two.
    expect(text).toContain('✓ key-rule › positive (2 alerts, 2 events)');
    expect(text).toContain('✓ key-rule › negative (0 alerts, 2 events)');
    const summary = JSON.parse(out[out.length - 1]) as { passed: number; failed: number };
    expect(summary).toMatchObject({ passed: 2, failed: 0 });
  });

  it('test reports a case whose alerts differ, principal by principal', async () => {
    const dir = detections(
      'key-rule',
      [
        { name: 'expects one', captures: ['listing.json'], expect: [{ principal: SP_ROGUE, count: 1 }] },
        { name: 'expects none', captures: ['listing.json'], expect: [] },
      ],
      ", suppress: '1h'",
    );
    const { io, out } = capturingIO();
    expect(await main(['rules', 'test', '--dir', dir], io)).toBe(1);
    const text = out.join('\n');
    expect(text).toContain('✓ key-rule › expects one');
    expect(text).toContain('✗ key-rule › expects none');
    expect(text).toContain(`${SP_ROGUE}: expected 0 alert(s), got 1`);
    expect(text).toMatch(/principal\s+expected\s+actual/);
    expect(text).toMatch(new RegExp(`✗ ${SP_ROGUE}\\s+0\\s+1`));
    expect(text).toMatch(/alert [0-9a-f]{32} {2}3f2a9c1e.* "keys listed"/);
    expect(out[out.length - 1]).toBe('2 cases of 1 rule: 1 passed, 1 failed');
  });

  it('test fails a case whose captures give the rule nothing to read', async () => {
    const dir = detections('signin-rule', [{ name: 'vacuous', captures: ['storage.json'], expect: [] }]);
    writeFileSync(
      join(dir, 'signin-rule.ts'),
      `import { defineRule } from ${JSON.stringify(engine)};
export default defineRule({ id: 'signin-rule', version: '1', title: 't', description: 'd', severity: 'Low', tactics: ['InitialAccess'], techniques: ['T1078'], sources: ['signin'], kind: 'match' });\n`,
    );
    const { io, out } = capturingIO();
    expect(await main(['rules', 'test', '--dir', dir], io)).toBe(1);
    expect(out.join('\n')).toContain("no event of the rule's sources (signin) came out of the captures: the case tests nothing");
  });

  it('lint finds a rule without a negative case and a missing capture', async () => {
    const dir = detections('key-rule', [
      { name: 'positive', captures: ['listing.json'], expect: [{ count: 2 }] },
      { name: 'also positive', captures: ['gone.json'], expect: [{ count: 1 }] },
    ]);
    const { io, out } = capturingIO();
    expect(await main(['rules', 'lint', '--dir', dir], io)).toBe(1);
    expect(out[0]).toMatch(/^✗ key-rule: no negative case/);
    expect(out[1]).toMatch(/^✗ key-rule: case "also positive": capture .*gone\.json is missing/);
  });

  it('a broken rule stops list, test and lint with one line naming its file and field (exit 1)', async () => {
    const dir = detections('key-rule', [], ", suppress: 'an hour'");
    for (const sub of ['list', 'test', 'lint']) {
      const { io, out, err } = capturingIO();
      expect(await main(['rules', sub, '--dir', dir], io)).toBe(1);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(new RegExp(`^warden rules ${sub}: .*key-rule\\.ts, rule 'key-rule', field 'suppress': "an hour" is not a duration`));
    }
  });

  it('user mistakes exit 2 with one line', async () => {
    const { io, err } = capturingIO();
    expect(await main(['rules', 'test', 'no-such-rule', '--dir', detections('key-rule', [])], io)).toBe(2);
    expect(await main(['rules', 'frob'], io)).toBe(2);
    expect(await main(['rules', 'list', '--verbose'], io)).toBe(2);
    expect(err).toEqual([
      "warden rules: no rule 'no-such-rule': 'warden rules list' shows the rules",
      "warden rules: unknown subcommand 'frob': use list, test, lint, docs, new",
      "warden rules: Unknown option '--verbose': see 'warden rules --help'",
    ]);
  });
});
