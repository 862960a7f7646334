import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogsQueryClient } from '@azure/monitor-query-logs';
import { Backtest } from '../../src/backtest/run.js';
import { planTables } from '../../src/backtest/tables.js';
import { BacktestQueryError, readWorkspace, WorkspaceReader } from '../../src/backtest/workspace.js';
import { Detector, type Rule } from '../../src/engine/index.js';
import { SOURCES, type Alert, type NormalizedEvent, type Source } from '../../src/model/index.js';
import { startLogAnalyticsServer, type LogAnalyticsTestServer } from '../support/log-analytics-server.js';
import { DEMO_RANGE, demoRules, demoTables, demoTunables, idsOf, replayDemo } from './demo-history.js';

const HOUR = 3_600_000;

let server: LogAnalyticsTestServer;
let rules: Rule[];
let replayed: { alerts: Alert[]; events: NormalizedEvent[] };

beforeAll(async () => {
  server = await startLogAnalyticsServer({ tables: demoTables() });
  rules = await demoRules();
  replayed = await replayDemo(rules);
});
afterAll(() => server?.close());

function client(): LogsQueryClient {
  // The real SDK client, trusting the test server's certificate.
  return new LogsQueryClient(server.credential, { endpoint: server.endpoint, tlsOptions: { ca: server.ca } });
}

async function backtest(options: { sliceMs?: number; sources?: Source[]; reader?: WorkspaceReader } = {}) {
  const reader = options.reader ?? new WorkspaceReader(client(), server.workspaceId);
  const run = new Backtest(new Detector(rules, { tunables: demoTunables() }));
  const events: NormalizedEvent[] = [];
  for await (const slice of readWorkspace(reader, planTables(options.sources ?? SOURCES), DEMO_RANGE, options.sliceMs ?? HOUR)) {
    await run.apply(slice.results);
    for (const r of slice.results) events.push(...r.events.map((e) => e.event));
  }
  return { run, reader, events };
}

describe('backtest over a Log Analytics workspace (real LogsQueryClient, test query API)', () => {
  it('raises the same alerts, with the same AlertIds, as replay of the same logs in stream shape', async () => {
    server.setRowCap(500_000);
    const { run, events } = await backtest();
    expect(replayed.alerts.length).toBeGreaterThanOrEqual(8);
    expect(idsOf(run.alerts)).toEqual(idsOf(replayed.alerts));
    // Every record came back as the same event (same id), per source.
    const ids = (list: NormalizedEvent[]) => list.map((e) => `${e.source} ${e.id}`).sort();
    expect(ids(events)).toEqual(ids(replayed.events));
    expect(run.summary()).toMatchObject({ rows: replayed.events.length, events: replayed.events.length, deadLettered: 0, skipped: 0 });
  });

  it('asks again in halves when a result is cut at the row limit, reading every row exactly once', async () => {
    server.setRowCap(150);
    const before = server.requests.length;
    const { run, reader, events } = await backtest();
    const requests = server.requests.slice(before);
    // The AI logs (≈1360 rows in the hour) are cut and halved down to pieces of ≤150 rows.
    expect(requests.filter((r) => r.cut).length).toBe(reader.stats.splits);
    expect(reader.stats.splits).toBeGreaterThanOrEqual(7);
    expect(reader.stats.partialSlices).toEqual([]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.length).toBe(replayed.events.length);
    expect(idsOf(run.alerts)).toEqual(idsOf(replayed.alerts));
    // Halves of halves: each answered piece is within the cap and the pieces tile the hour.
    const answered = requests.filter((r) => r.status === 200 && !r.cut && r.table === 'AzureDiagnostics');
    expect(Math.max(...answered.map((r) => r.rows))).toBeLessThanOrEqual(150);
    const spans = answered.map((r) => [Date.parse(r.from!), Date.parse(r.to!)]).sort((a, b) => a[0] - b[0]);
    expect(spans[0][0]).toBe(DEMO_RANGE.from);
    expect(spans.at(-1)![1]).toBe(DEMO_RANGE.to);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBe(spans[i - 1][1]);
  });

  it('keeps the rows of a slice still cut at the smallest size, and says so', async () => {
    server.setRowCap(5);
    const reader = new WorkspaceReader(client(), server.workspaceId, { minSliceMs: 30 * 60_000 });
    const { run } = await backtest({ reader, sources: ['keyvault'] });
    expect(reader.stats.partialSlices.length).toBeGreaterThan(0);
    expect(reader.stats.partialSlices[0]).toMatchObject({ table: 'AzureDiagnostics', problem: expect.stringContaining('E_QUERY_RESULT_SET_TOO_LARGE') });
    expect(run.summary().rows).toBe(5 * reader.stats.partialSlices.length);
  });

  it('reads only the tables the rules read, and a table the workspace lacks as empty', async () => {
    server.setRowCap(500_000);
    const before = server.requests.length;
    const { reader } = await backtest({ sources: ['signin'] });
    const tables = new Set(server.requests.slice(before).map((r) => r.table));
    expect([...tables].sort()).toEqual(['AADManagedIdentitySignInLogs', 'AADNonInteractiveUserSignInLogs', 'AADServicePrincipalSignInLogs', 'SigninLogs']);
    // The demo tenant sent no non-interactive sign-ins: the workspace has no such table.
    expect(reader.stats.missingTables).toEqual(['AADNonInteractiveUserSignInLogs']);
  });

  it("waits out 429s as Retry-After says, beyond the SDK's own retries, and completes", async () => {
    server.setRowCap(500_000);
    const before = server.requests.length;
    server.throttleNext(5, 1);
    const { run, reader } = await backtest({ sources: ['activity'] });
    const requests = server.requests.slice(before);
    const throttled = requests.filter((r) => r.status === 429);
    expect(throttled).toHaveLength(5);
    // Each retry came at least Retry-After (1 s) after the 429 before it.
    for (let i = 1; i <= 5; i++) expect(requests[i].at - requests[i - 1].at).toBeGreaterThanOrEqual(950);
    expect(reader.stats.throttled).toBeGreaterThanOrEqual(1);
    expect(run.summary().rows).toBe(replayed.events.filter((e) => e.source === 'activity').length);
  });

  it('fails with what to fix when the workspace refuses the query or does not exist', async () => {
    server.failNext(1, 403);
    const refused = backtest({ sources: ['activity'] });
    await expect(refused).rejects.toThrow(BacktestQueryError);
    await expect(refused).rejects.toThrow(/needs the Log Analytics Reader role/);
    // The user's to fix: the CLI shows it as one line and exits 2.
    await expect(refused).rejects.toMatchObject({ userFixable: true });
    const reader = new WorkspaceReader(client(), '00000000-0000-4000-8000-000000000000');
    await expect(backtest({ reader, sources: ['activity'] })).rejects.toThrow(/was not found .*use the workspace ID/);
    await expect(backtest({ reader, sources: ['activity'] })).rejects.toMatchObject({ userFixable: true });
  });
});
