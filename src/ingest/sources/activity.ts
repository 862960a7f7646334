import { z } from 'zod';
import type { ActivityDetails, PrincipalType, Result } from '../../model/index.js';
import { compiled, firstPresent, jsonObject, jsonObjectValue } from '../schema.js';
import type { RawRecord } from '../types.js';
import { isGuid, lower, obj, str } from '../util.js';
import { defineSource, recordShape, rowsAsStream, type EventParts } from './define-source.js';
import {
  type Caller,
  callerFromClaims,
  callerIp,
  commonFieldsConform,
  duration,
  eventOperation,
  eventTime,
  isNested,
  isNumberish,
  isObject,
  isText,
  lowerGuid,
  numberish,
  type Principal,
  principalFromCaller,
  put,
  resultWord,
  targetResource,
  text,
  timeish,
  unknownPrincipal,
} from './resource-log.js';

/**
 * Azure activity log: the Azure Monitor stream record (diagnostic setting → Event Hubs) and the
 * AzureActivity row. Rows are mapped onto the stream shape first, so one schema validates both.
 * Schema: https://learn.microsoft.com/azure/azure-monitor/platform/activity-log-schema
 */

const Evidence = z.object({ principalId: text, principalType: text, role: text });
const Authorization = z.object({ scope: text, evidence: jsonObject(Evidence) });
// Any object: claims are read by name below, and copying ~40 keys through a schema costs more than the rest of the record.
const Claims = z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object of claims');
const Identity = z.object({ authorization: jsonObject(Authorization), claims: jsonObject(Claims) });
const Properties = z.object({
  statusCode: text,
  hierarchy: text,
  /** PIM events name their caller here (a JSON string), not in claims. */
  CallerInfo: z.unknown().optional(),
  // Bodies are read only for the few operations whose details need them, so they stay unparsed here.
  requestbody: z.unknown().optional(),
  requestBody: z.unknown().optional(),
  responseBody: z.unknown().optional(),
});

const ActivityRecord = compiled(
  z.object({
    time: timeish,
    category: text,
    operationName: text,
    resultType: text,
    resultSignature: text,
    resourceId: text,
    subscriptionId: text,
    tenantId: text,
    hierarchy: text,
    callerIpAddress: text,
    correlationId: text,
    caller: text,
    level: z.union([z.string(), z.number()]).nullish(),
    Level: numberish,
    durationMs: numberish,
    // Activity records carry an object; a display-name string is tolerated (and names nobody).
    identity: z.union([z.string(), Identity]).nullish(),
    properties: jsonObject(Properties),
  }),
);
type ActivityRecord = z.infer<typeof ActivityRecord>;

function isEvidence(e: Record<string, unknown>): boolean {
  return isText(e.principalId) && isText(e.principalType) && isText(e.role);
}

function isAuthorization(a: Record<string, unknown>): boolean {
  return isText(a.scope) && isNested(a.evidence, isEvidence);
}

function isIdentity(i: Record<string, unknown>): boolean {
  const { claims } = i;
  return isNested(i.authorization, isAuthorization) && (claims === undefined || claims === null || isObject(claims));
}

function isProperties(p: Record<string, unknown>): boolean {
  return isText(p.statusCode) && isText(p.hierarchy);
}

/** ActivityRecord's fields by `typeof` (define-source.ts, "fast path"); rows and REST events are checked once mapped to stream shape. */
function recordConforms(r: RawRecord): ActivityRecord | undefined {
  const { identity } = r;
  return (identity === undefined || identity === null || typeof identity === 'string' || (isObject(identity) && isIdentity(identity))) &&
    commonFieldsConform(r) &&
    isText(r.category) &&
    isText(r.resultType) &&
    isText(r.resultSignature) &&
    isText(r.resourceId) &&
    isText(r.subscriptionId) &&
    isText(r.tenantId) &&
    isText(r.hierarchy) &&
    isText(r.caller) &&
    isNumberish(r.level) &&
    isNumberish(r.Level) &&
    isNumberish(r.durationMs) &&
    isNested(r.properties, isProperties)
    ? r
    : undefined;
}

/** `MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION`, as opposed to a display name (`List Storage Account Keys`). */
const OPERATION = /^[\w.-]+(?:\/[\w.-]+)+$/;

function operationOf(v: unknown): string | undefined {
  const s = str(v)?.trim();
  return s && OPERATION.test(s) ? s : undefined;
}

/**
 * The row's operation. Rows written before the `OperationNameValue` column existed carry only the
 * display name in `OperationName` (`List Storage Account Keys`): the operation itself is then the
 * RBAC `action` in `Authorization`, or the `message` in `Properties`. The display name is the last
 * resort, so such a row is still an event.
 */
function rowOperation(r: RawRecord): unknown {
  if (r.OperationNameValue !== undefined && r.OperationNameValue !== null && r.OperationNameValue !== '') return r.OperationNameValue;
  return (
    operationOf(r.OperationName) ??
    operationOf(obj(firstPresent(r.Authorization_d, r.Authorization))?.action) ??
    operationOf(obj(firstPresent(r.Properties_d, r.Properties))?.message) ??
    r.OperationName
  );
}

/**
 * AzureActivity row → stream shape. `TenantId` is the workspace's, so it is not carried over. The
 * `…Value` columns are preferred, unless empty (exports write empty cells for missing values).
 * Dynamic columns are read as jsonObject reads them, so the fast path takes rows too.
 */
function rowAsStream(r: RawRecord): RawRecord {
  return {
    time: r.TimeGenerated,
    category: firstPresent(r.CategoryValue, r.Category),
    operationName: rowOperation(r),
    resultType: firstPresent(r.ActivityStatusValue, r.ActivityStatus),
    resultSignature: firstPresent(r.ActivitySubstatusValue, r.ActivitySubstatus),
    resourceId: firstPresent(r._ResourceId, r.ResourceId),
    subscriptionId: r.SubscriptionId,
    hierarchy: r.Hierarchy,
    callerIpAddress: r.CallerIpAddress,
    correlationId: r.CorrelationId,
    caller: r.Caller,
    level: r.Level,
    identity: { authorization: jsonObjectValue(firstPresent(r.Authorization_d, r.Authorization)), claims: jsonObjectValue(firstPresent(r.Claims_d, r.Claims)) },
    properties: jsonObjectValue(firstPresent(r.Properties_d, r.Properties)),
  };
}

/** `{"value": …, "localizedValue": …}` → the value. */
function valueOf(v: unknown): unknown {
  return v && typeof v === 'object' && 'value' in v ? v.value : v;
}

/**
 * An activity log event as the REST API (`GET …/eventtypes/management/values`) and
 * `az monitor activity-log list` or `Get-AzActivityLog` return it: localizable strings
 * (`category`, `operationName`, `status`, `subStatus` as `{value, localizedValue}`),
 * `eventTimestamp`, `authorization` and `claims` at the top, the address in `httpRequest`.
 */
function isRestEvent(record: RawRecord): boolean {
  return typeof record.operationName === 'object' || typeof record.category === 'object' || record.eventTimestamp !== undefined;
}

function restAsStream(record: RawRecord): RawRecord;
function restAsStream(record: unknown): unknown;
function restAsStream(record: unknown): unknown {
  if (!record || typeof record !== 'object') return record;
  const r = record as RawRecord;
  const http = obj(r.httpRequest);
  return {
    time: r.eventTimestamp ?? r.time,
    category: valueOf(r.category),
    operationName: valueOf(r.operationName),
    resultType: valueOf(r.status) ?? r.resultType,
    resultSignature: valueOf(r.subStatus) ?? r.resultSignature,
    resourceId: r.resourceId,
    subscriptionId: r.subscriptionId,
    tenantId: r.tenantId,
    callerIpAddress: http?.clientIpAddress ?? r.callerIpAddress,
    correlationId: r.correlationId,
    caller: r.caller,
    level: valueOf(r.level),
    durationMs: r.durationMs,
    identity: r.identity ?? { authorization: r.authorization, claims: r.claims },
    properties: r.properties,
  };
}

const ActivityRestEvent = compiled(z.preprocess(restAsStream, ActivityRecord));

// Activity operations log `Start`/`Accept` then `Success`/`Failure` under one correlationId.
// Maps, not object literals: keys come from the record, and `__proto__` or `constructor` must find nothing.
const RESULTS = new Map<string, Result>([
  ['start', 'start'],
  ['started', 'start'],
  ['accept', 'start'],
  ['accepted', 'start'],
  ['in progress', 'start'],
  ['inprogress', 'start'],
  ['success', 'success'],
  ['succeeded', 'success'],
  ['failure', 'failure'],
  ['failed', 'failure'],
]);

const LEVELS = ['', 'Critical', 'Error', 'Warning', 'Informational', 'Verbose'];

/** Categories Azure itself writes (health, advisor, alert and autoscale engines), often with no caller at all. */
const PLATFORM_CATEGORIES = new Set(['servicehealth', 'resourcehealth', 'security', 'recommendation', 'alert', 'autoscale', 'policy']);

const EVIDENCE_TYPES = new Map<string, PrincipalType>([
  ['user', 'user'],
  ['serviceprincipal', 'servicePrincipal'],
  ['managedidentity', 'managedIdentity'],
]);

// Claims callerFromClaims does not read: who a caller is when the token names no object id.
const CLAIM_NAME = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name';
const CLAIM_EMAIL = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress';
const CLAIM_SPN = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/spn';
const GUID_NO_DASHES = /^[0-9a-f]{32}$/i;

/** Role-assignment evidence writes GUIDs without dashes; everything else logs them with dashes. */
function dashedGuid(id: string): string {
  const s = id.toLowerCase();
  return GUID_NO_DASHES.test(s) ? `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}` : s;
}

/** PIM's CallerInfo: `[{"CallerIdentityType":"ObjectID","CallerIdentityValue":"…"}, {"…":"UPN", …}]`. */
function pimCaller(callerInfo: unknown): Principal | undefined {
  let entries: unknown = callerInfo;
  if (typeof callerInfo === 'string') {
    try {
      entries = JSON.parse(callerInfo);
    } catch {
      return undefined;
    }
  }
  if (!Array.isArray(entries)) return undefined;
  let objectId: string | undefined;
  let upn: string | undefined;
  for (const e of entries) {
    const kind = e && typeof e === 'object' ? str((e as RawRecord).CallerIdentityType) : undefined;
    const value = kind ? str((e as RawRecord).CallerIdentityValue) : undefined;
    if (kind === 'ObjectID') objectId = value;
    else if (kind === 'UPN') upn = value;
  }
  if (!objectId) return undefined;
  const principal: Principal = { principalId: objectId.toLowerCase(), principalType: upn ? 'user' : 'unknown' };
  if (upn) principal.principalName = upn;
  return principal;
}

/**
 * The actor, most specific first: token claims (object id, app id), the RBAC evidence (unless it
 * names a group the caller belongs to), the caller's name, PIM's CallerInfo; for categories Azure
 * writes itself, the emitting service (`azure:microsoft.resourcehealth`), which is who acted and
 * keeps platform noise out of `unknown`; else `unknown` (docs/sources.md, "Principals").
 */
function activityPrincipal(
  d: ActivityRecord,
  claims: Record<string, unknown> | undefined,
  caller: Caller,
  operation: string,
  category: string,
  resourceId: string | undefined,
): Principal {
  const evidence = typeof d.identity === 'object' ? d.identity?.authorization?.evidence : undefined;
  const evidenceKind = lower(evidence?.principalType);
  const evidenceType = (evidenceKind && EVIDENCE_TYPES.get(evidenceKind)) || 'unknown';
  // v1 tokens carry the UPN in the long `name` claim; the short `name` is the display name.
  const claimedName = (str(caller.upn) ?? str(claims?.[CLAIM_NAME]) ?? str(claims?.[CLAIM_EMAIL]) ?? str(claims?.[CLAIM_SPN]))?.trim();
  // A row's Caller is a UPN for users but an object id for applications: only the former is a name.
  const callerColumn = str(d.caller)?.trim();
  const name = claimedName ?? (callerColumn && !isGuid(callerColumn) ? callerColumn : undefined);

  // A UPN in the name claims says who acted when the token carries no object id (principalFromCaller).
  const userName = caller.objectId === undefined && caller.upn === undefined && claimedName?.includes('@') ? claimedName : undefined;
  let principal = principalFromCaller(userName ? { ...caller, upn: userName } : caller, evidenceType);
  if (principal) {
    // A managed identity's token says idtyp=app; the evidence knows better.
    if (evidenceType === 'managedIdentity' && principal.principalType === 'servicePrincipal') principal.principalType = 'managedIdentity';
  } else {
    // Evidence naming a group says which assignment let the caller in, not who the caller is.
    const evidenceId = evidenceKind === 'group' ? undefined : str(evidence?.principalId);
    if (evidenceId) principal = { principalId: dashedGuid(evidenceId), principalType: evidenceType };
    // A name with an `@` is a UPN: only users have one.
    else if (name ?? callerColumn)
      principal = { principalId: (name ?? callerColumn)!.toLowerCase(), principalType: (name ?? callerColumn)!.includes('@') ? 'user' : 'unknown' };
  }
  if (principal) {
    if (name) principal.principalName = name;
    return principal;
  }
  const pim = pimCaller(d.properties?.CallerInfo);
  if (pim) return pim;
  if (PLATFORM_CATEGORIES.has(category.toLowerCase())) {
    const slash = operation.indexOf('/');
    return { principalId: `azure:${(slash > 0 ? operation.slice(0, slash) : operation).toLowerCase()}`, principalType: 'unknown' };
  }
  return unknownPrincipal(resourceId ?? `activity/${category}`, str(caller.name));
}

const RoleAssignmentProperties = z.object({
  roleDefinitionId: text,
  RoleDefinitionId: text,
  principalId: text,
  PrincipalId: text,
  principalType: text,
  PrincipalType: text,
  scope: text,
  Scope: text,
});
// ARM logs the role-assignment request body with PascalCase keys, the response with camelCase ones.
const RoleAssignmentBody = compiled(z.object({ properties: jsonObject(RoleAssignmentProperties), Properties: jsonObject(RoleAssignmentProperties) }));

const DiagnosticSettingBody = compiled(
  z.object({
    properties: jsonObject(
      z.object({
        logs: z.array(z.object({ category: text, categoryGroup: text, enabled: z.boolean().nullish() })).nullish(),
        workspaceId: text,
        storageAccountId: text,
        eventHubAuthorizationRuleId: text,
        eventHubName: text,
      }),
    ),
  }),
);

const KeyBody = compiled(z.object({ keyName: text }));
const PublicAccessBody = compiled(
  z.object({
    properties: jsonObject(z.object({ allowBlobPublicAccess: z.boolean().nullish(), publicAccess: text })),
  }),
);

/** Request body, else response body, as `schema` sees it; undefined when neither fits (details are then left out). */
function body<T extends z.ZodType>(d: ActivityRecord, schema: T): z.infer<T> | undefined {
  const p = d.properties;
  if (!p) return undefined;
  for (const raw of [p.requestbody ?? p.requestBody, p.responseBody]) {
    const value = typeof raw === 'string' ? obj(raw) : raw;
    // Most writes log no body: a schema's failure (which builds an error) is not asked for when it cannot take one.
    if (!isObject(value)) continue;
    const parsed = schema.safeParse(value);
    if (parsed.success && parsed.data) return parsed.data;
  }
  return undefined;
}

const ROLE_ASSIGNMENTS = '/providers/microsoft.authorization/roleassignments/';

function roleAssignmentDetails(d: ActivityRecord, resourceId: string | undefined, details: ActivityDetails): void {
  const b = body(d, RoleAssignmentBody);
  const p = b?.Properties ?? b?.properties;
  const roleDefinition = lower(p?.RoleDefinitionId ?? p?.roleDefinitionId);
  put(details, 'roleDefinitionId', roleDefinition?.slice(roleDefinition.lastIndexOf('/') + 1));
  put(details, 'assigneePrincipalId', lower(p?.PrincipalId ?? p?.principalId));
  put(details, 'assigneePrincipalType', str(p?.PrincipalType ?? p?.principalType));
  const at = resourceId?.indexOf(ROLE_ASSIGNMENTS) ?? -1;
  put(details, 'scope', lower(p?.Scope ?? p?.scope) ?? (at >= 0 ? resourceId!.slice(0, at) || '/' : undefined));
}

function diagnosticSettingDetails(d: ActivityRecord, details: ActivityDetails): void {
  const p = body(d, DiagnosticSettingBody)?.properties;
  if (!p) return;
  const enabled: string[] = [];
  const disabled: string[] = [];
  for (const log of p.logs ?? []) {
    const name = log.category ?? log.categoryGroup;
    if (name) (log.enabled ? enabled : disabled).push(name);
  }
  put(details, 'enabledLogs', enabled.join(','));
  if (disabled.length) put(details, 'disabledLogs', disabled.join(','));
  put(details, 'workspaceId', lower(p.workspaceId));
  put(details, 'storageAccountId', lower(p.storageAccountId));
  put(details, 'eventHubAuthorizationRuleId', lower(p.eventHubAuthorizationRuleId));
  put(details, 'eventHubName', str(p.eventHubName));
}

function level(d: ActivityRecord): string | undefined {
  const named = typeof d.level === 'string' ? d.level : undefined;
  if (named) return named === 'Information' ? 'Informational' : named;
  const n = typeof d.level === 'number' ? d.level : Number(d.Level ?? NaN);
  return LEVELS[n] || undefined;
}

/** Field names as each shape spells them, for rejection reasons. */
const STREAM_FIELDS = { time: 'time', operation: 'operationName' };
const ROW_FIELDS = { time: 'TimeGenerated', operation: 'OperationNameValue or OperationName' };
const REST_FIELDS = { time: 'eventTimestamp or time', operation: 'operationName.value' };

function toEvent({ d, fields }: { d: ActivityRecord; fields: typeof STREAM_FIELDS }): EventParts {
  const time = eventTime(d.time, fields.time);
  const operation = eventOperation(d.operationName, fields.operation);
  const category = d.category ?? '';
  const identity = typeof d.identity === 'object' ? d.identity : undefined;
  const claims = identity?.claims ?? undefined;
  const caller = callerFromClaims(claims);
  const target = targetResource(str(d.resourceId));
  const principal = activityPrincipal(d, claims, caller, operation, category, target.resourceId);

  const properties = d.properties;
  // The hierarchy starts at the tenant root management group, whose id is the tenant id.
  const hierarchy = str(d.hierarchy) ?? str(properties?.hierarchy);
  const slash = hierarchy ? hierarchy.indexOf('/') : -1;
  const root = slash >= 0 ? hierarchy!.slice(0, slash) : hierarchy;

  const details: ActivityDetails = {};
  put(details, 'status', str(d.resultType));
  put(details, 'subStatus', str(properties?.statusCode) ?? str(d.resultSignature));
  put(details, 'level', level(d));
  put(details, 'durationMs', duration(d.durationMs));
  put(details, 'callerRole', str(identity?.authorization?.evidence?.role));
  put(details, 'managedIdentityResourceId', lower(caller.managedIdentityResourceId));
  switch (operation) {
    case 'MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE':
    case 'MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE':
      roleAssignmentDetails(d, target.resourceId, details);
      break;
    case 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE':
      diagnosticSettingDetails(d, details);
      break;
    case 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/REGENERATEKEY/ACTION':
    case 'MICROSOFT.STORAGE/STORAGEACCOUNTS/REGENERATEKEY/ACTION':
      put(details, 'keyName', str(body(d, KeyBody)?.keyName));
      break;
    case 'MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE':
    case 'MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/CONTAINERS/WRITE': {
      const p = body(d, PublicAccessBody)?.properties;
      const allow = p?.allowBlobPublicAccess;
      put(details, 'publicAccess', allow === true ? 'Enabled' : allow === false ? 'Disabled' : str(p?.publicAccess));
      break;
    }
  }

  return {
    time,
    category,
    operation,
    result: RESULTS.get(resultWord(d.resultType) ?? '') ?? 'unknown',
    principal,
    ip: callerIp(d.callerIpAddress),
    tenantId: lowerGuid(d.tenantId) ?? lowerGuid(root) ?? lowerGuid(caller.tenantId),
    target,
    subscriptionId: lowerGuid(d.subscriptionId),
    correlationId: str(d.correlationId),
    details,
    // The stream shape carries no eventDataId (AzureActivity rows do), so it cannot be an id both shapes share.
    distinguishing: [details.status],
  };
}

const streamRecord = recordShape(ActivityRecord, (d) => ({ d, fields: STREAM_FIELDS }), recordConforms);
const restEvent = recordShape(
  ActivityRestEvent,
  (d) => ({ d, fields: REST_FIELDS }),
  (r) => recordConforms(restAsStream(r)),
);
const streamShape = (record: RawRecord) => (isRestEvent(record) ? restEvent : streamRecord);

export const activitySource = defineSource({
  source: 'activity',
  // `Action`/`Write`/`Delete` are what the legacy log-profile export (and the schema doc's example) use.
  streamCategories: [
    'Administrative',
    'Security',
    'ServiceHealth',
    'Alert',
    'Recommendation',
    'Policy',
    'Autoscale',
    'ResourceHealth',
    'Action',
    'Write',
    'Delete',
  ],
  tables: ['AzureActivity'],
  stream: {
    parse: (record, label) => streamShape(record).parse(record, label),
    fast: (record) => streamShape(record).fast?.(record),
    schemas: [...streamRecord.schemas, ...restEvent.schemas],
  },
  table: rowsAsStream(ActivityRecord, rowAsStream, (d) => ({ d, fields: ROW_FIELDS }), recordConforms),
  toEvent,
});
