import { z } from 'zod';
import type { SigninDetails, PrincipalType, Result } from '../../model/index.js';
import { compiled, jsonObject, jsonObjectValue } from '../schema.js';
import type { RawRecord } from '../types.js';
import { lower, num, parseTime, str } from '../util.js';
import { defineSource, recordShape, rowsAsStream, type EventParts } from './define-source.js';
import {
  callerIp,
  commonFieldsConform,
  eventOperation,
  eventTime,
  isNested,
  isNumberish,
  isText,
  isTextOrObject,
  isTimeish,
  lowerGuid,
  numberish,
  type Principal,
  put,
  resultWord,
  targetResource,
  text,
  timeish,
  unknownPrincipal,
} from './resource-log.js';

/**
 * Entra ID sign-ins: user (interactive and non-interactive), service principal and managed identity,
 * as the Azure Monitor stream record and as their Log Analytics rows. Rows are mapped onto the
 * stream shape first, so one schema validates both.
 * Schema: https://learn.microsoft.com/entra/identity/monitoring-health/reference-azure-monitor-sign-ins-log-schema
 */

const Status = z.object({ errorCode: numberish, failureReason: text });

const SigninProperties = z.object({
  id: text,
  createdDateTime: timeish,
  userId: text,
  userPrincipalName: text,
  userDisplayName: text,
  servicePrincipalId: text,
  servicePrincipalName: text,
  appId: text,
  appDisplayName: text,
  ipAddress: text,
  status: jsonObject(Status),
  /** The target resource's application id (e.g. Microsoft Graph), not an ARM id. */
  resourceId: text,
  resourceDisplayName: text,
  resourceTenantId: text,
  userAgent: text,
  conditionalAccessStatus: text,
  servicePrincipalCredentialKeyId: text,
  clientCredentialType: text,
  servicePrincipalCredentialThumbprint: text,
  federatedCredentialId: text,
  autonomousSystemNumber: numberish,
  uniqueTokenIdentifier: text,
  /** Entra Agent ID: present on agent sign-ins. */
  agent: jsonObject(z.object({ agentType: text, parentAppId: text })),
  correlationId: text,
});

const SigninRecord = compiled(
  z.object({
    time: timeish,
    category: text,
    operationName: text,
    resultType: text,
    resultDescription: text,
    correlationId: text,
    callerIpAddress: text,
    tenantId: text,
    // Entra writes the display name here as a plain string.
    identity: z.union([z.string(), z.object({})]).nullish(),
    properties: jsonObject(SigninProperties),
  }),
);
type SigninRecord = z.infer<typeof SigninRecord>;

function isStatus(s: Record<string, unknown>): boolean {
  return isNumberish(s.errorCode) && isText(s.failureReason);
}

function isAgent(a: Record<string, unknown>): boolean {
  return isText(a.agentType) && isText(a.parentAppId);
}

function isProperties(p: Record<string, unknown>): boolean {
  return (
    isText(p.id) &&
    isTimeish(p.createdDateTime) &&
    isText(p.userId) &&
    isText(p.userPrincipalName) &&
    isText(p.userDisplayName) &&
    isText(p.servicePrincipalId) &&
    isText(p.servicePrincipalName) &&
    isText(p.appId) &&
    isText(p.appDisplayName) &&
    isText(p.ipAddress) &&
    isNested(p.status, isStatus) &&
    isText(p.resourceId) &&
    isText(p.resourceDisplayName) &&
    isText(p.resourceTenantId) &&
    isText(p.userAgent) &&
    isText(p.conditionalAccessStatus) &&
    isText(p.servicePrincipalCredentialKeyId) &&
    isText(p.clientCredentialType) &&
    isText(p.servicePrincipalCredentialThumbprint) &&
    isText(p.federatedCredentialId) &&
    isNumberish(p.autonomousSystemNumber) &&
    isText(p.uniqueTokenIdentifier) &&
    isNested(p.agent, isAgent) &&
    isText(p.correlationId)
  );
}

/** SigninRecord's fields by `typeof` (define-source.ts, "fast path"); rows are checked once mapped to stream shape. */
function recordConforms(r: RawRecord): SigninRecord | undefined {
  const { identity } = r;
  return isTextOrObject(identity) &&
    commonFieldsConform(r) &&
    isText(r.category) &&
    isText(r.resultType) &&
    isText(r.resultDescription) &&
    isText(r.tenantId) &&
    isNested(r.properties, isProperties)
    ? r
    : undefined;
}

/** What a sign-in log says about its principal; `category` is the stream name, for rows that lack one. */
type Kind = { principalType: PrincipalType; signInKind: string; category: string };
const USER_INTERACTIVE: Kind = { principalType: 'user', signInKind: 'interactive', category: 'SignInLogs' };
const USER_NON_INTERACTIVE: Kind = { principalType: 'user', signInKind: 'nonInteractive', category: 'NonInteractiveUserSignInLogs' };
const SERVICE_PRINCIPAL: Kind = { principalType: 'servicePrincipal', signInKind: 'servicePrincipal', category: 'ServicePrincipalSignInLogs' };
const MANAGED_IDENTITY: Kind = { principalType: 'managedIdentity', signInKind: 'managedIdentity', category: 'ManagedIdentitySignInLogs' };

/** Keyed by lower-cased stream category and Log Analytics table; a Map, so `__proto__` in a record finds nothing. */
const KINDS = new Map<string, Kind>([
  ['signinlogs', USER_INTERACTIVE],
  ['noninteractiveusersigninlogs', USER_NON_INTERACTIVE],
  ['aadnoninteractiveusersigninlogs', USER_NON_INTERACTIVE],
  ['serviceprincipalsigninlogs', SERVICE_PRINCIPAL],
  ['aadserviceprincipalsigninlogs', SERVICE_PRINCIPAL],
  ['managedidentitysigninlogs', MANAGED_IDENTITY],
  ['aadmanagedidentitysigninlogs', MANAGED_IDENTITY],
]);

/** Sign-in row → stream shape. `TenantId` is the workspace's; the Entra tenant is `AADTenantId`. Dynamic columns are read as jsonObject reads them, so the fast path takes rows too. */
function rowAsStream(r: RawRecord): RawRecord {
  return {
    time: r.TimeGenerated,
    category: r.Category ?? (typeof r.Type === 'string' ? KINDS.get(r.Type.toLowerCase())?.category : undefined),
    operationName: r.OperationName,
    resultType: r.ResultType,
    resultDescription: r.ResultDescription,
    correlationId: r.CorrelationId,
    tenantId: r.AADTenantId ?? r.ResourceTenantId,
    identity: r.Identity,
    properties: {
      id: r.Id,
      createdDateTime: r.CreatedDateTime,
      userId: r.UserId,
      userPrincipalName: r.UserPrincipalName,
      userDisplayName: r.UserDisplayName,
      servicePrincipalId: r.ServicePrincipalId,
      servicePrincipalName: r.ServicePrincipalName,
      appId: r.AppId,
      appDisplayName: r.AppDisplayName,
      ipAddress: r.IPAddress,
      status: jsonObjectValue(r.Status),
      resourceId: r.ResourceIdentity,
      resourceDisplayName: r.ResourceDisplayName,
      resourceTenantId: r.ResourceTenantId,
      userAgent: r.UserAgent,
      conditionalAccessStatus: r.ConditionalAccessStatus,
      servicePrincipalCredentialKeyId: r.ServicePrincipalCredentialKeyId,
      clientCredentialType: r.ClientCredentialType,
      servicePrincipalCredentialThumbprint: r.ServicePrincipalCredentialThumbprint,
      federatedCredentialId: r.FederatedCredentialId,
      autonomousSystemNumber: r.AutonomousSystemNumber,
      uniqueTokenIdentifier: r.UniqueTokenIdentifier,
      agent: jsonObjectValue(r.Agent),
    },
  };
}

/** `status.errorCode` (or `resultType`): 0 is success, any other code a failure (interrupts included). */
function signinResult(errorCode: number | undefined, resultType: string | undefined): Result {
  if (errorCode !== undefined) return errorCode === 0 ? 'success' : 'failure';
  const word = resultWord(resultType);
  if (word === 'success') return 'success';
  if (word === 'failure') return 'failure';
  return 'unknown';
}

/** Field names as each shape spells them, for rejection reasons. */
const STREAM_FIELDS = { time: 'createdDateTime or time', operation: 'operationName' };
const ROW_FIELDS = { time: 'CreatedDateTime or TimeGenerated', operation: 'OperationName' };

/** Sign-ins name no ARM resource: an unidentified caller is scoped to the kind of sign-in and the application signed in to. */
function unknownScope(kind: Kind | undefined, p: NonNullable<SigninRecord['properties']>): string {
  return `signin/${kind?.signInKind ?? 'unknown'}/${lower(p.resourceId) ?? 'any'}`;
}

/** The user (by object id, else the UPN that was tried) or the service principal (by id, else app id); `unknown` when none is logged. */
function signinPrincipal(kind: Kind | undefined, p: NonNullable<SigninRecord['properties']>, identityName: string | undefined): Principal {
  if (kind?.principalType === 'user') {
    // A sign-in attempt for a user that does not exist has a UPN but no object id.
    const principalId = lower(p.userId) ?? lower(p.userPrincipalName);
    const principalName = str(p.userPrincipalName) ?? str(p.userDisplayName) ?? identityName;
    if (!principalId) return unknownPrincipal(unknownScope(kind, p), principalName);
    const principal: Principal = { principalId, principalType: 'user' };
    if (principalName) principal.principalName = principalName;
    return principal;
  }
  const principalId = lower(p.servicePrincipalId) ?? lower(p.appId);
  const principalName = str(p.servicePrincipalName) ?? str(p.appDisplayName) ?? identityName;
  if (!principalId || !kind) return unknownPrincipal(unknownScope(kind, p), principalName);
  const principal: Principal = { principalId, principalType: kind.principalType };
  if (principalName) principal.principalName = principalName;
  return principal;
}

function toEvent({ d, fields }: { d: SigninRecord; fields: typeof STREAM_FIELDS }): EventParts {
  const p = d.properties ?? {};
  // The sign-in's own time; the envelope `time` can be minutes later.
  const created = p.createdDateTime instanceof Date ? p.createdDateTime.getTime() : parseTime(p.createdDateTime);
  const time = created ?? eventTime(d.time, fields.time);
  const operation = eventOperation(d.operationName, fields.operation);
  const rawCategory = str(d.category);
  // Without a known category (a row whose table is unknown) the ids say which kind of sign-in it was.
  const kind =
    (rawCategory && KINDS.get(rawCategory.toLowerCase())) || (lower(p.userId) ? USER_INTERACTIVE : lower(p.servicePrincipalId) ? SERVICE_PRINCIPAL : undefined);
  const category = rawCategory ?? kind?.category ?? '';
  const principal = signinPrincipal(kind, p, typeof d.identity === 'string' ? str(d.identity) : undefined);
  const appId = lower(p.appId);

  const errorCode = num(p.status?.errorCode) ?? num(d.resultType);
  const targetAppId = lower(p.resourceId);
  const details: SigninDetails = {};
  put(details, 'signInKind', kind?.signInKind);
  put(details, 'errorCode', errorCode);
  if (errorCode) put(details, 'failureReason', str(p.status?.failureReason) ?? str(d.resultDescription));
  put(details, 'targetResourceAppId', targetAppId);
  put(details, 'targetResourceName', str(p.resourceDisplayName));
  put(details, 'appName', str(p.appDisplayName));
  put(details, 'userAgent', str(p.userAgent));
  put(details, 'conditionalAccessStatus', str(p.conditionalAccessStatus));
  put(details, 'credentialKeyId', lower(p.servicePrincipalCredentialKeyId));
  put(details, 'clientCredentialType', str(p.clientCredentialType));
  put(details, 'certificateThumbprint', lower(p.servicePrincipalCredentialThumbprint));
  put(details, 'federatedCredentialId', lower(p.federatedCredentialId));
  put(details, 'asn', num(p.autonomousSystemNumber));
  put(details, 'signInActivityId', str(p.uniqueTokenIdentifier));
  const agentType = str(p.agent?.agentType);
  // `notAgentic` is what every ordinary sign-in says.
  if (agentType && agentType.toLowerCase() !== 'notagentic') put(details, 'agentType', agentType);
  const blueprint = lower(p.agent?.parentAppId);
  put(details, 'agentParentAppId', blueprint);

  return {
    time,
    category,
    operation,
    result: signinResult(errorCode, str(d.resultType)),
    principal,
    appId,
    ip: callerIp(p.ipAddress) ?? callerIp(d.callerIpAddress),
    tenantId: lowerGuid(d.tenantId) ?? lowerGuid(p.resourceTenantId),
    // The target is an application, not an ARM resource; only a real ARM id would fill resourceId.
    target: targetResource(targetAppId?.startsWith('/subscriptions/') ? targetAppId : undefined),
    correlationId: str(d.correlationId) ?? str(p.correlationId),
    // An agent identity's sign-in also reaches its blueprint's key: what the blueprint's agents do is learned together.
    targetPrincipalId: details.agentType !== undefined ? lowerGuid(blueprint) : undefined,
    // An application's service principal also reaches its app id's key, where changes to the application object are keyed.
    // Not a managed identity (no application object) nor an agent (its sign-ins reach its blueprint).
    principalAppId: kind === SERVICE_PRINCIPAL && details.agentType === undefined && appId !== principal.principalId ? lowerGuid(appId) : undefined,
    details,
    // The sign-in's own id (`properties.id`, the row's `Id`) is in both shapes.
    recordId: lower(p.id),
    distinguishing: [errorCode],
  };
}

export const signinSource = defineSource({
  source: 'signin',
  label: 'sign-in',
  streamCategories: ['SignInLogs', 'NonInteractiveUserSignInLogs', 'ServicePrincipalSignInLogs', 'ManagedIdentitySignInLogs'],
  tables: ['SigninLogs', 'AADNonInteractiveUserSignInLogs', 'AADServicePrincipalSignInLogs', 'AADManagedIdentitySignInLogs'],
  // Some Entra exports spell the stream record with the table's PascalCase columns (`Category`, `CreatedDateTime`).
  shapeOf: (record, shape) => (shape === 'table' || ((record.category ?? '') === '' && record.Category !== undefined) ? 'table' : 'stream'),
  stream: recordShape(SigninRecord, (d) => ({ d, fields: STREAM_FIELDS }), recordConforms),
  table: rowsAsStream(SigninRecord, rowAsStream, (d) => ({ d, fields: ROW_FIELDS }), recordConforms),
  toEvent,
});
