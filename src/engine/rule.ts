import { SEVERITIES, SOURCES, TACTICS } from '../model/index.js';
import type { NormalizedEvent, Severity, Source, Tactic } from '../model/index.js';
import { parseDuration } from './duration.js';
import { RuleDefinitionError, TunableError } from './errors.js';
import type { InventoryResource } from './inventory.js';

/** A tunable's default value: what a deployer may override without editing the rule. */
export type TunableValue = string | number | boolean | readonly string[] | readonly number[];
export type Tunables = { readonly [name: string]: TunableValue };

// Method-shaped callbacks are checked bivariantly, so a Rule<{ threshold: number }> is still a Rule.
type Fn<A extends unknown[], R> = { bivarianceHack(...args: A): R }['bivarianceHack'];

/** A setting given directly, or computed from the rule's (possibly overridden) tunables. */
export type Param<V, T> = V | Fn<[tunables: T], V>;

/** A text value read from an event: a field name, `details.<key>`, or a function. */
export type EventValue =
  | 'ip' | 'appId' | 'resourceId' | 'resourceType' | 'subscriptionId' | 'tenantId' | 'operation'
  | 'category' | 'result' | 'principalId' | 'principalName' | 'correlationId' | 'source'
  | `details.${string}`
  | Fn<[event: NormalizedEvent], string | undefined>;

export const EVENT_FIELDS = [
  'ip', 'appId', 'resourceId', 'resourceType', 'subscriptionId', 'tenantId', 'operation',
  'category', 'result', 'principalId', 'principalName', 'correlationId', 'source',
] as const;

export const ENTITY_TYPES = ['account', 'azure-resource', 'ip', 'cloud-application'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export const RULE_KINDS = ['match', 'threshold', 'anomaly', 'firstSeen', 'sequence'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/**
 * What rules may consult besides the event: enrichment shared by all rules of a detector, learned
 * from the events it has seen. `inventory` knows where Azure resources live (plus WARDEN_INVENTORY);
 * `principals` knows principals' display names (sign-ins name service principals other logs do not).
 */
export interface RuleContext {
  readonly inventory: { find(type: string, name: string): InventoryResource | undefined };
  readonly principals: { nameOf(principalId: string): string | undefined };
}

/** What a dynamic title (and a rule's `evidence`) sees: the evidence the alert carries. */
export interface TitleContext<T> {
  /** The grouping key (the principal id unless the rule groups otherwise). */
  key: string;
  principalId: string;
  principalName?: string;
  /** The trimmed evidence events (at most 5). */
  events: readonly NormalizedEvent[];
  evidence: Readonly<Record<string, unknown>>;
  tunables: T;
  context: RuleContext;
}

interface RuleCommon<T extends Tunables> {
  /** Lower-case words joined by '-'; the file is detections/<id>.ts. */
  id: string;
  /** '1', '1.2' or '1.2.3'; bump when the logic changes. */
  version: string;
  /** What the rule detects, in a few words: its title in catalogues (default: `title` when it is a text). */
  name?: string;
  title: string | Fn<[context: TitleContext<T>], string>;
  description: string;
  severity: Severity;
  /** MITRE ATT&CK tactic names as Sentinel spells them ('CredentialAccess'). */
  tactics: readonly Tactic[];
  /** MITRE ATT&CK technique ids ('T1552', 'T1552.001'). */
  techniques: readonly string[];
  /** The sources the rule reads: its events are the only ones it is shown. */
  sources: readonly Source[];
  /** Upper-case operations, when the rule reads only some: narrows the index further. */
  operations?: readonly string[];
  tags?: readonly string[];
  /** Whose behaviour the state follows: the principal (default) or a finer key that includes it. */
  groupBy?: 'principal' | Fn<[event: NormalizedEvent], string | undefined>;
  /** Which events the rule considers at all. */
  where?: Fn<[event: NormalizedEvent, tunables: T, context: RuleContext], boolean>;
  /** Sentinel entity types the alert carries (default: all four, where the events have them). */
  entities?: readonly EntityType[];
  /**
   * More evidence, from the alert's events (names the kind's own evidence uses keep the kind's
   * value). Texts are redacted like event fields. The title sees the result.
   */
  evidence?: Fn<[context: TitleContext<T>], Record<string, unknown>>;
  /** No second alert for the same rule and key within this event-time period ('1h'). */
  suppress?: Param<string, T>;
  /** Defaults of the settings a deployer may override (WARDEN_TUNABLES; see docs/rules.md). */
  tunables?: T;
}

/** One event is enough. */
export interface MatchRule<T extends Tunables> extends RuleCommon<T> {
  kind: 'match';
}

/** At least `threshold` events (or distinct values of `distinct`) within a sliding `window`, per key. */
export interface ThresholdRule<T extends Tunables> extends RuleCommon<T> {
  kind: 'threshold';
  window: Param<string, T>;
  threshold: Param<number, T>;
  distinct?: EventValue;
}

/** Per-key event count in fixed buckets against that key's own learned baseline (EWMA mean and variance). */
export interface AnomalyRule<T extends Tunables> extends RuleCommon<T> {
  kind: 'anomaly';
  bucket: Param<string, T>;
  /** Buckets of history (empty ones included) before the key may alert. */
  warmup: Param<number, T>;
  /** Fewest events in a bucket for an alert, whatever the baseline. */
  minCount: Param<number, T>;
  /** Alert when count ≥ factor × baseline mean. */
  factor?: Param<number, T>;
  /** Alert when (count − mean) / max(stddev, 1) ≥ zScore. With `factor` too, both must hold. */
  zScore?: Param<number, T>;
  /** EWMA weight of the newest bucket, 0 < alpha ≤ 1 (default 0.1). */
  alpha?: Param<number, T>;
  /** A key silent this long is forgotten and learns again (default 2 × warmup buckets). */
  forgetAfter?: Param<string, T>;
}

/** How "never seen" is judged: per key, a learning period from the key's first event, entries expiring after the horizon. */
export interface FirstSeenOptions<T extends Tunables> {
  value: EventValue;
  /** How long a value stays known after it was last seen ('30d'). */
  horizon: Param<string, T>;
  /** Nothing is new until the key has been watched this long ('7d'). */
  learning: Param<string, T>;
  /** Most values remembered per key; the least recently seen go first (default 500). */
  maxValues?: number;
}

/** A value never seen for this key within the horizon. */
export interface FirstSeenRule<T extends Tunables> extends RuleCommon<T>, FirstSeenOptions<T> {
  kind: 'firstSeen';
}

export interface SequenceStep<T extends Tunables> {
  name: string;
  /** Sources of this step (default: the rule's). */
  sources?: readonly Source[];
  operations?: readonly string[];
  where?: Fn<[event: NormalizedEvent, tunables: T, context: RuleContext], boolean>;
  /** The step's relation to the earlier steps' events: `prior[0]` is step 1's event, and so on. */
  relate?: Fn<[event: NormalizedEvent, prior: readonly NormalizedEvent[], tunables: T, context: RuleContext], boolean>;
  /** The step counts only when this value is new for the key (e.g. a sign-in from an IP never seen). */
  firstSeen?: FirstSeenOptions<T>;
}

/** Ordered steps by the same key, first to last within `within`; steps may come from different sources. */
export interface SequenceRule<T extends Tunables> extends RuleCommon<T> {
  kind: 'sequence';
  within: Param<string, T>;
  steps: readonly SequenceStep<T>[];
  /** Events remembered per step while waiting for the rest of the sequence (default 20). */
  maxCandidates?: number;
}

export type RuleDefinition<T extends Tunables = Tunables> =
  | MatchRule<T> | ThresholdRule<T> | AnomalyRule<T> | FirstSeenRule<T> | SequenceRule<T>;

/** A validated rule, as `defineRule` returns it. */
export type Rule<T extends Tunables = Tunables> = Readonly<RuleDefinition<T>>;

const DEFINED = new WeakSet<object>();

/**
 * Declare a detection rule. The definition is validated now (with its default tunables), so a
 * broken rule fails when its file is loaded, with one RuleDefinitionError naming the field.
 */
export function defineRule<T extends Tunables = Tunables>(definition: RuleDefinition<T>): Rule<T> {
  validateRule(definition as RuleDefinition);
  const rule = Object.freeze({ ...definition });
  DEFINED.add(rule);
  return rule;
}

/** Whether a value came from defineRule (the loader's check on a rule file's default export). */
export function isRule(value: unknown): value is Rule {
  return typeof value === 'object' && value !== null && DEFINED.has(value);
}

const RULE_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const VERSION = /^\d+(\.\d+){0,2}$/;
const TECHNIQUE = /^T\d{4}(\.\d{3})?$/;
const TACTIC_IDS: Record<string, Tactic> = {
  TA0043: 'Reconnaissance', TA0042: 'ResourceDevelopment', TA0001: 'InitialAccess', TA0002: 'Execution',
  TA0003: 'Persistence', TA0004: 'PrivilegeEscalation', TA0005: 'DefenseEvasion', TA0006: 'CredentialAccess',
  TA0007: 'Discovery', TA0008: 'LateralMovement', TA0009: 'Collection', TA0011: 'CommandAndControl',
  TA0010: 'Exfiltration', TA0040: 'Impact',
};

type Check = (field: string, problem: string) => never;

function validateRule(def: RuleDefinition): void {
  if (typeof def !== 'object' || def === null) throw new RuleDefinitionError('(rule)', 'defineRule needs an object');
  const id = typeof def.id === 'string' && RULE_ID.test(def.id) ? def.id : undefined;
  const fail: Check = (field, problem) => {
    throw new RuleDefinitionError(field, problem, id);
  };
  if (!id) fail('id', `${JSON.stringify(def.id)} is not a rule id: use lower-case words joined by '-' (e.g. 'ai-key-listing')`);
  if (typeof def.version !== 'string' || !VERSION.test(def.version)) fail('version', `${JSON.stringify(def.version)} is not a version: use '1', '1.2' or '1.2.3'`);
  if (def.name !== undefined && !(typeof def.name === 'string' && def.name.trim())) fail('name', 'give a non-empty text, or leave it out');
  if (!(typeof def.title === 'function' || (typeof def.title === 'string' && def.title.trim()))) fail('title', 'give a non-empty text or a function of the alert context');
  if (typeof def.description !== 'string' || !def.description.trim()) fail('description', 'give a non-empty description');
  if (!SEVERITIES.includes(def.severity)) fail('severity', `${JSON.stringify(def.severity)} is not one of ${SEVERITIES.join(', ')}`);
  checkTactics(def.tactics, fail);
  if (!Array.isArray(def.techniques)) fail('techniques', "give an array of MITRE technique ids such as 'T1552'");
  def.techniques.forEach((t, i) => {
    if (typeof t !== 'string' || !TECHNIQUE.test(t)) fail(`techniques[${i}]`, `${JSON.stringify(t)} is not a MITRE technique id (T1234 or T1234.001)`);
  });
  checkSources(def.sources, 'sources', fail, false);
  checkOperations(def.operations, 'operations', fail);
  if (def.tags !== undefined && !(Array.isArray(def.tags) && def.tags.every((t) => typeof t === 'string'))) fail('tags', 'give an array of texts');
  if (!(def.groupBy === undefined || def.groupBy === 'principal' || typeof def.groupBy === 'function')) fail('groupBy', "use 'principal' or a function of the event returning the key");
  if (def.where !== undefined && typeof def.where !== 'function') fail('where', 'give a function (event, tunables, context) => boolean');
  if (def.evidence !== undefined && typeof def.evidence !== 'function') fail('evidence', 'give a function of the alert context returning an object');
  if (def.entities !== undefined) {
    if (!Array.isArray(def.entities)) fail('entities', `give an array of ${ENTITY_TYPES.join(', ')}`);
    def.entities.forEach((t, i) => {
      if (!ENTITY_TYPES.includes(t)) fail(`entities[${i}]`, `${JSON.stringify(t)} is not one of ${ENTITY_TYPES.join(', ')}`);
    });
  }
  checkTunableDefaults(def.tunables, fail);
  if (!RULE_KINDS.includes(def.kind)) fail('kind', `${JSON.stringify((def as { kind: unknown }).kind)} is not one of ${RULE_KINDS.join(', ')}`);
  if (def.kind === 'firstSeen') checkEventValue(def.value, 'value', fail);
  if (def.kind === 'threshold' && def.distinct !== undefined) checkEventValue(def.distinct, 'distinct', fail);
  if (def.kind === 'sequence') checkSteps(def, fail);
  resolveSettings(def, (def.tunables ?? {}) as Tunables, fail);
}

function checkTactics(tactics: unknown, fail: Check): void {
  if (!Array.isArray(tactics) || tactics.length === 0) fail('tactics', `give at least one MITRE tactic: ${TACTICS.join(', ')}`);
  tactics.forEach((t: unknown, i) => {
    if (TACTICS.includes(t as Tactic)) return;
    const named = typeof t === 'string' ? TACTIC_IDS[t.toUpperCase()] : undefined;
    fail(`tactics[${i}]`, named ? `write the tactic name '${named}' instead of its id ${String(t)}` : `${JSON.stringify(t)} is not a MITRE tactic: ${TACTICS.join(', ')}`);
  });
}

function checkSources(sources: unknown, field: string, fail: Check, optional: boolean): void {
  if (sources === undefined && optional) return;
  if (!Array.isArray(sources) || sources.length === 0) fail(field, `give at least one of ${SOURCES.join(', ')}`);
  sources.forEach((s: unknown, i) => {
    if (!SOURCES.includes(s as Source)) fail(`${field}[${i}]`, `${JSON.stringify(s)} is not a source: ${SOURCES.join(', ')}`);
  });
}

function checkOperations(ops: unknown, field: string, fail: Check): void {
  if (ops === undefined) return;
  if (!Array.isArray(ops) || ops.length === 0) fail(field, 'give a non-empty array of operation names, or leave it out');
  ops.forEach((op: unknown, i) => {
    if (typeof op !== 'string' || !op) fail(`${field}[${i}]`, 'give an operation name');
    if (op !== op.toUpperCase()) fail(`${field}[${i}]`, `operations are matched upper-case: write '${op.toUpperCase()}'`);
  });
}

function checkEventValue(value: unknown, field: string, fail: Check): void {
  if (typeof value === 'function') return;
  if (typeof value === 'string' && ((EVENT_FIELDS as readonly string[]).includes(value) || /^details\.[A-Za-z0-9_]+$/.test(value))) return;
  fail(field, `${JSON.stringify(value)} is not an event field: use one of ${EVENT_FIELDS.join(', ')}, 'details.<key>', or a function of the event`);
}

function isTunableValue(v: unknown): v is TunableValue {
  if (typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  return Array.isArray(v) && (v.every((x) => typeof x === 'string') || v.every((x) => typeof x === 'number' && Number.isFinite(x)));
}

function checkTunableDefaults(tunables: unknown, fail: Check): void {
  if (tunables === undefined) return;
  if (typeof tunables !== 'object' || tunables === null || Array.isArray(tunables)) fail('tunables', 'give an object of defaults, e.g. { threshold: 30 }');
  for (const [name, v] of Object.entries(tunables)) {
    if (!isTunableValue(v)) fail(`tunables.${name}`, 'a default must be a text, a number, a boolean, or an array of texts or of numbers');
  }
}

function checkSteps(def: SequenceRule<Tunables>, fail: Check): void {
  if (!Array.isArray(def.steps) || def.steps.length < 2) fail('steps', 'a sequence needs at least two steps');
  if (def.steps.length > 8) fail('steps', 'a sequence has at most 8 steps');
  const names = new Set<string>();
  def.steps.forEach((step, i) => {
    const at = `steps[${i}]`;
    if (typeof step !== 'object' || step === null) fail(at, 'give { name, where?, relate?, firstSeen? }');
    if (typeof step.name !== 'string' || !step.name) fail(`${at}.name`, 'give each step a name');
    if (names.has(step.name)) fail(`${at}.name`, `step name '${step.name}' is used twice`);
    names.add(step.name);
    checkSources(step.sources, `${at}.sources`, fail, true);
    step.sources?.forEach((s: Source, j: number) => {
      if (!def.sources.includes(s)) fail(`${at}.sources[${j}]`, `'${s}' is not among the rule's sources: add it to 'sources'`);
    });
    checkOperations(step.operations, `${at}.operations`, fail);
    if (step.where !== undefined && typeof step.where !== 'function') fail(`${at}.where`, 'give a function (event, tunables) => boolean');
    if (step.relate !== undefined && typeof step.relate !== 'function') fail(`${at}.relate`, 'give a function (event, priorStepEvents, tunables) => boolean');
    if (step.relate !== undefined && i === 0) fail(`${at}.relate`, 'the first step has no earlier step to relate to');
    if (step.firstSeen !== undefined) checkEventValue(step.firstSeen.value, `${at}.firstSeen.value`, fail);
  });
}

/** A kind's settings with tunables applied and durations in milliseconds. */
export type Settings = { suppressMs: number } & (
  | { kind: 'match' }
  | { kind: 'threshold'; windowMs: number; threshold: number }
  | { kind: 'anomaly'; bucketMs: number; warmup: number; minCount: number; factor?: number; zScore?: number; alpha: number; forgetAfterMs: number }
  | ({ kind: 'firstSeen' } & FirstSeenSettings)
  | { kind: 'sequence'; withinMs: number; maxCandidates: number; steps: (FirstSeenSettings | undefined)[] }
);

export interface FirstSeenSettings {
  horizonMs: number;
  learningMs: number;
  maxValues: number;
}

/**
 * Apply tunables to a rule's settings and check them. Throws RuleDefinitionError (through `fail`)
 * for a setting that does not hold, so an override that breaks a rule names the field too.
 */
export function resolveSettings(def: RuleDefinition, tunables: Tunables, fail: Check): Settings {
  const get = <V>(p: Param<V, Tunables> | undefined): V | undefined =>
    typeof p === 'function' ? (p as (t: Tunables) => V)(tunables) : p;
  const duration = (field: string, p: Param<string, Tunables> | undefined, optional = false): number => {
    const v = get(p);
    if (v === undefined && optional) return 0;
    const ms = parseDuration(v);
    if (ms === undefined) fail(field, `${JSON.stringify(v)} is not a duration: use a whole number and a unit, e.g. '90s', '5m', '1h', '7d'`);
    return ms;
  };
  const number = (field: string, p: Param<number, Tunables> | undefined, min: number, opts: { integer?: boolean; optional?: boolean; max?: number } = {}): number | undefined => {
    const v = get(p);
    if (v === undefined && opts.optional) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (opts.max !== undefined && v > opts.max) || (opts.integer && !Number.isInteger(v))) {
      fail(field, `${JSON.stringify(v)} is not valid: give ${opts.integer ? 'a whole number' : 'a number'} ≥ ${min}${opts.max !== undefined ? ` and ≤ ${opts.max}` : ''}`);
    }
    return v;
  };
  const firstSeen = (at: string, o: FirstSeenOptions<Tunables>): FirstSeenSettings => ({
    horizonMs: duration(`${at}horizon`, o.horizon),
    learningMs: o.learning === undefined ? fail(`${at}learning`, "give a learning period, e.g. '7d' (use '0s' for none)") : learningDuration(`${at}learning`, get(o.learning), fail),
    maxValues: number(`${at}maxValues`, o.maxValues ?? 500, 1, { integer: true, max: 10_000 }) as number,
  });
  const suppressMs = duration('suppress', def.suppress, true);
  switch (def.kind) {
    case 'match':
      return { kind: 'match', suppressMs };
    case 'threshold':
      return { kind: 'threshold', suppressMs, windowMs: duration('window', def.window), threshold: number('threshold', def.threshold, 1, { integer: true, max: 100_000 }) as number };
    case 'anomaly': {
      const bucketMs = duration('bucket', def.bucket);
      const warmup = number('warmup', def.warmup, 1, { integer: true }) as number;
      const factor = number('factor', def.factor, 1, { optional: true });
      const zScore = number('zScore', def.zScore, 0, { optional: true });
      if (factor === undefined && zScore === undefined) fail('factor', 'an anomaly rule needs a factor, a zScore, or both');
      const forgetAfterMs = def.forgetAfter === undefined ? 2 * warmup * bucketMs : duration('forgetAfter', def.forgetAfter);
      // Silent buckets are folded one by one, so the forget horizon bounds that work.
      if (forgetAfterMs / bucketMs > 100_000) fail('forgetAfter', 'keep forgetAfter under 100000 buckets');
      if (forgetAfterMs < bucketMs) fail('forgetAfter', 'forgetAfter must be at least one bucket');
      return {
        kind: 'anomaly', suppressMs, bucketMs, warmup, factor, zScore, forgetAfterMs,
        minCount: number('minCount', def.minCount, 1, { integer: true }) as number,
        alpha: number('alpha', def.alpha ?? 0.1, Number.MIN_VALUE, { max: 1 }) as number,
      };
    }
    case 'firstSeen':
      return { kind: 'firstSeen', suppressMs, ...firstSeen('', def) };
    case 'sequence':
      return {
        kind: 'sequence', suppressMs,
        withinMs: duration('within', def.within),
        maxCandidates: number('maxCandidates', def.maxCandidates ?? 20, 1, { integer: true, max: 1000 }) as number,
        steps: def.steps.map((s, i) => (s.firstSeen ? firstSeen(`steps[${i}].firstSeen.`, s.firstSeen) : undefined)),
      };
  }
}

/** A learning period may be '0s' (alert from the first event); other durations must parse. */
function learningDuration(field: string, v: unknown, fail: Check): number {
  if (typeof v === 'string' && /^0(ms|s|m|h|d)$/.test(v.trim())) return 0;
  const ms = parseDuration(v);
  if (ms === undefined) fail(field, `${JSON.stringify(v)} is not a duration: use e.g. '1d', '7d' ('0s' for none)`);
  return ms;
}

/**
 * A rule's tunables with a deployer's overrides applied. An override must name a tunable the rule
 * declares and keep its default's type (number, text, boolean, or array of the same).
 */
export function applyTunableOverrides(rule: Rule, overrides: Readonly<Record<string, unknown>> | undefined): Tunables {
  const defaults = rule.tunables ?? {};
  if (!overrides) return defaults;
  const merged: Record<string, TunableValue> = { ...defaults };
  for (const [name, value] of Object.entries(overrides)) {
    if (!(name in defaults)) {
      const known = Object.keys(defaults);
      throw new TunableError(`rule '${rule.id}' has no tunable '${name}'${known.length ? `: it has ${known.join(', ')}` : ''}`);
    }
    const d = defaults[name];
    const sameType = Array.isArray(d)
      ? Array.isArray(value) && isTunableValue(value) && (d.length === 0 || value.length === 0 || typeof value[0] === typeof d[0])
      : typeof value === typeof d && isTunableValue(value);
    if (!sameType) throw new TunableError(`rule '${rule.id}', tunable '${name}': ${JSON.stringify(value)} does not have the type of its default ${JSON.stringify(d)}`);
    merged[name] = value as TunableValue;
  }
  return Object.freeze(merged);
}

/** The reader of an EventValue: a field, `details.<key>` (as text), or the rule's own function. */
export function eventValueReader(value: EventValue): (e: NormalizedEvent) => string | undefined {
  if (typeof value === 'function') return value;
  if (value.startsWith('details.')) {
    const name = value.slice('details.'.length);
    return (e) => {
      const v = e.details[name];
      return v === undefined || v === '' ? undefined : String(v);
    };
  }
  const field = value as (typeof EVENT_FIELDS)[number];
  return (e) => e[field] || undefined;
}

/** How an EventValue reads in evidence: the field name, or 'custom'. */
export function eventValueName(value: EventValue): string {
  return typeof value === 'function' ? 'custom' : value;
}
