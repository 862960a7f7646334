/**
 * Pacing rows to the Sentinel rule's runs: after an outage the outbox holds hundreds of alerts,
 * and an NRT run raises 30 alerts at most (the 30th summarising the rest; test/infra checks the
 * defaults against that cap). Sent through the real
 * LogsIngestionClient to the test server, on a test clock: no window may carry more rows than
 * the budget, counting every instance that sends, and every AlertId arrives exactly once.
 */
import { describe, expect, it } from 'vitest';
import { deliverPending, recordSendResult, type DeliveryReport } from '../../src/delivery/sentinel.js';
import { DEFAULT_ROWS_PER_RUN, DEFAULT_RUN_EVERY_MS, TableSendBudget } from '../../src/delivery/pacing.js';
import { deliveryStandIns } from '../support/delivery-stand-ins.js';
import { makeAlert } from './alerts.js';

const stands = deliveryStandIns('pacing', Date.UTC(2025, 5, 1, 13, 0, 30));

function setup() {
  const { clock, outbox, sink, table } = stands.setup();
  // Two instances, one budget: the deliver timer on one, detect's immediate send on another.
  const pacing = { rowsPerRun: DEFAULT_ROWS_PER_RUN, runEveryMs: DEFAULT_RUN_EVERY_MS, now: () => clock.now };
  const status = { connectionString: stands.azurite.connectionString, table: `${table}status` };
  return { clock, outbox, sink, timerBudget: new TableSendBudget(status, pacing), detectBudget: new TableSendBudget(status, pacing) };
}

describe('pacing rows to the Sentinel rule', () => {
  it('a burst of 500 alerts after an outage goes out at most one budget per window, across instances, each AlertId exactly once', async () => {
    const { clock, outbox, sink, timerBudget, detectBudget } = setup();
    stands.server.outage(true);
    const burst = Array.from({ length: 500 }, (_, i) => makeAlert(i));
    await outbox.add(burst);
    expect(await deliverPending(outbox, sink, { budget: timerBudget })).toMatchObject({ sent: 0, backlog: 500 });
    stands.server.outage(false);
    clock.now += 15 * 60_000; // the outage ends; every failed alert's backoff (≤ 15 min) is over

    const perWindow: number[] = [];
    const live: string[] = [];
    let window = 0;
    for (; window < 100; window++) {
      clock.now += DEFAULT_RUN_EVERY_MS;
      const before = stands.server.rows().length;
      // New alerts keep coming while the backlog drains: detect sends them at once, within the budget.
      const fresh = [makeAlert(10_000 + window * 2), makeAlert(10_001 + window * 2)];
      await outbox.add(fresh, { holdMs: 30_000 });
      const granted = await detectBudget.claim(fresh.length);
      const now: DeliveryReport = { sent: 0, failed: 0, backlog: 0 };
      await recordSendResult(outbox, await sink.send(fresh.slice(0, granted)), now);
      live.push(...fresh.map((a) => a.AlertId));
      const report = await deliverPending(outbox, sink, { budget: timerBudget });
      perWindow.push(stands.server.rows().length - before);
      if (report.backlog === 0) break;
    }

    expect(Math.max(...perWindow)).toBeLessThanOrEqual(DEFAULT_ROWS_PER_RUN);
    // The budget is used, not wasted: every window but the last is full.
    expect(perWindow.slice(0, -1).every((n) => n === DEFAULT_ROWS_PER_RUN)).toBe(true);
    const ids = stands.server.rows().map((r) => r.AlertId as string);
    expect(ids).toHaveLength(new Set(ids).size);
    expect(new Set(ids)).toEqual(new Set([...burst.map((a) => a.AlertId), ...live]));
    // 500 + 2 a minute at 15 a minute: about 39 minutes.
    expect(perWindow.length).toBe(Math.ceil((500 + 2 * perWindow.length) / DEFAULT_ROWS_PER_RUN));
  });

  it('instances claiming at the same moment never get more than the window holds together', async () => {
    const { clock, detectBudget, timerBudget } = setup();
    const grants = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? detectBudget : timerBudget).claim(4)));
    expect(grants.reduce((a, b) => a + b, 0)).toBe(DEFAULT_ROWS_PER_RUN);
    expect(await timerBudget.claim(1)).toBe(0);
    clock.now += DEFAULT_RUN_EVERY_MS;
    expect(await detectBudget.claim(100)).toBe(DEFAULT_ROWS_PER_RUN);
  });
});
