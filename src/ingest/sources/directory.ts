import { z } from 'zod';
import type { DirectoryDetails, Result } from '../../model/index.js';
import { compiled, firstPresent, jsonObject, jsonObjectValue } from '../schema.js';
import type { RawRecord } from '../types.js';
import { lower, str } from '../util.js';
import {
  callerIp,
  commonFieldsConform,
  eventOperation,
  eventTime,
  type Guid,
  isNested,
  isObject,
  isText,
  isTextOrObject,
  isTimeish,
  lowerGuid,
  type Principal,
  put,
  resultFromText,
  targetResource,
  text,
  timeish,
  unknownPrincipal,
} from './resource-log.js';
import { defineSource, recordShape, rowsAsStream, type EventParts } from './define-source.js';

/**
 * Entra ID audit log (directory audits: stream category `AuditLogs`, table `AuditLogs`): who changed
 * what in the directory. Warden reads it for the changes that arm a non-human identity: credentials
 * added to an app or service principal, federated identity credentials, directory role membership.
 * Rows are mapped onto the stream shape first, so one schema validates both.
 * Schemas: https://learn.microsoft.com/graph/api/resources/directoryaudit and
 * https://learn.microsoft.com/azure/azure-monitor/reference/tables/auditlogs
 */

/** A JSON array that Log Analytics may hand over as a string (dynamic columns). */
function jsonArray<T extends z.ZodType>(schema: T) {
  return z.preprocess(jsonValue, z.array(schema).nullish());
}

/** What jsonArray hands its schema: an empty string is nothing, JSON text its value. */
function jsonValue(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  if (v === '') return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

/**
 * A dynamic column read as jsonArray reads it, when that gives an array or nothing (else left as
 * it was: JSON text of a string would be parsed again by the schema), so the fast path takes rows.
 */
function jsonArrayValue(v: unknown): unknown {
  const value = jsonValue(v);
  return value === undefined || Array.isArray(value) ? value : v;
}

const ModifiedProperty = z.object({ displayName: text, oldValue: z.unknown(), newValue: z.unknown() });
const TargetResource = z.object({
  id: text,
  displayName: text,
  type: text,
  userPrincipalName: text,
  modifiedProperties: z.array(ModifiedProperty).nullish(),
});
const Initiator = z.object({
  user: z.object({ id: text, userPrincipalName: text, displayName: text, ipAddress: text }).nullish(),
  app: z.object({ appId: text, displayName: text, servicePrincipalId: text, servicePrincipalName: text }).nullish(),
});
const KeyValue = z.object({ key: text, value: z.unknown() });

const AuditProperties = z.object({
  id: text,
  category: text,
  correlationId: text,
  result: text,
  resultReason: text,
  activityDisplayName: text,
  activityDateTime: timeish,
  loggedByService: text,
  operationType: text,
  initiatedBy: jsonObject(Initiator),
  targetResources: jsonArray(TargetResource),
  additionalDetails: jsonArray(KeyValue),
});

const AuditRecord = compiled(
  z.object({
    time: timeish,
    category: text,
    operationName: text,
    resultType: text,
    resultSignature: text,
    resultDescription: text,
    callerIpAddress: text,
    correlationId: text,
    tenantId: text,
    identity: z.union([z.string(), z.object({})]).nullish(),
    properties: jsonObject(AuditProperties),
  }),
);
type AuditRecord = z.infer<typeof AuditRecord>;
type Target = z.infer<typeof TargetResource>;

function isTarget(t: unknown): boolean {
  return (
    isObject(t) && isText(t.id) && isText(t.displayName) && isText(t.type) && isText(t.userPrincipalName) && isList(t.modifiedProperties, isModifiedProperty)
  );
}

function isModifiedProperty(m: unknown): boolean {
  return isObject(m) && isText(m.displayName);
}

function isKeyValue(kv: unknown): boolean {
  // The schema's `value: z.unknown()` wants the key present (any value, undefined included).
  return isObject(kv) && isText(kv.key) && 'value' in kv;
}

/** What `z.array(item).nullish()` takes unchanged: nothing, or an array of items (JSON text is left to the schema). */
function isList(v: unknown, item: (x: unknown) => boolean): boolean {
  if (v === undefined || v === null) return true;
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!item(v[i])) return false;
  return true;
}

function isUser(u: Record<string, unknown>): boolean {
  return isText(u.id) && isText(u.userPrincipalName) && isText(u.displayName) && isText(u.ipAddress);
}

function isApp(a: Record<string, unknown>): boolean {
  return isText(a.appId) && isText(a.displayName) && isText(a.servicePrincipalId) && isText(a.servicePrincipalName);
}

function isInitiator(i: Record<string, unknown>): boolean {
  return isNested(i.user, isUser) && isNested(i.app, isApp);
}

function isProperties(p: Record<string, unknown>): boolean {
  return (
    isText(p.id) &&
    isText(p.category) &&
    isText(p.correlationId) &&
    isText(p.result) &&
    isText(p.resultReason) &&
    isText(p.activityDisplayName) &&
    isTimeish(p.activityDateTime) &&
    isText(p.loggedByService) &&
    isText(p.operationType) &&
    isNested(p.initiatedBy, isInitiator) &&
    isList(p.targetResources, isTarget) &&
    isList(p.additionalDetails, isKeyValue)
  );
}

/** AuditRecord's fields by `typeof` (define-source.ts, "fast path"); rows are checked once mapped to stream shape. */
function recordConforms(r: RawRecord): AuditRecord | undefined {
  const { identity } = r;
  return isTextOrObject(identity) &&
    commonFieldsConform(r) &&
    isText(r.category) &&
    isText(r.resultType) &&
    isText(r.resultSignature) &&
    isText(r.resultDescription) &&
    isText(r.tenantId) &&
    isNested(r.properties, isProperties)
    ? r
    : undefined;
}

/** AuditLogs row → stream shape. `TenantId` is the workspace's; the Entra tenant is `AADTenantId`. Dynamic columns are read as the schema reads them, so the fast path takes rows too. */
function rowAsStream(r: RawRecord): RawRecord {
  return {
    time: r.TimeGenerated,
    category: 'AuditLogs',
    operationName: r.OperationName ?? r.ActivityDisplayName,
    resultType: r.ResultType,
    resultDescription: r.ResultDescription,
    callerIpAddress: r.CallerIpAddress,
    correlationId: r.CorrelationId,
    tenantId: r.AADTenantId,
    identity: r.Identity,
    properties: {
      id: r.Id,
      category: r.Category,
      correlationId: r.CorrelationId,
      result: r.Result,
      resultReason: r.ResultReason,
      activityDisplayName: r.ActivityDisplayName,
      activityDateTime: r.ActivityDateTime,
      loggedByService: r.LoggedByService,
      operationType: r.AADOperationType,
      initiatedBy: jsonObjectValue(r.InitiatedBy),
      targetResources: jsonArrayValue(firstPresent(r.TargetResources, r.TargetResources_s)),
      additionalDetails: jsonArrayValue(r.AdditionalDetails),
    },
  };
}

/** Modified property values are JSON text inside a string (`"\"KeyDescription\""`): one level unwrapped. */
function unwrap(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (!s) return undefined;
  if (s[0] !== '"' && s[0] !== '[' && s[0] !== '{') return s;
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** One key credential as the audit log describes it: `[KeyIdentifier=…,KeyType=…,KeyUsage=…,DisplayName=…]`. */
export interface KeyCredential {
  keyId: string;
  type?: string;
  usage?: string;
  name?: string;
}

const KEY_FIELD = /(KeyIdentifier|KeyType|KeyUsage|DisplayName)=([^,\]]*)/g;

/** The key credentials a `KeyDescription` value lists (never the secret: the log holds ids only). */
export function keyCredentials(value: unknown): KeyCredential[] {
  const v = unwrap(value);
  const items = Array.isArray(v) ? v : v === undefined ? [] : [v];
  const keys: KeyCredential[] = [];
  for (const item of items) {
    if (typeof item !== 'string') continue;
    const key: Partial<KeyCredential> = {};
    for (const [, field, raw] of item.matchAll(KEY_FIELD)) {
      const val = raw?.trim();
      if (!val) continue;
      if (field === 'KeyIdentifier') key.keyId = val.toLowerCase();
      else if (field === 'KeyType') key.type = val;
      else if (field === 'KeyUsage') key.usage = val;
      else key.name = val;
    }
    if (key.keyId) keys.push(key as KeyCredential);
  }
  return keys;
}

/** One federated identity credential: the external issuer and subject whose tokens the app or identity trusts. */
export interface FederatedCredential {
  name?: string;
  issuer?: string;
  subject?: string;
}

function field(o: Record<string, unknown>, name: string): string | undefined {
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === name) return str(v);
  return undefined;
}

/** The federated credentials a `FederatedIdentityCredentials` value lists (PascalCase or camelCase keys). */
export function federatedCredentials(value: unknown): FederatedCredential[] {
  const v = unwrap(value);
  const items = Array.isArray(v) ? v : v && typeof v === 'object' ? [v] : [];
  const creds: FederatedCredential[] = [];
  for (const item of items) {
    if (!item || typeof item !== 'object') continue;
    const o = item as Record<string, unknown>;
    const cred: FederatedCredential = {};
    const name = field(o, 'name');
    const issuer = field(o, 'issuer');
    const subject = field(o, 'subject');
    if (name) cred.name = name;
    if (issuer) cred.issuer = issuer;
    if (subject) cred.subject = subject;
    if (issuer || subject) creds.push(cred);
  }
  return creds;
}

function fedKey(c: FederatedCredential): string {
  return `${c.name ?? ''}\n${c.issuer ?? ''}\n${c.subject ?? ''}`;
}

function property(target: Target, name: string): z.infer<typeof ModifiedProperty> | undefined {
  const wanted = name.toLowerCase();
  return target.modifiedProperties?.find((p) => p.displayName?.toLowerCase() === wanted);
}

function propertyText(target: Target, name: string): string | undefined {
  const p = property(target, name);
  const v = p ? unwrap(p.newValue) : undefined;
  return typeof v === 'string' ? str(v.trim()) : undefined;
}

const joined = (values: Array<string | undefined>): string | undefined => {
  const present = [...new Set(values.filter((v): v is string => !!v))];
  return present.length ? present.join(',') : undefined;
};

/** What a target's modified properties say about credentials and roles, into `details`. */
function readChanges(details: DirectoryDetails, targets: Target[]): void {
  for (const target of targets) {
    const keys = property(target, 'KeyDescription');
    if (keys && details.addedKeyIds === undefined && details.removedKeyIds === undefined) {
      const before = keyCredentials(keys.oldValue);
      const after = keyCredentials(keys.newValue);
      const beforeIds = new Set(before.map((k) => k.keyId));
      const afterIds = new Set(after.map((k) => k.keyId));
      const added = after.filter((k) => !beforeIds.has(k.keyId));
      put(details, 'addedKeyIds', joined(added.map((k) => k.keyId)));
      put(details, 'addedKeyTypes', joined(added.map((k) => k.type)));
      put(details, 'addedKeyUsages', joined(added.map((k) => k.usage)));
      put(details, 'addedKeyNames', joined(added.map((k) => k.name)));
      put(details, 'removedKeyIds', joined(before.filter((k) => !afterIds.has(k.keyId)).map((k) => k.keyId)));
    }
    const fic = property(target, 'FederatedIdentityCredentials');
    if (fic && details.federatedChange === undefined) {
      const before = federatedCredentials(fic.oldValue);
      const after = federatedCredentials(fic.newValue);
      const beforeKeys = new Set(before.map(fedKey));
      const fresh = after.filter((c) => !beforeKeys.has(fedKey(c)));
      const beforeNames = new Set(before.map((c) => c.name).filter(Boolean));
      // A credential whose name existed before but whose issuer or subject differs was changed, not added.
      const change =
        fresh.length === 0
          ? after.length < before.length
            ? 'removed'
            : undefined
          : fresh.some((c) => c.name && beforeNames.has(c.name))
            ? 'changed'
            : 'added';
      put(details, 'federatedChange', change);
      const shown = fresh[0];
      put(details, 'federatedName', shown?.name);
      put(details, 'federatedIssuer', shown?.issuer);
      put(details, 'federatedSubject', shown?.subject);
    }
    put(details, 'roleId', details.roleId ?? lower(propertyText(target, 'Role.TemplateId')) ?? lower(propertyText(target, 'Role.ObjectID')));
    put(details, 'roleName', details.roleName ?? propertyText(target, 'Role.DisplayName'));
  }
}

/** The first target that is a directory object (not the role itself, in role assignments). */
function mainTarget(targets: Target[]): Target | undefined {
  return targets.find((t) => lower(t.type) !== 'role') ?? targets[0];
}

/** Target types that are principals with events of their own (sign-ins, ARM calls): what an event about them is routed to. */
const PRINCIPAL_TARGETS = new Set(['serviceprincipal', 'user']);

/**
 * The identity the change was made to, as its own events reach it: a service principal or user
 * target by its object id; an application object by its app id (the entry's `AppId`), because the
 * service principal that signs in with the application's credentials has another object id, which
 * the entry does not carry, and its sign-ins reach the app id's key (NormalizedEvent.principalAppId).
 */
function targetPrincipal(target: Target | undefined, appId: string | undefined): Guid | undefined {
  const type = lower(target?.type);
  if (type === 'application') return lowerGuid(appId);
  return type && PRINCIPAL_TARGETS.has(type) ? lowerGuid(target?.id) : undefined;
}

function initiator(p: z.infer<typeof AuditProperties> | null | undefined, identity: string | undefined): { principal: Principal; type?: string; ip?: string } {
  const user = p?.initiatedBy?.user;
  const app = p?.initiatedBy?.app;
  const userId = lower(user?.id) ?? lower(user?.userPrincipalName);
  if (userId) {
    const principal: Principal = { principalId: userId, principalType: 'user' };
    const name = str(user?.userPrincipalName) ?? str(user?.displayName);
    if (name) principal.principalName = name;
    return { principal, type: 'user', ip: str(user?.ipAddress) };
  }
  const appPrincipal = lower(app?.servicePrincipalId) ?? lower(app?.appId);
  if (appPrincipal) {
    const principal: Principal = { principalId: appPrincipal, principalType: 'servicePrincipal' };
    const name = str(app?.displayName) ?? str(app?.servicePrincipalName);
    if (name) principal.principalName = name;
    const appId = lower(app?.appId);
    if (appId) principal.appId = appId;
    return { principal, type: 'app' };
  }
  return { principal: unknownPrincipal('directory', identity) };
}

function additional(p: z.infer<typeof AuditProperties> | null | undefined, key: string): string | undefined {
  const wanted = key.toLowerCase();
  return str(p?.additionalDetails?.find((d) => d.key?.toLowerCase() === wanted)?.value);
}

/** `success`, `failure`, `timeout` (a failure to the rules). */
function auditResult(v: string | null | undefined, resultType: string | null | undefined): Result {
  const s = lower(v);
  if (s === 'timeout') return 'failure';
  return resultFromText(s) ?? resultFromText(resultType) ?? 'unknown';
}

const STREAM_FIELDS = { time: 'properties.activityDateTime or time', operation: 'operationName' };
const ROW_FIELDS = { time: 'ActivityDateTime or TimeGenerated', operation: 'OperationName' };

function toEvent({ d, fields }: { d: AuditRecord; fields: typeof STREAM_FIELDS }): EventParts {
  const p = d.properties;
  const activity = p?.activityDateTime;
  const time = eventTime(activity ?? d.time, fields.time);
  const operation = eventOperation(p?.activityDisplayName ?? d.operationName, fields.operation);
  const who = initiator(p, typeof d.identity === 'string' ? str(d.identity) : undefined);
  const targets = p?.targetResources ?? [];
  const target = mainTarget(targets);

  const details: DirectoryDetails = {};
  put(details, 'auditCategory', str(p?.category));
  put(details, 'operationType', str(p?.operationType));
  put(details, 'loggedByService', str(p?.loggedByService));
  put(details, 'initiatorType', who.type);
  put(details, 'targetId', lower(target?.id));
  put(details, 'targetType', str(target?.type));
  put(details, 'targetName', str(target?.displayName) ?? str(target?.userPrincipalName));
  put(details, 'targetAppId', lower(additional(p, 'AppId')));
  readChanges(details, targets);
  put(details, 'userAgent', additional(p, 'User-Agent'));
  const result = auditResult(p?.result, d.resultType);
  if (result === 'failure') put(details, 'resultReason', str(p?.resultReason) ?? str(d.resultDescription));

  return {
    time,
    category: 'AuditLogs',
    operation,
    result,
    principal: who.principal,
    ip: callerIp(who.ip) ?? callerIp(d.callerIpAddress),
    tenantId: lowerGuid(d.tenantId),
    // Directory objects are not ARM resources.
    target: targetResource(undefined),
    correlationId: str(d.correlationId) ?? str(p?.correlationId),
    targetPrincipalId: targetPrincipal(target, details.targetAppId),
    details,
    // The audit entry's own id (`properties.id`, the row's `Id`) is in both shapes.
    recordId: str(p?.id),
    distinguishing: [details.targetId],
  };
}

export const directorySource = defineSource({
  source: 'directory',
  streamCategories: ['AuditLogs'],
  tables: ['AuditLogs'],
  stream: recordShape(AuditRecord, (d) => ({ d, fields: STREAM_FIELDS }), recordConforms),
  table: rowsAsStream(AuditRecord, rowAsStream, (d) => ({ d, fields: ROW_FIELDS }), recordConforms),
  toEvent,
});
