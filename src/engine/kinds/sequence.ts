import type { NormalizedEvent } from '../../model/index.js';
import { formatDuration } from '../duration.js';
import { stateJson, trimEvent } from '../evidence.js';
import { restoreSeen, type SeenMemory, type SeenValues } from './first-seen.js';
import { MAX_EVIDENCE_EVENTS, type KeyState, type KindLogic } from './types.js';

/**
 * An event waiting for the rest of a sequence: [event time, bit mask of the steps it can be,
 * trimmed event, and in memory its stored JSON once written, so each write does not redo it].
 */
type Candidate = [number, number, NormalizedEvent, string?];

/** Take step bits out of a candidate's mask; its stored JSON changes with them. */
function clearSteps(c: Candidate, bits: number): number {
  c[3] = undefined;
  return (c[1] &= ~bits);
}

export interface SequenceState extends KeyState {
  c?: Candidate[];
  /** Per step with a firstSeen option, what the key has seen for it (null for other steps). */
  f?: (SeenValues | null)[];
}

/** A step with the rule's tunables already bound. */
export interface CompiledStep {
  name: string;
  /** Source, operation and `where` of the step. */
  matches: (e: NormalizedEvent) => boolean;
  relate?: (e: NormalizedEvent, prior: readonly NormalizedEvent[]) => boolean;
  seen?: SeenMemory;
}

/**
 * sequence: steps 1 → 2 (→ …) by the same key, in event-time order, first to last at most
 * `within` apart. Each event that can be a step (its source, operation and `where` fit, and for a
 * firstSeen step its value is new) becomes a candidate; a new candidate completes a sequence with
 * earlier candidates, or, when it arrived late, with later ones, so steps may arrive in any order
 * and in different batches. `relate` sees the events chosen for the earlier steps. A completed
 * sequence consumes its events. Candidates are kept for `within` (plus the allowed lateness),
 * at most `maxCandidates` per step (the oldest go first); a candidate for the last step only until
 * the allowed lateness has passed it, since then only a late event could come before it.
 */
export function sequenceLogic(steps: readonly CompiledStep[], withinMs: number, maxCandidates: number): KindLogic<SequenceState> {
  const n = steps.length;
  const LAST = 1 << (n - 1);
  const hasSeen = steps.some((s) => s.seen);

  function findChain(cands: readonly Candidate[], ev: NormalizedEvent, mask: number): NormalizedEvent[] | undefined {
    const chain: NormalizedEvent[] = new Array(n);
    const place = (pos: number, at: number): boolean => {
      if (pos === n) return true;
      const tryEvent = (x: NormalizedEvent): boolean => {
        if (pos > 0 && (x.time < chain[pos - 1].time || x.time - chain[0].time > withinMs)) return false;
        for (let k = 0; k < pos; k++) if (chain[k] === x) return false;
        const relate = steps[pos].relate;
        if (relate && !relate(x, chain.slice(0, pos))) return false;
        chain[pos] = x;
        return place(pos + 1, at);
      };
      if (pos === at) return tryEvent(ev);
      const bit = 1 << pos;
      if (pos < at) {
        // Steps before the new event: nearest first.
        for (let k = cands.length - 1; k >= 0; k--) {
          const [time, m, x] = cands[k];
          if (!(m & bit) || time > ev.time) continue;
          if (ev.time - time > withinMs) break;
          if (tryEvent(x)) return true;
        }
      } else {
        for (const [time, m, x] of cands) {
          if (!(m & bit) || time < ev.time) continue;
          if (time - ev.time > withinMs) break;
          if (tryEvent(x)) return true;
        }
      }
      return false;
    };
    for (let at = 0; at < n; at++) {
      if (mask & (1 << at) && place(0, at)) return chain;
    }
    return undefined;
  }

  function insert(st: SequenceState, candidate: Candidate): void {
    const cands = (st.c ??= []);
    let i = cands.length;
    while (i > 0 && cands[i - 1][0] > candidate[0]) i--;
    cands.splice(i, 0, candidate);
    for (let s = 0; s < n; s++) {
      const bit = 1 << s;
      if (!(candidate[1] & bit)) continue;
      let count = 0;
      for (const c of cands) if (c[1] & bit) count++;
      if (count <= maxCandidates) continue;
      const oldest = cands.findIndex((c) => c[1] & bit);
      clearSteps(cands[oldest], bit);
      if (!cands[oldest][1]) cands.splice(oldest, 1);
    }
  }

  return {
    apply(st, e, key, env) {
      let mask = 0;
      for (let s = 0; s < n; s++) {
        const step = steps[s];
        if (!step.matches(e)) continue;
        if (step.seen) {
          const value = step.seen.read(e);
          if (value === undefined) continue;
          const f = (st.f ??= steps.map(() => null));
          const { seen, isNew } = step.seen.observe(f[s] ?? undefined, value, e.time);
          f[s] = seen;
          if (!isNew) continue;
        }
        mask |= 1 << s;
      }
      if (mask) {
        const ev = trimEvent(e);
        const chain = findChain(st.c ?? [], ev, mask);
        if (!chain) {
          insert(st, [e.time, mask, ev]);
        } else {
          const first = chain[0];
          const last = chain[n - 1];
          env.raise(st, last.time, () => ({
            key, trigger: ev, firstTime: first.time, lastTime: last.time, count: n,
            events: chain.length <= MAX_EVIDENCE_EVENTS ? chain : [...chain.slice(0, MAX_EVIDENCE_EVENTS - 1), last],
            window: `${first.time}|${last.time}|${first.id}`,
            evidence: {
              within: formatDuration(withinMs), spanMs: last.time - first.time,
              steps: chain.map((x, i) => ({
                step: steps[i].name, time: new Date(x.time).toISOString(), id: x.id, source: x.source,
                operation: x.operation, result: x.result, ip: x.ip, subscriptionId: x.subscriptionId, resourceId: x.resourceId,
              })),
            },
          }));
          st.c = st.c?.filter((c) => !chain.includes(c[2]));
        }
      }
      return !isEmpty(st);
    },
    prune(st, watermark, lateness) {
      const cands = st.c;
      if (cands) {
        const keepFrom = watermark - lateness - withinMs;
        let k = 0;
        while (k < cands.length && cands[k][0] < keepFrom) k++;
        if (k) cands.splice(0, k);
        // Candidates older than the lateness horizon are no longer the last step of any sequence.
        for (let i = 0; i < cands.length && cands[i][0] < watermark - lateness; ) {
          if (cands[i][1] & LAST && !clearSteps(cands[i], LAST)) cands.splice(i, 1);
          else i++;
        }
      }
      const f = st.f;
      if (f) {
        for (let s = 0; s < n; s++) if (f[s] && !steps[s].seen!.prune(f[s]!, watermark)) f[s] = null;
      }
      return isEmpty(st);
    },
    restore(st) {
      if (hasSeen) st.f?.forEach((seen) => restoreSeen(seen ?? undefined));
    },
    // A candidate's JSON is made once and kept until its step mask changes (clearSteps).
    serialize: (st) => stateJson(st, 'c', st.c, (c) => (c[3] ??= `[${c[0]},${c[1]},${JSON.stringify(c[2])}]`)),
  };
}

/** Drop empty parts so the stored JSON stays short; true when nothing is left. */
function isEmpty(st: SequenceState): boolean {
  if (st.c && !st.c.length) st.c = undefined;
  if (st.f && st.f.every((x) => x === null)) st.f = undefined;
  return st.c === undefined && st.f === undefined;
}
