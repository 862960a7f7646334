import { SEVERITIES, SOURCES, TACTICS } from '../model/index.js';
import type { NormalizedEvent, Severity, Source, SourceEvent, Tactic } from '../model/index.js';
import { parseDuration } from './duration.js';
import { RuleDefinitionError, TunableError } from './errors.js';
import type { InventoryResource } from './inventory.js';
import type { AnomalyEvidence, AnomalyOptions } from './kinds/anomaly.js';
import type { FirstSeenEvidence, FirstSeenOptions } from './kinds/first-seen-kind.js';
import { RULE_KINDS, kindDefinition, type RuleKind } from './kinds/index.js';
import type { MatchEvidence, MatchOptions } from './kinds/match.js';
import type { SequenceEvidence, SequenceOptions, SequenceStep } from './kinds/sequence.js';
import type { ThresholdEvidence, ThresholdOptions } from './kinds/threshold.js';

export { RULE_KINDS, type RuleKind };

/** A tunable's value: what a deployer may set without editing the rule. */
export type TunableValue = string | number | boolean | readonly string[] | readonly number[];
export type Tunables = { readonly [name: string]: TunableValue };

const TUNABLE = Symbol('tunable');

/** A setting a deployer may override (WARDEN_TUNABLES), declared where the rule uses it. */
export interface Tunable<V extends TunableValue = TunableValue> {
  readonly [TUNABLE]: true;
  readonly default: V;
  /** What it sets, in a sentence. */
  readonly doc: string;
}

type Widen<V> = V extends string ? string : V extends number ? number : V extends boolean ? boolean : V;

/**
 * Declare a tunable with its default and what it sets: `threshold: tunable(10, 'Distinct secrets read')`.
 * Its name is the option (or `tunables` entry) it stands for.
 */
export function tunable<V extends TunableValue>(value: V, doc: string): Tunable<Widen<V>> {
  return { [TUNABLE]: true, default: value as Widen<V>, doc };
}

export function isTunable(v: unknown): v is Tunable {
  return typeof v === 'object' && v !== null && TUNABLE in v;
}

/** A kind option given directly or as a tunable. */
export type Option<V extends TunableValue> = V | Tunable<V>;

/** The tunables every rule has: the engine applies them. */
export const BUILT_IN_TUNABLES = {
  allowPrincipals: tunable([] as string[], 'Principal object ids or app ids never to alert on (case-insensitive)'),
};

type TunableDecls = { readonly [name: string]: Tunable };
/** What a rule's functions see of its tunables: each one's value, overrides applied. */
export type TunableValues<TT> = { readonly [K in keyof TT]: TT[K] extends Tunable<infer V> ? V : never } & { readonly allowPrincipals: readonly string[] };

export const KEY_BY = ['actor', 'target'] as const;
/** What a rule keys its state on: the event's actor (principal), or its target principal when it has one. */
export type KeyBy = (typeof KEY_BY)[number];

export const ENTITY_TYPES = ['account', 'azure-resource', 'ip', 'cloud-application'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/**
 * What rules may consult besides the event: enrichment shared by all rules of a detector, learned
 * from the events it has seen. `inventory` knows where Azure resources live (plus WARDEN_INVENTORY);
 * `principals` knows principals' display names (sign-ins name service principals other logs do not).
 */
export interface RuleContext {
  readonly inventory: { find(type: string, name: string): InventoryResource | undefined };
  readonly principals: { nameOf(principalId: string): string | undefined };
}

/** What a rule's title and evidence see of an alert. */
export interface AlertView<Ev, E, T, Steps> {
  /** The grouping key (the principal id unless the rule groups otherwise). */
  key: string;
  principalId: string;
  principalName?: string;
  /** The principal as a title names it: its UPN or display name, else its id. */
  principal: string;
  /** The trimmed evidence events (at most 5), oldest first. */
  events: readonly Ev[];
  /** A sequence's events by step name. */
  steps: Steps;
  /** The kind's evidence (count, window, rate, baseline, the new value …); for the title, the rule's own too. */
  evidence: Readonly<E>;
  tunables: T;
  context: RuleContext;
}

interface RuleBase<S extends Source, TT, KE, X, Steps> {
  /** Lower-case words joined by '-'; the file is detections/<id>.ts. */
  id: string;
  /** '1', '1.2' or '1.2.3'; bump when the logic changes. */
  version: string;
  /** What the rule detects, in a few words: its title in catalogues (default: `title` when it is a text). */
  name?: string;
  description: string;
  severity: Severity;
  /** MITRE ATT&CK tactic names as Sentinel spells them ('CredentialAccess'). */
  tactics: readonly Tactic[];
  /** MITRE ATT&CK technique ids ('T1552', 'T1552.001'). */
  techniques: readonly string[];
  /** The sources the rule reads: its events are the only ones it is shown, typed by them. */
  sources: readonly S[];
  /** Upper-case operations, when the rule reads only some: narrows the index further. */
  operations?: readonly string[];
  tags?: readonly string[];
  /** Tunables the rule's own functions read (kind options declare theirs inline); `allowPrincipals` is built in. */
  tunables?: TT;
  /** Which events the rule considers (the engine has already left out allow-listed principals). */
  where?: (event: SourceEvent<S>, tunables: TunableValues<TT>, context: RuleContext) => boolean;
  /** Whose behaviour the state follows: the principal (default) or a finer key that includes it. */
  groupBy?: (event: SourceEvent<S>) => string | undefined;
  /**
   * `'target'`: key each event on the principal it changed (`targetPrincipalId`: the service
   * principal a secret was added to, an application by its app id) when it has one, else on its
   * actor — and a service principal's sign-in on its app id (`principalAppId`) as well — so a change
   * to an identity and that identity's own later events meet under one key. Default `'actor'`. Not with `groupBy`.
   */
  keyBy?: KeyBy;
  /** More evidence, from the alert's events; texts are redacted like event fields. The title sees it. */
  evidence?: (alert: AlertView<SourceEvent<S>, KE, TunableValues<TT>, Steps>) => X;
  title: string | ((alert: AlertView<SourceEvent<S>, KE & X, TunableValues<TT>, Steps>) => string);
  /** This alert's severity when the evidence makes it differ from `severity` (which catalogues show), e.g. higher for a key hardly used before. */
  severityOf?: (alert: AlertView<SourceEvent<S>, KE & X, TunableValues<TT>, Steps>) => Severity;
  /** No second alert for the same rule and key within this event-time period ('1h'). */
  suppress?: string;
  /** Sentinel entity types the alert carries (default: all four, where the events have them). */
  entities?: readonly EntityType[];
  /** This rule's default for the built-in `allowPrincipals` tunable (e.g. FIRST_PARTY_NOISE_APPS); a deployer's override replaces it. */
  allowPrincipals?: readonly string[];
}

type StepDecls<S extends Source, T> = { readonly [name: string]: SequenceStep<S, T> };
type StepEvents<St> = { readonly [N in keyof St]: St[N] extends { sources: readonly (infer SS extends Source)[] } ? SourceEvent<SS> : NormalizedEvent };
type NoSteps = Record<never, never>;

type MatchRule<S extends Source, TT, X> = RuleBase<S, TT, MatchEvidence, X, NoSteps> & MatchOptions & { kind: 'match' };
type ThresholdRule<S extends Source, TT, X> = RuleBase<S, TT, ThresholdEvidence, X, NoSteps> & ThresholdOptions<SourceEvent<S>> & { kind: 'threshold' };
type AnomalyRule<S extends Source, TT, X> = RuleBase<S, TT, AnomalyEvidence, X, NoSteps> & AnomalyOptions<SourceEvent<S>> & { kind: 'anomaly' };
type FirstSeenRule<S extends Source, TT, X> = RuleBase<S, TT, FirstSeenEvidence, X, NoSteps> & FirstSeenOptions<SourceEvent<S>> & { kind: 'firstSeen' };
type SequenceRule<S extends Source, TT, X, St> = RuleBase<S, TT, SequenceEvidence, X, StepEvents<St>> &
  SequenceOptions<St & StepDecls<S, TunableValues<TT>>> & { kind: 'sequence' };

/** A rule as its file writes it: the common fields, `kind`, and that kind's options. */
export type RuleDefinition<
  S extends Source = Source,
  TT extends TunableDecls = TunableDecls,
  X extends object = object,
  St extends StepDecls<S, TunableValues<TT>> = StepDecls<S, TunableValues<TT>>,
> = MatchRule<S, TT, X> | ThresholdRule<S, TT, X> | AnomalyRule<S, TT, X> | FirstSeenRule<S, TT, X> | SequenceRule<S, TT, X, St>;

/** A validated rule, as `defineRule` returns it: what catalogues and the engine read. */
export interface Rule {
  readonly id: string;
  readonly version: string;
  readonly name?: string;
  /** A text, or a function of the alert (the engine calls it with the alert's view). */
  readonly title: string | ((alert: never) => string);
  readonly description: string;
  readonly severity: Severity;
  readonly tactics: readonly Tactic[];
  readonly techniques: readonly string[];
  readonly sources: readonly Source[];
  readonly operations?: readonly string[];
  readonly tags?: readonly string[];
  readonly kind: RuleKind;
  /** Every tunable with its default, in the order the rule declares them, `allowPrincipals` last. */
  readonly tunables: Tunables;
  /** What each tunable sets. */
  readonly tunableDocs: Readonly<Record<string, string>>;
  /** The definition as written (copies of a rule start from it). */
  readonly definition: RuleDefinition;
}

/** The fields every rule has; any other field of a definition is an option of its kind. */
const COMMON_FIELDS = new Set([
  'id',
  'version',
  'name',
  'title',
  'severityOf',
  'description',
  'severity',
  'tactics',
  'techniques',
  'sources',
  'operations',
  'tags',
  'tunables',
  'where',
  'groupBy',
  'keyBy',
  'evidence',
  'suppress',
  'entities',
  'kind',
  'allowPrincipals',
]);

const DEFINED = new WeakSet<object>();
const NO_CONTEXT: RuleContext = { inventory: { find: () => undefined }, principals: { nameOf: () => undefined } };

/**
 * Declare a detection rule. The definition is validated now (with its default tunables), so a
 * broken rule fails when its file is loaded, with one RuleDefinitionError naming the field.
 */
export function defineRule<
  const S extends Source,
  TT extends TunableDecls = NoSteps,
  X extends object = NoSteps,
  St extends StepDecls<S, TunableValues<TT>> = NoSteps,
>(definition: RuleDefinition<S, TT, X, St>): Rule {
  const def = definition as unknown as RuleDefinition;
  const { tunables, docs } = validateRule(def);
  const rule: Rule = Object.freeze({
    id: def.id,
    version: def.version,
    name: def.name,
    title: def.title,
    description: def.description,
    severity: def.severity,
    tactics: def.tactics,
    techniques: def.techniques,
    sources: def.sources,
    operations: def.operations,
    tags: def.tags,
    kind: def.kind,
    tunables,
    tunableDocs: docs,
    definition: def,
  });
  DEFINED.add(rule);
  return rule;
}

/** Whether a value came from defineRule (the loader's check on a rule file's default export). */
export function isRule(value: unknown): value is Rule {
  return typeof value === 'object' && value !== null && DEFINED.has(value);
}

/** The kind options a definition gives (every field that is not common to all rules; undefined is left out). */
function kindOptions(def: RuleDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(def)) if (!COMMON_FIELDS.has(k) && v !== undefined) out[k] = v;
  return out;
}

/** Walk plain objects and arrays (not functions) of kind options, replacing each tunable by `value(name, tunable)`. */
function mapTunables(v: unknown, name: string, value: (name: string, t: Tunable) => unknown): unknown {
  if (isTunable(v)) return value(name, v);
  if (Array.isArray(v)) return v.map((x) => mapTunables(x, name, value));
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = mapTunables(x, k, value);
  return out;
}

const RULE_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const VERSION = /^\d+(\.\d+){0,2}$/;
const TECHNIQUE = /^T\d{4}(\.\d{3})?$/;
const TACTIC_IDS: Record<string, Tactic> = {
  TA0043: 'Reconnaissance',
  TA0042: 'ResourceDevelopment',
  TA0001: 'InitialAccess',
  TA0002: 'Execution',
  TA0003: 'Persistence',
  TA0004: 'PrivilegeEscalation',
  TA0005: 'DefenseEvasion',
  TA0006: 'CredentialAccess',
  TA0007: 'Discovery',
  TA0008: 'LateralMovement',
  TA0009: 'Collection',
  TA0011: 'CommandAndControl',
  TA0010: 'Exfiltration',
  TA0040: 'Impact',
};

export type Check = (field: string, problem: string) => never;

function validateRule(def: RuleDefinition): { tunables: Tunables; docs: Record<string, string> } {
  if (typeof def !== 'object' || def === null) throw new RuleDefinitionError('(rule)', 'defineRule needs an object');
  const id = typeof def.id === 'string' && RULE_ID.test(def.id) ? def.id : undefined;
  const fail: Check = (field, problem) => {
    throw new RuleDefinitionError(field, problem, id);
  };
  if (!id) fail('id', `${JSON.stringify(def.id)} is not a rule id: use lower-case words joined by '-' (e.g. 'ai-key-listing')`);
  if (typeof def.version !== 'string' || !VERSION.test(def.version))
    fail('version', `${JSON.stringify(def.version)} is not a version: use '1', '1.2' or '1.2.3'`);
  if (def.name !== undefined && !(typeof def.name === 'string' && def.name.trim())) fail('name', 'give a non-empty text, or leave it out');
  if (!(typeof def.title === 'function' || (typeof def.title === 'string' && def.title.trim())))
    fail('title', 'give a non-empty text or a function of the alert');
  if (typeof def.description !== 'string' || !def.description.trim()) fail('description', 'give a non-empty description');
  if (!SEVERITIES.includes(def.severity)) fail('severity', `${JSON.stringify(def.severity)} is not one of ${SEVERITIES.join(', ')}`);
  checkTactics(def.tactics, fail);
  if (!Array.isArray(def.techniques)) fail('techniques', "give an array of MITRE technique ids such as 'T1552'");
  def.techniques.forEach((t, i) => {
    if (typeof t !== 'string' || !TECHNIQUE.test(t)) fail(`techniques[${i}]`, `${JSON.stringify(t)} is not a MITRE technique id (T1234 or T1234.001)`);
  });
  if (!Array.isArray(def.sources) || def.sources.length === 0) fail('sources', `give at least one of ${SOURCES.join(', ')}`);
  def.sources.forEach((s: unknown, i) => {
    if (!SOURCES.includes(s as Source)) fail(`sources[${i}]`, `${JSON.stringify(s)} is not a source: ${SOURCES.join(', ')}`);
  });
  checkOperations(def.operations, fail);
  if (def.tags !== undefined && !(Array.isArray(def.tags) && def.tags.every((t) => typeof t === 'string'))) fail('tags', 'give an array of texts');
  for (const f of ['where', 'groupBy', 'evidence', 'severityOf'] as const) {
    if (def[f] !== undefined && typeof def[f] !== 'function') fail(f, 'give a function, or leave it out');
  }
  if (def.keyBy !== undefined && !KEY_BY.includes(def.keyBy)) fail('keyBy', `${JSON.stringify(def.keyBy)} is not one of ${KEY_BY.join(', ')}`);
  if (def.keyBy === 'target' && def.groupBy !== undefined)
    fail('keyBy', "a rule keyed on the target groups by the target principal: remove 'groupBy', or key on the actor");
  if (def.suppress !== undefined && parseDuration(def.suppress) === undefined)
    fail('suppress', `${JSON.stringify(def.suppress)} is not a duration: use a whole number and a unit, e.g. '90s', '5m', '1h', '7d'`);
  if (def.entities !== undefined) {
    if (!Array.isArray(def.entities)) fail('entities', `give an array of ${ENTITY_TYPES.join(', ')}`);
    // Checked as untrusted input: a rule file may list anything here.
    (def.entities as readonly unknown[]).forEach((t, i) => {
      if (!(ENTITY_TYPES as readonly unknown[]).includes(t)) fail(`entities[${i}]`, `${JSON.stringify(t)} is not one of ${ENTITY_TYPES.join(', ')}`);
    });
  }
  if (!RULE_KINDS.includes(def.kind)) fail('kind', `${JSON.stringify((def as { kind: unknown }).kind)} is not one of ${RULE_KINDS.join(', ')}`);
  const declared = declaredTunables(def, fail);
  const tunables: Record<string, TunableValue> = {};
  const docs: Record<string, string> = {};
  for (const [name, t] of declared) {
    tunables[name] = t.default;
    docs[name] = t.doc;
  }
  // The kind compiles with the defaults (e.g. a step's sources must be among the rule's); the logic is built again per detector.
  kindDefinition(def.kind).compile(resolveKind(def, tunables, fail), { sources: def.sources, operations: def.operations, tunables, context: NO_CONTEXT }, fail);
  return { tunables: Object.freeze(tunables), docs: Object.freeze(docs) };
}

/** The rule's tunables in order: the kind's options, then the rule's own `tunables`, then the built-in ones. */
function declaredTunables(def: RuleDefinition, fail: Check): Map<string, Tunable> {
  const found = new Map<string, Tunable>();
  const add = (field: string, name: string, t: Tunable) => {
    if (name in BUILT_IN_TUNABLES) fail(field, `'${name}' is built in for every rule: remove it (the engine applies it)`);
    if (found.has(name)) fail(field, `tunable '${name}' is declared twice: give one of them another name`);
    if (!isTunableValue(t.default)) fail(field, 'a default must be a text, a number, a boolean, or an array of texts or of numbers');
    if (typeof t.doc !== 'string' || !t.doc.trim()) fail(field, `say what tunable '${name}' sets: tunable(default, 'what it sets')`);
    found.set(name, t);
  };
  mapTunables(kindOptions(def), '', (name, t) => add(name, name, t));
  const own = def.tunables as unknown;
  if (own !== undefined) {
    if (typeof own !== 'object' || own === null || Array.isArray(own))
      fail('tunables', "give an object of tunables, e.g. { allowSourceAccounts: tunable([] as string[], 'Accounts copies may come from') }");
    for (const [name, t] of Object.entries(own)) {
      if (!isTunable(t)) fail(`tunables.${name}`, `declare it with tunable(default, 'what it sets')`);
      add(`tunables.${name}`, name, t);
    }
  }
  for (const [name, t] of Object.entries(BUILT_IN_TUNABLES)) found.set(name, t);
  const allow = def.allowPrincipals as unknown;
  if (allow !== undefined) {
    if (!Array.isArray(allow) || !allow.every((p): p is string => typeof p === 'string' && p !== ''))
      fail('allowPrincipals', 'give an array of principal object ids or app ids (e.g. FIRST_PARTY_NOISE_APPS)');
    found.set('allowPrincipals', { ...BUILT_IN_TUNABLES.allowPrincipals, default: [...allow] });
  }
  return found;
}

function checkTactics(tactics: unknown, fail: Check): void {
  if (!Array.isArray(tactics) || tactics.length === 0) fail('tactics', `give at least one MITRE tactic: ${TACTICS.join(', ')}`);
  tactics.forEach((t: unknown, i) => {
    if (TACTICS.includes(t as Tactic)) return;
    const named = typeof t === 'string' ? TACTIC_IDS[t.toUpperCase()] : undefined;
    fail(
      `tactics[${i}]`,
      named ? `write the tactic name '${named}' instead of its id ${String(t)}` : `${JSON.stringify(t)} is not a MITRE tactic: ${TACTICS.join(', ')}`,
    );
  });
}

function checkOperations(ops: unknown, fail: Check): void {
  if (ops === undefined) return;
  if (!Array.isArray(ops) || ops.length === 0) fail('operations', 'give a non-empty array of operation names, or leave it out');
  ops.forEach((op: unknown, i) => {
    if (typeof op !== 'string' || !op) fail(`operations[${i}]`, 'give an operation name');
    if (op !== op.toUpperCase()) fail(`operations[${i}]`, `operations are matched upper-case: write '${op.toUpperCase()}'`);
  });
}

function isTunableValue(v: unknown): v is TunableValue {
  if (typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  return Array.isArray(v) && (v.every((x) => typeof x === 'string') || v.every((x) => typeof x === 'number' && Number.isFinite(x)));
}

/** A zod issue path as a field name: `steps.write.firstSeen.horizon`, `operations[0]`. */
function fieldOf(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') || '(options)';
}

/**
 * The kind's settings for these tunable values: tunables substituted into the kind's options,
 * which its schema checks and converts (defaults filled in, durations in ms). Throws
 * RuleDefinitionError (through `fail`) naming the field that does not hold.
 */
export function resolveKind(def: RuleDefinition, tunables: Tunables, fail: Check): unknown {
  const options = mapTunables(kindOptions(def), '', (name) => tunables[name]);
  const parsed = kindDefinition(def.kind).optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(
      fieldOf(issue.path),
      issue.code === 'unrecognized_keys' ? `${issue.keys.map((k) => `'${k}'`).join(', ')} is not an option of a ${def.kind} rule` : issue.message,
    );
  }
  return parsed.data;
}

/** The suppression period in ms (0: none). */
export function suppressMs(def: RuleDefinition): number {
  return def.suppress === undefined ? 0 : parseDuration(def.suppress)!;
}

/**
 * A rule's tunables with a deployer's overrides applied. An override must name a tunable the rule
 * declares and keep its default's type (number, text, boolean, or array of the same).
 */
export function applyTunableOverrides(rule: Rule, overrides: Readonly<Record<string, unknown>> | undefined): Tunables {
  const defaults = rule.tunables;
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
    if (!sameType)
      throw new TunableError(`rule '${rule.id}', tunable '${name}': ${JSON.stringify(value)} does not have the type of its default ${JSON.stringify(d)}`);
    merged[name] = value as TunableValue;
  }
  return Object.freeze(merged);
}
