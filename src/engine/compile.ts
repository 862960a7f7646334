import type { NormalizedEvent, Source } from '../model/index.js';
import { RuleDefinitionError, TunableError } from './errors.js';
import { anomalyLogic } from './kinds/anomaly.js';
import { SeenMemory } from './kinds/first-seen.js';
import { firstSeenLogic } from './kinds/first-seen-kind.js';
import { matchLogic } from './kinds/match.js';
import { sequenceLogic, type CompiledStep } from './kinds/sequence.js';
import { thresholdLogic } from './kinds/threshold.js';
import type { KeyState, KindLogic } from './kinds/types.js';
import { PrincipalNames, ResourceInventory } from './inventory.js';
import {
  ENTITY_TYPES, applyTunableOverrides, eventValueName, eventValueReader, resolveSettings,
  type EntityType, type Rule, type RuleContext, type Settings, type TitleContext, type Tunables,
} from './rule.js';

/** Which events a rule is shown: a source, and the operations of it (all when absent). */
export interface Subscription {
  source: Source;
  operations?: readonly string[];
}

/** A rule ready to evaluate: tunables applied, settings in milliseconds, kind logic built. */
export interface CompiledRule {
  readonly rule: Rule;
  readonly id: string;
  /** Position in the detector's rule list (indexes per-rule state). */
  readonly index: number;
  readonly tunables: Tunables;
  readonly settings: Settings;
  readonly entityTypes: ReadonlySet<EntityType>;
  readonly subscriptions: readonly Subscription[];
  /** The rule's `where` with its tunables bound. */
  accepts(e: NormalizedEvent): boolean;
  /** The grouping key, or undefined to skip the event. */
  keyOf(e: NormalizedEvent): string | undefined;
  readonly logic: KindLogic<KeyState>;
  /** What the rule's functions consult besides the event (shared by the detector's rules). */
  readonly context: RuleContext;
  title(context: TitleContext<Tunables>): string;
  /** The rule's own evidence for an alert (empty when it adds none). */
  evidence(context: TitleContext<Tunables>): Record<string, unknown>;
}

const byPrincipal = (e: NormalizedEvent) => e.principalId;
const always = () => true;
const noEvidence = () => ({});

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
  let settings: Settings;
  try {
    settings = resolveSettings(rule, tunables, (field, problem) => {
      throw new RuleDefinitionError(field, problem, rule.id);
    });
  } catch (err) {
    if (err instanceof RuleDefinitionError && overrides) throw new TunableError(`${err.message} (with tunables ${JSON.stringify(overrides)})`);
    throw err;
  }
  const where = rule.where;
  const groupBy = rule.groupBy;
  const title = rule.title;
  return {
    rule, id: rule.id, index, tunables, settings, context,
    entityTypes: new Set(rule.entities ?? ENTITY_TYPES),
    subscriptions: subscriptionsOf(rule),
    accepts: where ? (e) => where(e, tunables, context) : always,
    keyOf: typeof groupBy === 'function' ? groupBy : byPrincipal,
    logic: kindLogic(rule, settings, tunables, context) as KindLogic<KeyState>,
    title: typeof title === 'function' ? title : () => title,
    evidence: rule.evidence ?? noEvidence,
  };
}

function subscriptionsOf(rule: Rule): Subscription[] {
  if (rule.kind !== 'sequence') return rule.sources.map((source) => ({ source, operations: rule.operations }));
  const subs: Subscription[] = [];
  for (const step of rule.steps) {
    for (const source of step.sources ?? rule.sources) subs.push({ source, operations: step.operations ?? rule.operations });
  }
  return subs;
}

type SettingsOf<K extends Settings['kind']> = Extract<Settings, { kind: K }>;

// resolveSettings returns the settings of the rule's own kind, hence the narrowing casts.
function kindLogic(rule: Rule, settings: Settings, tunables: Tunables, context: RuleContext): KindLogic<never> {
  switch (rule.kind) {
    case 'match':
      return matchLogic();
    case 'threshold': {
      const { windowMs, threshold } = settings as SettingsOf<'threshold'>;
      const distinct = rule.distinct;
      return thresholdLogic({
        windowMs, threshold,
        distinct: distinct === undefined ? undefined : eventValueReader(distinct),
        distinctName: distinct === undefined ? undefined : eventValueName(distinct),
      });
    }
    case 'anomaly':
      return anomalyLogic(settings as SettingsOf<'anomaly'>);
    case 'firstSeen':
      return firstSeenLogic(new SeenMemory(settings as SettingsOf<'firstSeen'>, eventValueReader(rule.value)), eventValueName(rule.value));
    case 'sequence': {
      const { withinMs, maxCandidates, steps: stepSettings } = settings as SettingsOf<'sequence'>;
      const steps: CompiledStep[] = rule.steps.map((step, i) => {
        const sources = new Set(step.sources ?? rule.sources);
        const ops = step.operations ?? rule.operations;
        const opSet = ops ? new Set(ops) : undefined;
        const { where, relate, firstSeen } = step;
        const seenSettings = stepSettings[i];
        return {
          name: step.name,
          matches: (e) => sources.has(e.source) && (!opSet || opSet.has(e.operation)) && (!where || where(e, tunables, context)),
          relate: relate ? (e, prior) => relate(e, prior, tunables, context) : undefined,
          seen: seenSettings && firstSeen ? new SeenMemory(seenSettings, eventValueReader(firstSeen.value)) : undefined,
        };
      });
      return sequenceLogic(steps, withinMs, maxCandidates);
    }
  }
}
