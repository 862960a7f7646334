import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../src/model/index.js';
import { batches, ev, HOUR, MIN, requestBurst, run, SP2, stream } from './helpers.js';

const chatBurst = requestBurst();

const ai = (at: number, principalId?: string) =>
  ev(at, { source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE', ...(principalId ? { principalId } : {}) });

/** `count` requests in hour `hour`, from minute 10 on, one a second. */
function hour(h: number, count: number, principalId?: string): NormalizedEvent[] {
  return Array.from({ length: count }, (_, i) => ai(h * HOUR + 10 * MIN + i * 1000, principalId));
}

describe('anomaly', () => {
  it("alerts on a bucket well above the key's learned baseline, once per bucket, at the event that crossed it", async () => {
    const events = [0, 1, 2, 3, 4].flatMap((h) => hour(h, 2)).concat(hour(5, 30));
    const { alerts } = await run([chatBurst], batches(stream(events), 7));
    expect(alerts).toHaveLength(1);
    expect(alerts[0].EventCount).toBe(10); // 10 ≥ minCount and ≥ 3 × mean 2
    expect(alerts[0].Evidence).toMatchObject({ kind: 'anomaly', count: 10, baselineMean: 2, factor: 3, minCount: 10, bucket: '1h' });
    expect((alerts[0].Evidence.events as unknown[]).length).toBeLessThanOrEqual(5);
  });

  it('does not alert during warm-up, however large the bucket', async () => {
    const events = [0, 1, 2].flatMap((h) => hour(h, 2)).concat(hour(3, 50));
    const { alerts } = await run([chatBurst], [stream(events)]);
    expect(alerts).toEqual([]);
  });

  it('keeps anomalous buckets out of the baseline: a second burst alerts against the old baseline', async () => {
    const events = [0, 1, 2, 3, 4].flatMap((h) => hour(h, 2)).concat(hour(5, 30), hour(6, 30));
    const { alerts } = await run([chatBurst], [stream(events)]);
    // Had hour 5 been folded in (alpha 0.5), the mean would be 16 and 30 < 3 × 16: no second alert.
    expect(alerts).toHaveLength(2);
    expect(alerts[1].Evidence).toMatchObject({ baselineMean: 2 });
  });

  it('folds empty buckets in as zeros: a busy key that went quiet alerts when it bursts again', async () => {
    const busy = [0, 1, 2, 3, 4].flatMap((h) => hour(h, 10));
    const quiet = await run([chatBurst], [stream(busy.concat(hour(10, 12)))]);
    expect(quiet.alerts).toHaveLength(1);
    expect(quiet.alerts[0].Evidence.baselineMean as number).toBeLessThan(0.5); // 10 × 0.5^5
    // Silent longer than forgetAfter (default 2 × warmup buckets = 8h): the key is forgotten and warms up again.
    const forgotten = await run([chatBurst], [stream(busy.concat(hour(15, 12)))]);
    expect(forgotten.alerts).toEqual([]);
    // The same volume without the silent hours is the key's normal: nothing.
    const steady = await run([chatBurst], [stream(busy.concat(hour(5, 12)))]);
    expect(steady.alerts).toEqual([]);
  });

  it('keeps baselines per key', async () => {
    const events = [0, 1, 2, 3, 4].flatMap((h) => [...hour(h, 2), ...hour(h, 20, SP2)]).concat(hour(5, 20, SP2), hour(5, 20));
    const { alerts } = await run([chatBurst], [stream(events)]);
    expect(alerts.map((a) => a.PrincipalId)).toEqual([events[0].principalId]);
  });

  it('counts an event for an already-closed bucket as late and does not apply it', async () => {
    const events = [0, 1, 2, 3, 4].flatMap((h) => hour(h, 2));
    events.push(...hour(1, 40)); // an hour after its bucket closed
    const { alerts, detector } = await run([chatBurst], [stream(events)]);
    expect(alerts).toEqual([]);
    expect(detector.stats().late).toBe(40);
  });
});

describe('anomaly over a summed measure', () => {
  const volume = requestBurst('test-volume', {
    title: 'response volume',
    minCount: 100_000,
    factor: 5,
    alpha: 0.5,
    measure: (e) => e.details.responseLength,
  });
  const call = (at: number, responseLength: number) =>
    ev(at, { source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE', details: { responseLength } });
  /** `calls` calls of `size` bytes each in hour h. */
  const hourOf = (h: number, calls: number, size: number) => Array.from({ length: calls }, (_, i) => call(h * HOUR + i * 1000, size));

  it('alerts on a bucket whose total bytes are far above the baseline, though the call count is the usual', async () => {
    const events = [0, 1, 2, 3, 4].flatMap((h) => hourOf(h, 20, 2_000)).concat(hourOf(5, 20, 60_000));
    const { alerts } = await run([volume], [stream(events)]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].Evidence).toMatchObject({ baselineMean: 40_000, factor: 5 });
    expect(alerts[0].Evidence.count as number).toBeGreaterThanOrEqual(200_000);
    expect(alerts[0].Evidence.eventsSummed).toBe(alerts[0].EventCount);
  });

  it('does not alert on many more calls of the usual size when the total stays under the line', async () => {
    const events = [0, 1, 2, 3, 4].flatMap((h) => hourOf(h, 20, 2_000)).concat(hourOf(5, 45, 2_000));
    const { alerts } = await run([volume], [stream(events)]);
    expect(alerts).toEqual([]);
  });
});
