import { describe, expect, it } from 'vitest';
import { deliverPending } from '../../src/delivery/sentinel.js';
import { deliveryStandIns } from '../support/delivery-stand-ins.js';
import { makeAlert } from './alerts.js';

const stands = deliveryStandIns('deliver', Date.UTC(2025, 5, 1, 13, 0, 0));
const setup = () => stands.setup({ retries: 1 });
const receivedIds = () => stands.server.rows().map((r) => r.AlertId as string);

describe('deliverPending: outbox → Sentinel', () => {
  it('sends what the outbox holds, oldest first, as exactly the Alert rows, and empties it', async () => {
    const { outbox, sink } = setup();
    const alerts = Array.from({ length: 25 }, (_, i) => makeAlert(24 - i));
    await outbox.add(alerts);
    const report = await deliverPending(outbox, sink, { maxBatch: 10 });
    expect(report).toEqual({ sent: 25, failed: 0, backlog: 0 });
    expect(stands.server.requests.map((r) => r.rows)).toEqual([10, 10, 5]);
    const oldestFirst = [...alerts].sort((a, b) => a.TimeGenerated.localeCompare(b.TimeGenerated));
    expect(stands.server.rows()).toEqual(JSON.parse(JSON.stringify(oldestFirst)));
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 0, failed: 0, backlog: 0 });
    expect(stands.server.requests).toHaveLength(3);
  });

  it('keeps alerts through an outage and delivers each exactly once after it, redeliveries included', async () => {
    const { outbox, sink, clock } = setup();
    const first = Array.from({ length: 10 }, (_, i) => makeAlert(i));
    await outbox.add(first);
    stands.server.outage(true);
    const during = await deliverPending(outbox, sink);
    expect(during).toMatchObject({ sent: 0, failed: 10, backlog: 10, lastError: expect.stringMatching(/^503 ServiceUnavailable/) });
    expect(stands.server.rows()).toEqual([]);

    // The detect function's batch is redelivered meanwhile: nothing is added twice.
    const second = [...first.slice(5), makeAlert(10), makeAlert(11)];
    const added = await outbox.add(second);
    expect(added.added).toBe(2);
    expect([...added.duplicates].sort()).toEqual(
      first
        .slice(5)
        .map((a) => a.AlertId)
        .sort(),
    );

    stands.server.outage(false);
    // The failed ten wait out their backoff; the two added after the outage are due now.
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 2, failed: 0, backlog: 10 });
    clock.now += 60_000;
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 10, failed: 0, backlog: 0 });
    clock.now += 60_000;
    await outbox.add(first);
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 0, failed: 0, backlog: 0 });

    const ids = receivedIds();
    expect(ids).toHaveLength(12);
    expect(new Set(ids)).toEqual(new Set([...first, makeAlert(10), makeAlert(11)].map((a) => a.AlertId)));
  });

  it("holds throttled alerts back for as long as the service's Retry-After says", async () => {
    const { outbox, sink, clock } = setup();
    await outbox.add([makeAlert(1), makeAlert(2)]);
    // Two minutes is longer than the sink sleeps on (30 s): the outbox does the waiting.
    stands.server.throttleNext(1, 120);
    const started = Date.now();
    const throttled = await deliverPending(outbox, sink);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(throttled).toMatchObject({ sent: 0, failed: 2, backlog: 2, retryAfterMs: 120_000, lastError: expect.stringMatching(/^429/) });
    expect(stands.server.requests).toHaveLength(1);

    clock.now += 90_000; // past the 5 s backoff, not past Retry-After
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 0, failed: 0, backlog: 2 });
    expect(stands.server.requests).toHaveLength(1);

    clock.now += 31_000;
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 2, failed: 0, backlog: 0 });
    expect(receivedIds()).toEqual([makeAlert(1).AlertId, makeAlert(2).AlertId]);
  });

  it('marks sent the part of a send the service accepted, and retries only the part it did not', async () => {
    const { outbox, sink, clock } = setup();
    // ~1.5 MB of alerts: the SDK makes two calls; with one call at a time, the first is failed (both tries).
    const serial = stands.sink({ retries: 1, maxConcurrency: 1 });
    const alerts = Array.from({ length: 150 }, (_, i) => makeAlert(i, { evidenceChars: 10_000 }));
    await outbox.add(alerts);
    stands.server.failNext(2, 500);
    const report = await deliverPending(outbox, serial);
    expect(stands.server.requests.map((r) => r.status)).toEqual([500, 500, 204]);
    const firstCall = 150 - stands.server.requests[2].rows;
    expect(report).toEqual({ sent: 150 - firstCall, failed: firstCall, backlog: firstCall, lastError: expect.stringMatching(/^500 InjectedFailure/) });
    // What failed was the oldest alerts (the first call): they are what is still pending.
    const stillPending = (await outbox.pending(500)).map((p) => p.alert.AlertId);
    expect(stillPending).toEqual([]); // waiting out the backoff
    clock.now += 60_000;
    expect((await outbox.pending(500)).map((p) => p.alert.AlertId)).toEqual(alerts.slice(0, firstCall).map((a) => a.AlertId));

    expect(await deliverPending(outbox, sink)).toEqual({ sent: firstCall, failed: 0, backlog: 0 });
    const ids = receivedIds();
    expect(ids).toHaveLength(150);
    expect(new Set(ids).size).toBe(150);
  });
});
