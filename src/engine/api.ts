/**
 * The rule API: everything a detection rule (detections/<id>.ts) may use, and the only module it
 * imports (eslint refuses any other import in detections/). What is exported here is what the
 * engine promises to keep.
 */
export {
  defineRule,
  tunable,
  type Rule,
  type RuleDefinition,
  type Tunable,
  type TunableValues,
  type Option,
  type AlertView,
  type RuleContext,
  type EntityType,
} from './rule.js';
export { resourceName, keyVaultObject, keyVaultObjectName, nonHumanSignInFromNewIp, trustedIpPrefixesTunable } from './helpers.js';
export { FIRST_PARTY_NOISE_APPS } from './first-party.js';
export type { EventValue, EventField } from './kinds/schema.js';
export type { MatchEvidence } from './kinds/match.js';
export type { ThresholdEvidence, ThresholdOptions } from './kinds/threshold.js';
export type { AnomalyEvidence, AnomalyOptions } from './kinds/anomaly.js';
export type { FirstSeenEvidence, FirstSeenOptions } from './kinds/first-seen-kind.js';
export type { SequenceEvidence, SequenceOptions, SequenceStep, SequenceStepEvidence } from './kinds/sequence.js';
export type { InventoryResource } from './inventory.js';
export type {
  NormalizedEvent,
  SourceEvent,
  Source,
  DetailsBySource,
  ActivityDetails,
  SigninDetails,
  AiDetails,
  KeyVaultDetails,
  StorageDetails,
  DirectoryDetails,
  GraphDetails,
  Severity,
  Tactic,
  Result,
  PrincipalType,
} from '../model/index.js';
