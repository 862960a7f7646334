import type { NormalizedEvent } from '../../model/index.js';

/**
 * What every key's state carries, whatever the kind: the last (partition, sequence number)
 * applied, so a redelivered event is not applied twice, and the event time of the last alert,
 * for suppression. Kinds add their own short fields; the whole object is stored as compact JSON.
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
  /** The numbers behind the decision (kind-specific). */
  evidence: Record<string, unknown>;
}

/** What a kind sees of the evaluator while it applies one event. */
export interface Evaluation {
  /**
   * Offer an alert at event time `time`; returns false when suppression holds it back. The draft
   * is built only when the alert goes out, so suppressed repeats build nothing.
   */
  raise(state: KeyState, time: number, draft: () => AlertDraft): boolean;
}

/**
 * One rule kind's logic over a key's state. `prune(state, watermark)` must be a pure function of
 * the state and the watermark that composes (pruning at w1 then w2 ≥ w1 equals pruning at w2):
 * `apply` prunes at the current watermark first, so when a sweep happens cannot change alerts.
 */
export interface KindLogic<S extends KeyState = KeyState> {
  /** Apply one event (state is fresh `{p, q}` for a new key); returns whether the kind now holds anything. */
  apply(state: S, event: NormalizedEvent, key: string, env: Evaluation): boolean;
  /** Drop what the watermark has made irrelevant; returns true when nothing of the kind's own is left. */
  prune(state: S, watermark: number, allowedLatenessMs: number): boolean;
  /** Rebuild what JSON cannot carry (prototype-free maps) after a state is read from the store. */
  restore?(state: S): void;
  /** Put the state in its stored form before it is serialized (evidence events trimmed). */
  seal?(state: S): void;
}

export const MAX_EVIDENCE_EVENTS = 5;
