import { z } from 'zod';
import { formatDuration } from '../duration.js';
import { keepNewest, sampleEvent, sampleTime, sampledStateJson, trimEvent, type Sample } from '../evidence.js';
import type { Option } from '../rule.js';
import { duration, eventValue, number, type EventValue } from './schema.js';
import { MAX_EVIDENCE_EVENTS, ruleSubscriptions, type KeyState, type KindDefinition, type KindLogic } from './types.js';

/**
 * Times (and, for a distinct count, the values) inside the retained span, sorted by time, plus
 * the newest few events once the count nears the threshold, for evidence. Nothing else: the state
 * stays a few short arrays.
 */
export interface ThresholdState extends KeyState {
  t?: number[];
  /** Distinct count only: `v[i]` is the value last seen at `t[i]`; each value appears once. */
  v?: string[];
  ev?: Sample[];
}

/** What a rule writes for the threshold kind. */
export interface ThresholdOptions<Ev> {
  /** Longest span from the first to the last counted event ('10m'). */
  window: Option<string>;
  /** Events (or distinct values) that make an alert. */
  threshold: Option<number>;
  /** Count distinct values of this (a field or a function of the event) instead of events. */
  distinct?: EventValue<Ev>;
}

/** What a threshold alert's evidence holds besides the rule's own. */
export interface ThresholdEvidence {
  count: number;
  threshold: number;
  window: string;
  spanMs: number;
  /** Distinct counts: what was counted ('custom' for a function), and the values (at most 20). */
  distinct?: string;
  values?: string[];
}

const optionsSchema = z.strictObject({
  window: duration,
  threshold: number(1, { integer: true, max: 100_000 }),
  distinct: eventValue.optional(),
});
type ThresholdSettings = z.output<typeof optionsSchema>;

/**
 * threshold: N events (or N distinct values) whose first and last are at most `window` apart.
 * Every window that contains the new event is checked (N consecutive entries around it), so
 * late events inside the allowed lateness count in their own window. When a window fires (or is
 * suppressed) its entries are consumed: the next alert needs N new ones.
 * A distinct count keeps each value once, at its latest time: exact for in-order streams; for a
 * late event, a value seen again later is counted at its later time.
 */
function thresholdLogic(s: ThresholdSettings): KindLogic<ThresholdState> {
  const n = s.threshold;
  const windowMs = s.window;
  const distinct = s.distinct?.read;
  return {
    apply(st, e, key, env) {
      let value: string | undefined;
      if (distinct) {
        value = distinct(e);
        if (value === undefined) return st.t !== undefined;
      }
      const t = (st.t ??= []);
      if (value !== undefined) {
        const v = (st.v ??= []);
        const at = v.indexOf(value);
        if (at >= 0) {
          if (t[at] >= e.time) return true;
          t.splice(at, 1);
          v.splice(at, 1);
        }
      }
      let i = t.length;
      while (i > 0 && t[i - 1] > e.time) i--;
      t.splice(i, 0, e.time);
      if (value !== undefined) st.v!.splice(i, 0, value);
      // Only an event that can be among the newest few of a full window is kept as evidence (exact
      // for in-order events): a key far below the threshold keeps none.
      if (t.length > n - MAX_EVIDENCE_EVENTS) keepNewest((st.ev ??= []), e, MAX_EVIDENCE_EVENTS);

      // Observed: the entries in the window ending at this event, before a firing window consumes them.
      const observed = env.observe ? countFrom(t, e.time - windowMs, i) : 0;
      let fired = false;
      // Windows of n consecutive entries that include position i.
      for (let j = Math.max(0, i - n + 1); j <= i && j + n - 1 < t.length; j++) {
        const first = t[j];
        const last = t[j + n - 1];
        if (last - first > windowMs) continue;
        const values = st.v?.slice(j, j + n);
        env.raise(st, last, () => {
          const events = st.ev!.filter((x) => sampleTime(x) >= first && sampleTime(x) <= last).map(sampleEvent);
          const evidence: ThresholdEvidence = { count: n, threshold: n, window: formatDuration(windowMs), spanMs: last - first };
          if (values) {
            evidence.distinct = s.distinct!.name;
            evidence.values = values.slice(0, 20);
          }
          return {
            key, trigger: events.find((x) => x.id === e.id) ?? trimEvent(e), events, firstTime: first, lastTime: last, count: n,
            window: `${first}|${last}|${e.id}`, evidence,
          };
        });
        t.splice(j, n);
        st.v?.splice(j, n);
        st.ev = st.ev!.filter((x) => sampleTime(x) < first || sampleTime(x) > last);
        fired = true;
        break;
      }
      env.observe?.(key, { time: e.time, span: windowMs, value: observed, threshold: n, alerting: fired });
      return clean(st);
    },
    prune(st, watermark, lateness) {
      if (!st.t) return true;
      // Entries this old cannot share a window with any event that is not late.
      const keepFrom = watermark - lateness - windowMs;
      let k = 0;
      while (k < st.t.length && st.t[k] < keepFrom) k++;
      if (k) {
        st.t.splice(0, k);
        st.v?.splice(0, k);
        if (st.ev) st.ev = st.ev.filter((x) => sampleTime(x) >= keepFrom);
      }
      return !clean(st);
    },
    serialize: sampledStateJson,
  };
}

/** Entries from time `from` up to and including position `i` (times are sorted). */
function countFrom(t: readonly number[], from: number, i: number): number {
  let j = i;
  while (j > 0 && t[j - 1] >= from) j--;
  return i - j + 1;
}

/** Drop empty arrays so the stored JSON stays short; returns whether anything is left. */
function clean(st: ThresholdState): boolean {
  if (st.t && st.t.length) return true;
  st.t = undefined;
  st.v = undefined;
  st.ev = undefined;
  return false;
}

export const threshold: KindDefinition<'threshold', ThresholdSettings> = {
  name: 'threshold',
  optionsSchema,
  compile: (settings, rule) => ({ logic: thresholdLogic(settings), subscriptions: ruleSubscriptions(rule) }),
  scaffold: `  kind: 'threshold',
  threshold: tunable(10, 'Events (or distinct values) …'),
  window: tunable('10m', '… within this window'),
  // distinct: 'resourceId', // TODO: count distinct values instead of events, or remove`,
  doc: `### threshold — N events, or N distinct values, within a sliding window

\`\`\`ts
kind: 'threshold', window: '10m', threshold: tunable(30, 'Events within the window'),
distinct: 'ip',                                     // optional: count distinct values instead
\`\`\`
Every window that contains a new event is checked, so the window slides with the events and a
window's edges are exact (first and last exactly \`window\` apart still count). An alert's events are
consumed: the next alert needs N new ones. \`distinct\` takes a field name (\`ip\`, \`resourceId\`,
\`appId\`, \`operation\`, …) or a function of the event; each value is kept once, at its latest
time (exact for in-order streams; for a late event, a value seen again later counts at its later
time). Evidence: \`count\`, \`threshold\`, \`window\`, \`spanMs\`, and for distinct counts
\`distinct\` and \`values\` (≤ 20).`,
};
