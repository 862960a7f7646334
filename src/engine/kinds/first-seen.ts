import { z } from 'zod';
import type { NormalizedEvent } from '../../model/index.js';
import { formatDuration } from '../duration.js';
import type { Option } from '../rule.js';
import { duration, eventValue, learning, number, type EventValue } from './schema.js';
import type { Evaluation, LearningPeriod } from './types.js';

/** How "never seen" is judged (the firstSeen kind, and a sequence step's `firstSeen`). */
export interface FirstSeenOptions<Ev> {
  /** The value that must not be new: a field or a function of the event. */
  value: EventValue<Ev>;
  /** How long a value stays known after it was last seen ('30d'). */
  horizon: Option<string>;
  /** Nothing is new until the key has been watched this long ('7d'; '0s' for none). */
  learning: Option<string>;
  /** Most values remembered per key; the least recently seen go first (default 500). */
  maxValues?: number;
  /**
   * What the learning period is measured against (default 'principal'): how long Warden has
   * watched the event's principal on any source (the partition, for an event without one), or
   * 'key': how long this rule has seen this key with a value.
   */
  learningFrom?: 'principal' | 'key';
}

/** What a first-seen judgement adds to an alert's evidence. */
export interface SeenEvidence {
  /** Values the key knew besides this one. */
  knownValues: number;
  learningSince: string;
  learning: string;
  /** What the learning period was measured against. */
  learningFrom: 'principal' | 'key';
  horizon: string;
}

export const firstSeenShape = {
  value: eventValue,
  horizon: duration,
  learning,
  maxValues: number(1, { integer: true, max: 10_000 }).default(500),
  learningFrom: z
    .enum(['principal', 'key'], {
      message: "learningFrom is 'principal' (default: how long the principal has been watched on any source) or 'key' (how long this rule has seen the key)",
    })
    .default('principal'),
};
export const firstSeenSchema = z.strictObject(firstSeenShape);
type FirstSeenSettings = z.output<typeof firstSeenSchema>;

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
 * Learning is per principal by default: nothing is new until `learning` has passed since Warden
 * first saw the event's principal on any source (`watchedSince`), so a long-known identity's
 * first act of a kind alerts; with `learningFrom: 'key'`, since the key's first event.
 * A value stays known for `horizon` after it was last seen (and at most horizon/720 longer);
 * when every value has expired the key starts learning again (a principal silent that long has
 * no history worth trusting).
 */
export class SeenMemory {
  private readonly refreshMs: number;

  private readonly horizonMs: number;
  private readonly learningMs: number;
  private readonly maxValues: number;
  readonly learningFrom: 'principal' | 'key';
  readonly read: (e: NormalizedEvent) => string | undefined;

  constructor(settings: FirstSeenSettings) {
    this.horizonMs = settings.horizon;
    this.learningMs = settings.learning;
    this.maxValues = settings.maxValues;
    this.learningFrom = settings.learningFrom;
    this.read = settings.value.read;
    this.refreshMs = settings.horizon / REFRESH_PER_HORIZON;
  }

  /**
   * Judge `value` at event time `time` (new: never seen within the horizon, learning over), then
   * remember it; `changed` is false when what the key has seen did not change. `watchedSince` is
   * when the event's principal was first seen on any source (Evaluation.watchedSince); a value
   * dropped at `maxValues` is counted through `env`.
   */
  observe(
    seen: SeenValues | undefined,
    value: string,
    time: number,
    watchedSince: number | undefined,
    env: Pick<Evaluation, 'capped'>,
  ): { seen: SeenValues; isNew: boolean; changed: boolean; held: boolean } {
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
    const learned = time - this.learningStart(seen, watchedSince) >= this.learningMs;
    const isNew = last === undefined && learned;
    if (last === undefined) {
      seen.n++;
      if (time < seen.o) seen.o = time;
      if (seen.n > this.maxValues) {
        this.evictOldest(seen);
        env.capped();
      }
    }
    if (last === undefined || time >= last + this.refreshMs) {
      seen.v[value] = time;
      changed = true;
    }
    // A value new to the key, held back only because the key is still learning.
    return { seen, isNew, changed, held: last === undefined && !learned };
  }

  /** Whether nothing is new for the key yet at event time `time` (see observe). */
  stillLearning(seen: SeenValues, time: number, watchedSince: number | undefined): boolean {
    return time - this.learningStart(seen, watchedSince) < this.learningMs;
  }

  /** The learning period, for listings; none when it is 0. */
  period(what?: string): LearningPeriod[] {
    return this.learningMs > 0 ? [{ ms: this.learningMs, against: this.learningFrom, ...(what ? { what } : {}) }] : [];
  }

  /** Forget values not seen within the horizon (and the refresh interval: see REFRESH_PER_HORIZON); returns false when nothing is left. */
  prune(seen: SeenValues, watermark: number): boolean {
    const expiry = watermark - this.horizonMs - this.refreshMs;
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

  /** When the learning period started: the principal's first sighting (if earlier) or the key's first value. */
  learningStart(seen: SeenValues, watchedSince: number | undefined): number {
    return this.learningFrom === 'principal' && watchedSince !== undefined && watchedSince < seen.s ? watchedSince : seen.s;
  }

  /** `besides`: how many of the key's values are the event's own (not counted as known). */
  evidence(seen: SeenValues, watchedSince?: number, besides = 1): SeenEvidence {
    return {
      knownValues: Math.max(0, seen.n - besides),
      learningSince: new Date(this.learningStart(seen, watchedSince)).toISOString(),
      learning: formatDuration(this.learningMs),
      learningFrom: this.learningFrom,
      horizon: formatDuration(this.horizonMs),
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
