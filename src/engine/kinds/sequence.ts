import { z } from 'zod';
import type { NormalizedEvent, Result, Source, SourceEvent } from '../../model/index.js';
import { formatDuration } from '../duration.js';
import { trimEvent } from '../evidence.js';
import { StateFormatError } from '../errors.js';
import { EventRows, RowReader, newTables, tablesJson, type RowShape, type RowTables, type Shared } from '../event-rows.js';
import { Interner } from '../intern.js';
import type { Option, RuleContext } from '../rule.js';
import { SeenMemory, firstSeenSchema, restoreSeen, type FirstSeenOptions, type SeenValues } from './first-seen.js';
import { duration, fn, number, operations, sources } from './schema.js';
import { MAX_EVIDENCE_EVENTS, UNCHANGED, type Evaluation, type KeyState, type KindDefinition, type KindLogic, type Subscription } from './types.js';

/** One step of a sequence, as a rule writes it (under its name in `steps`). */
export interface SequenceStep<S extends Source, T> {
  /** What the step is, in words, as alert evidence names it (default: its key in `steps`). */
  name?: string;
  /** Sources of this step, among the rule's (default: the rule's). */
  sources?: readonly S[];
  operations?: readonly string[];
  where?: (event: SourceEvent<S>, tunables: T, context: RuleContext) => boolean;
  /** The step's relation to the events chosen for the earlier steps, by step name. */
  relate?: (event: SourceEvent<S>, earlier: Readonly<Record<string, NormalizedEvent>>, tunables: T, context: RuleContext) => boolean;
  /** The step counts only when this value is new for the key (e.g. a sign-in from an IP never seen). */
  firstSeen?: FirstSeenOptions<SourceEvent<S>>;
}

/** What a rule writes for the sequence kind: its steps by name, in order. */
export interface SequenceOptions<Steps> {
  /** Longest time from the first step to the last ('1h'). */
  within: Option<string>;
  steps: Steps;
  /** Events remembered per step while waiting for the rest of the sequence (default 20). */
  maxCandidates?: number;
}

/** One step of a sequence alert's evidence. */
export interface SequenceStepEvidence {
  step: string;
  time: string;
  id: string;
  source: Source;
  operation: string;
  result: Result;
  ip?: string;
  subscriptionId?: string;
  resourceId?: string;
}

/** What a sequence alert's evidence holds besides the rule's own. */
export interface SequenceEvidence {
  within: string;
  spanMs: number;
  steps: SequenceStepEvidence[];
}

/**
 * An event waiting for the rest of a sequence: [event time, bit mask of the steps it can be, the
 * trimmed event as a row (EventRows): a short text naming its shape and the strings it shares
 * with the key's other candidates (principal, resource, operation, details) by their index in the
 * key's tables]. The event is built back from the row only when a step's `relate` or an alert needs it.
 */
type Candidate = [time: number, mask: number, row: string];

/**
 * Candidates' strings, shared by every sequence rule (the same resource or user agent in two
 * rules' candidates is held once), and the shapes of their rows. Bounded (see Interner).
 */
export const candidateStrings = new Interner<Shared>(1 << 16);
const rows = new EventRows(candidateStrings, new Interner<RowShape>(1 << 10));

/** The events a new candidate may complete a sequence with: each built from its row at most once, the new one's the trimmed event itself. */
class ChainEvents {
  private built?: Map<Candidate, NormalizedEvent>;

  constructor(
    private readonly candidate: Candidate,
    private readonly event: NormalizedEvent,
    private readonly tables: RowTables | undefined,
  ) {}

  of(c: Candidate): NormalizedEvent {
    if (c === this.candidate) return this.event;
    const built = (this.built ??= new Map<Candidate, NormalizedEvent>());
    let e = built.get(c);
    if (!e) built.set(c, (e = rows.event(c[2], this.tables!, c[0])));
    return e;
  }
}

export interface SequenceState extends KeyState {
  c?: Candidate[];
  /** The shapes and shared strings the candidates' rows name. */
  r?: RowTables;
  /** Per step with a firstSeen option, what the key has seen for it (null for other steps). */
  f?: (SeenValues | null)[];
  /** Only in the stored state (writeState): the time the candidates' times count from, and the tables. */
  t?: number;
  h?: unknown;
  v?: unknown;
}

/** A step with the rule's tunables already bound. */
interface CompiledStep {
  /** The step's key in `steps`, and its name in words. */
  key: string;
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
function sequenceLogic(steps: readonly CompiledStep[], withinMs: number, maxCandidates: number): KindLogic<SequenceState> {
  const n = steps.length;
  const LAST = 1 << (n - 1);
  const hasSeen = steps.some((s) => s.seen);

  /** The candidates, one per step, that a new candidate `ev` completes a sequence with (`ev` among them). */
  function findChain(cands: readonly Candidate[], ev: Candidate, events: ChainEvents): Candidate[] | undefined {
    const chain = new Array<Candidate>(n);
    const time = ev[0];
    const place = (pos: number, at: number): boolean => {
      if (pos === n) return true;
      const tryCandidate = (x: Candidate): boolean => {
        if (pos > 0 && (x[0] < chain[pos - 1][0] || x[0] - chain[0][0] > withinMs)) return false;
        for (let k = 0; k < pos; k++) if (chain[k] === x) return false;
        const relate = steps[pos].relate;
        if (relate) {
          const earlier = new Array<NormalizedEvent>(pos);
          for (let k = 0; k < pos; k++) earlier[k] = events.of(chain[k]);
          if (!relate(events.of(x), earlier)) return false;
        }
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

  function insert(st: SequenceState, candidate: Candidate, env: Evaluation): void {
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
      env.capped();
      if (!(cands[oldest][1] &= ~bit)) cands.splice(oldest, 1);
    }
    compact(st);
  }

  /** Whether an event at `time`, as the steps `bits`, would complete a sequence with the candidates kept. */
  function completes(st: SequenceState, time: number, bits: number, event: NormalizedEvent): boolean {
    const held: Candidate = [time, bits, ''];
    return findChain(st.c ?? [], held, new ChainEvents(held, event, st.r)) !== undefined;
  }

  return {
    apply(st, e, key, env) {
      let mask = 0;
      /** Steps the event would be but for their key still learning. */
      let heldMask = 0;
      let changed = false;
      for (let s = 0; s < n; s++) {
        const step = steps[s];
        if (!step.matches(e)) continue;
        if (step.seen) {
          const value = step.seen.read(e);
          if (value === undefined) continue;
          const f = (st.f ??= steps.map(() => null));
          const { seen, isNew, changed: seenChanged, held } = step.seen.observe(f[s] ?? undefined, value, e.time, env.watchedSince?.(e), env);
          f[s] = seen;
          if (seenChanged) changed = true;
          if (held) heldMask |= 1 << s;
          if (!isNew) continue;
        }
        mask |= 1 << s;
      }
      // Counted when the held step's event would complete the sequence with the candidates kept (a
      // held step is not kept as a candidate, so a sequence it would have started is not counted).
      const countHeld = heldMask !== 0 && env.heldWhileLearning !== undefined;
      if (!mask) {
        if (countHeld && completes(st, e.time, heldMask, trimEvent(e))) env.heldWhileLearning!();
        return changed ? !isEmpty(st) : UNCHANGED;
      }
      const trimmed = trimEvent(e);
      const candidate: Candidate = [e.time, mask, ''];
      const events = new ChainEvents(candidate, trimmed, st.r);
      const chain = findChain(st.c ?? [], candidate, events);
      if (!chain) {
        if (countHeld && completes(st, e.time, mask | heldMask, trimmed)) env.heldWhileLearning!();
        candidate[2] = rows.row(trimmed, (st.r ??= newTables()));
        insert(st, candidate, env);
      } else {
        env.raise(st, chain[n - 1][0], () => {
          const chosen = chain.map((c) => events.of(c));
          const first = chosen[0];
          const last = chosen[n - 1];
          const evidence: SequenceEvidence = {
            within: formatDuration(withinMs),
            spanMs: last.time - first.time,
            steps: chosen.map((x, i) => ({
              step: steps[i].name,
              time: new Date(x.time).toISOString(),
              id: x.id,
              source: x.source,
              operation: x.operation,
              result: x.result,
              ip: x.ip,
              subscriptionId: x.subscriptionId,
              resourceId: x.resourceId,
            })),
          };
          const named: Record<string, NormalizedEvent> = {};
          chosen.forEach((x, i) => (named[steps[i].key] = x));
          return {
            key,
            // The last step, whichever event completed the chain: a late first step (a target's
            // copy from another partition) must not make the alert about that step's actor.
            trigger: last,
            firstTime: first.time,
            lastTime: last.time,
            count: n,
            events: chosen.length <= MAX_EVIDENCE_EVENTS ? chosen : [...chosen.slice(0, MAX_EVIDENCE_EVENTS - 1), last],
            window: `${first.time}|${last.time}|${first.id}`,
            evidence,
            steps: named,
          };
        });
        st.c = st.c?.filter((c) => !chain.includes(c));
        compact(st);
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
        const before = cands.length;
        for (let i = 0; i < cands.length && cands[i][0] < watermark - lateness;) {
          if (cands[i][1] & LAST && !(cands[i][1] &= ~LAST)) cands.splice(i, 1);
          else i++;
        }
        if (cands.length < before || k) compact(st);
      }
      const f = st.f;
      if (f) {
        for (let s = 0; s < n; s++) if (f[s] && !steps[s].seen!.prune(f[s]!, watermark)) f[s] = null;
      }
      return isEmpty(st);
    },
    restore(st) {
      if (hasSeen) st.f?.forEach((seen) => restoreSeen(seen ?? undefined));
      if (st.c !== undefined) readCandidates(st);
      st.t = st.h = st.v = undefined;
    },
    serialize: writeState,
    learning: hasSeen
      ? (st, watermark, watchedSince) =>
          steps.some((step, s) => {
            const seen = st.f?.[s];
            return !!seen && !!step.seen?.stillLearning(seen, watermark, watchedSince);
          })
      : undefined,
  };
}

/** After candidates were dropped: the key's tables without what no row names any more, once they have grown. */
function compact(st: SequenceState): void {
  const cands = st.c;
  if (!cands?.length || !st.r) return;
  const texts = cands.map((c) => c[2]);
  const tables = rows.compact(texts, st.r);
  if (tables === st.r) return;
  st.r = tables;
  for (let i = 0; i < cands.length; i++) cands[i][2] = texts[i];
}

/**
 * A key's state as stored: `{…, "t": time, "c": [time − t, mask, row…, …], "h": shapes, "v": strings}`,
 * the candidates one after the other in one list, each row as it is held (EventRows).
 */
function writeState(st: SequenceState): string {
  const { c: cands, r: tables } = st;
  if (!cands || !tables) return JSON.stringify(st);
  const base = cands[0][0];
  let list = '';
  for (let i = 0; i < cands.length; i++) list += `${i ? ',' : ''}${cands[i][0] - base},${cands[i][1]},${cands[i][2]}`;
  // Left out by setting them undefined for the moment: a copy without them ({...st}) costs more than the rest of the write.
  st.c = st.r = undefined;
  const rest = JSON.stringify(st);
  st.c = cands;
  st.r = tables;
  const { shapes, strings } = tablesJson(tables);
  return `${rest === '{}' ? '{' : `${rest.slice(0, -1)},`}"t":${base},"c":[${list}],"h":${shapes},"v":${strings}}`;
}

/**
 * Take the candidates of a stored state. A state written before candidates were rows holds each
 * as `[time, mask, {trimmed event}]` (and no tables): read as well, and written as rows from then on.
 */
function readCandidates(st: SequenceState): void {
  const stored: unknown = st.c;
  if (!Array.isArray(stored)) throw new StateFormatError('its candidates are not an array');
  const cands: Candidate[] = [];
  if (st.h === undefined) {
    const tables = newTables();
    for (const cells of stored as unknown[]) {
      const event: unknown = Array.isArray(cells) ? cells[2] : undefined;
      if (
        !Array.isArray(cells) ||
        cells.length !== 3 ||
        typeof cells[0] !== 'number' ||
        typeof cells[1] !== 'number' ||
        typeof event !== 'object' ||
        !event ||
        Array.isArray(event)
      )
        throw new StateFormatError(`candidate ${JSON.stringify(cells)?.slice(0, 200)} is not [time, mask, {event}]`);
      cands.push([cells[0], cells[1], rows.row(event as NormalizedEvent, tables)]);
    }
    st.r = tables;
  } else {
    const base = st.t;
    if (typeof base !== 'number') throw new StateFormatError('its candidates have no time to count from');
    const reader = new RowReader(rows, stored, st.h, st.v);
    while (reader.more) cands.push([base + reader.number(), reader.number(), reader.row()]);
    st.r = reader.tables;
  }
  st.c = cands;
}

/**
 * What a restored key's candidates hold, whatever the layout of their rows: `[time, mask, event]`
 * each. Two runs that wrote the same key at other batches number its shared strings in another
 * order, so states are compared by this, not by their stored text.
 */
export function candidateEvents(st: SequenceState): [time: number, mask: number, event: NormalizedEvent][] {
  return (st.c ?? []).map((c) => [c[0], c[1], rows.event(c[2], st.r!, c[0])]);
}

/** Drop empty parts so the stored JSON stays short; true when nothing is left. */
function isEmpty(st: SequenceState): boolean {
  if (st.c && !st.c.length) st.c = st.r = undefined;
  if (st.f && st.f.every((x) => x === null)) st.f = undefined;
  return st.c === undefined && st.f === undefined;
}

const stepSchema = z.strictObject({
  name: z.string().min(1, { message: 'give the step a name in words, or leave it out' }).optional(),
  sources: sources.optional(),
  operations: operations.optional(),
  where: fn('(event, tunables, context) => boolean').optional(),
  relate: fn('(event, earlierStepEvents, tunables, context) => boolean').optional(),
  firstSeen: firstSeenSchema.optional(),
});

const optionsSchema = z.strictObject({
  within: duration,
  maxCandidates: number(1, { integer: true, max: 1000 }).default(20),
  steps: z.record(z.string(), stepSchema).superRefine((steps, ctx) => {
    const names = Object.keys(steps);
    if (names.length < 2) ctx.addIssue({ code: 'custom', message: 'a sequence needs at least two steps' });
    else if (steps[names[0]].relate) ctx.addIssue({ code: 'custom', path: [names[0], 'relate'], message: 'the first step has no earlier step to relate to' });
  }),
});
type SequenceSettings = z.output<typeof optionsSchema>;
type StepSettings = z.output<typeof stepSchema>;

function compileStep(
  key: string,
  step: StepSettings,
  names: readonly string[],
  rule: { sources: readonly Source[]; operations?: readonly string[]; tunables: unknown; context: RuleContext },
): CompiledStep {
  const stepSources = new Set(step.sources ?? rule.sources);
  const ops = step.operations ?? rule.operations;
  const opSet = ops ? new Set(ops) : undefined;
  const { where, relate, firstSeen } = step as StepSettings & Pick<SequenceStep<Source, unknown>, 'where' | 'relate'>;
  const { tunables, context } = rule;
  return {
    key,
    name: step.name ?? key,
    matches: (e) => stepSources.has(e.source) && (!opSet || opSet.has(e.operation)) && (!where || where(e, tunables, context)),
    relate: relate
      ? (e, prior) => {
          const earlier: Record<string, NormalizedEvent> = {};
          prior.forEach((x, i) => (earlier[names[i]] = x));
          return relate(e, earlier, tunables, context);
        }
      : undefined,
    seen: firstSeen ? new SeenMemory(firstSeen) : undefined,
  };
}

export const sequence: KindDefinition<'sequence', SequenceSettings> = {
  name: 'sequence',
  optionsSchema,
  compile(settings, rule, fail) {
    const names = Object.keys(settings.steps);
    const subscriptions: Subscription[] = [];
    const steps = names.map((key) => {
      const step = settings.steps[key];
      step.sources?.forEach((s, j) => {
        if (!rule.sources.includes(s)) fail(`steps.${key}.sources[${j}]`, `'${s}' is not among the rule's sources: add it to 'sources'`);
      });
      for (const source of step.sources ?? rule.sources) subscriptions.push({ source, operations: step.operations ?? rule.operations });
      return compileStep(key, step, names, rule);
    });
    const learning = steps.flatMap((step) => step.seen?.period(`step ${step.key}`) ?? []);
    return { logic: sequenceLogic(steps, settings.within, settings.maxCandidates), subscriptions, learning };
  },
  scaffold: `  kind: 'sequence',
  within: tunable('1h', 'Longest time from the first step to the last'),
  steps: {
    // TODO: the steps, in order, by name; each may narrow sources and operations and relate to the earlier steps.
    first: { name: 'TODO first step', where: () => true },
    second: { name: 'TODO second step', where: () => true, relate: (e, { first }) => e.id !== first.id },
  },`,
  doc: `### sequence — steps A → B (→ C) by the same key within a time limit

\`\`\`ts
kind: 'sequence', within: tunable('1h', 'Longest time from the sign-in to the access'),
steps: {
  signin: { name: 'sign-in from a new IP', sources: ['signin'],
    where: (e) => e.result === 'success' && e.principalType === 'servicePrincipal',
    firstSeen: { value: 'ip', horizon: '30d', learning: '7d' } },
  access: { name: 'secret read or key listing', sources: ['keyvault', 'activity'],
    where: (e) => e.operation === 'SECRETGET' || e.operation.endsWith('/LISTKEYS/ACTION') },
},
title: ({ principal, steps }) => \`\${principal} signed in from \${steps.signin.ip}, then \${steps.access.operation}\`,
\`\`\`
Steps are named, in event-time order, first to last at most \`within\` apart, and may come from
different sources (a step's \`sources\` must be among the rule's; its \`where\` sees events of those
sources, typed). A step has \`where(event, tunables, context)\`, optionally \`operations\`, optionally
\`firstSeen\` (the step counts only when the value is new for the key — the memory is fed by every
event passing the step's \`where\`; its learning follows the principal unless it says
\`learningFrom: 'key'\`, as for the firstSeen kind), optionally \`name\` (the step in words, as evidence shows it;
default its key), and optionally \`relate(event, earlier, tunables, context)\`, which sees the events
chosen for the earlier steps by name:

\`\`\`ts
kind: 'sequence', within: '15m',
steps: {
  read: { operations: READS },
  write: { operations: WRITES, relate: (e, { read }) => !!e.subscriptionId && e.subscriptionId !== read.subscriptionId },
},
\`\`\`
Title and evidence see the chosen events as \`steps.<name>\`. Steps may arrive in any order
and in different batches: each event that can be a step is kept as a candidate for \`within\` (plus
the allowed lateness), at most \`maxCandidates\` (default 20) per step; a new candidate completes the
sequence with earlier candidates, or, when it arrived late, with later ones. A completed sequence
consumes its events. Evidence: \`steps\` (name, time, id, source, operation, result, ip,
subscription, resource of each), \`within\`, \`spanMs\`.

A firstSeen step whose value is new but whose key is still learning is not a candidate. When such
an event would have completed the sequence with the candidates kept, that is counted as held back
while learning; a held step is not kept, so a sequence it would have *started* is not counted.`,
};
