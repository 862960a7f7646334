import { describe, expect, it } from 'vitest';
import { BacktestOptionError, halves, resolveRange, timeSlices } from '../../src/backtest/range.js';
import { Backtest } from '../../src/backtest/run.js';
import { byEventTime } from '../../src/ingest/pipeline.js';
import { planTables, sliceQuery } from '../../src/backtest/tables.js';
import { Detector, defineRule } from '../../src/engine/index.js';
import type { IngestResult } from '../../src/ingest/pipeline.js';
import type { NormalizedEvent } from '../../src/model/index.js';

const H = 3_600_000;
const NOW = Date.parse('2025-06-08T12:34:56Z');

describe('backtest time range', () => {
  it('reads --since back from --to or now, and --from/--to as ISO (UTC when no offset)', () => {
    expect(resolveRange({ since: '7d' }, NOW)).toEqual({ from: NOW - 7 * 24 * H, to: NOW });
    expect(resolveRange({ since: '12h', to: '2025-06-02T12:00:00Z' }, NOW)).toEqual({
      from: Date.parse('2025-06-02T00:00:00Z'),
      to: Date.parse('2025-06-02T12:00:00Z'),
    });
    expect(resolveRange({ from: '2025-06-01', to: '2025-06-02T06:00' }, NOW)).toEqual({
      from: Date.parse('2025-06-01T00:00:00Z'),
      to: Date.parse('2025-06-02T06:00:00Z'),
    });
    expect(resolveRange({ from: '2025-06-01T02:00:00+02:00' }, NOW)).toEqual({ from: Date.parse('2025-06-01T00:00:00Z'), to: NOW });
    expect(resolveRange({}, NOW)).toBeUndefined();
  });

  it('rejects what cannot be a range, saying what to write', () => {
    const bad = (input: Parameters<typeof resolveRange>[0]) => () => resolveRange(input, NOW);
    expect(bad({ since: '7d', from: '2025-06-01' })).toThrow(new BacktestOptionError('give --since or --from, not both'));
    expect(bad({ since: 'a week' })).toThrow(/--since 'a week' is not a duration: write e\.g\. 7d/);
    expect(bad({ from: 'yesterday' })).toThrow(/--from 'yesterday' is not an ISO 8601 time/);
    expect(bad({ from: '2025-06-02', to: '2025-06-01' })).toThrow(/the range is empty/);
    expect(bad({ to: '2025-06-01' })).toThrow(/--to needs --from or --since/);
  });

  it('cuts a range into slices aligned to the slice length, covering it exactly', () => {
    const range = { from: Date.parse('2025-06-01T10:30:00Z'), to: Date.parse('2025-06-02T01:15:00Z') };
    const slices = timeSlices(range, 6 * H);
    expect(slices.map((s) => [new Date(s.from).toISOString().slice(11, 16), new Date(s.to).toISOString().slice(11, 16)])).toEqual([
      ['10:30', '12:00'],
      ['12:00', '18:00'],
      ['18:00', '00:00'],
      ['00:00', '01:15'],
    ]);
    for (let i = 1; i < slices.length; i++) expect(slices[i].from).toBe(slices[i - 1].to);
    expect(timeSlices({ from: 0, to: 5 }, 10)).toEqual([{ from: 0, to: 5 }]);
  });

  it('halves a slice into two adjacent ranges that cover it', () => {
    expect(halves({ from: 100, to: 201 })).toEqual([
      { from: 100, to: 150 },
      { from: 150, to: 201 },
    ]);
    expect(() => halves({ from: 5, to: 6 })).toThrow(RangeError);
  });
});

describe('backtest queries', () => {
  it("reads only the tables of the rules' sources, AzureDiagnostics filtered to their providers", () => {
    expect(planTables(['keyvault'])).toEqual([{ table: 'AzureDiagnostics', sources: ['keyvault'], providers: ['MICROSOFT.KEYVAULT'] }]);
    expect(planTables(['signin', 'ai']).map((p) => p.table)).toEqual([
      'SigninLogs',
      'AADNonInteractiveUserSignInLogs',
      'AADServicePrincipalSignInLogs',
      'AADManagedIdentitySignInLogs',
      'AzureDiagnostics',
    ]);
    expect(planTables(['activity', 'storage']).map((p) => p.table)).toEqual(['AzureActivity', 'StorageBlobLogs']);
  });

  it('asks one fixed query shape per table and slice, end exclusive, oldest first', () => {
    const range = { from: Date.parse('2025-06-02T09:00:00Z'), to: Date.parse('2025-06-02T10:00:00Z') };
    expect(sliceQuery(planTables(['ai', 'keyvault'])[0], range)).toBe(
      'AzureDiagnostics | where TimeGenerated >= datetime(2025-06-02T09:00:00.000Z) and TimeGenerated < datetime(2025-06-02T10:00:00.000Z)' +
        ' | where ResourceProvider in ("MICROSOFT.COGNITIVESERVICES", "MICROSOFT.KEYVAULT") | order by TimeGenerated asc',
    );
    expect(sliceQuery(planTables(['activity'])[0], range)).toBe(
      'AzureActivity | where TimeGenerated >= datetime(2025-06-02T09:00:00.000Z) and TimeGenerated < datetime(2025-06-02T10:00:00.000Z) | order by TimeGenerated asc',
    );
  });
});

const T0 = Date.parse('2025-06-02T09:00:00Z');
const SP = '11111111-1111-4111-8111-111111111111';

function event(at: number, id: string, over: Partial<NormalizedEvent>): NormalizedEvent {
  return {
    id,
    time: T0 + at,
    source: 'activity',
    category: 'Administrative',
    operation: 'X',
    result: 'success',
    principalId: SP,
    principalType: 'servicePrincipal',
    details: {},
    ...over,
  };
}

/** An IngestResult as one table's slice would give it. */
function body(events: NormalizedEvent[]): IngestResult {
  const bySource: Record<string, number> = {};
  for (const e of events) bySource[e.source] = (bySource[e.source] ?? 0) + 1;
  return {
    records: events.length,
    events: events.map((e) => ({ event: e, location: {} })),
    deadLetters: [],
    deadLettersNotKept: 0,
    skippedByCategory: {},
    bySource,
  };
}

/** Counts a principal's events of both tables per minute against its own baseline. */
const burst = defineRule({
  id: 'test-burst',
  version: '1',
  title: 'burst',
  description: 'test rule',
  severity: 'Medium',
  tactics: ['Impact'],
  techniques: ['T1496'],
  sources: ['signin', 'activity'],
  kind: 'anomaly',
  bucket: '1m',
  warmup: 3,
  minCount: 4,
  factor: 3,
});

describe('backtest ordering', () => {
  it('orders events by event time, equal times by id (never by how the service listed them)', () => {
    const a = event(0, 'b', {});
    const b = event(0, 'a', {});
    const c = event(-1, 'z', {});
    expect([a, b, c].sort(byEventTime).map((e) => e.id)).toEqual(['z', 'a', 'b']);
  });

  it('merges the tables of a slice into event-time order before the rules see them', async () => {
    // The sign-in table holds the principal's quiet minutes 0–4, the activity table its burst in minute 5.
    const signins = body(
      [0, 1, 2, 3, 4].map((m) => event(m * 60_000, `signin-${m}`, { source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN ACTIVITY' })),
    );
    const activity = body([0, 1, 2, 3, 4].map((i) => event(5 * 60_000 + i * 1000, `burst-${i}`, {})));
    const backtest = new Backtest(new Detector([burst], { allowedLatenessMs: 0 }));
    const alerts = await backtest.apply([activity, signins]);
    expect(alerts.map((a) => [a.RuleId, a.EventCount])).toEqual([['test-burst', 4]]);
    expect(backtest.summary()).toMatchObject({ rows: 10, events: 10, alerts: 1, byRule: { 'test-burst': 1 }, byDay: { '2025-06-02': { 'test-burst': 1 } } });
    // Fed table by table, the burst comes first, with no baseline to stand out from; the quiet minutes come too late.
    const tableByTable = new Backtest(new Detector([burst], { allowedLatenessMs: 0 }));
    expect([...(await tableByTable.apply([activity])), ...(await tableByTable.apply([signins]))]).toEqual([]);
  });

  it('keeps only events inside the range when asked (exports), counting the rest', async () => {
    const backtest = new Backtest(new Detector([burst]), { range: { from: T0, to: T0 + 60_000 } });
    await backtest.apply([body([event(-1, 'before', {}), event(0, 'first', {}), event(59_999, 'last', {}), event(60_000, 'after', {})])]);
    expect(backtest.summary()).toMatchObject({ events: 4, outsideRange: 2 });
    expect(backtest.detector.stats().events).toBe(2);
  });
});
