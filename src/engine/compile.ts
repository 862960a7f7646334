import { SEVERITIES, type NormalizedEvent, type Severity } from '../model/index.js';
import { RuleDefinitionError, TunableError } from './errors.js';
import { kindDefinition } from './kinds/index.js';
import type { KeyState, KindLogic, LearningPeriod, Subscription } from './kinds/types.js';
import { PrincipalNames, ResourceInventory } from './inventory.js';
import {
  ENTITY_TYPES,
  applyTunableOverrides,
  resolveKind,
  suppressMs,
  type AlertView,
  type EntityType,
  type Rule,
  type RuleContext,
  type Tunables,
} from './rule.js';

export type { LearningPeriod, Subscription };

/** What a compiled rule's title and evidence functions see. */
export type CompiledAlertView = AlertView<NormalizedEvent, Record<string, unknown>, Tunables, Readonly<Record<string, NormalizedEvent>>>;

/** A rule ready to evaluate: tunables applied, its kind's logic built. */
export interface CompiledRule {
  readonly rule: Rule;
  readonly id: string;
  /** Position in the detector's rule list (indexes per-rule state). */
  readonly index: number;
  readonly tunables: Tunables;
  /** The kind's settings (durations in ms, defaults filled in), as its options schema gave them. */
  readonly settings: unknown;
  /** No second alert for the same key within this many ms of event time (0: none). */
  readonly suppressMs: number;
  readonly entityTypes: ReadonlySet<EntityType>;
  readonly subscriptions: readonly Subscription[];
  /** How long a key learns before it may alert, and what that is measured against (empty: alerts from the first event). */
  readonly learning: readonly LearningPeriod[];
  /** The built-in allow-list, then the rule's `where`, with its tunables bound. */
  accepts(e: NormalizedEvent): boolean;
  /** The grouping key of a rule keyed on the actor, or undefined to skip the event. */
  keyOf(e: NormalizedEvent): string | undefined;
  /** Keyed on the target principal (`keyBy: 'target'`): applies an event's target (or app) copy, not its actor copy, under the key the evaluator gives it. */
  readonly onTarget: boolean;
  readonly logic: KindLogic<KeyState>;
  /** What the rule's functions consult besides the event (shared by the detector's rules). */
  readonly context: RuleContext;
  title(alert: CompiledAlertView): string;
  /** The rule's own evidence for an alert (empty when it adds none). */
  evidence(alert: CompiledAlertView): Record<string, unknown>;
  /** The alert's severity (the rule's `severityOf`, checked; else its `severity`). */
  severity(alert: CompiledAlertView): Severity;
}

const byPrincipal = (e: NormalizedEvent) => e.principalId;
const always = () => true;
const noEvidence = () => ({});

type Filter = (e: NormalizedEvent, tunables: Tunables, context: RuleContext) => boolean;

/**
 * The rule's filter with the built-in allow-list in front: a principal (object id) or client app
 * id on `allowPrincipals` never reaches the rule. An empty list costs nothing per event; a
 * non-empty one is a Set lookup or two (principal ids are lower-case; app ids are lowered only then).
 */
function acceptsOf(where: Filter | undefined, tunables: Tunables, context: RuleContext): (e: NormalizedEvent) => boolean {
  const allow = new Set((tunables.allowPrincipals as readonly string[]).map((p) => p.toLowerCase()));
  if (!allow.size) return where ? (e) => where(e, tunables, context) : always;
  const allowed = (e: NormalizedEvent) => allow.has(e.principalId) || (e.appId !== undefined && allow.has(e.appId.toLowerCase()));
  return where ? (e) => !allowed(e) && where(e, tunables, context) : (e) => !allowed(e);
}

/**
 * Compile a rule with a deployer's tunable overrides for it. An override that breaks the rule
 * (e.g. a window that is not a duration) throws TunableError naming the rule and field.
 */
export function compileRule(
  rule: Rule,
  index: number,
  overrides?: Readonly<Record<string, unknown>>,
  context: RuleContext = { inventory: new ResourceInventory(), principals: new PrincipalNames() },
): CompiledRule {
  const tunables = applyTunableOverrides(rule, overrides);
  const def = rule.definition;
  const fail = (field: string, problem: string): never => {
    throw new RuleDefinitionError(field, problem, rule.id);
  };
  let settings: unknown;
  let kind;
  try {
    settings = resolveKind(def, tunables, fail);
    kind = kindDefinition(def.kind).compile(settings, { sources: def.sources, operations: def.operations, tunables, context }, fail);
  } catch (err) {
    if (err instanceof RuleDefinitionError && overrides) throw new TunableError(`${err.message} (with tunables ${JSON.stringify(overrides)})`);
    throw err;
  }
  const { title, groupBy, evidence, severityOf, keyBy } = def as unknown as {
    keyBy?: string;
    title: string | ((a: CompiledAlertView) => string);
    groupBy?: (e: NormalizedEvent) => string | undefined;
    evidence?: (a: CompiledAlertView) => Record<string, unknown>;
    severityOf?: (a: CompiledAlertView) => unknown;
  };
  return {
    rule,
    id: rule.id,
    index,
    tunables,
    settings,
    context,
    suppressMs: suppressMs(def),
    entityTypes: new Set(def.entities ?? ENTITY_TYPES),
    subscriptions: kind.subscriptions,
    learning: kind.learning ?? [],
    accepts: acceptsOf(def.where as Filter | undefined, tunables, context),
    keyOf: groupBy ?? byPrincipal,
    onTarget: keyBy === 'target',
    logic: kind.logic,
    title: typeof title === 'function' ? title : () => title,
    evidence: evidence ?? noEvidence,
    severity: severityOf ? (a) => checkedSeverity(severityOf(a), rule.id) : () => rule.severity,
  };
}

/** What a rule's `severityOf` returned, if it is a severity (a rule error otherwise: the alert is not raised, the error is counted). */
function checkedSeverity(s: unknown, ruleId: string): Severity {
  if ((SEVERITIES as readonly unknown[]).includes(s)) return s as Severity;
  throw new RuleDefinitionError('severityOf', `returned ${JSON.stringify(s)}: return one of ${SEVERITIES.join(', ')}`, ruleId);
}
