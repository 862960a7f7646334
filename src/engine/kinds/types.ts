import type { z } from 'zod';
import type { NormalizedEvent, Source } from '../../model/index.js';
import type { RuleContext, Tunables } from '../rule.js';

/**
 * What every key's state carries, whatever the kind: the last (partition, sequence number)
 * applied, so a redelivered event is not applied twice, and the event time of the last alert,
 * for suppression. Kinds add their own short fields; the whole object is stored as compact JSON.
 * A field no longer needed is set to undefined, not deleted: JSON leaves it out all the same, and
 * `delete` would turn the object into a slower dictionary of several times the size.
 */
export interface KeyState {
  /** Partition of the last applied event. */
  p: string;
  /** Sequence number of the last applied event. */
  q: number;
  /** Event time of the last alert raised for this rule and key: suppression counts from it. */
  a?: number;
}

/** What a kind hands back when its condition holds; the evaluator applies suppression and builds the Alert. */
export interface AlertDraft {
  key: string;
  /** The event that completed the detection: principal of the alert, arrival time for latency. */
  trigger: NormalizedEvent;
  /** Trimmed evidence events, oldest first, at most MAX_EVIDENCE_EVENTS, the trigger among them. */
  events: readonly NormalizedEvent[];
  firstTime: number;
  lastTime: number;
  count: number;
  /** The evidence window as text: with the rule id and key it makes the deterministic AlertId. */
  window: string;
  /** The numbers behind the decision (the kind's evidence type). */
  evidence: object;
  /** A sequence's events by step name (all of them, where `events` may be cut short). */
  steps?: Readonly<Record<string, NormalizedEvent>>;
}

/**
 * One point of a rule's series for one key, for tuning reports: an anomaly bucket (when it fires
 * and when it closes) or a threshold evaluation (each event a threshold rule counts).
 */
export interface ObservedPoint {
  /** Event time the point is about: the bucket's start (anomaly) or the counted event's time (threshold). */
  time: number;
  /** Width of the bucket or window the value counts over, in ms. */
  span: number;
  /** Events in the bucket, or events (distinct values) in the window ending at `time`. */
  value: number;
  /** The key's learned baseline mean before this bucket (anomaly, once it has one). */
  baseline?: number;
  /** The value at which the rule alerts here; absent while an anomaly key is still warming up. */
  threshold?: number;
  /** The rule's condition held at this point (whether or not suppression let an alert out). */
  alerting: boolean;
}

/** Receives observed points (DetectorOptions.observe); off by default, so evaluation pays nothing for it. */
export type Observer = (ruleId: string, key: string, point: ObservedPoint) => void;

/** What a kind sees of the evaluator while it applies one event. */
export interface Evaluation {
  /**
   * Offer an alert at event time `time`; returns false when suppression holds it back. The draft
   * is built only when the alert goes out, so suppressed repeats build nothing.
   */
  raise(state: KeyState, time: number, draft: () => AlertDraft): boolean;
  /** Set only when the detector was given an observer: kinds report their series through it. */
  readonly observe?: (key: string, point: ObservedPoint) => void;
  /**
   * When Warden first saw the event's principal on any source (for an event without a principal,
   * the partition's first event): what learning periods are measured against by default.
   */
  watchedSince?(event: NormalizedEvent): number;
  /**
   * Count an alert the kind would have raised but for the key's learning period (a new value, a
   * completed sequence, an anomalous bucket): per rule, for health and the tuning report.
   */
  heldWhileLearning?(): void;
  /** Count one thing a key kept dropped at its cap (a sequence candidate past maxCandidates, a first-seen value past maxValues). */
  capped(): void;
}

/**
 * What `apply` returns when the event changed nothing in the key's state (a known value seen again
 * within its refresh interval, an alert held back by suppression): the key is not rewritten and
 * its last applied sequence number stays. Safe because applying that event again, after a crash,
 * changes nothing either; what pruning before `apply` changed need not be written, since the
 * stored state prunes to the same.
 */
export const UNCHANGED = 'unchanged';

/**
 * One rule kind's logic over a key's state. `prune(state, watermark)` must be a pure function of
 * the state and the watermark that composes (pruning at w1 then w2 ≥ w1 equals pruning at w2):
 * `apply` prunes at the current watermark first, so when a sweep happens cannot change alerts.
 */
export interface KindLogic<S extends KeyState = KeyState> {
  /** Apply one event (state is fresh `{p, q}` for a new key); returns whether the kind now holds anything, or UNCHANGED. */
  apply(state: S, event: NormalizedEvent, key: string, env: Evaluation): boolean | typeof UNCHANGED;
  /**
   * Drop what the watermark has made irrelevant; returns true when nothing of the kind's own is left.
   * `observe` (only when the detector observes) receives points for what the prune closes.
   */
  prune(state: S, watermark: number, allowedLatenessMs: number, observe?: (point: ObservedPoint) => void): boolean;
  /** Rebuild what JSON cannot carry (prototype-free maps) after a state is read from the store. */
  restore?(state: S): void;
  /**
   * The state as stored, when the kind keeps evidence events: trimmed (no secrets reach the store),
   * each serialized once rather than at every write (default: JSON.stringify of the state).
   */
  serialize?(state: S): string;
  /**
   * Whether the key is still in its learning period at event time `watermark` (`watchedSince`:
   * when its principal was first seen, if known). Only kinds that learn have it; sweeps count
   * the keys it holds for (health, `warden run`).
   */
  learning?: (state: S, watermark: number, watchedSince: number | undefined) => boolean;
}

/** A learning period of a rule, for `warden rules list` and docs: how long, and what it is measured against. */
export interface LearningPeriod {
  ms: number;
  /** 'principal': how long Warden has watched the event's principal (the partition, for events without one); 'key': the key's own history. */
  against: 'principal' | 'key';
  /** Which part of the rule it belongs to, in words, where that is not the whole rule (a sequence step, anomaly buckets). */
  what?: string;
}

export const MAX_EVIDENCE_EVENTS = 5;

/** Which events a rule is shown: a source, and the operations of it (all when absent). */
export interface Subscription {
  source: Source;
  operations?: readonly string[];
}

/** What a kind's compile sees of the rule besides its own settings. */
export interface KindRule {
  sources: readonly Source[];
  operations?: readonly string[];
  /** The rule's tunables, overrides applied (what step filters receive). */
  tunables: Tunables;
  context: RuleContext;
}

/** A kind's logic for one rule, and the events it is shown. */
export interface CompiledKind {
  logic: KindLogic<KeyState>;
  subscriptions: readonly Subscription[];
  /** The rule's learning periods (none for kinds that alert from the first event). */
  learning?: readonly LearningPeriod[];
}

/**
 * Everything about one rule kind, in its own file: the options a rule gives it (a zod schema that
 * checks them, with tunables already applied, and turns them into settings: durations in ms,
 * readers for event values, defaults of the optional ones), how settings become logic, what
 * `warden rules new --kind` writes for it, and its section of docs/rules.md.
 */
export interface KindDefinition<Name extends string = string, Settings = unknown> {
  name: Name;
  /** Options a rule may leave out have their defaults here (`.default(…)`). */
  optionsSchema: z.ZodType<Settings>;
  /** Build the logic; `fail(field, problem)` refuses settings that do not fit the rule (e.g. a step source the rule does not read). */
  compile(settings: Settings, rule: KindRule, fail: (field: string, problem: string) => never): CompiledKind;
  /** The option lines `rules new --kind <name>` writes into the skeleton. */
  scaffold: string;
  /** The kind's section of docs/rules.md (Markdown, verbatim there). */
  doc: string;
}

/** A rule's subscriptions when every event of its sources (and operations) may matter. */
export function ruleSubscriptions(rule: KindRule): Subscription[] {
  return rule.sources.map((source) => ({ source, operations: rule.operations }));
}
