import { z } from 'zod';
import type { Details, NormalizedEvent, PrincipalType, Result } from '../../model/index.js';
import { jsonObject } from '../schema.js';
import { InvalidRecordError, type RawRecord, type SourceNormalizer } from '../types.js';
import { contentId, lower, num, parseTime, str } from '../util.js';
import { callerIp, eventTime, lowerGuid, numberish, put, schemaError, targetResource, text, timeish } from './resource-log.js';

/**
 * Entra ID sign-ins: user (interactive and non-interactive), service principal and managed identity,
 * as the Azure Monitor stream record and as their Log Analytics rows. Rows are mapped onto the
 * stream shape first, so one schema validates both.
 * Schema: https://learn.microsoft.com/entra/identity/monitoring-health/reference-azure-monitor-sign-ins-log-schema
 */

const Status = z.looseObject({ errorCode: numberish, failureReason: text });

const SigninProperties = z.looseObject({
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
  correlationId: text,
});

const SigninRecord = z.looseObject({
  time: timeish,
  category: text,
  operationName: text,
  resultType: text,
  resultDescription: text,
  correlationId: text,
  callerIpAddress: text,
  tenantId: text,
  // Entra writes the display name here as a plain string.
  identity: z.union([z.string(), z.looseObject({})]).nullish(),
  properties: jsonObject(SigninProperties),
});
type SigninRecord = z.infer<typeof SigninRecord>;

/** What a sign-in log says about its principal; `category` is the stream name, for rows that lack one. */
type Kind = { principalType: PrincipalType; signInKind: string; category: string };
const USER_INTERACTIVE: Kind = { principalType: 'user', signInKind: 'interactive', category: 'SignInLogs' };
const USER_NON_INTERACTIVE: Kind = { principalType: 'user', signInKind: 'nonInteractive', category: 'NonInteractiveUserSignInLogs' };
const SERVICE_PRINCIPAL: Kind = { principalType: 'servicePrincipal', signInKind: 'servicePrincipal', category: 'ServicePrincipalSignInLogs' };
const MANAGED_IDENTITY: Kind = { principalType: 'managedIdentity', signInKind: 'managedIdentity', category: 'ManagedIdentitySignInLogs' };

/** Keyed by lower-cased stream category and Log Analytics table. */
const KINDS: Record<string, Kind> = {
  signinlogs: USER_INTERACTIVE,
  noninteractiveusersigninlogs: USER_NON_INTERACTIVE,
  aadnoninteractiveusersigninlogs: USER_NON_INTERACTIVE,
  serviceprincipalsigninlogs: SERVICE_PRINCIPAL,
  aadserviceprincipalsigninlogs: SERVICE_PRINCIPAL,
  managedidentitysigninlogs: MANAGED_IDENTITY,
  aadmanagedidentitysigninlogs: MANAGED_IDENTITY,
};

/** Sign-in row → stream shape. `TenantId` is the workspace's; the Entra tenant is `AADTenantId`. */
function rowAsStream(row: unknown): unknown {
  if (!row || typeof row !== 'object') return row;
  const r = row as RawRecord;
  return {
    time: r.TimeGenerated,
    category: r.Category ?? (typeof r.Type === 'string' ? KINDS[r.Type.toLowerCase()]?.category : undefined),
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
      status: r.Status,
      resourceId: r.ResourceIdentity,
      resourceDisplayName: r.ResourceDisplayName,
      resourceTenantId: r.ResourceTenantId,
      userAgent: r.UserAgent,
      conditionalAccessStatus: r.ConditionalAccessStatus,
      servicePrincipalCredentialKeyId: r.ServicePrincipalCredentialKeyId,
      clientCredentialType: r.ClientCredentialType,
    },
  };
}

const SigninRow = z.preprocess(rowAsStream, SigninRecord);

/** `status.errorCode` (or `resultType`): 0 is success, any other code a failure (interrupts included). */
function signinResult(errorCode: number | undefined, resultType: string | undefined): Result {
  if (errorCode !== undefined) return errorCode === 0 ? 'success' : 'failure';
  const word = lower(resultType);
  if (word === 'success') return 'success';
  if (word === 'failure') return 'failure';
  return 'unknown';
}

function toEvent(d: SigninRecord, raw: RawRecord): NormalizedEvent {
  const p = d.properties ?? {};
  // The sign-in's own time; the envelope `time` can be minutes later.
  const created = p.createdDateTime instanceof Date ? p.createdDateTime.getTime() : parseTime(p.createdDateTime);
  const time = created ?? eventTime(d.time, 'createdDateTime or time');
  const rawCategory = str(d.category);
  const userId = lower(p.userId);
  const servicePrincipalId = lower(p.servicePrincipalId);
  // Without a known category (a row whose table is unknown) the ids say which kind of sign-in it was.
  const kind =
    (rawCategory && KINDS[rawCategory.toLowerCase()]) || (userId ? USER_INTERACTIVE : servicePrincipalId ? SERVICE_PRINCIPAL : undefined);
  const category = rawCategory ?? kind?.category ?? '';
  const identityName = typeof d.identity === 'string' ? str(d.identity) : undefined;
  const appId = lower(p.appId);

  let principalId: string | undefined;
  let principalName: string | undefined;
  if (kind?.principalType === 'user') {
    // A sign-in attempt for a user that does not exist has a UPN but no object id.
    principalId = userId ?? lower(p.userPrincipalName);
    principalName = str(p.userPrincipalName) ?? str(p.userDisplayName) ?? identityName;
  } else {
    principalId = servicePrincipalId ?? appId;
    principalName = str(p.servicePrincipalName) ?? str(p.appDisplayName) ?? identityName;
  }
  if (!kind || !principalId) {
    throw new InvalidRecordError(
      `sign-in record has no principal: no ${kind?.principalType === 'user' ? 'userId or userPrincipalName' : 'userId, servicePrincipalId or appId'} (category '${category || 'none'}')`,
    );
  }

  const errorCode = num(p.status?.errorCode) ?? num(d.resultType);
  const targetAppId = lower(p.resourceId);
  const details: Details = { signInKind: kind.signInKind };
  put(details, 'errorCode', errorCode);
  if (errorCode) put(details, 'failureReason', str(p.status?.failureReason) ?? str(d.resultDescription));
  put(details, 'targetResourceAppId', targetAppId);
  put(details, 'targetResourceName', str(p.resourceDisplayName));
  put(details, 'appName', str(p.appDisplayName));
  put(details, 'userAgent', str(p.userAgent));
  put(details, 'conditionalAccessStatus', str(p.conditionalAccessStatus));
  put(details, 'credentialKeyId', lower(p.servicePrincipalCredentialKeyId));
  put(details, 'clientCredentialType', str(p.clientCredentialType));

  const event: NormalizedEvent = {
    id: lower(p.id) ?? contentId(raw),
    time,
    source: 'signin',
    category,
    operation: (str(d.operationName) ?? 'Sign-in activity').toUpperCase(),
    result: signinResult(errorCode, str(d.resultType)),
    principalId,
    principalType: kind.principalType,
    details,
  };
  if (principalName) event.principalName = principalName;
  if (appId) event.appId = appId;
  const ip = callerIp(p.ipAddress) ?? callerIp(d.callerIpAddress);
  if (ip) event.ip = ip;
  const tenantId = lowerGuid(d.tenantId) ?? lowerGuid(p.resourceTenantId);
  if (tenantId) event.tenantId = tenantId;
  // The target is an application, not an ARM resource; only a real ARM id would fill resourceId.
  if (targetAppId?.startsWith('/subscriptions/')) {
    const target = targetResource(targetAppId);
    event.resourceId = target.resourceId;
    if (target.resourceType) event.resourceType = target.resourceType;
    if (target.subscriptionId) event.subscriptionId = target.subscriptionId;
  }
  const correlationId = str(d.correlationId) ?? str(p.correlationId);
  if (correlationId) event.correlationId = correlationId;
  return event;
}

export const signinSource: SourceNormalizer = {
  source: 'signin',
  streamCategories: ['SignInLogs', 'NonInteractiveUserSignInLogs', 'ServicePrincipalSignInLogs', 'ManagedIdentitySignInLogs'],
  tables: ['SigninLogs', 'AADNonInteractiveUserSignInLogs', 'AADServicePrincipalSignInLogs', 'AADManagedIdentitySignInLogs'],
  normalize(record, shape) {
    const parsed = (shape === 'table' ? SigninRow : SigninRecord).safeParse(record);
    if (!parsed.success) throw schemaError('sign-in', parsed.error);
    return toEvent(parsed.data, record);
  },
};
