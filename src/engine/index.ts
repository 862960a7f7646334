/** The detection engine: rules, kinds, evaluation with state, alerts. Detections import the rule API (./api.js) instead. */
export * from './api.js';
export { isRule, RULE_KINDS, type RuleKind, type Tunables, type TunableValue } from './rule.js';
export { KINDS } from './kinds/index.js';
export { RuleDefinitionError, TunableError } from './errors.js';
export { parseDuration, formatDuration } from './duration.js';
export { tunableOverridesFromEnv, parseTunableOverrides, mergeTunableOverrides, type TunableOverrides } from './tunables.js';
export { Detector, DEFAULT_ALLOWED_LATENESS_MS, type DetectorOptions, type DetectorStats, type RuleLearning } from './detector.js';
export { loadRules, DETECTIONS_DIR, type LoadedRule } from './loader.js';
export { alertId, trimEvent } from './evidence.js';
export { ResourceInventory, InventoryError, inventoryFromEnv, parseInventory, readInventoryFile, type InventoryResource } from './inventory.js';
export type { LearningPeriod, ObservedPoint, Observer } from './kinds/types.js';
export { compileRule, type CompiledRule } from './compile.js';
export { PARTITION_META_KEY, readPartitionMark } from './evaluator.js';
