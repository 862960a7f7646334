import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableServiceClient } from '@azure/data-tables';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { AlertSchema, type Alert } from '../../src/model/index.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { DEMO_CAPTURE, DEMO_TUNABLES_FILE, demoRules, idsOf, replayDemo } from '../backtest/demo-history.js';

interface Summary {
  records: number;
  events: number;
  deadLettered: number;
  skipped: number;
  alerts: number;
  late: number;
  alertsByRule: Record<string, number>;
  duplicatesSkipped: number;
  partitions: number;
  state: string;
  stateWrites: { entities: number; transactions: number };
}

async function replay(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false };
  const code = await main(['replay', ...argv], io);
  return { code, out, err, summary: (argv.includes('--json') && code === 0 ? JSON.parse(out.at(-1)!) : undefined) as Summary };
}

const readAlerts = async (file: string): Promise<Alert[]> =>
  (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Alert);

let dir: string;
let expected: Alert[];
let ruleIds: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-replay-rules-'));
  const rules = await demoRules();
  ruleIds = rules.map((r) => r.id).sort();
  // What the engine's capture replay gives (the path rule tests and backtest's equivalence test use).
  expected = (await replayDemo(rules)).alerts;
});
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('warden replay runs the rules', () => {
  it('prints the alert table, writes the alerts as JSON lines (--out), and counts alerts, late events and alerts per rule (--json)', async () => {
    const outFile = join(dir, 'alerts.jsonl');
    const { code, out, err, summary } = await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--out', outFile, '--json');
    expect(err).toEqual([]);
    expect(code).toBe(0);

    const alerts = await readAlerts(outFile);
    expect(alerts.length).toBeGreaterThan(5);
    expect(idsOf(alerts)).toEqual(idsOf(expected));
    for (const a of alerts) expect(AlertSchema.safeParse(a).error, a.RuleId).toBeUndefined();

    const header = out.findIndex((l) => /^TIME\s+SEVERITY\s+RULE\s+PRINCIPAL\s+TITLE$/.test(l));
    expect(header).toBe(0);
    for (const a of alerts) expect(out.slice(1, alerts.length + 1).some((row) => row.includes(a.RuleId) && row.endsWith(a.Title))).toBe(true);
    expect(out).toContainEqual(expect.stringMatching(new RegExp(`^alerts\\s+${alerts.length} \\((High|Medium|Low|Informational) \\d+`)));

    const byRule: Record<string, number> = Object.fromEntries(ruleIds.map((id) => [id, 0]));
    for (const a of alerts) byRule[a.RuleId]++;
    expect(summary).toMatchObject({ records: 3203, events: 3203, deadLettered: 0, alerts: alerts.length, late: 0, partitions: 4, state: 'memory' });
    expect(summary.alertsByRule).toEqual(byRule);
  });

  it('gives the same AlertIds over any number of partitions', async () => {
    const one = join(dir, 'one.jsonl');
    const many = join(dir, 'many.jsonl');
    expect((await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--partitions', '1', '--out', one)).code).toBe(0);
    expect((await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--partitions', '16', '--out', many)).code).toBe(0);
    expect(idsOf(await readAlerts(one))).toEqual(idsOf(expected));
    expect(idsOf(await readAlerts(many))).toEqual(idsOf(expected));
  });

  it('runs only --rules, with their tunables (WARDEN_TUNABLES on top of --tunables)', async () => {
    const only = await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--rules', 'ai-key-listing,keyvault-mass-secret-read', '--json');
    expect(only.summary.alertsByRule).toEqual({ 'ai-key-listing': 1, 'keyvault-mass-secret-read': 1 });
    // The attacker reads 10 secrets: a deployer's threshold of 20 silences the sweep.
    vi.stubEnv('WARDEN_TUNABLES', '{"keyvault-mass-secret-read":{"threshold":20}}');
    const tuned = await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--rules', 'keyvault-mass-secret-read', '--json');
    expect(tuned.summary.alertsByRule).toEqual({ 'keyvault-mass-secret-read': 0 });
  });

  it('counts an event older than its partition watermark minus the allowed lateness as late', async () => {
    const listKeys = (time: string, correlationId: string) => ({
      time,
      category: 'Administrative',
      operationName: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION',
      resultType: 'Success',
      correlationId,
      resourceId: '/SUBSCRIPTIONS/0F0F0F0F-1111-4222-8333-444444444444/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/OAI1',
      identity: {
        claims: {
          'http://schemas.microsoft.com/identity/claims/objectidentifier': '3f2a9c1e-5b7d-4e8f-a1c2-9d0e4b6f8a21',
          appid: '286c4b04-56c6-4297-baf1-26dcfbc143c9',
        },
      },
    });
    const file = join(dir, 'late.json');
    // One principal: 10:00, then 09:54 (6 minutes behind the watermark: late), then 09:56 (4 minutes: within the lateness).
    await writeFile(
      file,
      JSON.stringify({ records: [listKeys('2025-06-02T10:00:00Z', 'c1'), listKeys('2025-06-02T09:54:00Z', 'c2'), listKeys('2025-06-02T09:56:00Z', 'c3')] }),
    );
    const { code, summary, out } = await replay(file, '--json');
    expect(code).toBe(0);
    expect(summary).toMatchObject({ events: 3, late: 1 });
    expect(out).toContainEqual(expect.stringMatching(/^late events\s+1$/));
  });

  it('writes the tuning report (--report) with every alert and the anomaly chart', async () => {
    const reportFile = join(dir, 'report.html');
    expect((await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--report', reportFile)).code).toBe(0);
    const html = await readFile(reportFile, 'utf8');
    expect(html).toContain('<title>Warden replay report');
    for (const a of expected) expect(html).toContain(a.AlertId);
    expect(html).toContain('<svg class="chart"');
    expect(html).not.toMatch(/<script[^>]*src=|<link/);
  });

  it.each([
    [['--state', 'disk', DEMO_CAPTURE], "--state must be memory or table, got 'disk'"],
    [['--partitions', '0', DEMO_CAPTURE], "--partitions must be a whole number from 1 to 1024, got '0'"],
    [['--rules', 'no-such-rule', DEMO_CAPTURE], "no rule 'no-such-rule' in detections/: 'warden rules list' shows the ids"],
    [['--report', '/no/such/folder/report.html', DEMO_CAPTURE], 'cannot write --report /no/such/folder/report.html: no such folder'],
    [['--out', '/no/such/folder/alerts.jsonl', DEMO_CAPTURE], 'cannot write --out /no/such/folder/alerts.jsonl: no such folder'],
  ])('exits 2 with one line for %j', async (argv, message) => {
    const { code, out, err } = await replay(...argv);
    expect({ code, err, out }).toEqual({ code: 2, err: [`warden replay: ${message}`], out: [] });
  });

  it.each([
    ['{"keyvault-mass-secret-read":{"treshold":20}}', /^warden replay: .*'treshold'/],
    [
      '{"keyvault-mass-secret-reads":{"threshold":20}}',
      /^warden replay: tunables are set for rule 'keyvault-mass-secret-reads', which is not in detections\/: fix the rule id or remove the entry$/,
    ],
    ['{"keyvault-mass-secret-read":', /^warden replay: WARDEN_TUNABLES: not JSON/],
  ])('names a bad WARDEN_TUNABLES %s in one line (exit 2), even when the rule it names is not running', async (tunables, message) => {
    vi.stubEnv('WARDEN_TUNABLES', tunables);
    const { code, err } = await replay(DEMO_CAPTURE, ...(tunables.includes('treshold') ? [] : ['--rules', 'ai-key-listing']));
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });
});

describe('warden replay --state table', () => {
  let azurite: AzuriteInstance;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(() => azurite?.stop());

  it('keeps state in the configured account (WARDEN_STORAGE_CONNECTION_STRING), gives the alerts of memory state, and deletes its table after the run', async () => {
    vi.stubEnv('WARDEN_STORAGE_ACCOUNT', '');
    vi.stubEnv('WARDEN_STORAGE_CONNECTION_STRING', azurite.connectionString);
    const outFile = join(dir, 'table.jsonl');
    const { code, out, err, summary } = await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--state', 'table', '--out', outFile, '--json');
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(idsOf(await readAlerts(outFile))).toEqual(idsOf(expected));
    expect(summary.state).toBe('table');
    expect(summary.stateWrites.entities).toBeGreaterThan(0);
    expect(summary.stateWrites.transactions).toBeGreaterThanOrEqual(summary.partitions);
    expect(out).toContainEqual(
      expect.stringMatching(/state: Azure Tables \(WARDEN_STORAGE_CONNECTION_STRING, table wardenreplay\w+, deleted after the run\)$/),
    );

    const tables: string[] = [];
    for await (const t of TableServiceClient.fromConnectionString(azurite.connectionString, { allowInsecureConnection: true }).listTables())
      tables.push(t.name!);
    expect(tables.filter((t) => t.startsWith('wardenreplay'))).toEqual([]);
  });

  it('starts an Azurite of its own when no storage account is configured', async () => {
    vi.stubEnv('WARDEN_STORAGE_ACCOUNT', '');
    vi.stubEnv('WARDEN_STORAGE_CONNECTION_STRING', '');
    const outFile = join(dir, 'embedded.jsonl');
    const { code, out, summary } = await replay(DEMO_CAPTURE, '--tunables', DEMO_TUNABLES_FILE, '--state', 'table', '--out', outFile, '--json');
    expect(code).toBe(0);
    expect(idsOf(await readAlerts(outFile))).toEqual(idsOf(expected));
    expect(summary).toMatchObject({ state: 'table' });
    expect(summary.stateWrites.entities).toBeGreaterThan(0);
    expect(out).toContainEqual(expect.stringMatching(/state: Azure Tables \(Azurite started for the run/));
  });
});
