import type { NormalizedEvent } from '../../model/index.js';
import { formatDuration } from '../duration.js';
import type { FirstSeenSettings } from '../rule.js';

/** What a key has seen: when it was first watched, and each value with the time it was last seen. */
export interface SeenValues {
  /** Learning start: the key's earliest event time with a value. */
  s: number;
  /** value → last seen (prototype-free in memory, so any text is a safe key). */
  v: Record<string, number>;
  /** Number of values in `v`. */
  n: number;
  /** No value was last seen before this: pruning is skipped until the horizon passes it. */
  o: number;
}

/**
 * Last-seen times are moved on at most once per this fraction of the horizon (1 h for 30 days): a
 * value seen again and again then changes its key's state, and costs a state write, about once
 * an hour rather than at every event. A value is forgotten that much later to make up for it, so
 * it always stays known for at least the horizon after it was last seen.
 */
const REFRESH_PER_HORIZON = 720;

/**
 * The "never seen for this key" memory shared by the firstSeen kind and sequence steps.
 * Learning is per key: nothing is new until `learning` has passed since the key's first event.
 * A value stays known for `horizon` after it was last seen (and at most horizon/720 longer);
 * when every value has expired the key starts learning again (a principal silent that long has
 * no history worth trusting).
 */
export class SeenMemory {
  private readonly refreshMs: number;

  constructor(
    private readonly settings: FirstSeenSettings,
    readonly read: (e: NormalizedEvent) => string | undefined,
  ) {
    this.refreshMs = settings.horizonMs / REFRESH_PER_HORIZON;
  }

  /**
   * Judge `value` at event time `time` (new: never seen within the horizon, learning over), then
   * remember it; `changed` is false when what the key has seen did not change.
   */
  observe(seen: SeenValues | undefined, value: string, time: number): { seen: SeenValues; isNew: boolean; changed: boolean } {
    let changed = false;
    if (!seen) {
      seen = { s: time, v: Object.create(null) as Record<string, number>, n: 0, o: time };
      changed = true;
    }
    if (time < seen.s) {
      seen.s = time;
      changed = true;
    }
    const last = seen.v[value];
    const isNew = last === undefined && time - seen.s >= this.settings.learningMs;
    if (last === undefined) {
      seen.n++;
      if (time < seen.o) seen.o = time;
      if (seen.n > this.settings.maxValues) this.evictOldest(seen);
    }
    if (last === undefined || time >= last + this.refreshMs) {
      seen.v[value] = time;
      changed = true;
    }
    return { seen, isNew, changed };
  }

  /** Forget values not seen within the horizon (and the refresh interval: see REFRESH_PER_HORIZON); returns false when nothing is left. */
  prune(seen: SeenValues, watermark: number): boolean {
    const expiry = watermark - this.settings.horizonMs - this.refreshMs;
    if (seen.o >= expiry) return seen.n > 0;
    let oldest = Infinity;
    for (const value in seen.v) {
      const t = seen.v[value];
      if (t < expiry) {
        delete seen.v[value];
        seen.n--;
      } else if (t < oldest) {
        oldest = t;
      }
    }
    seen.o = oldest;
    return seen.n > 0;
  }

  evidence(seen: SeenValues): Record<string, unknown> {
    return {
      knownValues: seen.n - 1,
      learningSince: new Date(seen.s).toISOString(),
      learning: formatDuration(this.settings.learningMs),
      horizon: formatDuration(this.settings.horizonMs),
    };
  }

  private evictOldest(seen: SeenValues): void {
    let oldest: string | undefined;
    for (const value in seen.v) if (oldest === undefined || seen.v[value] < seen.v[oldest]) oldest = value;
    if (oldest !== undefined) {
      delete seen.v[oldest];
      seen.n--;
    }
  }
}

/** A SeenValues read back from JSON: give its map no prototype again. */
export function restoreSeen(seen: SeenValues | undefined): void {
  if (seen) seen.v = Object.assign(Object.create(null) as Record<string, number>, seen.v);
}
