import type { Severity, Tactic } from './alert.js';

/**
 * A check Warden runs itself, not from a rule file: it raises alerts with its own RuleId through
 * the same outbox, so Sentinel and the catalogue (detections/README.md) treat it like a rule.
 */
export interface BuiltInCheck {
  id: string;
  version: string;
  name: string;
  severity: Severity;
  tactics: Tactic[];
  techniques: string[];
  description: string;
  /** Its thresholds: app settings and their defaults. */
  settings: Record<string, string>;
}

export const LOG_SOURCE_SILENT: BuiltInCheck = {
  id: 'log-source-silent',
  version: '1.0.0',
  name: 'A regularly busy log source went quiet',
  severity: 'Medium',
  tactics: ['DefenseEvasion'],
  techniques: ['T1562.008'],
  description:
    'A raw hub, or a source category on it, that sends regularly has sent nothing for much longer than its usual gap. ' +
    'Deleting or changing a diagnostic setting (T1562.008, disable cloud logs), a broken hub or a stopped workload leaves Warden blind to that source without a sound. ' +
    "Run by the `silent-sources` timer every minute on the wall clock (a silent source moves no event time): the usual gap is the longest of the source's last 24 gaps between arrivals, " +
    'so a source that comes in bursts (a nightly job) is judged by its quiet. One alert per silence episode (the AlertId is the source and its last arrival); ' +
    'an Informational "sending again" note follows when the source returns. Check the diagnostic settings that stream to the hub and the Activity Log for their deletion.',
  settings: { WARDEN_SILENT_MULTIPLE: '4', WARDEN_SILENT_MIN_GAPS: '12', WARDEN_SILENT_MIN_QUIET: '15m' },
};

export const BUILT_IN_CHECKS: readonly BuiltInCheck[] = [LOG_SOURCE_SILENT];
