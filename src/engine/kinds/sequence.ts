import type { NormalizedEvent } from '../../model/index.js';
import { formatDuration } from '../duration.js';
import { stateJson, trimEvent } from '../evidence.js';
import { restoreSeen, type SeenMemory, type SeenValues } from './first-seen.js';
import { MAX_EVIDENCE_EVENTS, UNCHANGED, type KeyState, type KindLogic } from './types.js';

/**
 * An event waiting for the rest of a sequence: [event time, bit mask of the steps it can be,
 * trimmed event]. Once written, the third item is the candidate's whole stored JSON
 * (`[time,mask,{event}]`): about the memory of the object, nothing to format at later writes, and
 * the event is read back from it only when a sequence needs it.
 */
type Candidate = [number, number, NormalizedEvent | string];

/** A candidate's event, read back from its stored JSON when needed (then kept as an object until the next write). */
function eventOf(c: Candidate): NormalizedEvent {
  return typeof c[2] === 'string' ? (c[2] = (JSON.parse(c[2]) as Candidate)[2] as NormalizedEvent) : c[2];
}

/** A candidate as stored; from then on it is held that way. */
function storedJson(c: Candidate): string {
  // One flat string: a template joining the parts would hold a tree of pieces, about 100 bytes more per candidate.
  return typeof c[2] === 'string' ? c[2] : (c[2] = JSON.stringify(c));
}

/** Drop steps from a candidate's mask; returns what is left. A candidate kept with another mask holds its event as an object again (rare), since its stored JSON no longer says what it is. */
function dropSteps(c: Candidate, bits: number): number {
  const mask = c[1] & ~bits;
  if (mask) eventOf(c);
  return (c[1] = mask);
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

  /** The candidates, one per step, that a new candidate `ev` completes a sequence with (`ev` among them). */
  function findChain(cands: readonly Candidate[], ev: Candidate): Candidate[] | undefined {
    const chain: Candidate[] = new Array(n);
    const time = ev[0];
    const place = (pos: number, at: number): boolean => {
      if (pos === n) return true;
      const tryCandidate = (x: Candidate): boolean => {
        if (pos > 0 && (x[0] < chain[pos - 1][0] || x[0] - chain[0][0] > withinMs)) return false;
        for (let k = 0; k < pos; k++) if (chain[k] === x) return false;
        const relate = steps[pos].relate;
        if (relate && !relate(eventOf(x), chain.slice(0, pos).map(eventOf))) return false;
        chain[pos] = x;
        return place(pos + 1, at);
      };
      if (pos === at) return tryCandidate(ev);
      const bit = 1 << pos;
      if (pos < at) {
        // Steps before the new event: nearest first.
        for (let k = cands.length - 1; k >= 0; k--) {
          const c = cands[k];
          if (!(c[1] & bit) || c[0] > time) continue;
          if (time - c[0] > withinMs) break;
          if (tryCandidate(c)) return true;
        }
      } else {
        for (const c of cands) {
          if (!(c[1] & bit) || c[0] < time) continue;
          if (c[0] - time > withinMs) break;
          if (tryCandidate(c)) return true;
        }
      }
      return false;
    };
    for (let at = 0; at < n; at++) {
      if (ev[1] & (1 << at) && place(0, at)) return chain;
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
      dropSteps(cands[oldest], bit);
      if (!cands[oldest][1]) cands.splice(oldest, 1);
    }
  }

  return {
    apply(st, e, key, env) {
      let mask = 0;
      let changed = false;
      for (let s = 0; s < n; s++) {
        const step = steps[s];
        if (!step.matches(e)) continue;
        if (step.seen) {
          const value = step.seen.read(e);
          if (value === undefined) continue;
          const f = (st.f ??= steps.map(() => null));
          const { seen, isNew, changed: seenChanged } = step.seen.observe(f[s] ?? undefined, value, e.time);
          f[s] = seen;
          if (seenChanged) changed = true;
          if (!isNew) continue;
        }
        mask |= 1 << s;
      }
      if (mask) {
        changed = true;
        const ev = trimEvent(e);
        const candidate: Candidate = [e.time, mask, ev];
        const chain = findChain(st.c ?? [], candidate);
        if (!chain) {
          insert(st, candidate);
        } else {
          env.raise(st, chain[n - 1][0], () => {
            const events = chain.map(eventOf);
            const first = events[0];
            const last = events[n - 1];
            return {
              key, trigger: ev, firstTime: first.time, lastTime: last.time, count: n,
              events: events.length <= MAX_EVIDENCE_EVENTS ? events : [...events.slice(0, MAX_EVIDENCE_EVENTS - 1), last],
              window: `${first.time}|${last.time}|${first.id}`,
              evidence: {
                within: formatDuration(withinMs), spanMs: last.time - first.time,
                steps: events.map((x, i) => ({
                  step: steps[i].name, time: new Date(x.time).toISOString(), id: x.id, source: x.source,
                  operation: x.operation, result: x.result, ip: x.ip, subscriptionId: x.subscriptionId, resourceId: x.resourceId,
                })),
              },
            };
          });
          st.c = st.c?.filter((c) => !chain.includes(c));
        }
      }
      return changed ? !isEmpty(st) : UNCHANGED;
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
          if (cands[i][1] & LAST && !dropSteps(cands[i], LAST)) cands.splice(i, 1);
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
      // Read back as objects: held as stored JSON, as after a write.
      for (const c of st.c ?? []) storedJson(c);
    },
    serialize: (st) => stateJson(st, 'c', st.c, storedJson),
  };
}

/** Drop empty parts so the stored JSON stays short; true when nothing is left. */
function isEmpty(st: SequenceState): boolean {
  if (st.c && !st.c.length) st.c = undefined;
  if (st.f && st.f.every((x) => x === null)) st.f = undefined;
  return st.c === undefined && st.f === undefined;
}
