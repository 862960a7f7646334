/** The detection engine: rules, kinds, evaluation with state, alerts. Detections import from here. */
export { defineRule, isRule } from './rule.js';
export type {
  Rule, RuleDefinition, RuleKind, MatchRule, ThresholdRule, AnomalyRule, FirstSeenRule, FirstSeenOptions,
  SequenceRule, SequenceStep, Tunables, TunableValue, Param, EventValue, EntityType, TitleContext, RuleContext,
} from './rule.js';
export { RuleDefinitionError, TunableError } from './errors.js';
export { parseDuration, formatDuration } from './duration.js';
export { tunableOverridesFromEnv, parseTunableOverrides, mergeTunableOverrides, type TunableOverrides } from './tunables.js';
export { Detector, DEFAULT_ALLOWED_LATENESS_MS, type DetectorOptions, type DetectorStats } from './detector.js';
export { loadRules, DETECTIONS_DIR, type LoadedRule } from './loader.js';
export { alertId, trimEvent } from './evidence.js';
export { ResourceInventory, InventoryError, inventoryFromEnv, parseInventory, readInventoryFile, type InventoryResource } from './inventory.js';
export { isAllowListed, resourceName, principalLabel } from './helpers.js';
export type { ObservedPoint, Observer } from './kinds/types.js';
