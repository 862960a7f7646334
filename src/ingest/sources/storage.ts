import { z } from 'zod';
import type { StorageDetails } from '../../model/index.js';
import { compiled } from '../schema.js';
import type { RawRecord } from '../types.js';
import { lower, num, obj, str } from '../util.js';
import {
  ByResourceId,
  callerIp,
  commonFieldsConform,
  eventOperation,
  eventTime,
  fieldsAre,
  isNested,
  isNumberish,
  isText,
  isTimeish,
  keyPrincipal,
  lowerGuid,
  numberish,
  type Principal,
  principalFromCaller,
  put,
  requestResult,
  segments,
  targetResource,
  text,
  timeish,
  unknownPrincipal,
  urlParts,
} from './resource-log.js';
import { defineSource, recordShape, type EventParts } from './define-source.js';
import { redactSecrets } from '../../common/redact.js';

/**
 * Blob storage resource logs (StorageRead / StorageWrite / StorageDelete of
 * Microsoft.Storage/storageAccounts/blobServices), streamed as resource-log records or read back
 * from the StorageBlobLogs table.
 */

const BLOB_SERVICE = /\/blobservices\//i;
const ANY_PROVIDER = /\/providers\//i;

const Requester = z.object({
  objectId: text,
  appId: text,
  upn: text,
  /** The published reference example spells the UPN `uniqueName`. */
  uniqueName: text,
  tenantId: text,
});

const Properties = z.object({
  accountName: text,
  objectKey: text,
  userAgentHeader: text,
  requestBodySize: numberish,
  responseBodySize: numberish,
  sourceUri: text,
  'x-ms-copy-source': text,
  /** The request's outcome as storage metrics count it (`Success`, `SASSuccess`, `AuthorizationError`): some records carry only this. */
  metricResponseType: text,
});

const StreamRecord = compiled(
  z.object({
    time: timeish,
    resourceId: text,
    category: z.string().min(1),
    operationName: text,
    statusCode: numberish,
    statusText: text,
    callerIpAddress: text,
    correlationId: text,
    uri: text,
    identity: z.object({ type: text, requester: Requester.nullish() }).nullish(),
    properties: z.preprocess((v) => obj(v) ?? v, Properties).nullish(),
  }),
);

type StorageStreamRecord = z.output<typeof StreamRecord>;

function isRequester(q: Record<string, unknown>): boolean {
  return isText(q.objectId) && isText(q.appId) && isText(q.upn) && isText(q.uniqueName) && isText(q.tenantId);
}

function isIdentity(i: Record<string, unknown>): boolean {
  return isText(i.type) && isNested(i.requester, isRequester);
}

function isProperties(p: Record<string, unknown>): boolean {
  return (
    isText(p.accountName) &&
    isText(p.objectKey) &&
    isText(p.userAgentHeader) &&
    isNumberish(p.requestBodySize) &&
    isNumberish(p.responseBodySize) &&
    isText(p.sourceUri) &&
    isText(p['x-ms-copy-source']) &&
    isText(p.metricResponseType)
  );
}

/** StreamRecord's fields by `typeof` (define-source.ts, "fast path"). */
function streamConforms(r: RawRecord): StorageStreamRecord | undefined {
  const { category } = r;
  return commonFieldsConform(r) &&
    typeof category === 'string' &&
    category.length > 0 &&
    isText(r.resourceId) &&
    isNumberish(r.statusCode) &&
    isText(r.statusText) &&
    isText(r.uri) &&
    isNested(r.identity, isIdentity) &&
    isNested(r.properties, isProperties)
    ? (r as StorageStreamRecord)
    : undefined;
}

const TableRow = compiled(
  z.object({
    TimeGenerated: timeish,
    _ResourceId: text,
    ResourceId: text,
    Category: z.string().min(1),
    OperationName: text,
    StatusCode: numberish,
    StatusText: text,
    CallerIpAddress: text,
    CorrelationId: text,
    Uri: text,
    AuthenticationType: text,
    RequesterObjectId: text,
    RequesterAppId: text,
    RequesterUpn: text,
    RequesterTenantId: text,
    AccountName: text,
    ObjectKey: text,
    UserAgentHeader: text,
    RequestBodySize: numberish,
    ResponseBodySize: numberish,
    SourceUri: text,
  }),
);

type StorageTableRow = z.output<typeof TableRow>;

const TEXT_COLUMNS = [
  '_ResourceId',
  'ResourceId',
  'OperationName',
  'StatusText',
  'CallerIpAddress',
  'CorrelationId',
  'Uri',
  'AuthenticationType',
  'RequesterObjectId',
  'RequesterAppId',
  'RequesterUpn',
  'RequesterTenantId',
  'AccountName',
  'ObjectKey',
  'UserAgentHeader',
  'SourceUri',
];
const NUMBER_COLUMNS = ['StatusCode', 'RequestBodySize', 'ResponseBodySize'];

/** TableRow's columns by `typeof` (define-source.ts, "fast path"). */
function tableConforms(r: RawRecord): StorageTableRow | undefined {
  const category = r.Category;
  return typeof category === 'string' &&
    category.length > 0 &&
    isTimeish(r.TimeGenerated) &&
    fieldsAre(r, isText, TEXT_COLUMNS) &&
    fieldsAre(r, isNumberish, NUMBER_COLUMNS)
    ? (r as StorageTableRow)
    : undefined;
}

/** One blob request, whichever shape it came in. */
interface BlobRequest {
  time: unknown;
  timeField: string;
  resourceId?: string | null;
  category: string;
  operationName?: string | null;
  operationField: string;
  statusCode?: unknown;
  statusText?: string | null;
  metricResponseType?: string | null;
  callerIpAddress?: string | null;
  correlationId?: string | null;
  uri?: string | null;
  authType?: string | null;
  requesterObjectId?: string | null;
  requesterAppId?: string | null;
  requesterUpn?: string | null;
  requesterTenantId?: string | null;
  accountName?: string | null;
  objectKey?: string | null;
  userAgent?: string | null;
  requestBodySize?: unknown;
  responseBodySize?: unknown;
  copySource?: string | null;
}

function fromStream(r: z.output<typeof StreamRecord>): BlobRequest {
  const p = r.properties;
  const requester = r.identity?.requester;
  return {
    time: r.time,
    timeField: 'time',
    resourceId: r.resourceId,
    category: r.category,
    operationName: r.operationName,
    operationField: 'operationName',
    statusCode: r.statusCode,
    statusText: r.statusText,
    metricResponseType: p?.metricResponseType,
    callerIpAddress: r.callerIpAddress,
    correlationId: r.correlationId,
    uri: r.uri,
    authType: r.identity?.type,
    requesterObjectId: requester?.objectId,
    requesterAppId: requester?.appId,
    requesterUpn: requester?.upn ?? requester?.uniqueName,
    requesterTenantId: requester?.tenantId,
    accountName: p?.accountName,
    objectKey: p?.objectKey,
    userAgent: p?.userAgentHeader,
    requestBodySize: p?.requestBodySize,
    responseBodySize: p?.responseBodySize,
    copySource: p?.sourceUri ?? p?.['x-ms-copy-source'],
  };
}

function fromTable(r: z.output<typeof TableRow>): BlobRequest {
  return {
    time: r.TimeGenerated,
    timeField: 'TimeGenerated',
    resourceId: r._ResourceId ?? r.ResourceId,
    category: r.Category,
    operationName: r.OperationName,
    operationField: 'OperationName',
    statusCode: r.StatusCode,
    statusText: r.StatusText,
    callerIpAddress: r.CallerIpAddress,
    correlationId: r.CorrelationId,
    uri: r.Uri,
    authType: r.AuthenticationType,
    requesterObjectId: r.RequesterObjectId,
    requesterAppId: r.RequesterAppId,
    requesterUpn: r.RequesterUpn,
    requesterTenantId: r.RequesterTenantId,
    accountName: r.AccountName,
    objectKey: r.ObjectKey,
    userAgent: r.UserAgentHeader,
    requestBodySize: r.RequestBodySize,
    responseBodySize: r.ResponseBodySize,
    copySource: r.SourceUri,
  };
}

/** Logged authentication types (`SAS Key`, `DelegationSAS`, `Account Key` …) in the four words rules use. */
const AUTH_TYPES = new Map([
  ['oauth', 'OAuth'],
  ['sas', 'SAS'],
  ['saskey', 'SAS'],
  ['delegationsas', 'SAS'],
  ['userdelegationsas', 'SAS'],
  ['servicesas', 'SAS'],
  ['accountsas', 'SAS'],
  ['accountkey', 'AccountKey'],
  ['sharedkey', 'AccountKey'],
  ['anonymous', 'Anonymous'],
]);
const SPACES = / /g;

function authTypeOf(v: string | null | undefined): string | undefined {
  const s = str(v);
  return s === undefined ? undefined : (AUTH_TYPES.get(s.toLowerCase().replace(SPACES, '')) ?? s);
}

/** Storage logs some values "in quotes". */
function unquote(v: string | null | undefined): string | undefined {
  const s = str(v);
  return s && s.length > 1 && s[0] === '"' && s[s.length - 1] === '"' ? s.slice(1, -1) : s;
}

function decodePath(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

interface BlobLocation {
  container?: string;
  blob?: string;
}

/**
 * What blobLocation reads from an object key with no empty segment (no `//`, no trailing `/`), as
 * most are, by indexOf instead of splitting and joining it; undefined for other keys.
 */
function plainKeyLocation(key: string): BlobLocation | undefined {
  if (key.includes('//') || key.endsWith('/')) return undefined;
  const account = key.indexOf('/', 1);
  if (account < 0) return {};
  const container = key.indexOf('/', account + 1);
  return container < 0 ? { container: key.slice(account + 1) } : { container: key.slice(account + 1, container), blob: key.slice(container + 1) };
}

/**
 * Container and blob from the object key (`/account/container/path/to/blob`), which a copy's
 * source record logs as the full source URL instead; else from the request URI's path.
 */
function blobLocation(objectKey: string | undefined, uri: string | undefined): BlobLocation {
  let path: string[] | undefined;
  if (objectKey && !objectKey.includes('://')) {
    const plain = plainKeyLocation(objectKey);
    if (plain) return plain;
    path = segments(objectKey).slice(1);
  } else {
    const url = urlParts(objectKey ?? uri ?? '');
    if (url) path = segments(url.path).map(decodePath);
  }
  if (!path?.length) return {};
  return path.length > 1 ? { container: path[0], blob: path.slice(1).join('/') } : { container: path[0] };
}

/** The account a copy reads from: first label of a storage host (`srcacct.blob.core.windows.net`). */
function storageAccountOf(uri: string | undefined): string | undefined {
  const host = uri ? urlParts(uri)?.host : undefined;
  return host?.includes('.core.') ? host.slice(0, host.indexOf('.')) : undefined;
}

/** Logs name the blob service (`…/storageAccounts/acct/blobServices/default`); the account is the resource. */
function accountResourceId(resourceId: string | null | undefined): string | undefined {
  const id = str(resourceId);
  if (!id) return undefined;
  const service = id.search(BLOB_SERVICE);
  return service >= 0 ? id.slice(0, service) : id;
}

/** The account each logged resource id names, by the id as logged (no regex or slice per record). */
const accountTargets = new ByResourceId((resourceId) => targetResource(accountResourceId(resourceId)));

const COPY_SOURCE_OPERATION = 'COPYBLOBSOURCE';

/**
 * The requester; else, for key and SAS access, the account whose key signed it. Anonymous requests,
 * OAuth requests that log no requester, and key requests with no account name have no
 * identifiable actor: `unknown`.
 */
function principalOf(request: BlobRequest, account: string | undefined, authType: string | undefined, resourceId: string | undefined): Principal {
  const principal = principalFromCaller(
    { objectId: request.requesterObjectId, appId: request.requesterAppId, upn: request.requesterUpn },
    request.requesterAppId ? 'servicePrincipal' : 'unknown',
  );
  if (principal) return principal;
  if (authType === 'OAuth' || authType === 'Anonymous' || !account) {
    // Anonymous readers of a public container are kept apart from callers whose identity was not logged.
    return unknownPrincipal(`${authType === 'Anonymous' ? 'anonymous:' : ''}${resourceId ?? account ?? 'storage'}`, str(request.requesterUpn));
  }
  return keyPrincipal(account);
}

function toEvent(request: BlobRequest): EventParts {
  const time = eventTime(request.time, request.timeField);
  const operation = eventOperation(request.operationName, request.operationField);
  const resourceId = str(request.resourceId);
  const target = resourceId ? accountTargets.get(resourceId) : targetResource(undefined);
  const uri = str(request.uri);
  const objectKey = unquote(request.objectKey);
  const account =
    lower(request.accountName) ?? (target.resourceType === 'microsoft.storage/storageaccounts' ? target.name : undefined) ?? storageAccountOf(uri);
  const authType = authTypeOf(request.authType);
  const principal = principalOf(request, account, authType, target.resourceId);
  const statusCode = num(request.statusCode);
  // The source side of a copy logs the source blob's URL, SAS included, as its own URI.
  const copySource = str(request.copySource) ?? (operation === COPY_SOURCE_OPERATION ? uri : undefined);
  const requestBytes = num(request.requestBodySize);
  const responseBytes = num(request.responseBodySize);
  const location = blobLocation(objectKey, uri);

  const details: StorageDetails = {};
  put(details, 'authType', authType);
  put(details, 'account', account);
  put(details, 'container', location.container);
  put(details, 'blob', location.blob);
  put(details, 'statusCode', statusCode);
  put(details, 'bytes', requestBytes === undefined && responseBytes === undefined ? undefined : (requestBytes ?? 0) + (responseBytes ?? 0));
  put(details, 'userAgent', unquote(request.userAgent));
  put(details, 'uri', uri === undefined ? undefined : redactSecrets(uri));
  if (copySource) {
    details.copySourceUri = redactSecrets(copySource);
    put(details, 'sourceAccount', storageAccountOf(copySource));
  }

  return {
    time,
    category: request.category,
    operation,
    result: requestResult(statusCode, request.statusText ?? request.metricResponseType),
    principal,
    ip: callerIp(request.callerIpAddress),
    tenantId: lowerGuid(request.requesterTenantId),
    target,
    correlationId: str(request.correlationId),
    details,
    // The correlation id is the storage request id; a copy logs three records under it, one per operation and blob.
    distinguishing: [location.container, location.blob],
  };
}

/** Whether a resource id names a blob service (true), another provider's resource (false), or no provider (undefined), worked out once per id. */
const blobServices = new ByResourceId((id) => (ANY_PROVIDER.test(id) ? BLOB_SERVICE.test(id) : undefined));

export const storageSource = defineSource({
  source: 'storage',
  streamCategories: ['StorageRead', 'StorageWrite', 'StorageDelete'],
  tables: ['StorageBlobLogs'],
  // File, queue and table services log the same categories; this module reads blob requests only.
  accepts(record, shape) {
    if (shape === 'table') return true;
    const id = str(record.resourceId);
    const service = id ? blobServices.get(id) : undefined;
    if (service !== undefined) return service;
    const serviceType = lower(obj(record.properties)?.serviceType);
    return serviceType === undefined || serviceType === 'blob';
  },
  stream: recordShape(StreamRecord, fromStream, streamConforms),
  table: recordShape(TableRow, fromTable, tableConforms),
  toEvent,
});
