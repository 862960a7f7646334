import type { Alert, StreamEvent } from '../model/index.js';
import type { StateStore, StateWriteStats } from '../state/types.js';
import { compileRule, type CompiledRule } from './compile.js';
import { RuleDefinitionError, TunableError } from './errors.js';
import { PARTITION_META_KEY, PartitionEvaluator, type Counters, type PartitionWrites } from './evaluator.js';
import type { Observer } from './kinds/types.js';
import { PrincipalNames, ResourceInventory, type InventoryResource } from './inventory.js';
import { RuleIndex } from './rule-index.js';
import type { Rule } from './rule.js';
import type { TunableOverrides } from './tunables.js';

export const DEFAULT_ALLOWED_LATENESS_MS = 5 * 60_000;
const DEFAULT_SWEEP_EVERY_MS = 60_000;
/**
 * Store keys of what a detector learns from events, kept with the state of the partition whose
 * event taught it, so an instance that restarts or takes a partition over names principals and
 * places resources as the one before it did: `~name|<principal id>` → display name,
 * `~resource|<resource id>` → the resource as JSON.
 */
const NAME_KEY = '~name|';
const RESOURCE_KEY = '~resource|';

export interface DetectorOptions {
  /** Where partitions' state is read from (first event of a partition) and written to (`flush`). Without one, state lives in memory only. */
  store?: StateStore;
  /** Events up to this much older than the partition's watermark still count in their own window (default 5 minutes). */
  allowedLatenessMs?: number;
  /**
   * How far past its partition's watermark one event may be and move it alone (see
   * advanceWatermark). Unset, the newest event time is the watermark: right for replays of sparse
   * captures and backtests, where a key quiet for hours is real and no arrival clock says otherwise.
   * The app sets it (WARDEN_MAX_CLOCK_SKEW): anyone who can write to the keyed hub skips ingest's check.
   */
  maxClockSkewMs?: number;
  /** Deployer overrides per rule id (e.g. from `tunableOverridesFromEnv()`). */
  tunables?: TunableOverrides;
  /** Wall clock for TimeGenerated and DetectionLatencyMs (default Date.now). */
  now?: () => number;
  /** Event time between sweeps that forget expired keys (default 1 minute; any value gives the same alerts). */
  sweepEveryMs?: number;
  /** Where resources live, for rules that enrich (e.g. `inventoryFromEnv()`); it also learns from every event processed. */
  inventory?: ResourceInventory;
  /**
   * Receives, per rule and key, the series anomaly rules (each bucket, when it fires and when it
   * closes) and threshold rules (each counted event) decide on: for tuning reports. Off by default.
   */
  observe?: Observer;
  /**
   * Seed the store from history (`warden seed`): events from this event time on are skipped (the
   * live stream applies them), events are numbered below any live sequence number, and a partition
   * the live stream already wrote is refused (SeedOverLiveStateError).
   */
  seedUntil?: number;
}

/** A rule's learning, as the detector's stats report it. */
export interface RuleLearning {
  keysLearning: number;
  heldWhileLearning: number;
}

export interface DetectorStats {
  /** Events applied (redeliveries excluded). */
  events: number;
  /** Events older than their partition's watermark minus the allowed lateness (still applied where the kind can; see docs/rules.md). */
  late: number;
  /** Events stamped more than the allowed clock skew past their partition's watermark: alone, they do not move it. */
  ahead: number;
  /** Events skipped because their (partition, sequence number) was applied before. */
  duplicatesSkipped: number;
  /** Events skipped as copies from the same origin: an ingest batch published to the keyed hub again. */
  republishedSkipped: number;
  /** Copies of events applied on their target principal's partition, for rules keyed on the target (not counted in `events`). */
  targetCopies: number;
  /** Events skipped because `warden seed` applied them from history (before the cut-over). */
  seededSkipped: number;
  alerts: number;
  alertsByRule: Record<string, number>;
  /** Alerts held back by a rule's suppression period. */
  suppressed: number;
  /**
   * Per rule with a learning period: how many of its keys are still learning (on the partitions
   * this detector holds, as their last sweeps counted them) and how many alerts it could not
   * raise because the key was still learning (since the detector started, before suppression).
   */
  learning: Record<string, RuleLearning>;
  /** Events a rule threw on (the event still reached the other rules). */
  ruleErrors: Record<string, number>;
  ruleErrorSamples: string[];
  corruptState: number;
  /** Keys whose state grew past what the store holds: forgotten instead of written (the batch goes on). */
  evicted: number;
  evictedSamples: string[];
  /** Per rule, what keys dropped at a cap: sequence candidates past maxCandidates, first-seen values past maxValues (the oldest go). */
  capEvictions: Record<string, number>;
  partitions: number;
  /** Keys holding state now, over all partitions and rules. */
  keys: number;
  stateWrites: StateWriteStats;
}

/**
 * Evaluates rules over keyed stream events, per partition, with state that survives restarts.
 * Per batch: `alerts = await process(events)`, hand the alerts to the outbox, then `await
 * flush(partitions)` to write the changed state once; after a crash the batch comes again and
 * gives the same AlertIds without counting an event twice. Calls for different partitions may
 * overlap; calls for the same partition must not.
 */
export class Detector {
  readonly rules: readonly CompiledRule[];
  readonly inventory: ResourceInventory;
  /** Display names learned from events, so alerts about a principal logged only by id still name it. */
  private readonly principals = new PrincipalNames();
  private readonly index: RuleIndex;
  private readonly partitions = new Map<string, Promise<PartitionEvaluator>>();
  private readonly loaded = new Map<string, PartitionEvaluator>();
  private readonly lastSweep = new Map<string, { watermark: number; events: number }>();
  /** Per partition, writes taken from memory whose store write failed: merged into the next flush, so retrying it writes them. */
  private readonly unwritten = new Map<string, PartitionWrites>();
  private readonly counters: Counters = {
    events: 0,
    late: 0,
    ahead: 0,
    duplicatesSkipped: 0,
    republishedSkipped: 0,
    targetCopies: 0,
    seededSkipped: 0,
    suppressed: 0,
    heldWhileLearning: {},
    alerts: 0,
    alertsByRule: {},
    ruleErrors: {},
    ruleErrorSamples: [],
    corruptState: 0,
    evicted: 0,
    evictedSamples: [],
    capEvictions: {},
  };
  private readonly writes: StateWriteStats = { entities: 0, transactions: 0 };
  private readonly allowedLatenessMs: number;
  private readonly maxClockSkewMs?: number;
  private readonly now: () => number;
  private readonly sweepEveryMs: number;

  constructor(
    rules: readonly Rule[],
    private readonly options: DetectorOptions = {},
  ) {
    const seen = new Set<string>();
    for (const rule of rules) {
      if (seen.has(rule.id)) throw new RuleDefinitionError('id', 'two rules have this id: rule ids must be unique', rule.id);
      seen.add(rule.id);
    }
    for (const ruleId of Object.keys(options.tunables ?? {})) {
      if (!seen.has(ruleId)) throw new TunableError(`tunables are set for rule '${ruleId}', which is not loaded: fix the rule id or remove the entry`);
    }
    this.inventory = options.inventory ?? new ResourceInventory();
    const context = { inventory: this.inventory, principals: this.principals };
    this.rules = rules.map((rule, i) => compileRule(rule, i, options.tunables?.[rule.id], context));
    this.index = new RuleIndex(this.rules);
    this.allowedLatenessMs = options.allowedLatenessMs ?? DEFAULT_ALLOWED_LATENESS_MS;
    if (!(this.allowedLatenessMs >= 0)) throw new RangeError('allowedLatenessMs must be ≥ 0');
    this.maxClockSkewMs = options.maxClockSkewMs;
    if (this.maxClockSkewMs !== undefined && !(this.maxClockSkewMs > 0)) throw new RangeError('maxClockSkewMs must be > 0');
    this.now = options.now ?? Date.now;
    this.sweepEveryMs = options.sweepEveryMs ?? DEFAULT_SWEEP_EVERY_MS;
  }

  /** Apply a batch (each partition's events in sequence order); returns the alerts raised, in order. */
  async process(events: readonly StreamEvent[]): Promise<Alert[]> {
    const alerts: Alert[] = [];
    let i = 0;
    while (i < events.length) {
      // Runs of one partition are applied together, so a batch from one partition costs one lookup.
      const partitionId = events[i].partitionId;
      // A partition already in memory needs no await (a batch from several partitions switches often).
      const evaluator = this.loaded.get(partitionId) ?? (await this.partition(partitionId));
      for (; i < events.length && events[i].partitionId === partitionId; i++) {
        const e = events[i].event;
        const resource = this.inventory.observe(e);
        if (resource) evaluator.remember(RESOURCE_KEY + resource.id, JSON.stringify(resource));
        if (this.principals.observe(e)) evaluator.remember(NAME_KEY + e.principalId, e.principalName!);
        evaluator.apply(events[i], alerts);
      }
    }
    return alerts;
  }

  /**
   * Write changed state of the given partitions (default: all) to the store: one write per
   * partition, changed and pruned keys and, last, the partition's watermark and sequence number
   * (a batch of up to 99 changed keys is one Table transaction).
   */
  async flush(partitionIds?: Iterable<string>): Promise<StateWriteStats> {
    const total: StateWriteStats = { entities: 0, transactions: 0 };
    for (const partitionId of partitionIds ?? [...this.partitions.keys()]) {
      const pending = this.partitions.get(partitionId);
      if (!pending) continue;
      const evaluator = await pending;
      // Sweep once event time has moved on and enough events came to pay for visiting every key
      // (at most one prune per event on average, however fast a replay moves through time).
      const last = this.lastSweep.get(partitionId) ?? { watermark: 0, events: 0 };
      if (evaluator.watermark - last.watermark >= this.sweepEveryMs && evaluator.applied - last.events >= evaluator.keyCount) {
        evaluator.sweep();
        this.lastSweep.set(partitionId, { watermark: evaluator.watermark, events: evaluator.applied });
      }
      if (!this.options.store) {
        evaluator.takeWrites(false);
        continue;
      }
      let writes = evaluator.takeWrites(true);
      const max = this.options.store.maxEntryChars;
      if (max !== undefined && this.evictOversized(evaluator, writes.upserts, max)) writes = mergeWrites(writes, evaluator.takeWrites(true));
      const failedBefore = this.unwritten.get(partitionId);
      if (failedBefore) writes = mergeWrites(failedBefore, writes);
      if (!writes.upserts.size && !writes.deletes.length) continue;
      let stats: StateWriteStats;
      try {
        stats = await this.options.store.write(partitionId, writes.upserts, writes.deletes);
      } catch (err) {
        this.unwritten.set(partitionId, writes);
        throw err;
      }
      this.unwritten.delete(partitionId);
      total.entities += stats.entities;
      total.transactions += stats.transactions;
    }
    this.writes.entities += total.entities;
    this.writes.transactions += total.transactions;
    return total;
  }

  /**
   * Forget a partition held in memory when its next batch does not follow what this instance
   * applied (`firstSequenceNumber` past the last applied + 1): another instance held the lease in
   * between, so the store has newer state than memory. Event Hubs numbers a partition's events
   * one by one, so a gap means events this instance never saw. Returns whether it was forgotten.
   */
  releaseIfStale(partitionId: string, firstSequenceNumber: number): boolean {
    const evaluator = this.loaded.get(partitionId);
    if (!evaluator || firstSequenceNumber <= evaluator.lastSequenceNumber + 1) return false;
    this.release(partitionId);
    return true;
  }

  /** Forget a partition held in memory (its lease moved to another instance); it is read from the store again if it comes back. */
  release(partitionId: string): void {
    this.partitions.delete(partitionId);
    this.loaded.delete(partitionId);
    this.lastSweep.delete(partitionId);
    this.unwritten.delete(partitionId);
  }

  /**
   * A key whose state is longer than the store can hold would fail the write on every retry, and
   * wedge its partition: it is forgotten instead (counted, named in the stats). Its events stay
   * applied to the other keys. True when any was.
   */
  private evictOversized(evaluator: PartitionEvaluator, upserts: Map<string, string>, max: number): boolean {
    let any = false;
    for (const [key, value] of upserts) {
      if (key.length + value.length <= max || !evaluator.forget(key)) continue;
      upserts.delete(key);
      any = true;
      this.counters.evicted++;
      if (this.counters.evictedSamples.length < 10) this.counters.evictedSamples.push(`${key.slice(0, 120)} (${value.length} characters)`);
    }
    return any;
  }

  stats(): DetectorStats {
    let keys = 0;
    for (const evaluator of this.loaded.values()) keys += evaluator.keyCount;
    const learning: Record<string, RuleLearning> = {};
    const learners = this.rules.filter((r) => r.learning.length);
    for (const r of learners) learning[r.id] = { keysLearning: 0, heldWhileLearning: this.counters.heldWhileLearning[r.id] ?? 0 };
    if (learners.length) {
      for (const evaluator of this.loaded.values()) {
        const counts = evaluator.learningKeys();
        for (const r of learners) learning[r.id].keysLearning += counts[r.index];
      }
    }
    const { heldWhileLearning: _held, ...counters } = this.counters;
    return {
      ...counters,
      learning,
      alertsByRule: { ...this.counters.alertsByRule },
      ruleErrors: { ...this.counters.ruleErrors },
      ruleErrorSamples: [...this.counters.ruleErrorSamples],
      evictedSamples: [...this.counters.evictedSamples],
      capEvictions: { ...this.counters.capEvictions },
      partitions: this.partitions.size,
      keys,
      stateWrites: { ...this.writes },
    };
  }

  /** Take back what an earlier instance learned (see NAME_KEY); an unreadable entry is dropped and re-learned. */
  private readonly restoreContext = (storeKey: string, value: string): boolean => {
    if (storeKey.startsWith(NAME_KEY)) {
      this.principals.learn(storeKey.slice(NAME_KEY.length), value);
      return true;
    }
    if (!storeKey.startsWith(RESOURCE_KEY)) return false;
    let r: Partial<InventoryResource> | undefined;
    try {
      r = JSON.parse(value) as Partial<InventoryResource>;
    } catch {
      r = undefined;
    }
    if (typeof r?.id === 'string' && typeof r.name === 'string' && typeof r.type === 'string' && typeof r.subscriptionId === 'string')
      this.inventory.add(r as InventoryResource);
    else this.counters.corruptState++;
    return true;
  };

  private partition(partitionId: string): Promise<PartitionEvaluator> {
    let pending = this.partitions.get(partitionId);
    if (!pending) {
      pending = this.load(partitionId);
      this.partitions.set(partitionId, pending);
      // A failed load (store outage) is retried by the next batch rather than remembered.
      pending.catch(() => this.partitions.delete(partitionId));
    }
    return pending;
  }

  private async load(partitionId: string): Promise<PartitionEvaluator> {
    const evaluator = new PartitionEvaluator(
      partitionId,
      this.rules,
      this.index,
      {
        allowedLatenessMs: this.allowedLatenessMs,
        maxClockSkewMs: this.maxClockSkewMs,
        now: this.now,
        observe: this.options.observe,
        restoreContext: this.restoreContext,
        seedUntil: this.options.seedUntil,
      },
      this.counters,
    );
    if (this.options.store) evaluator.restore(await this.options.store.load(partitionId));
    this.loaded.set(partitionId, evaluator);
    return evaluator;
  }
}

/** Writes taken in two goes, as one: the later wins for a key in both, and the partition's entry goes last (the store writes it last). */
function mergeWrites(earlier: PartitionWrites, later: PartitionWrites): PartitionWrites {
  const laterDeletes = new Set(later.deletes);
  const upserts = new Map<string, string>();
  for (const [key, value] of earlier.upserts) if (!later.upserts.has(key) && !laterDeletes.has(key)) upserts.set(key, value);
  for (const [key, value] of later.upserts) upserts.set(key, value);
  const mark = upserts.get(PARTITION_META_KEY);
  if (mark !== undefined) {
    upserts.delete(PARTITION_META_KEY);
    upserts.set(PARTITION_META_KEY, mark);
  }
  // One by one: a sweep's deletes can be past what a spread call's arguments may hold.
  const deletes = earlier.deletes.filter((key) => !later.upserts.has(key) && !laterDeletes.has(key));
  for (const key of later.deletes) deletes.push(key);
  return { upserts, deletes };
}
