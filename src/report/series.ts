import type { ObservedPoint, Observer } from '../engine/index.js';

/** Most points kept per rule and key: beyond it the oldest go (a week of 5-minute buckets is 2016). */
const MAX_POINTS = 10_000;

/**
 * Collects what anomaly and threshold rules decide on, per rule and key, from the detector's
 * `observe` hook: `new Detector(rules, { observe: series.observe })`. A point repeated for the same
 * time (an anomaly bucket when it fires, then when it closes) keeps the latest.
 */
export class SeriesCollector {
  private readonly byRule = new Map<string, Map<string, ObservedPoint[]>>();

  readonly observe: Observer = (ruleId, key, point) => {
    let keys = this.byRule.get(ruleId);
    if (!keys) this.byRule.set(ruleId, (keys = new Map<string, ObservedPoint[]>()));
    let points = keys.get(key);
    if (!points) keys.set(key, (points = []));
    points.push(point);
    if (points.length > 2 * MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
  };

  /** One key's points in time order, one per time. */
  series(ruleId: string, key: string): ObservedPoint[] {
    const points = this.byRule.get(ruleId)?.get(key);
    if (!points) return [];
    const latest = new Map<number, ObservedPoint>();
    for (const p of points) latest.set(p.time, p);
    return [...latest.values()].sort((a, b) => a.time - b.time);
  }

  /** Keys a rule reported points for. */
  keys(ruleId: string): string[] {
    return [...(this.byRule.get(ruleId)?.keys() ?? [])];
  }
}
