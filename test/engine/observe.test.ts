import { describe, expect, it } from 'vitest';
import { type ObservedPoint } from '../../src/engine/index.js';
import type { NormalizedEvent } from '../../src/model/index.js';
import { batches, ev, HOUR, keysListed, MIN, requestBurst, run, SP, stream, T0 } from './helpers.js';

const burst = requestBurst();

const listKeys = keysListed();

const ai = (at: number) => ev(at, { source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE' });
const hour = (h: number, count: number): NormalizedEvent[] => Array.from({ length: count }, (_, i) => ai(h * HOUR + 10 * MIN + i * 1000));

function recorder() {
  const points: Array<{ ruleId: string; key: string } & ObservedPoint> = [];
  return { points, observe: (ruleId: string, key: string, p: ObservedPoint) => points.push({ ruleId, key, ...p }) };
}

describe('observation hook', () => {
  it('reports each anomaly bucket as it closes (count, baseline, alerting count) and the bucket that fires', async () => {
    const { points, observe } = recorder();
    const events = [0, 1, 2, 3, 4].flatMap((h) => hour(h, 2)).concat(hour(5, 30), hour(7, 2));
    const { alerts } = await run([burst], batches(stream(events), 5), { observe });
    expect(alerts).toHaveLength(1);

    const byTime = (h: number) => points.filter((p) => p.time === T0 + h * HOUR);
    expect(points.every((p) => p.ruleId === 'test-anomaly' && p.key === SP && p.span === HOUR)).toBe(true);
    // Warm-up: no baseline before the first bucket, no alerting count before 4 buckets are learned.
    expect(byTime(0)).toEqual([expect.objectContaining({ value: 2, alerting: false })]);
    expect(byTime(0)[0].baseline).toBeUndefined();
    expect(byTime(0)[0].threshold).toBeUndefined();
    expect(byTime(3)[0]).toMatchObject({ value: 2, baseline: 2, alerting: false });
    expect(byTime(3)[0].threshold).toBeUndefined();
    expect(byTime(4)[0]).toMatchObject({ value: 2, baseline: 2, threshold: 10, alerting: false });
    // Hour 5 fires at its 10th event (minCount 10 ≥ 3 × 2), then closes with its final count of 30.
    expect(byTime(5)).toEqual([
      expect.objectContaining({ value: 10, baseline: 2, threshold: 10, alerting: true }),
      expect.objectContaining({ value: 30, baseline: 2, threshold: 10, alerting: true }),
    ]);
    // The empty hour 6 closes as a zero against the baseline the burst was kept out of.
    expect(byTime(6)).toEqual([expect.objectContaining({ value: 0, baseline: 2, alerting: false })]);
  });

  it('reports each event a threshold rule counts: events in the window ending there, and the one that reaches N', async () => {
    const { points, observe } = recorder();
    const { alerts } = await run([listKeys], [stream([ev(0), ev(5 * MIN), ev(9 * MIN), ev(30 * MIN), ev(35 * MIN)])], { observe });
    expect(alerts).toHaveLength(1);
    expect(points.map((p) => [p.time - T0, p.value, p.alerting])).toEqual([
      [0, 1, false],
      [5 * MIN, 2, false],
      [9 * MIN, 3, true],
      [30 * MIN, 1, false],
      [35 * MIN, 2, false],
    ]);
    expect(points.every((p) => p.threshold === 3 && p.span === 10 * MIN)).toBe(true);
  });

  it('does not change what rules raise', async () => {
    const events = [ev(0), ev(MIN), ev(2 * MIN), ...[0, 1, 2, 3, 4].flatMap((h) => hour(h, 2)), ...hour(5, 30)].sort((a, b) => a.time - b.time);
    const plain = await run([burst, listKeys], batches(stream(events), 7));
    const observed = await run([burst, listKeys], batches(stream(events), 7), { observe: () => {} });
    expect(observed.alerts.map((a) => a.AlertId)).toEqual(plain.alerts.map((a) => a.AlertId));
    expect(plain.alerts).toHaveLength(2);
  });
});
