import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Alert, NormalizedEvent } from '../../src/model/index.js';
import { execWarden } from '../support/cli.js';
import { startLogAnalyticsServer, type LogAnalyticsTestServer } from '../support/log-analytics-server.js';
import { DEMO_TUNABLES_FILE, demoRules, demoTables, idsOf, replayDemo } from './demo-history.js';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['backtest', ...argv], { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false });
  return { code, out, err };
}

const readAlerts = (file: string): Alert[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Alert);

let dir: string;
let replayed: { alerts: Alert[]; events: NormalizedEvent[] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-backtest-'));
  replayed = await replayDemo(await demoRules());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('warden backtest: usage errors are one line and exit 2', () => {
  it.each([
    [[], "give --workspace ID (with --since or --from) or --export FILE: see 'warden backtest --help'"],
    [
      ['--workspace', 'my-workspace', '--since', '1d'],
      "--workspace takes the workspace ID, a GUID (Log Analytics workspace → Overview → Workspace ID), got 'my-workspace'",
    ],
    [['--workspace', '0f0f0f0f-1111-4222-8333-444444444444'], 'give the history to read: --since 7d, or --from 2025-06-01 [--to 2025-06-08]'],
    [['--workspace', '0f0f0f0f-1111-4222-8333-444444444444', '--export', 'x.json'], 'give --workspace or --export, not both'],
    [['--workspace', '0f0f0f0f-1111-4222-8333-444444444444', '--since', 'a week'], "--since 'a week' is not a duration: write e.g. 7d, 12h or 90m"],
    [
      ['--workspace', '0f0f0f0f-1111-4222-8333-444444444444', '--since', '1d', '--slice', '10s'],
      "--slice must be a duration of at least 1m (e.g. 1h, 6h, 1d), got '10s'",
    ],
    [
      ['--workspace', '0f0f0f0f-1111-4222-8333-444444444444', '--since', '1d', '--endpoint', 'http://api.loganalytics.us'],
      "--endpoint must be an https URL, got 'http://api.loganalytics.us'",
    ],
    [
      ['--workspace', '0f0f0f0f-1111-4222-8333-444444444444', '--since', '1d', '--rules', 'ai-key-listing,no-such-rule'],
      "no rule 'no-such-rule' in detections/: 'warden rules list' shows the ids",
    ],
    [
      ['--workspace', '0f0f0f0f-1111-4222-8333-444444444444', '--since', '1d', '--table', 'AzureActivity'],
      '--table names the table of exported rows: use it with --export',
    ],
    [['--export', 'no/such/export.json'], 'cannot read no/such/export.json: no such file or folder'],
    [['--export', 'x.json', '--out', 'no/such/folder/alerts.jsonl'], 'cannot write --out no/such/folder/alerts.jsonl: no such folder'],
    [['--export', 'x.json', '--bogus'], "Unknown option '--bogus': see 'warden backtest --help'"],
  ])('%j', async (argv, message) => {
    const { code, out, err } = await cli(...argv);
    expect({ code, err }).toEqual({ code: 2, err: [`warden backtest: ${message}`] });
    expect(out).toEqual([]);
  });
});

describe('warden backtest --export (offline)', () => {
  it('reads saved query results ({"tables":[…]}, one file per table) and gives replay\'s alerts; --out, --report, --json', async () => {
    const exportDir = join(dir, 'export');
    mkdirSync(exportDir);
    // As the query API answers `<Table> | where …`: one PrimaryResult table, datetimes as text, dynamic columns as JSON text.
    for (const t of demoTables())
      writeFileSync(join(exportDir, `${t.name}.json`), JSON.stringify({ tables: [{ name: 'PrimaryResult', columns: t.columns, rows: t.rows }] }));
    const outFile = join(dir, 'alerts.jsonl');
    const reportFile = join(dir, 'report.html');
    const { code, out, err } = await cli('--export', exportDir, '--tunables', DEMO_TUNABLES_FILE, '--out', outFile, '--report', reportFile, '--json');
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(idsOf(readAlerts(outFile))).toEqual(idsOf(replayed.alerts));

    const summary = JSON.parse(out.at(-1)!) as Record<string, unknown>;
    const byRule: Record<string, number> = {};
    for (const a of replayed.alerts) byRule[a.RuleId] = (byRule[a.RuleId] ?? 0) + 1;
    expect(summary).toMatchObject({
      alerts: replayed.alerts.length,
      rows: replayed.events.length,
      events: replayed.events.length,
      deadLettered: 0,
      skipped: 0,
      byDay: { '2025-06-02': byRule },
    });
    expect(summary.byRule).toMatchObject(byRule);
    // The table: a row per rule (rules that never fired too), a column per day, totals.
    expect(out[0]).toMatch(/^RULE\s+2025-06-02\s+TOTAL$/);
    // The demo's two chains each raise the rate anomaly.
    expect(out).toContainEqual(expect.stringMatching(/^ai-invocation-rate-anomaly\s+2\s+2$/));
    expect(out).toContainEqual(expect.stringMatching(/^storage-key-listing\s+0\s+0$/));
    expect(out).toContainEqual(expect.stringMatching(new RegExp(`^total\\s+${replayed.alerts.length}\\s+${replayed.alerts.length}$`)));

    const html = readFileSync(reportFile, 'utf8');
    for (const a of replayed.alerts) expect(html).toContain(a.AlertId);
    expect(html).toContain('<svg class="chart"');

    // What learning cost: principals first seen within the demo's hour-long learning have their first secret reads held back.
    expect(summary.learning).toMatchObject({ 'keyvault-first-secret-read': { heldWhileLearning: 5 }, 'ai-new-caller': { heldWhileLearning: 3 } });
    expect(out).toContainEqual(expect.stringMatching(/^held while learning \(alerts not raised: the key was still learning\): .*keyvault-first-secret-read 5/));
    expect(html).toMatch(/<tr><td>(<a [^>]+>)?keyvault-first-secret-read(<\/a>)?<\/td>.*?<td class="num held">5<\/td><\/tr>/);
  });

  it('reads a JSON array of rows, taking the table from --table when rows have no Type column', async () => {
    const activity = demoTables().find((t) => t.name === 'AzureActivity')!;
    const typeAt = activity.columns.findIndex((c) => c.name === 'Type');
    const rows = activity.rows.map((row) => Object.fromEntries(activity.columns.map((c, i) => [c.name, row[i]]).filter((_, i) => i !== typeAt)));
    const file = join(dir, 'activity-rows.json');
    writeFileSync(file, JSON.stringify(rows));
    const named = await cli('--export', file, '--table', 'AzureActivity', '--rules', 'data-plane-role-granted,monitoring-disabled-on-ai-resource', '--json');
    expect(named.code).toBe(0);
    const summary = JSON.parse(named.out.at(-1)!) as { events: number; deadLettered: number; byRule: Record<string, number> };
    expect(summary).toMatchObject({ events: rows.length, deadLettered: 0, byRule: { 'data-plane-role-granted': 1, 'monitoring-disabled-on-ai-resource': 1 } });
    expect(Object.keys(summary.byRule)).toHaveLength(2);
    // Without the table name the rows cannot be read as rows: they are dead-lettered, not guessed at.
    const deadFile = join(dir, 'dead.jsonl');
    const unnamed = await cli('--export', file, '--json', '--dead-letter', deadFile);
    expect(JSON.parse(unnamed.out.at(-1)!)).toMatchObject({ events: 0, alerts: 0, deadLettered: rows.length });
    const dead = readFileSync(deadFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string });
    expect(new Set(dead.map((d) => d.reason))).toEqual(new Set(['Log Analytics row without a Type column: name the table it came from']));
  });

  it('keeps only events in --from/--to when given', async () => {
    const exportDir = join(dir, 'export');
    const { code, out } = await cli('--export', exportDir, '--from', '2025-06-02T09:00:00Z', '--to', '2025-06-02T09:30:00Z', '--json');
    expect(code).toBe(0);
    const summary = JSON.parse(out.at(-1)!) as { events: number; outsideRange: number };
    const inRange = replayed.events.filter((e) => e.time < Date.parse('2025-06-02T09:30:00Z')).length;
    expect(summary.outsideRange).toBe(replayed.events.length - inRange);
  });
});

describe('warden backtest --workspace (spawned, DefaultAzureCredential, real query client)', () => {
  let server: LogAnalyticsTestServer;
  beforeAll(async () => {
    server = await startLogAnalyticsServer({ tables: demoTables(), rowCap: 400 });
  });
  afterAll(() => server?.close());

  it("reads the workspace over HTTPS with a managed identity token and gives replay's AlertIds", async () => {
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, server.ca);
    const outFile = join(dir, 'workspace-alerts.jsonl');
    const env: NodeJS.ProcessEnv = { ...process.env, ...server.childEnv, NODE_EXTRA_CA_CERTS: caFile };
    for (const k of Object.keys(env)) if (k.startsWith('AZURE_') || k.startsWith('MSI_')) delete env[k];
    // Asynchronously: the test server answers from this process.
    const run = await execWarden(
      [
        'backtest',
        '--workspace',
        server.workspaceId,
        '--from',
        '2025-06-02T08:00:00Z',
        '--to',
        '2025-06-02T11:00:00Z',
        '--endpoint',
        server.url,
        '--slice',
        '1h',
        '--tunables',
        DEMO_TUNABLES_FILE,
        '--out',
        outFile,
        '--json',
      ],
      env,
    );
    expect(run.stderr).not.toMatch(/Error/);
    expect(idsOf(readAlerts(outFile))).toEqual(idsOf(replayed.alerts));
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({ rows: replayed.events.length, alerts: replayed.alerts.length });
    // The tables of a slice are queried at once: the missing ones are noted in the order their answers came.
    // The demo has no non-interactive user sign-ins (its AuditLogs and Graph requests came with the planted-secret chain).
    expect([...(summary.missingTables as string[])].sort()).toEqual(['AADNonInteractiveUserSignInLogs']);
    expect(summary.splits as number).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/note: table AADNonInteractiveUserSignInLogs does not exist in the workspace: read as empty/);
    expect(server.requests.every((r) => r.status === 200 || r.status === 400)).toBe(true);
  }, 180_000);
});
