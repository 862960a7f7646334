import { z } from 'zod';
import type { GraphDetails } from '../../model/index.js';
import { compiled, jsonObject } from '../schema.js';
import { InvalidRecordError, type RawRecord } from '../types.js';
import { lower, num, str } from '../util.js';
import {
  callerIp,
  commonFieldsConform,
  duration,
  eventTime,
  isNested,
  isNumberish,
  isText,
  isTimeish,
  lowerGuid,
  numberish,
  type Principal,
  put,
  resultFromStatus,
  segments,
  targetResource,
  text,
  timeish,
  unknownPrincipal,
  urlParts,
} from './resource-log.js';
import { defineSource, recordShape, rowsAsStream, type EventParts } from './define-source.js';

/**
 * Microsoft Graph activity logs (stream category and table `MicrosoftGraphActivityLogs`): every
 * request an app or user makes to Microsoft Graph in the tenant. Rows are mapped onto the stream
 * shape first, so one schema validates both.
 * Schema: https://learn.microsoft.com/azure/azure-monitor/reference/tables/microsoftgraphactivitylogs
 */

const GraphProperties = z.object({
  timeGenerated: timeish,
  requestId: text,
  operationId: text,
  apiVersion: text,
  requestMethod: text,
  responseStatusCode: numberish,
  tenantId: text,
  durationMs: numberish,
  responseSizeBytes: numberish,
  signInActivityId: text,
  roles: text,
  scopes: text,
  appId: text,
  userId: text,
  servicePrincipalId: text,
  clientAuthMethod: numberish,
  ipAddress: text,
  userAgent: text,
  requestUri: text,
});

const GraphRecord = compiled(
  z.object({
    time: timeish,
    category: text,
    operationName: text,
    resultSignature: numberish,
    durationMs: numberish,
    callerIpAddress: text,
    correlationId: text,
    tenantId: text,
    properties: jsonObject(GraphProperties),
  }),
);
type GraphRecord = z.infer<typeof GraphRecord>;

function isProperties(p: Record<string, unknown>): boolean {
  return (
    isTimeish(p.timeGenerated) &&
    isText(p.requestId) &&
    isText(p.operationId) &&
    isText(p.apiVersion) &&
    isText(p.requestMethod) &&
    isNumberish(p.responseStatusCode) &&
    isText(p.tenantId) &&
    isNumberish(p.durationMs) &&
    isNumberish(p.responseSizeBytes) &&
    isText(p.signInActivityId) &&
    isText(p.roles) &&
    isText(p.scopes) &&
    isText(p.appId) &&
    isText(p.userId) &&
    isText(p.servicePrincipalId) &&
    isNumberish(p.clientAuthMethod) &&
    isText(p.ipAddress) &&
    isText(p.userAgent) &&
    isText(p.requestUri)
  );
}

/** GraphRecord's fields by `typeof` (define-source.ts, "fast path"); rows are checked once mapped to stream shape. */
function recordConforms(r: RawRecord): GraphRecord | undefined {
  return commonFieldsConform(r) &&
    isText(r.category) &&
    isNumberish(r.resultSignature) &&
    isNumberish(r.durationMs) &&
    isText(r.tenantId) &&
    isNested(r.properties, isProperties)
    ? r
    : undefined;
}

/** MicrosoftGraphActivityLogs row → stream shape. `TenantId` is the workspace's; the Entra tenant is `AadTenantId`. */
function rowAsStream(r: RawRecord): RawRecord {
  return {
    time: r.TimeGenerated,
    category: 'MicrosoftGraphActivityLogs',
    tenantId: r.AadTenantId,
    properties: {
      requestId: r.RequestId,
      operationId: r.OperationId,
      apiVersion: r.ApiVersion,
      requestMethod: r.RequestMethod,
      responseStatusCode: r.ResponseStatusCode,
      durationMs: r.DurationMs,
      responseSizeBytes: r.ResponseSizeBytes,
      signInActivityId: r.SignInActivityId,
      roles: r.Roles,
      scopes: r.Scopes,
      appId: r.AppId,
      userId: r.UserId,
      servicePrincipalId: r.ServicePrincipalId,
      clientAuthMethod: r.ClientAuthMethod,
      ipAddress: r.IPAddress,
      userAgent: r.UserAgent,
      requestUri: r.RequestUri,
    },
  };
}

const VERSION = /^(v1\.0|beta)$/i;

/** `https://graph.microsoft.com/v1.0/users/x/memberOf?$top=5` → the URI without its query, the version and `users`. */
export function graphRequest(uri: string | undefined): { requestUri?: string; apiVersion?: string; resourceKind?: string } {
  if (!uri) return {};
  const parts = urlParts(uri);
  const query = uri.search(/[?#]/);
  const requestUri = query >= 0 ? uri.slice(0, query) : uri;
  if (!parts) return { requestUri };
  const [first, second] = segments(parts.path);
  const versioned = first !== undefined && VERSION.test(first);
  const kind = versioned ? second : first;
  const out: { requestUri?: string; apiVersion?: string; resourceKind?: string } = { requestUri };
  if (versioned) out.apiVersion = first.toLowerCase();
  // `users('x')` and `users(…)` name the collection before the parenthesis.
  const collection = kind?.split('(')[0];
  if (collection) out.resourceKind = collection;
  return out;
}

function graphPrincipal(p: z.infer<typeof GraphProperties>): Principal {
  // A delegated token carries the user; an app-only token only the service principal.
  const userId = lower(p.userId);
  const appId = lower(p.appId);
  let principal: Principal;
  if (userId) principal = { principalId: userId, principalType: 'user' };
  else {
    const spId = lower(p.servicePrincipalId) ?? appId;
    principal = spId ? { principalId: spId, principalType: 'servicePrincipal' } : unknownPrincipal('graph');
  }
  if (appId) principal.appId = appId;
  return principal;
}

function toEvent({ d, timeField }: { d: GraphRecord; timeField: string }): EventParts {
  const p = d.properties ?? {};
  const time = eventTime(p.timeGenerated ?? d.time, timeField);
  const method = str(p.requestMethod)?.trim().toUpperCase();
  if (!method) throw new InvalidRecordError(`no operation in 'requestMethod': a Graph request without a method is a fragment, not an event`);
  const principal = graphPrincipal(p);
  const statusCode = num(p.responseStatusCode) ?? num(d.resultSignature);
  const request = graphRequest(str(p.requestUri));

  const details: GraphDetails = {};
  put(details, 'method', method);
  put(details, 'requestUri', request.requestUri);
  put(details, 'resourceKind', request.resourceKind);
  put(details, 'apiVersion', str(p.apiVersion) ?? request.apiVersion);
  put(details, 'statusCode', statusCode);
  put(details, 'responseBytes', num(p.responseSizeBytes));
  put(details, 'durationMs', duration(p.durationMs ?? d.durationMs));
  put(details, 'userAgent', str(p.userAgent));
  put(details, 'roles', str(p.roles));
  put(details, 'scopes', str(p.scopes));
  put(details, 'clientAuthMethod', num(p.clientAuthMethod));
  put(details, 'signInActivityId', str(p.signInActivityId));
  put(details, 'servicePrincipalId', lower(p.servicePrincipalId));
  put(details, 'userId', lower(p.userId));
  put(details, 'requestId', lower(p.requestId));

  return {
    time,
    category: 'MicrosoftGraphActivityLogs',
    operation: method,
    result: resultFromStatus(statusCode) ?? 'unknown',
    principal,
    ip: callerIp(p.ipAddress) ?? callerIp(d.callerIpAddress),
    tenantId: lowerGuid(p.tenantId) ?? lowerGuid(d.tenantId),
    // Graph requests name no ARM resource.
    target: targetResource(undefined),
    correlationId: str(p.operationId) ?? str(d.correlationId),
    details,
    // The request id is unique per request and in both shapes.
    recordId: details.requestId,
    distinguishing: [details.requestUri],
  };
}

export const graphSource = defineSource({
  source: 'graph',
  streamCategories: ['MicrosoftGraphActivityLogs'],
  tables: ['MicrosoftGraphActivityLogs'],
  stream: recordShape(GraphRecord, (d) => ({ d, timeField: 'properties.timeGenerated or time' }), recordConforms),
  table: rowsAsStream(GraphRecord, rowAsStream, (d) => ({ d, timeField: 'TimeGenerated' }), recordConforms),
  toEvent,
});
