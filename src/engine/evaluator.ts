import { servesActor, type Alert, type NormalizedEvent, type RoutedFor, type StreamEvent } from '../model/index.js';
import type { CompiledRule } from './compile.js';
import { SeedOverLiveStateError, StateFormatError } from './errors.js';
import { buildAlert } from './evidence.js';
import { UNCHANGED, type AlertDraft, type Evaluation, type KeyState, type ObservedPoint, type Observer } from './kinds/types.js';
import type { RuleIndex } from './rule-index.js';
import { advanceWatermark, type WatermarkState } from './bounds.js';
import { Interner } from './intern.js';

/** Store key of a partition's own entry: its watermark and last applied sequence number. */
export const PARTITION_META_KEY = '~partition';
/** Store key prefix of a principal's age on the partition: `~age|<principal id>` → `[first seen, last seen]` (event times). */
export const AGE_KEY = '~age|';
/**
 * A principal silent this long is forgotten: it learns again when it comes back, as a key whose
 * values all expired does (30 days, the default first-seen horizon).
 */
export const PRINCIPAL_FORGET_MS = 30 * 86_400_000;
/** A principal's last-seen time is moved on at most once an hour, so a busy principal costs a write an hour, not one per event. */
const AGE_REFRESH_MS = 3_600_000;

interface PartitionMeta extends WatermarkState {
  /** Last applied sequence number. */
  q: number;
  /** Per origin (raw hub partition), the last applied [raw sequence number, record index]. */
  o?: Record<string, [number, number]>;
  /** Earliest event time applied on the partition: what learning of an event without a principal is measured against. */
  f?: number;
  /** Seeded up to this event time (`warden seed`): live events before it were applied from history and are skipped. */
  c?: number;
}

/**
 * What a partition's stored entry (PARTITION_META_KEY) says, for `warden seed`: whether the live
 * stream wrote the partition (its last sequence number is a live one), and its watermark.
 */
export function readPartitionMark(json: string): { live: boolean; watermark: number } | undefined {
  const meta = parse(json) as PartitionMeta | undefined;
  if (!meta || typeof meta.w !== 'number' || typeof meta.q !== 'number') return undefined;
  return { live: meta.q >= 0, watermark: meta.w };
}

/**
 * Sequence numbers seeded events are applied with, counting up from here: below any the live
 * stream gives (Event Hubs numbers from 0), so seeded state never makes a live event look redelivered.
 */
export const SEED_FIRST_SEQUENCE = -(2 ** 52);

/** Keys' texts, one copy for all rules (bounded: see Interner). */
const keyTexts = new Interner<string>(1 << 16);
const same = (key: string) => key;

/** Counters shared by a detector's partitions. */
export interface Counters {
  events: number;
  late: number;
  /** Events stamped more than the allowed clock skew past their partition's watermark: alone, they do not move it. */
  ahead: number;
  duplicatesSkipped: number;
  /** Events skipped as copies of one applied before from the same origin (an ingest batch published twice). */
  republishedSkipped: number;
  /** Copies of events applied for their target principal's (or app id's) key, on its partition (not counted in `events`). */
  targetCopies: number;
  /** Events skipped because history seeded them already (before the partition's seed cut-over, or seeded by an earlier `warden seed`). */
  seededSkipped: number;
  suppressed: number;
  /** Per rule, alerts its kind would have raised but for the key still learning (counted before suppression). */
  heldWhileLearning: Record<string, number>;
  alerts: number;
  alertsByRule: Record<string, number>;
  ruleErrors: Record<string, number>;
  /** First few rule errors, so a broken rule shows what went wrong. */
  ruleErrorSamples: string[];
  /** Stored entries that could not be read back (dropped and deleted). */
  corruptState: number;
  /** Keys whose state grew past what the store holds: forgotten (deleted) instead of written. */
  evicted: number;
  /** The first few evicted keys, cut, so a key that keeps growing can be found. */
  evictedSamples: string[];
  /** Per rule, what keys dropped at a cap (sequence candidates past maxCandidates, first-seen values past maxValues). */
  capEvictions: Record<string, number>;
}

export interface PartitionWrites {
  /**
   * Changed keys, then the partition's own entry (watermark and sequence number) last: the store
   * writes in order, so a stored sequence number never runs ahead of the keys' state.
   */
  upserts: Map<string, string>;
  deletes: string[];
}

export interface EvaluatorOptions {
  allowedLatenessMs: number;
  /** How far past the watermark one event may be and still move it (see advanceWatermark); unset, the newest time always moves it. */
  maxClockSkewMs?: number;
  now: () => number;
  /** Receives the series anomaly and threshold rules compute (tuning reports); absent in production. */
  observe?: Observer;
  /** Takes a restored entry of the detector's own (`remember`); false for a key it does not know. */
  restoreContext?: (storeKey: string, value: string) => boolean;
  /** Seeding from history (`warden seed`): events from this event time on are left to the live stream. */
  seedUntil?: number;
}

/**
 * One partition's rules state: per rule a map key → small state object, the partition's event-time
 * watermark, and what changed since the last write. Events must arrive in sequence-number order
 * (as an Event Hubs partition delivers them); an event at or below the last applied sequence
 * number is a redelivery and is skipped, and each key also remembers its last applied
 * (partition, sequence number) in case the partition's own entry was not written.
 */
export class PartitionEvaluator {
  private readonly meta: PartitionMeta = { w: 0, q: -1 };
  /** Events applied since this evaluator was created. */
  applied = 0;
  private metaDirty = false;
  private readonly states: Map<string, KeyState>[];
  /** Per rule, the keys changed since the last write, with their state (written without looking it up again). */
  private readonly dirty: Map<string, KeyState>[];
  private readonly removed: Set<string>[];
  /** Each rule's store prefix with its '|' (see storePrefix), built once. */
  private readonly prefixes: string[];
  private orphans: string[] = [];
  /** Entries the detector asked to keep with this partition (what it learned from its events) since the last write. */
  private remembered = new Map<string, string>();
  /** Per rule, what its kind raises alerts through. */
  private readonly evaluations: RuleEvaluation[];
  /** Per principal seen on the partition, [first seen, last seen] in event time (see AGE_KEY). */
  private readonly ages = new Map<string, [number, number]>();
  private readonly dirtyAges = new Set<string>();
  private removedAges: string[] = [];
  /** The seed cut-over as restored: a seed run skips what an earlier one applied. */
  private seededBefore = -Infinity;
  /** Per rule, whether its learning may be measured against the principal (how long it has been watched): false when every period is the key's own. */
  private readonly fromPrincipal: boolean[];
  /** Per rule, its keys still learning as the last sweep found them (undefined until counted). */
  private learningTally?: number[];

  constructor(
    readonly partitionId: string,
    private readonly rules: readonly CompiledRule[],
    private readonly index: RuleIndex,
    private readonly options: EvaluatorOptions,
    private readonly counters: Counters,
  ) {
    this.states = rules.map(() => new Map<string, KeyState>());
    this.dirty = rules.map(() => new Map<string, KeyState>());
    this.removed = rules.map(() => new Set());
    this.prefixes = rules.map((r) => `${storePrefix(r)}|`);
    // A rule that lists no period (a learning of 0s) still reads it, as its kind may be asked with it.
    this.fromPrincipal = rules.map((r) => !r.learning.length || r.learning.some((period) => period.against === 'principal'));
    const watchedSince = (e: NormalizedEvent): number => (e.principalId && this.ages.get(e.principalId)?.[0]) || (this.meta.f ?? e.time);
    this.evaluations = rules.map((r) => new RuleEvaluation(r, counters, options.observe, watchedSince));
  }

  /** Principals seen on the partition (within PRINCIPAL_FORGET_MS of their last event). */
  get principalCount(): number {
    return this.ages.size;
  }

  /** When the principal was first seen on this partition (event time), if it is known. */
  principalFirstSeen(principalId: string): number | undefined {
    return this.ages.get(principalId)?.[0];
  }

  /**
   * Per rule (by index), how many of its keys are still in their learning period: as the last
   * sweep counted them (sweeps visit every key anyway), or counted now if none has since this
   * partition was loaded. Rules that do not learn count 0.
   */
  learningKeys(): readonly number[] {
    if (!this.learningTally) {
      this.learningTally = this.rules.map(() => 0);
      for (const rule of this.rules) for (const [key, st] of this.states[rule.index]) this.tallyLearning(rule, key, st);
    }
    return this.learningTally;
  }

  /**
   * Count the key if its rule's kind says it is still learning at the watermark. Keys are a
   * principal or start with one (`principal|…`): its first sighting is what principal learning
   * is measured against, else the partition's first event.
   */
  private tallyLearning(rule: CompiledRule, key: string, st: KeyState): void {
    const learning = rule.logic.learning;
    if (!learning) return;
    // Only a learning period measured against the principal reads its age: sweeps visit every key, and a key's own history needs no lookup.
    let since: number | undefined;
    if (this.fromPrincipal[rule.index]) {
      const bar = key.indexOf('|');
      since = this.ages.get(key)?.[0] ?? (bar > 0 ? this.ages.get(key.slice(0, bar))?.[0] : undefined) ?? this.meta.f;
    }
    if (learning(st, this.meta.w, since)) this.learningTally![rule.index]++;
  }

  /** The last sequence number applied on the partition (−1 before the first). */
  get lastSequenceNumber(): number {
    return this.meta.q;
  }

  /** The partition's event-time watermark: the newest event time applied there. */
  get watermark(): number {
    return this.meta.w;
  }

  get keyCount(): number {
    let n = 0;
    for (const m of this.states) n += m.size;
    return n;
  }

  /** Take over state read from the store. Entries of rules no longer loaded are deleted at the next write. */
  restore(entries: ReadonlyMap<string, string>): void {
    const byPrefix = new Map(this.rules.map((r) => [storePrefix(r), r]));
    for (const [storeKey, json] of entries) {
      if (storeKey === PARTITION_META_KEY) {
        const meta = parse(json) as PartitionMeta | undefined;
        if (meta && typeof meta.w === 'number' && typeof meta.q === 'number') Object.assign(this.meta, meta);
        else this.counters.corruptState++;
        this.seededBefore = this.meta.c ?? -Infinity;
        continue;
      }
      if (storeKey.startsWith(AGE_KEY)) {
        const age = parse(json);
        if (Array.isArray(age) && typeof age[0] === 'number' && typeof age[1] === 'number') this.ages.set(storeKey.slice(AGE_KEY.length), [age[0], age[1]]);
        else {
          this.counters.corruptState++;
          this.orphans.push(storeKey);
        }
        continue;
      }
      // Rule ids never start with '~': such keys are the detector's (PARTITION_META_KEY's kin).
      if (storeKey.startsWith('~') && this.options.restoreContext?.(storeKey, json)) continue;
      const bar = storeKey.indexOf('|');
      const rule = bar > 0 ? byPrefix.get(storeKey.slice(0, bar)) : undefined;
      const state = rule ? (parse(json) as KeyState | undefined) : undefined;
      if (!rule || !state || typeof state !== 'object' || !restored(rule, state)) {
        if (rule) this.counters.corruptState++;
        this.orphans.push(storeKey);
        continue;
      }
      this.states[rule.index].set(storeKey.slice(bar + 1), state);
    }
  }

  /** Apply one event to every rule subscribed to its source and operation; alerts go to `out`. */
  apply(se: StreamEvent, out: Alert[]): void {
    const meta = this.meta;
    const seedUntil = this.options.seedUntil;
    if (seedUntil !== undefined) {
      if (meta.q >= 0) throw new SeedOverLiveStateError(this.partitionId);
      if (se.event.time >= seedUntil || se.event.time < this.seededBefore) {
        this.counters.seededSkipped++;
        return;
      }
      se = { ...se, sequenceNumber: meta.q === -1 ? SEED_FIRST_SEQUENCE : meta.q + 1 };
      meta.c = Math.max(meta.c ?? seedUntil, seedUntil);
    } else if (meta.c !== undefined && se.event.time < meta.c && se.sequenceNumber > meta.q) {
      // Time cut-over: history up to the cut was applied by `warden seed`; the stream's copy of it is not counted again.
      meta.q = se.sequenceNumber;
      this.metaDirty = true;
      this.counters.seededSkipped++;
      return;
    }
    // Seeded events are numbered here, after what the partition applied, so none is a redelivery.
    if (seedUntil === undefined && se.sequenceNumber <= meta.q) {
      this.counters.duplicatesSkipped++;
      return;
    }
    meta.q = se.sequenceNumber;
    this.metaDirty = true;
    const origin = se.origin;
    if (origin !== undefined) {
      const last = (meta.o ??= {})[origin.source];
      if (last !== undefined && (origin.sequenceNumber < last[0] || (origin.sequenceNumber === last[0] && origin.index <= last[1]))) {
        this.counters.republishedSkipped++;
        return;
      }
      meta.o[origin.source] = [origin.sequenceNumber, origin.index];
    }
    // A target's or app's copy is the actor's event seen again on another partition: counted apart, and the actor not aged here.
    const routedFor = se.routedFor;
    const forActor = servesActor(routedFor);
    if (forActor) this.counters.events++;
    else this.counters.targetCopies++;
    this.applied++;
    const e = se.event;
    const lateness = this.options.allowedLatenessMs;
    if (e.time < meta.w - lateness) this.counters.late++;
    if (e.time > meta.w) {
      const skew = this.options.maxClockSkewMs;
      // A forged time (year 9999, a day ahead) would otherwise make every later event of the partition late.
      if (skew === undefined) meta.w = e.time;
      else if (advanceWatermark(meta, e.time, skew)) this.counters.ahead++;
    }
    if (meta.f === undefined || e.time < meta.f) meta.f = e.time;
    if (e.principalId && forActor) this.age(e.principalId, e.time);
    const rules = this.index.lookup(e.source, e.operation);
    if (!rules.length) return;
    // Each copy serves the rules of the keys it was routed for, so no rule counts an event twice under one key.
    const targetKey = targetKeyOf(e, routedFor);
    const appKey = routedFor === 'actor+app' ? e.principalAppId : undefined;
    let lastKey: string | undefined;
    for (const rule of rules) {
      try {
        if (rule.onTarget) {
          if (targetKey === undefined || !rule.accepts(e)) continue;
          this.applyRule(rule, se, targetKey, out);
          if (appKey !== undefined) this.applyRule(rule, se, appKey, out);
        } else {
          if (!forActor || !rule.accepts(e)) continue;
          let key = rule.keyOf(e);
          if (!key) continue;
          // Rules that group alike (principal and resource) give equal keys: the first one's text, hashed once, serves the next.
          if (key === lastKey) key = lastKey;
          else lastKey = key;
          this.applyRule(rule, se, key, out);
        }
      } catch (err) {
        // An alert raised before the rule threw still goes out, as it would have without the error.
        const drafts = this.evaluations[rule.index].drafts;
        if (drafts.length) this.alerts(rule, drafts, se.arrivedAt, out);
        // A rule that throws must not stop the batch or the other rules: count it and show it.
        this.counters.ruleErrors[rule.id] = (this.counters.ruleErrors[rule.id] ?? 0) + 1;
        if (this.counters.ruleErrorSamples.length < 10) this.counters.ruleErrorSamples.push(`${rule.id}: ${(err as Error).message} (event ${e.id})`);
      }
    }
  }

  /** Apply one event to one rule under one key (unless that key's state has applied it already). */
  private applyRule(rule: CompiledRule, se: StreamEvent, key: string, out: Alert[]): void {
    const map = this.states[rule.index];
    const pid = this.partitionId;
    const seq = se.sequenceNumber;
    let st = map.get(key);
    if (st) {
      if (st.p === pid && st.q >= seq) return;
      this.prune(rule, st, key);
    }
    const fresh = st === undefined;
    st ??= { p: pid, q: seq };
    const evaluation = this.evaluations[rule.index];
    const holds = rule.logic.apply(st, se.event, key, evaluation);
    if (evaluation.drafts.length) this.alerts(rule, evaluation.drafts, se.arrivedAt, out);
    if (holds === UNCHANGED) return;
    st.p = pid;
    st.q = seq;
    // A key that held state and now holds nothing stays as a tombstone {p, q} until a later
    // sweep: deleting it now could lose, after a failed flush, the fact that this event was applied.
    if (holds || st.a !== undefined || !fresh) {
      // A new key's text as the one copy rules keyed alike share (three rules key an AI call by principal and resource id).
      const kept = fresh ? keyTexts.get(key, same) : key;
      if (fresh) map.set(kept, st);
      this.dirty[rule.index].set(kept, st);
    }
  }

  /** Note that the principal was seen at `time` (first and last seen, the latter refreshed hourly). */
  private age(principalId: string, time: number): void {
    const age = this.ages.get(principalId);
    // A principal silent past PRINCIPAL_FORGET_MS is new again whether or not a sweep forgot it yet.
    if (!age || time > age[1] + PRINCIPAL_FORGET_MS + AGE_REFRESH_MS) this.ages.set(principalId, [time, time]);
    else if (time < age[0]) age[0] = time;
    else if (time >= age[1] + AGE_REFRESH_MS) age[1] = time;
    else return;
    this.dirtyAges.add(principalId);
  }

  /** Keep an entry of the detector's own (a key starting with '~') with this partition's state, at the next write. */
  remember(storeKey: string, value: string): void {
    this.remembered.set(storeKey, value);
  }

  /** The Alerts of what a rule's kind raised for one event (the drafts are taken). */
  private alerts(rule: CompiledRule, drafts: AlertDraft[], arrivedAt: number, out: Alert[]): void {
    // Taken first: a title or severityOf that throws costs its alert (counted as the rule's error), not the batch.
    for (const draft of drafts.splice(0)) {
      out.push(buildAlert(rule, draft, arrivedAt, this.options.now()));
      this.counters.alerts++;
      this.counters.alertsByRule[rule.id] = (this.counters.alertsByRule[rule.id] ?? 0) + 1;
    }
  }

  /**
   * Prune every key at the current watermark and forget the ones left empty, so memory and the
   * store stay bounded. Pruning composes, so sweeping never changes what later events raise.
   * Only keys unchanged since the last write are deleted: their stored state prunes to nothing
   * too, so the delete is safe in any order with the other writes. A key changed in this batch
   * is written (as a tombstone) and deleted by a later sweep.
   */
  sweep(): void {
    const forget = this.meta.w - this.options.allowedLatenessMs - PRINCIPAL_FORGET_MS - AGE_REFRESH_MS;
    for (const [id, age] of this.ages) {
      if (age[1] < forget && !this.dirtyAges.has(id)) {
        this.ages.delete(id);
        this.removedAges.push(AGE_KEY + id);
      }
    }
    this.learningTally = this.rules.map(() => 0);
    for (const rule of this.rules) {
      const map = this.states[rule.index];
      const dirty = this.dirty[rule.index];
      for (const [key, st] of map) {
        if (this.prune(rule, st, key) && !dirty.has(key)) {
          map.delete(key);
          this.removed[rule.index].add(key);
        } else this.tallyLearning(rule, key, st);
      }
    }
  }

  /** What changed since the last call, as store entries (serialized only when asked); resets the change tracking. */
  takeWrites(serialize: boolean): PartitionWrites {
    const upserts = new Map<string, string>();
    const deletes = this.orphans;
    this.orphans = [];
    // One by one: a sweep can forget hundreds of thousands of principals, past what a spread call's arguments may hold.
    for (const key of this.removedAges) deletes.push(key);
    this.removedAges = [];
    for (const rule of this.rules) {
      const map = this.states[rule.index];
      const prefix = this.prefixes[rule.index];
      const logic = rule.logic;
      // A dirty key is still in the map: a sweep deletes only keys not changed since the last write.
      if (serialize) for (const [key, st] of this.dirty[rule.index]) upserts.set(prefix + key, logic.serialize ? logic.serialize(st) : JSON.stringify(st));
      for (const key of this.removed[rule.index]) if (!map.has(key)) deletes.push(prefix + key);
      this.dirty[rule.index].clear();
      this.removed[rule.index].clear();
    }
    if (serialize) for (const [key, value] of this.remembered) upserts.set(key, value);
    if (serialize) for (const id of this.dirtyAges) upserts.set(AGE_KEY + id, JSON.stringify(this.ages.get(id)));
    this.dirtyAges.clear();
    this.remembered.clear();
    if (this.metaDirty && serialize) upserts.set(PARTITION_META_KEY, JSON.stringify(this.meta));
    this.metaDirty = false;
    return { upserts, deletes };
  }

  /**
   * Forget a key of a rule (its store key as takeWrites gave it): its state is gone, and deleted
   * from the store at the next write. False for an entry that is not a rule's key.
   */
  forget(storeKey: string): boolean {
    for (const rule of this.rules) {
      const prefix = this.prefixes[rule.index];
      if (!storeKey.startsWith(prefix)) continue;
      const key = storeKey.slice(prefix.length);
      this.states[rule.index].delete(key);
      this.dirty[rule.index].delete(key);
      this.removed[rule.index].add(key);
      return true;
    }
    return false;
  }

  /** Suppression ends, then the kind prunes; true when the key holds nothing any more. */
  private prune(rule: CompiledRule, st: KeyState, key: string): boolean {
    const horizon = this.meta.w - this.options.allowedLatenessMs;
    if (st.a !== undefined && st.a + rule.suppressMs < horizon) st.a = undefined;
    const observer = this.options.observe;
    const observe = observer && ((point: ObservedPoint) => observer(rule.id, key, point));
    return rule.logic.prune(st, this.meta.w, this.options.allowedLatenessMs, observe) && st.a === undefined;
  }
}

/**
 * A key's store entry is `<rule id>:<kind>|<grouping key>`: the kind in the prefix means a rule
 * whose kind changed does not read state of another shape (its old entries are deleted).
 */
function storePrefix(rule: CompiledRule): string {
  return `${rule.id}:${rule.rule.kind}`;
}

/**
 * What one rule's kind sees of the evaluator: `raise` applies the rule's suppression and keeps
 * the draft of an alert that goes out, for the evaluator to take as soon as `apply` returns.
 */
class RuleEvaluation implements Evaluation {
  readonly drafts: AlertDraft[] = [];
  readonly observe?: (key: string, point: ObservedPoint) => void;

  constructor(
    private readonly rule: CompiledRule,
    private readonly counters: Counters,
    observer: Observer | undefined,
    readonly watchedSince: (event: NormalizedEvent) => number,
  ) {
    if (observer) this.observe = (key, point) => observer(rule.id, key, point);
  }

  heldWhileLearning(): void {
    const held = this.counters.heldWhileLearning;
    held[this.rule.id] = (held[this.rule.id] ?? 0) + 1;
  }

  raise(state: KeyState, time: number, draft: () => AlertDraft): boolean {
    const period = this.rule.suppressMs;
    if (period > 0) {
      if (state.a !== undefined && time < state.a + period) {
        this.counters.suppressed++;
        return false;
      }
      state.a = time;
    }
    this.drafts.push(draft());
    return true;
  }

  capped(): void {
    const counts = this.counters.capEvictions;
    counts[this.rule.id] = (counts[this.rule.id] ?? 0) + 1;
  }
}

/** Let the rule's kind rebuild a state read from the store; false when the kind cannot read it (StateFormatError). */
function restored(rule: CompiledRule, state: KeyState): boolean {
  try {
    rule.logic.restore?.(state);
    return true;
  } catch (err) {
    if (err instanceof StateFormatError) return false;
    throw err;
  }
}

function parse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/**
 * The key rules keyed on the target apply a copy under: the target's (its copy, or the one copy
 * serving actor and target); for the actor's copy of an event without a target, the actor's; for
 * an app copy, the actor's app id (a copy serving actor and app is applied under the app id too).
 */
function targetKeyOf(e: NormalizedEvent, routedFor: RoutedFor | undefined): string | undefined {
  switch (routedFor) {
    case undefined:
      return e.targetPrincipalId === undefined ? e.principalId : undefined;
    case 'target':
    case 'both':
      return e.targetPrincipalId ?? e.principalId;
    case 'app':
      return e.principalAppId;
    case 'actor+app':
      return e.principalId;
  }
}
