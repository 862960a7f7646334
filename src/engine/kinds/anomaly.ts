import { z } from 'zod';
import { formatDuration } from '../duration.js';
import { sampleEvent, sampleTime, sampledStateJson, trimEvent, type Sample } from '../evidence.js';
import type { Option } from '../rule.js';
import type { NormalizedEvent } from '../../model/index.js';
import { duration, fn, number } from './schema.js';
import { MAX_EVIDENCE_EVENTS, ruleSubscriptions, type KeyState, type KindDefinition, type KindLogic, type ObservedPoint } from './types.js';

/**
 * An open bucket: [bucket index, count (or measure total), fired (0|1; 2: it would have fired but
 * the key was still warming up), first event time, last event time, events (measure only)].
 */
type OpenBucket = [number, number, number, number, number, number?];

export interface AnomalyState extends KeyState {
  /** EWMA mean and variance of the per-bucket count. */
  m?: number;
  v?: number;
  /** Buckets folded into the baseline (capped at warmup: only "warm yet?" matters). */
  n?: number;
  /** Index of the last bucket folded into the baseline. */
  c?: number;
  /** Buckets still open to late events (end + allowed lateness not yet passed by the watermark). */
  o?: OpenBucket[];
  /** Time of the key's newest event: a key silent for `forgetAfter` is forgotten. */
  l?: number;
  /** Evidence: of each open bucket, the few events before its count turned anomalous. */
  ev?: Sample[];
}

/** What a rule writes for the anomaly kind. */
export interface AnomalyOptions<Ev = NormalizedEvent> {
  /** Add up this measure of each event (bytes, tokens) instead of counting events; events without it are skipped. */
  measure?: (event: Ev) => number | undefined;
  /** Bucket of event time the events are counted in ('5m'). */
  bucket: Option<string>;
  /** Buckets of history (empty ones included) before the key may alert. */
  warmup: Option<number>;
  /** Fewest events (or the least measure total) in a bucket for an alert, whatever the baseline. */
  minCount: Option<number>;
  /** Alert when count ≥ factor × baseline mean. */
  factor?: Option<number>;
  /** Alert when (count − mean) / max(stddev, 1) ≥ zScore. With `factor` too, both must hold. */
  zScore?: Option<number>;
  /** EWMA weight of the newest bucket, 0 < alpha ≤ 1 (default 0.1). */
  alpha?: Option<number>;
  /** A key silent this long is forgotten and learns again (default 2 × warmup buckets). */
  forgetAfter?: Option<string>;
}

/** What an anomaly alert's evidence holds besides the rule's own. */
export interface AnomalyEvidence {
  /** Events in the bucket, or with \`measure\` the measure's total. */
  count: number;
  /** With \`measure\`: the events summed. */
  eventsSummed?: number;
  bucket: string;
  bucketStart: string;
  baselineMean: number;
  baselineStdDev: number;
  /** count / baseline mean; null while the mean is 0. */
  rate: number | null;
  factor: number | null;
  zScoreThreshold: number | null;
  zScore: number;
  minCount: number;
  bucketsLearned: number;
}

interface AnomalySettings {
  measure?: (e: NormalizedEvent) => number | undefined;
  bucketMs: number;
  warmup: number;
  minCount: number;
  factor?: number;
  zScore?: number;
  alpha: number;
  forgetAfterMs: number;
}

const SAMPLES_PER_BUCKET = MAX_EVIDENCE_EVENTS - 1;

/**
 * anomaly: the per-key count in fixed event-time buckets against that key's own baseline, an
 * EWMA of mean and variance over closed buckets. A bucket closes when the watermark passes its
 * end plus the allowed lateness; empty buckets in between fold in as zeros. A bucket that fired,
 * or whose final count is anomalous, is left out of the baseline, so a burst does not teach the
 * key that bursts are normal. The key may alert only after `warmup` folded buckets. Events for a
 * bucket already closed are later than the allowed lateness: counted late by the evaluator and
 * not applied (their bucket is already in the baseline).
 */
function anomalyLogic(s: AnomalySettings): KindLogic<AnomalyState> {
  const stddev = (st: AnomalyState) => Math.max(Math.sqrt(st.v ?? 0), 1);
  /** Whether `count` alerts against the key's baseline (`warm`: only once the warmup is over; false asks as if it were). */
  const anomalous = (st: AnomalyState, count: number, warm = true): boolean => {
    if ((warm && (st.n ?? 0) < s.warmup) || count < s.minCount) return false;
    const m = st.m ?? 0;
    if (s.factor !== undefined && count < s.factor * m) return false;
    if (s.zScore !== undefined && (count - m) / stddev(st) < s.zScore) return false;
    return true;
  };
  /** The point an observer sees for bucket k: the count against the baseline and the count that alerts (once warm). */
  const point = (st: AnomalyState, k: number, count: number, alerting: boolean): ObservedPoint => {
    const p: ObservedPoint = { time: k * s.bucketMs, span: s.bucketMs, value: count, alerting };
    if (st.n) p.baseline = round(st.m ?? 0);
    if ((st.n ?? 0) >= s.warmup) {
      const m = st.m ?? 0;
      p.threshold = round(Math.max(s.minCount, s.factor === undefined ? 0 : s.factor * m, s.zScore === undefined ? 0 : m + s.zScore * stddev(st)));
    }
    return p;
  };
  const bucketOf = (x: Sample) => Math.floor(sampleTime(x) / s.bucketMs);
  const fold = (st: AnomalyState, x: number) => {
    if (!st.n) {
      st.m = x;
      st.v = 0;
    } else {
      const d = x - st.m!;
      st.m = st.m! + s.alpha * d;
      st.v = (1 - s.alpha) * (st.v! + s.alpha * d * d);
    }
    st.n = Math.min((st.n ?? 0) + 1, s.warmup);
  };
  return {
    apply(st, e, key, env) {
      let w = 1;
      if (s.measure) {
        const x = s.measure(e);
        if (x === undefined || !Number.isFinite(x) || x <= 0) return st.l !== undefined;
        w = x;
      }
      const k = Math.floor(e.time / s.bucketMs);
      if (st.c === undefined) st.c = k - 1;
      if (k <= st.c) return true;
      const open = (st.o ??= []);
      let i = open.length;
      while (i > 0 && open[i - 1][0] > k) i--;
      let b = open[i - 1];
      if (!b || b[0] !== k) {
        b = s.measure ? [k, 0, 0, e.time, e.time, 0] : [k, 0, 0, e.time, e.time];
        open.splice(i, 0, b);
      }
      b[1] += w;
      if (s.measure) b[5] = (b[5] ?? 0) + 1;
      if (e.time < b[3]) b[3] = e.time;
      if (e.time > b[4]) b[4] = e.time;
      if (st.l === undefined || e.time > st.l) st.l = e.time;
      // Evidence is kept only from the few events before the count turns anomalous (an alert at most
      // SAMPLES_PER_BUCKET events away): a key at its usual rate keeps none.
      if (b[2] !== 1 && anomalous(st, b[1] + SAMPLES_PER_BUCKET * w)) {
        const samples = (st.ev ??= []);
        let sampled = 0;
        for (const x of samples) if (bucketOf(x) === k) sampled++;
        if (sampled < SAMPLES_PER_BUCKET) samples.push(e);
      }
      if (!b[2] && (st.n ?? 0) < s.warmup && anomalous(st, b[1], false)) {
        b[2] = 2;
        env.heldWhileLearning?.();
      }
      if (b[2] !== 1 && anomalous(st, b[1])) {
        b[2] = 1;
        env.observe?.(key, point(st, k, b[1], true));
        const bucket = b;
        env.raise(st, e.time, () => {
          const trigger = trimEvent(e);
          const events = (st.ev ?? [])
            .filter((x) => bucketOf(x) === k)
            .map(sampleEvent)
            .filter((x) => x.id !== e.id)
            .slice(0, SAMPLES_PER_BUCKET);
          events.push(trigger);
          events.sort((x, y) => x.time - y.time);
          const m = st.m ?? 0;
          const evidence: AnomalyEvidence = {
            count: bucket[1],
            bucket: formatDuration(s.bucketMs),
            bucketStart: new Date(k * s.bucketMs).toISOString(),
            baselineMean: round(m),
            baselineStdDev: round(Math.sqrt(st.v ?? 0)),
            rate: m > 0 ? round(bucket[1] / m) : null,
            factor: s.factor ?? null,
            zScoreThreshold: s.zScore ?? null,
            zScore: round((bucket[1] - m) / stddev(st)),
            minCount: s.minCount,
            bucketsLearned: st.n ?? 0,
          };
          if (s.measure) evidence.eventsSummed = bucket[5];
          return {
            key,
            trigger,
            events,
            firstTime: bucket[3],
            lastTime: bucket[4],
            count: bucket[5] ?? bucket[1],
            window: `${k * s.bucketMs}|${(k + 1) * s.bucketMs}`,
            evidence,
          };
        });
      }
      return true;
    },
    prune(st, watermark, lateness, observe) {
      if (st.l === undefined) return true;
      if (watermark - st.l > s.forgetAfterMs) {
        for (const f of ['m', 'v', 'n', 'c', 'o', 'l', 'ev'] as const) st[f] = undefined;
        return true;
      }
      // Bucket k is closed once (k + 1) × bucket ≤ watermark − lateness.
      const closeThrough = Math.floor((watermark - lateness) / s.bucketMs) - 1;
      const open = st.o ?? [];
      let folded = 0;
      for (let k = st.c! + 1; k <= closeThrough; k++) {
        const b = open[folded]?.[0] === k ? open[folded++] : undefined;
        const count = b ? b[1] : 0;
        observe?.(point(st, k, count, b?.[2] === 1));
        if (!(b?.[2] === 1 || anomalous(st, count))) fold(st, count);
      }
      if (closeThrough > st.c!) {
        st.c = closeThrough;
        if (folded) {
          open.splice(0, folded);
          st.ev = st.ev?.filter((x) => Math.floor(sampleTime(x) / s.bucketMs) > closeThrough);
        }
        if (!open.length) {
          st.o = undefined;
          st.ev = undefined;
        }
      }
      return false;
    },
    serialize: sampledStateJson,
    learning: (st) => st.l !== undefined && (st.n ?? 0) < s.warmup,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const optionsSchema = z
  .strictObject({
    bucket: duration,
    warmup: number(1, { integer: true }),
    minCount: number(1),
    measure: fn<(e: NormalizedEvent) => number | undefined>('(event) => number | undefined: the measure to add up').optional(),
    factor: number(1).optional(),
    zScore: number(0).optional(),
    alpha: number(Number.MIN_VALUE, { max: 1 }).default(0.1),
    forgetAfter: duration.optional(),
  })
  .superRefine((o, ctx) => {
    if (!o.measure && !Number.isInteger(o.minCount))
      ctx.addIssue({ code: 'custom', path: ['minCount'], message: 'minCount counts events: give a whole number (or add up a `measure`)' });
    if (o.factor === undefined && o.zScore === undefined)
      ctx.addIssue({ code: 'custom', path: ['factor'], message: 'an anomaly rule needs a factor, a zScore, or both' });
    const forgetAfterMs = o.forgetAfter ?? 2 * o.warmup * o.bucket;
    // Silent buckets are folded one by one, so the forget horizon bounds that work.
    if (forgetAfterMs / o.bucket > 100_000) ctx.addIssue({ code: 'custom', path: ['forgetAfter'], message: 'keep forgetAfter under 100000 buckets' });
    if (forgetAfterMs < o.bucket) ctx.addIssue({ code: 'custom', path: ['forgetAfter'], message: 'forgetAfter must be at least one bucket' });
  });

export const anomaly: KindDefinition<'anomaly', z.output<typeof optionsSchema>> = {
  name: 'anomaly',
  optionsSchema,
  compile: (o, rule) => ({
    logic: anomalyLogic({
      measure: o.measure,
      bucketMs: o.bucket,
      warmup: o.warmup,
      minCount: o.minCount,
      factor: o.factor,
      zScore: o.zScore,
      alpha: o.alpha,
      forgetAfterMs: o.forgetAfter ?? 2 * o.warmup * o.bucket,
    }),
    subscriptions: ruleSubscriptions(rule),
    learning: [{ ms: o.warmup * o.bucket, against: 'key', what: `${o.warmup} × ${formatDuration(o.bucket)} buckets` }],
  }),
  scaffold: `  kind: 'anomaly',
  bucket: tunable('5m', 'Bucket of event time the events are counted in'),
  warmup: tunable(24, 'Buckets of history before a key may alert'),
  factor: tunable(5, 'Alert when the bucket holds at least this many times the baseline mean'),
  minCount: tunable(50, 'Fewest events in a bucket for an alert, whatever the baseline'),`,
  doc: `### anomaly — a bucket far above the key's own baseline

\`\`\`ts
kind: 'anomaly', bucket: '1h', warmup: 24, minCount: 50,
factor: 5,        // count ≥ 5 × baseline mean …
zScore: 4,        // … and (count − mean) / max(stddev, 1) ≥ 4  (give either or both)
alpha: 0.1,       // EWMA weight of the newest bucket (default 0.1)
forgetAfter: '7d' // a key silent this long starts learning again (default 2 × warmup buckets)
\`\`\`
Per key, events are counted in fixed event-time buckets. The baseline is an exponentially weighted
mean and variance of the closed buckets; a bucket closes when the partition's watermark passes its
end plus the allowed lateness, and empty buckets in between count as zeros. A key may alert only
after \`warmup\` buckets of history, only when the bucket has at least \`minCount\` events, and at most
once per bucket — as soon as the count crosses the line, not when the bucket ends. A bucket that
alerted, or whose final count is anomalous, is left out of the baseline, so a burst does not teach
the key that bursts are normal. Evidence: \`count\`, \`bucket\`, \`bucketStart\`, \`baselineMean\`,
\`baselineStdDev\`, \`rate\` (count / mean, null while the mean is 0), \`factor\`, \`zScore\`,
\`zScoreThreshold\`, \`minCount\`, \`bucketsLearned\`.

**Learning is the key's own history**: \`warmup\` buckets from the key's first event (empty ones
count), not the principal's age. A baseline can only be learned from the key's own counts; a
principal watched for weeks that starts calling a new account has no baseline there, and treating
those weeks as zeros would make every busy first hour an alert (a new deployment's start). A bucket
that crosses the line while the key is still warming up is counted once as held back while learning.

\`measure: (e) => e.details.responseLength\` adds up a measure of each event (bytes, tokens) instead
of counting events; events without it are skipped, \`minCount\` is then the least total, \`count\`
in the evidence is the bucket's total and \`eventsSummed\` the events summed.`,
};
