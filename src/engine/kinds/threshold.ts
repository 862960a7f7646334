import { z } from 'zod';
import { formatDuration } from '../duration.js';
import { keepNewest, sampleEvent, sampleTime, sampledStateJson, trimEvent, type Sample } from '../evidence.js';
import type { Option } from '../rule.js';
import type { NormalizedEvent } from '../../model/index.js';
import { duration, eventValue, fn, number, type EventValue } from './schema.js';
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
  /** Summed or share counts only: slot indexes (twentieths of the window), events and measure per slot. */
  s?: number[];
  n?: number[];
  w?: number[];
}

/** What a rule writes for the threshold kind. */
export interface ThresholdOptions<Ev> {
  /** Longest span from the first to the last counted event ('10m'). */
  window: Option<string>;
  /** Events (or distinct values) that make an alert. */
  threshold: Option<number>;
  /** Count distinct values of this (a field or a function of the event) instead of events. */
  distinct?: EventValue<Ev>;
  /** Add up this measure of each event (bytes, tokens) instead of counting: the threshold is then the total. */
  sum?: (event: Ev) => number | undefined;
  /** Count the events this holds for, among all the key's events (failures among all calls)… */
  shareOf?: (event: Ev) => boolean;
  /** …and alert only when they are at least this share (0–1) of the key's events in the window. */
  minShare?: Option<number>;
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
  /** Summed: the measure's total over the window (`count` is then the events summed). */
  total?: number;
  /** Share: the events `shareOf` held for (`count` is all the key's events in the window), their share, and the least share that alerts. */
  matching?: number;
  share?: number;
  minShare?: number;
}

const optionsSchema = z
  .strictObject({
    window: duration,
    threshold: number(1),
    distinct: eventValue.optional(),
    sum: fn<(e: NormalizedEvent) => number | undefined>('(event) => number | undefined: the measure to add up').optional(),
    shareOf: fn<(e: NormalizedEvent) => boolean>('(event) => boolean: the events whose share is measured').optional(),
    minShare: number(0, { max: 1 }).optional(),
  })
  .superRefine((o, ctx) => {
    if (!o.sum && (!Number.isInteger(o.threshold) || o.threshold > 100_000)) {
      ctx.addIssue({ code: 'custom', path: ['threshold'], message: 'a count threshold is a whole number ≤ 100000 (use `sum` to add up a measure)' });
    }
    const modes = [o.distinct && 'distinct', o.sum && 'sum', o.shareOf && 'shareOf'].filter(Boolean);
    if (modes.length > 1)
      ctx.addIssue({ code: 'custom', path: [String(modes[1])], message: `give one of distinct, sum and shareOf, not ${modes.join(' and ')}` });
    if ((o.minShare === undefined) !== (o.shareOf === undefined))
      ctx.addIssue({ code: 'custom', path: ['minShare'], message: 'give shareOf and minShare together' });
  });
type ThresholdSettings = z.output<typeof optionsSchema>;

/** A summed or share window is kept in this many slots: its state stays a few short arrays however busy the key. */
const SLOTS = 20;

/**
 * threshold with \`sum\` or \`shareOf\`: per key, events and their measure (the summed value, or 1
 * when \`shareOf\` holds) in slots of a twentieth of the window. The windows of SLOTS consecutive
 * slots that contain the new event's slot are checked, newest first; a firing window's slots are
 * consumed, as with counts.
 */
function weightedLogic(s: ThresholdSettings): KindLogic<ThresholdState> {
  const windowMs = s.window;
  const slotMs = Math.max(1, Math.floor(windowMs / SLOTS));
  const measure = s.sum ?? ((e: NormalizedEvent) => (s.shareOf!(e) ? 1 : 0));
  const minShare = s.minShare;
  const holds = (events: number, total: number) => total >= s.threshold && (minShare === undefined || total >= minShare * events);
  return {
    apply(st, e, key, env) {
      const w = measure(e);
      if (w === undefined || !Number.isFinite(w) || w < 0 || (s.sum && w === 0)) return st.s !== undefined;
      const k = Math.floor(e.time / slotMs);
      const slots = (st.s ??= []);
      const n = (st.n ??= []);
      const tot = (st.w ??= []);
      let i = slots.length;
      while (i > 0 && slots[i - 1] > k) i--;
      if (slots[i - 1] === k) i--;
      else {
        slots.splice(i, 0, k);
        n.splice(i, 0, 0);
        tot.splice(i, 0, 0);
      }
      n[i]++;
      tot[i] += w;
      let fired = false;
      let observed = -1;
      let kept = false;
      // Windows ending at a slot from the newest back to this event's own.
      for (let j = slots.length - 1; j >= i; j--) {
        if (slots[j] - k >= SLOTS) continue;
        let events = 0;
        let total = 0;
        let from = j;
        for (; from >= 0 && slots[from] > slots[j] - SLOTS; from--) {
          events += n[from];
          total += tot[from];
        }
        from++;
        if (j === i) observed = total;
        // Evidence only once the window is half way to the threshold: a quiet key keeps none.
        if (!kept && w > 0 && total >= s.threshold / 2) {
          keepNewest((st.ev ??= []), e, MAX_EVIDENCE_EVENTS);
          kept = true;
        }
        if (!holds(events, total)) continue;
        const firstMs = slots[from] * slotMs;
        const lastMs = (slots[j] + 1) * slotMs - 1;
        env.raise(st, e.time, () => {
          const evs = (st.ev ?? []).filter((x) => sampleTime(x) >= firstMs && sampleTime(x) <= lastMs).map(sampleEvent);
          if (!evs.some((x) => x.id === e.id)) evs.push(trimEvent(e));
          evs.sort((a, b) => a.time - b.time);
          const evidence: ThresholdEvidence = {
            count: events,
            threshold: s.threshold,
            window: formatDuration(windowMs),
            spanMs: evs[evs.length - 1].time - evs[0].time,
          };
          if (s.sum) evidence.total = total;
          else {
            evidence.matching = total;
            evidence.share = Math.round((total / events) * 1000) / 1000;
            evidence.minShare = minShare;
          }
          return {
            key,
            trigger: evs.find((x) => x.id === e.id)!,
            events: evs.slice(-MAX_EVIDENCE_EVENTS),
            firstTime: evs[0].time,
            lastTime: evs[evs.length - 1].time,
            count: events,
            window: `${firstMs}|${lastMs}|${e.id}`,
            evidence,
          };
        });
        slots.splice(from, j - from + 1);
        n.splice(from, j - from + 1);
        tot.splice(from, j - from + 1);
        st.ev = st.ev?.filter((x) => sampleTime(x) < firstMs || sampleTime(x) > lastMs);
        fired = true;
        break;
      }
      env.observe?.(key, { time: e.time, span: windowMs, value: Math.max(observed, 0), threshold: s.threshold, alerting: fired });
      return cleanSlots(st);
    },
    prune(st, watermark, lateness) {
      if (!st.s) return true;
      // Slots this old cannot share a window with any event that is not late.
      const keepFrom = Math.floor((watermark - lateness - windowMs) / slotMs);
      let k = 0;
      while (k < st.s.length && st.s[k] < keepFrom) k++;
      if (k) {
        st.s.splice(0, k);
        st.n!.splice(0, k);
        st.w!.splice(0, k);
        if (st.ev) st.ev = st.ev.filter((x) => sampleTime(x) >= keepFrom * slotMs);
      }
      return !cleanSlots(st);
    },
    serialize: sampledStateJson,
  };
}

/** Drop empty slot arrays; returns whether anything is left. */
function cleanSlots(st: ThresholdState): boolean {
  if (st.s && st.s.length) return true;
  st.s = undefined;
  st.n = undefined;
  st.w = undefined;
  st.ev = undefined;
  return false;
}

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
            key,
            trigger: events.find((x) => x.id === e.id) ?? trimEvent(e),
            events,
            firstTime: first,
            lastTime: last,
            count: n,
            window: `${first}|${last}|${e.id}`,
            evidence,
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
  compile: (settings, rule) => ({
    logic: settings.sum || settings.shareOf ? weightedLogic(settings) : thresholdLogic(settings),
    subscriptions: ruleSubscriptions(rule),
  }),
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
\`distinct\` and \`values\` (≤ 20).

\`\`\`ts
sum: (e) => e.details.bytes, threshold: tunable(5e9, 'Bytes read within the window'), // a summed measure
shareOf: (e) => e.details.statusCode === 400, minShare: tunable(0.5, 'Least share'), // a share of the key's events
\`\`\`
\`sum\` adds up a measure of each event (bytes, tokens; events without it are skipped) and alerts
when the total within the window reaches \`threshold\`. \`shareOf\` counts the events it holds for
and alerts when they reach \`threshold\` *and* are at least \`minShare\` of all the key's events in
the window (the rule's \`where\` must let the other events through: they are the denominator).
Both keep the window in twentieths (slots), so the state stays ≤ 21 slots however busy the key:
events up to a twentieth of the window apart may fall in or out at its edges. Give at most one of
\`distinct\`, \`sum\` and \`shareOf\`. Evidence adds \`total\` (sum) or \`matching\`, \`share\` and
\`minShare\` (share); \`count\` is then all the events in the window.`,
};
