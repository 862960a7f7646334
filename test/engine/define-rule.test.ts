import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Detector,
  KINDS,
  RuleDefinitionError,
  TunableError,
  defineRule,
  loadRules,
  parseDuration,
  tunable,
  tunableOverridesFromEnv,
  type RuleDefinition,
} from '../../src/engine/index.js';

const valid = {
  id: 'test-rule',
  version: '1.0.0',
  title: 'title',
  description: 'description',
  severity: 'High',
  tactics: ['CredentialAccess'],
  techniques: ['T1552.001'],
  sources: ['activity'],
  kind: 'threshold',
  window: '5m',
  threshold: 3,
} as unknown as RuleDefinition;

/** The RuleDefinitionError a broken definition gives. */
function failure(over: Record<string, unknown>): RuleDefinitionError {
  try {
    // Options of another kind replace the threshold's.
    const base = 'kind' in over ? { ...valid, window: undefined, threshold: undefined } : valid;
    defineRule({ ...base, ...over } as RuleDefinition);
  } catch (err) {
    if (err instanceof RuleDefinitionError) return err;
    throw err;
  }
  throw new Error(`accepted: ${JSON.stringify(over)}`);
}

describe('defineRule validation', () => {
  it.each([
    [{ id: 'Test_Rule' }, 'id', /lower-case words/],
    [{ version: 'v1' }, 'version', /'1', '1.2' or '1.2.3'/],
    [{ severity: 'Critical' }, 'severity', /Informational, Low, Medium, High/],
    [{ tactics: [] }, 'tactics', /at least one MITRE tactic/],
    [{ tactics: ['TA0006'] }, 'tactics[0]', /write the tactic name 'CredentialAccess'/],
    [{ tactics: ['Stealing'] }, 'tactics[0]', /not a MITRE tactic/],
    [{ techniques: ['T1552', 'T15'] }, 'techniques[1]', /not a MITRE technique id/],
    [{ sources: ['eventhub'] }, 'sources[0]', /not a source: activity, signin, ai, keyvault, storage/],
    [{ operations: ['microsoft.storage/write'] }, 'operations[0]', /write 'MICROSOFT.STORAGE\/WRITE'/],
    [{ window: '5 minutes' }, 'window', /not a duration/],
    [{ window: '0m' }, 'window', /not a duration/],
    [{ threshold: 0 }, 'threshold', /≥ 1/],
    [{ suppress: '1w' }, 'suppress', /not a duration/],
    [{ entities: ['host'] }, 'entities[0]', /account, azure-resource, ip, cloud-application/],
    [{ tunables: { threshold: 3 } }, 'tunables.threshold', /declare it with tunable\(default, 'what it sets'\)/],
    [{ tunables: { nested: tunable({ a: 1 } as unknown as string, 'doc') } }, 'tunables.nested', /text, a number, a boolean/],
    [{ tunables: { allowPrincipals: tunable(['x'], 'doc') } }, 'tunables.allowPrincipals', /built in for every rule/],
    [{ tunables: { window: tunable('5m', 'doc') }, window: tunable('10m', 'doc') }, 'tunables.window', /declared twice/],
    [{ threshold: tunable(3, ' ') }, 'threshold', /say what tunable 'threshold' sets/],
    [{ kind: 'ratio' }, 'kind', /match, threshold, anomaly, firstSeen, sequence/],
    [{ treshold: 3 }, '(options)', /'treshold' is not an option of a threshold rule/],
    [{ kind: 'firstSeen', value: 'callerIp', horizon: '7d', learning: '1d' }, 'value', /not an event field/],
    [{ kind: 'firstSeen', value: 'ip', horizon: '7d' }, 'learning', /give a learning period/],
    [{ kind: 'anomaly', bucket: '1h', warmup: 24, minCount: 10 }, 'factor', /factor, a zScore, or both/],
    [{ kind: 'anomaly', bucket: '1h', warmup: 24, minCount: 10, factor: 3, alpha: 2 }, 'alpha', /≤ 1/],
    [{ kind: 'sequence', within: '1h', steps: { only: {} } }, 'steps', /at least two steps/],
    [{ kind: 'sequence', within: '1h', steps: { a: {}, b: { sources: ['signin'] } } }, 'steps.b.sources[0]', /not among the rule's sources/],
    [{ kind: 'sequence', within: '1h', steps: { a: { relate: () => true }, b: {} } }, 'steps.a.relate', /no earlier step/],
    [
      { kind: 'sequence', within: '1h', steps: { a: { firstSeen: { value: 'ip', horizon: 'soon', learning: '1d' } }, b: {} } },
      'steps.a.firstSeen.horizon',
      /not a duration/,
    ],
  ])('%j fails on field %s', (over, field, message) => {
    const err = failure(over);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it('validates kind options declared as tunables with their defaults', () => {
    const err = failure({ window: tunable('5 mins', 'Longest span') });
    expect(err.message).toBe(`rule 'test-rule', field 'window': "5 mins" is not a duration: use a whole number and a unit, e.g. '90s', '5m', '1h', '7d'`);
  });

  it("lists a rule's tunables in order, kind options first, allowPrincipals built in and last, each with what it sets", () => {
    const rule = defineRule({ ...valid, window: tunable('5m', 'Longest span'), tunables: { minBytes: tunable(10, 'Smallest request') } } as RuleDefinition);
    expect(rule.tunables).toEqual({ window: '5m', minBytes: 10, allowPrincipals: [] });
    expect(Object.keys(rule.tunables)).toEqual(['window', 'minBytes', 'allowPrincipals']);
    expect(rule.tunableDocs).toMatchObject({ window: 'Longest span', minBytes: 'Smallest request' });
  });

  it('parses durations', () => {
    expect([parseDuration('90s'), parseDuration('5m'), parseDuration('1h'), parseDuration('7d'), parseDuration('250ms')]).toEqual([
      90_000, 300_000, 3_600_000, 604_800_000, 250,
    ]);
    expect([parseDuration('1.5h'), parseDuration('h'), parseDuration(5), parseDuration('-1m')]).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('kinds', () => {
  it('each kind is documented in docs/rules.md by its own definition, verbatim', () => {
    const page = readFileSync(resolve('docs/rules.md'), 'utf8');
    for (const kind of Object.values(KINDS)) expect(page, kind.name).toContain(kind.doc);
  });
});

describe('tunable overrides', () => {
  const rule = defineRule({ ...valid, tunables: { allow: tunable(['a'], 'Allowed') }, threshold: tunable(3, 'Events') } as RuleDefinition);

  it('reads WARDEN_TUNABLES and WARDEN_TUNABLES_FILE, inline winning per tunable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-tunables-'));
    try {
      const file = join(dir, 'tunables.json');
      writeFileSync(file, JSON.stringify({ 'test-rule': { threshold: 10, allow: ['b'] } }));
      const merged = tunableOverridesFromEnv({ WARDEN_TUNABLES_FILE: file, WARDEN_TUNABLES: '{"test-rule":{"threshold":20}}' });
      expect(merged).toEqual({ 'test-rule': { threshold: 20, allow: ['b'] } });
      expect(tunableOverridesFromEnv({})).toBeUndefined();
      expect(() => tunableOverridesFromEnv({ WARDEN_TUNABLES: '{threshold: 1}' })).toThrow(/^WARDEN_TUNABLES: not JSON/);
      expect(() => tunableOverridesFromEnv({ WARDEN_TUNABLES: '{"test-rule": 5}' })).toThrow(TunableError);
      expect(() => tunableOverridesFromEnv({ WARDEN_TUNABLES_FILE: join(dir, 'missing.json') })).toThrow(/cannot read .*missing\.json \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects overrides for unknown rules, unknown tunables, wrong types, and values that break the rule', () => {
    expect(() => new Detector([rule], { tunables: { 'other-rule': { threshold: 1 } } })).toThrow(/rule 'other-rule', which is not loaded/);
    expect(() => new Detector([rule], { tunables: { 'test-rule': { treshold: 1 } } })).toThrow(
      /has no tunable 'treshold': it has threshold, allow, allowPrincipals/,
    );
    expect(() => new Detector([rule], { tunables: { 'test-rule': { threshold: '10' } } })).toThrow(/does not have the type of its default 3/);
    expect(() => new Detector([rule], { tunables: { 'test-rule': { threshold: 0 } } })).toThrow(TunableError);
    expect(new Detector([rule], { tunables: { 'test-rule': { threshold: 7, allow: [] } } }).rules[0].settings).toMatchObject({ threshold: 7 });
  });
});

describe('loadRules', () => {
  const engine = resolve('src/engine/index.js');
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  function detections(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'warden-detections-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }
  const ruleFile = (id: string, extra = '') => `import { defineRule } from ${JSON.stringify(engine)};
export default defineRule({ id: '${id}', version: '1', title: 't', description: 'd', severity: 'Low', tactics: ['Discovery'], techniques: ['T1087'], sources: ['activity'], kind: 'match'${extra} });\n`;

  it('loads every rule file, sorted, skipping tests and fixtures', async () => {
    const dir = detections({
      'b-rule.ts': ruleFile('b-rule'),
      'a-rule.ts': ruleFile('a-rule'),
      'rules.test.ts': 'throw new Error("not a rule")',
      'notes.md': '#',
    });
    const loaded = await loadRules(dir);
    expect(loaded.map((l) => l.rule.id)).toEqual(['a-rule', 'b-rule']);
    expect(loaded[0].fixturesDir).toBe(join(dir, 'a-rule.fixtures'));
  });

  it('a broken rule fails loading with one message naming its file and field', async () => {
    const dir = detections({
      'good.ts': ruleFile('good'),
      'bad-mitre.ts': ruleFile('bad-mitre', ", techniques: ['T999']").replace("techniques: ['T1087'], ", ''),
    });
    const err = await loadRules(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuleDefinitionError);
    expect((err as RuleDefinitionError).file).toMatch(/bad-mitre\.ts$/);
    expect((err as RuleDefinitionError).message).toMatch(/bad-mitre\.ts, rule 'bad-mitre', field 'techniques\[0\]': "T999" is not a MITRE technique id/);
  });

  it('a file named differently from its rule id, or without a default rule export, fails', async () => {
    const renamed = await loadRules(detections({ 'other-name.ts': ruleFile('some-rule') })).catch((e: unknown) => e);
    expect((renamed as Error).message).toMatch(/other-name\.ts, rule 'some-rule', field 'id': the rule in other-name\.ts must have id 'other-name'/);
    const noExport = await loadRules(detections({ 'x.ts': 'export const rule = 1;\n' })).catch((e: unknown) => e);
    expect((noExport as Error).message).toMatch(/x\.ts, field '\(default export\)': the file must `export default defineRule/);
  });
});

describe("a rule's own allowPrincipals default (the first-party noise list)", async () => {
  const { FIRST_PARTY_NOISE_APPS } = await import('../../src/engine/api.js');
  const { MIN, ev, run, stream } = await import('./helpers.js');
  const RESOURCE_GRAPH = '509e4652-da8d-478d-a730-e9d4a1996ca4';
  const rule = defineRule({
    id: 'test-first-party',
    version: '1',
    title: 'keys listed',
    description: 'test rule',
    severity: 'Low',
    tactics: ['CredentialAccess'],
    techniques: ['T1552'],
    sources: ['activity'],
    kind: 'match',
    allowPrincipals: FIRST_PARTY_NOISE_APPS,
  });

  it('leaves out the first-party apps by default, and a deployer override replaces the list', async () => {
    expect(rule.tunables.allowPrincipals).toEqual([...FIRST_PARTY_NOISE_APPS]);
    const events = () => stream([ev(0, { appId: RESOURCE_GRAPH.toUpperCase() }), ev(MIN, { principalId: '33333333-3333-4333-8333-333333333333' })]);
    expect((await run([rule], [events()])).alerts).toHaveLength(1);
    expect((await run([rule], [events()], { tunables: { 'test-first-party': { allowPrincipals: [] } } })).alerts).toHaveLength(2);
  });

  it('refuses an allow-list that is not an array of ids', () => {
    expect(() => defineRule({ ...rule.definition, allowPrincipals: 'all' } as never)).toThrow(/allowPrincipals.*array of principal object ids/);
  });
});
