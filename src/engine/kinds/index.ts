import { anomaly } from './anomaly.js';
import { firstSeen } from './first-seen-kind.js';
import { match } from './match.js';
import { sequence } from './sequence.js';
import { threshold } from './threshold.js';
import type { KindDefinition } from './types.js';

/** Every rule kind, by the name a rule's `kind` gives. Adding a kind is adding its file and a line here. */
export const KINDS = { match, threshold, anomaly, firstSeen, sequence } as const;

export type RuleKind = keyof typeof KINDS;
export const RULE_KINDS = Object.keys(KINDS) as RuleKind[];

export function kindDefinition(kind: RuleKind): KindDefinition<RuleKind, unknown> {
  return KINDS[kind];
}
