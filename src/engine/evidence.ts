import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { isUnidentified, type Alert, type Details, type Entity, type NormalizedEvent } from '../model/index.js';

import type { CompiledRule } from './compile.js';
import type { AlertDraft } from './kinds/types.js';
import { isGuid } from '../common/ids.js';
import { redactDeep, redactNamed, redactText } from '../common/redact.js';

const MAX_LIST = 20;

/**
 * An event as evidence may carry it: every field kept, texts cut to 200 characters, and anything
 * that looks like a credential (token, key, SAS `sig=`, JWT, long opaque string) redacted.
 * This is also what keys' state keeps, so stored state holds no secrets either.
 */
export function trimEvent(e: NormalizedEvent): NormalizedEvent {
  const details: Details = {};
  for (const name in e.details) {
    const v = e.details[name];
    details[name] = typeof v !== 'string' ? v : redactNamed(name, v);
  }
  const out: NormalizedEvent = { ...e, details };
  if (out.principalName) out.principalName = redactText(out.principalName);
  return out;
}

/**
 * An evidence event kept in a key's state: the event itself until the state is written, then
 * [event time, JSON of the trimmed event]. Trimming and serializing happen once per write for the
 * few events still kept, not for every event, and a string costs far less to write than an object.
 */
export type Sample = NormalizedEvent | [time: number, json: string];

export function sampleTime(s: Sample): number {
  return Array.isArray(s) ? s[0] : s.time;
}

/** The trimmed event a sample stands for. */
export function sampleEvent(s: Sample): NormalizedEvent {
  return Array.isArray(s) ? (JSON.parse(s[1]) as NormalizedEvent) : trimEvent(s);
}

/** Before a state is written: every kept event trimmed and serialized (no secrets reach the store). */
function sealSamples(list: Sample[] | undefined): void {
  if (!list) return;
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    if (!Array.isArray(s)) list[i] = [s.time, JSON.stringify(trimEvent(s))];
  }
}

/** JSON text of sealed samples, which never change once sealed. */
const keptJson = new WeakMap<object, string>();

/** JSON of a value kept in state and never changed afterwards: serialized once, however many writes carry it. */
function jsonOnce(value: object): string {
  let json = keptJson.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    keptJson.set(value, json);
  }
  return json;
}

/**
 * A key's state as JSON, its array `field` (`items`) written from the items' text (`itemJson`) and
 * the rest by JSON.stringify: kept evidence is the bulk of a state and rarely changes between writes.
 */
export function stateJson<I>(st: object, field: string, items: readonly I[] | undefined, itemJson: (item: I) => string): string {
  if (!items) return JSON.stringify(st);
  // The field is left out by setting it undefined for the moment: a copy without it ({...st}) cost more than the rest of the write.
  const s = st as Record<string, unknown>;
  s[field] = undefined;
  const rest = JSON.stringify(st);
  s[field] = items;
  let json = rest === '{}' ? `{"${field}":[` : `${rest.slice(0, -1)},"${field}":[`;
  for (let i = 0; i < items.length; i++) json += (i ? ',' : '') + itemJson(items[i]);
  return `${json}]}`;
}

/** A state whose `ev` holds samples, as stored: samples sealed, each serialized once. */
export function sampledStateJson<S extends { ev?: Sample[] }>(st: S): string {
  sealSamples(st.ev);
  return stateJson(st, 'ev', st.ev, jsonOnce);
}

/** Keep the newest `max` samples, oldest first (insertion in time order; stable for equal times). */
export function keepNewest(list: Sample[], s: Sample, max: number): void {
  const time = sampleTime(s);
  let i = list.length;
  while (i > 0 && sampleTime(list[i - 1]) > time) i--;
  list.splice(i, 0, s);
  if (list.length > max) list.shift();
}

/** sha256 hex of rule id, key and evidence window, cut to 32 characters: same events, same id. */
export function alertId(ruleId: string, key: string, window: string): string {
  return createHash('sha256').update(`${ruleId}|${key}|${window}`).digest('hex').slice(0, 32);
}

function unique(values: Iterable<string | undefined>, transform: (s: string) => string = (s) => s): string[] {
  const out = new Set<string>();
  for (const v of values) {
    if (v && out.size < MAX_LIST) out.add(transform(v));
  }
  return [...out];
}

/** Sentinel entities (https://learn.microsoft.com/azure/sentinel/entities-reference) from the evidence events. */
export function buildEntities(
  events: readonly NormalizedEvent[],
  trigger: NormalizedEvent,
  types: ReadonlySet<string>,
  /** The principal's display name, when known (from the events, or learned from earlier ones). */
  name = trigger.principalName ?? events.find((e) => e.principalName)?.principalName,
): Entity[] {
  const entities: Entity[] = [];
  if (types.has('account') && trigger.principalType !== 'key') {
    const account: Entity = { Type: 'account', IsDomainJoined: false };
    if (isGuid(trigger.principalId)) account.AadUserId = trigger.principalId;
    const at = name?.indexOf('@') ?? -1;
    if (name && at > 0) {
      account.Name = name.slice(0, at);
      account.UPNSuffix = name.slice(at + 1);
    } else {
      account.Name = name ?? trigger.principalId;
    }
    if (name) account.DisplayName = name;
    if (trigger.tenantId) account.AadTenantId = trigger.tenantId;
    entities.push(account);
  }
  if (types.has('cloud-application')) {
    for (const appId of unique(events.map((e) => e.appId))) entities.push({ Type: 'cloud-application', AppId: appId });
  }
  if (types.has('azure-resource')) {
    for (const id of unique(
      events.map((e) => e.resourceId),
      (s) => s.toLowerCase(),
    ))
      entities.push({ Type: 'azure-resource', ResourceId: id });
  }
  if (types.has('ip')) {
    // Masked addresses (81.2.69.***) stay in IpAddresses but are not valid IP entities.
    for (const ip of unique(events.map((e) => e.ip))) if (isIP(ip)) entities.push({ Type: 'ip', Address: ip });
  }
  return entities;
}

function evidenceEvent(e: NormalizedEvent): Record<string, unknown> {
  return { ...e, time: new Date(e.time).toISOString() };
}

/** A rule's own evidence with its texts redacted as event fields are (nested objects and arrays too, a few levels deep). */
function redactEvidence(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactText(v);
  if (typeof v !== 'object' || v === null || depth > 3) return v;
  if (Array.isArray(v)) return v.map((x) => redactEvidence(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'string' ? redactNamed(k, x) : redactEvidence(x, depth + 1);
  return out;
}

const NO_STEPS: Readonly<Record<string, NormalizedEvent>> = Object.freeze({});

/**
 * The name of the principal that raised the alert: the trigger's, else one its own events logged,
 * else the one learned earlier. An unidentified principal (`unknown:<scope>`) is named only when
 * every event of the alert gives the same name: its key is shared by whoever called that resource.
 */
function nameOf(rule: CompiledRule, trigger: NormalizedEvent, events: readonly NormalizedEvent[]): string | undefined {
  if (isUnidentified(trigger.principalId)) {
    const name = trigger.principalName;
    return name !== undefined && events.every((e) => e.principalName === name) ? name : undefined;
  }
  return (
    trigger.principalName ??
    events.find((e) => e.principalId === trigger.principalId && e.principalName)?.principalName ??
    rule.context.principals.nameOf(trigger.principalId)
  );
}

/** The Alert contract row for a draft the evaluator let through. */
export function buildAlert(rule: CompiledRule, draft: AlertDraft, arrivedAt: number, raisedAt: number): Alert {
  const events = draft.events;
  const trigger = draft.trigger;
  const principalName = nameOf(rule, trigger, events);
  const kindEvidence = draft.evidence as Record<string, unknown>;
  const kind = rule.rule.kind;
  const seen = {
    key: draft.key,
    principalId: trigger.principalId,
    principalName,
    principal: principalName ?? trigger.principalId,
    events,
    steps: draft.steps ?? NO_STEPS,
    tunables: rule.tunables,
    context: rule.context,
    evidence: { kind, ...kindEvidence },
  };
  const evidence: Record<string, unknown> = {
    kind,
    ...(redactEvidence(rule.evidence(seen), 0) as Record<string, unknown>),
    ...kindEvidence,
    correlationIds: unique(events.map((e) => e.correlationId)),
    events: events.map(evidenceEvent),
  };
  const view = { ...seen, evidence };
  const alert: Alert = {
    TimeGenerated: new Date(raisedAt).toISOString(),
    AlertId: alertId(rule.id, draft.key, draft.window),
    RuleId: rule.id,
    RuleVersion: rule.rule.version,
    Title: rule.title(view),
    Description: rule.rule.description,
    Severity: rule.severity(view),
    Tactics: [...rule.rule.tactics],
    Techniques: [...rule.rule.techniques],
    PrincipalId: trigger.principalId,
    PrincipalType: trigger.principalType,
    SubscriptionIds: unique(
      events.map((e) => e.subscriptionId),
      (s) => s.toLowerCase(),
    ),
    ResourceIds: unique(
      events.map((e) => e.resourceId),
      (s) => s.toLowerCase(),
    ),
    IpAddresses: unique(events.map((e) => e.ip)),
    FirstEventTime: new Date(draft.firstTime).toISOString(),
    LastEventTime: new Date(draft.lastTime).toISOString(),
    EventCount: draft.count,
    Entities: buildEntities(events, trigger, rule.entityTypes, principalName),
    Evidence: evidence,
    DetectionLatencyMs: Math.max(0, raisedAt - arrivedAt),
  };
  if (principalName) alert.PrincipalName = principalName;
  // Events reach the engine from the keyed hub, which anyone with send rights can write to directly.
  return redactDeep(alert);
}
