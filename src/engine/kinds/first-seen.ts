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

/** Values a key knows this few of are held as a list, not a dictionary: most keys know one or two, and a dictionary costs about 120 bytes more. */
const LIST_MAX = 4;

/**
 * What a key has seen: when it was first watched, and each value with the time it was last seen.
 * Stored as `{"s","v":{value: last seen},"n","o"}` (toJSON); held in memory as a list while small.
 */
export class SeenValues {
  /** value → last seen: [value, time, value, time, …] while at most LIST_MAX, then a prototype-free dictionary (any text is a safe key). */
  private v: (string | number)[] | Record<string, number>;

  constructor(
    /** Learning start: the key's earliest event time with a value. */
    public s: number,
    /** No value was last seen before this: pruning is skipped until the horizon passes it. */
    public o: number,
    values?: Record<string, number>,
    /** Number of values. */
    public n = 0,
  ) {
    this.v = [];
    if (values) for (const value in values) this.set(value, values[value]);
  }

  get(value: string): number | undefined {
    const v = this.v;
    if (!Array.isArray(v)) return v[value];
    for (let i = 0; i < v.length; i += 2) if (v[i] === value) return v[i + 1] as number;
    return undefined;
  }

  /** Set a value's last-seen time (`n` is the caller's to count). */
  set(value: string, time: number): void {
    const v = this.v;
    if (!Array.isArray(v)) {
      v[value] = time;
      return;
    }
    for (let i = 0; i < v.length; i += 2) {
      if (v[i] === value) {
        v[i + 1] = time;
        return;
      }
    }
    if (v.length < 2 * LIST_MAX) v.push(value, time);
    else {
      this.v = this.dictionary();
      this.v[value] = time;
    }
  }

  delete(value: string): void {
    const v = this.v;
    if (!Array.isArray(v)) delete v[value];
    else {
      for (let i = 0; i < v.length; i += 2) if (v[i] === value) v.splice(i, 2);
    }
  }

  /** Each value and its last-seen time (what `fn` deletes meanwhile is not met again). */
  forEach(fn: (value: string, time: number) => void): void {
    const v = this.v;
    if (!Array.isArray(v)) {
      for (const value in v) fn(value, v[value]);
      return;
    }
    for (const [value, time] of pairs(v)) fn(value, time);
  }

  toJSON(): { s: number; v: Record<string, number>; n: number; o: number } {
    return { s: this.s, v: Array.isArray(this.v) ? this.dictionary() : this.v, n: this.n, o: this.o };
  }

  private dictionary(): Record<string, number> {
    const out = Object.create(null) as Record<string, number>;
    this.forEach((value, time) => (out[value] = time));
    return out;
  }
}

function pairs(list: readonly (string | number)[]): [string, number][] {
  const out: [string, number][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i] as string, list[i + 1] as number]);
  return out;
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
      seen = new SeenValues(time, time);
      changed = true;
    }
    if (time < seen.s) {
      seen.s = time;
      changed = true;
    }
    const last = seen.get(value);
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
      seen.set(value, time);
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
    seen.forEach((value, t) => {
      if (t < expiry) {
        seen.delete(value);
        seen.n--;
      } else if (t < oldest) {
        oldest = t;
      }
    });
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
    let oldestTime = Infinity;
    seen.forEach((value, time) => {
      if (oldest === undefined || time < oldestTime) {
        oldest = value;
        oldestTime = time;
      }
    });
    if (oldest !== undefined) {
      seen.delete(oldest);
      seen.n--;
    }
  }
}

/** A SeenValues read back from its JSON (`{s, v, n, o}`). */
export function restoreSeen(stored: SeenValues | null | undefined): SeenValues | undefined {
  if (!stored) return undefined;
  const { s, v, n, o } = stored as unknown as { s: number; v: Record<string, number> | undefined; n: number; o: number };
  return new SeenValues(s, o, typeof v === 'object' && v !== null ? v : undefined, n);
}
