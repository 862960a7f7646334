/**
 * Stream-shape Azure Monitor records → the Log Analytics rows the service would store for them,
 * with the column names and types of each table (AzureActivity, SigninLogs and the AAD*SignInLogs,
 * AzureDiagnostics for Key Vault and Cognitive Services, StorageBlobLogs). What the service adds
 * that no record carries (ingestion ids, workspace columns) is left out or derived.
 * References: learn.microsoft.com/azure/azure-monitor/reference/tables/<table>.
 */
import { alertStreamColumns, alertTableColumns } from '../../src/delivery/table-schema.js';

export type ColumnType = 'string' | 'datetime' | 'dynamic' | 'long' | 'real' | 'int' | 'bool' | 'guid';
export interface Column {
  name: string;
  type: ColumnType;
}
/** One table of query output, in the API's shape (values as JSON would carry them). */
export interface TableRows {
  name: string;
  columns: Column[];
  rows: unknown[][];
}

type Rec = Record<string, unknown>;
/** What a field of a JSON log record holds where a column takes text. */
type Scalar = string | number | boolean | null | undefined;
const text = (v: Scalar): string => String(v);
type Row = Map<string, [ColumnType, unknown]>;

/** The workspace's own id, which every row carries as TenantId. */
export const WORKSPACE_TENANT = '0f0f0f0f-1111-4222-8333-444444444444';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function obj(v: unknown): Rec | undefined {
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined;
}

function put(row: Row, name: string, type: ColumnType, value: unknown): void {
  if (value === undefined || value === null) return;
  // The query API returns dynamic values as JSON text.
  row.set(name, [type, type === 'dynamic' && typeof value !== 'string' ? JSON.stringify(value) : value]);
}

/** ARM id parts as the service fills ResourceGroup / ResourceProvider / Resource / SubscriptionId. */
function armParts(resourceId: string | undefined) {
  const m = resourceId ? /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?(?:\/providers\/([^/]+)\/[^/]+\/([^/]+))?/i.exec(resourceId) : null;
  return { subscription: m?.[1], group: m?.[2], provider: m?.[3], name: m?.[4] };
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function activityRow(r: Rec): Row {
  const row: Row = new Map();
  const identity = obj(r.identity) ?? {};
  const claims = obj(identity.claims);
  const props = obj(r.properties);
  const resourceId = r.resourceId as string | undefined;
  const arm = armParts(resourceId);
  const caller =
    claims?.['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'] ??
    claims?.upn ??
    claims?.['http://schemas.microsoft.com/identity/claims/objectidentifier'] ??
    claims?.oid;
  put(row, 'TenantId', 'string', WORKSPACE_TENANT);
  put(row, 'SourceSystem', 'string', 'Azure');
  put(row, 'CallerIpAddress', 'string', r.callerIpAddress);
  put(row, 'CategoryValue', 'string', r.category);
  put(row, 'CorrelationId', 'string', r.correlationId);
  put(row, 'Authorization', 'string', identity.authorization === undefined ? undefined : JSON.stringify(identity.authorization));
  put(row, 'Authorization_d', 'dynamic', identity.authorization);
  put(row, 'Claims', 'string', claims === undefined ? undefined : JSON.stringify(claims));
  put(row, 'Claims_d', 'dynamic', claims);
  put(row, 'Level', 'string', r.level === 'Information' ? 'Informational' : r.level);
  put(row, 'OperationNameValue', 'string', r.operationName);
  put(row, 'Properties', 'string', props === undefined ? undefined : JSON.stringify(props));
  put(row, 'Properties_d', 'dynamic', props);
  put(row, 'Caller', 'string', caller);
  put(row, 'EventSubmissionTimestamp', 'datetime', r.time);
  put(row, 'Hierarchy', 'string', props?.hierarchy);
  put(row, 'ResourceGroup', 'string', arm.group?.toUpperCase());
  put(row, 'ResourceProviderValue', 'string', arm.provider?.toUpperCase());
  put(row, 'ActivityStatusValue', 'string', r.resultType);
  put(row, 'ActivitySubstatusValue', 'string', r.resultSignature);
  put(row, 'TimeGenerated', 'datetime', r.time);
  put(row, 'SubscriptionId', 'string', arm.subscription?.toLowerCase());
  put(row, 'OperationName', 'string', r.operationName);
  put(row, 'ActivityStatus', 'string', r.resultType);
  put(row, 'ActivitySubstatus', 'string', r.resultSignature);
  put(row, 'Category', 'string', r.category);
  put(row, 'ResourceProvider', 'string', arm.provider);
  put(row, 'Resource', 'string', arm.name);
  put(row, '_ResourceId', 'string', resourceId?.toLowerCase());
  return row;
}

const SIGNIN_TABLES: Record<string, string> = {
  signinlogs: 'SigninLogs',
  noninteractiveusersigninlogs: 'AADNonInteractiveUserSignInLogs',
  serviceprincipalsigninlogs: 'AADServicePrincipalSignInLogs',
  managedidentitysigninlogs: 'AADManagedIdentitySignInLogs',
};

function signinRow(r: Rec, table: string): Row {
  const row: Row = new Map();
  const p = obj(r.properties) ?? {};
  // SigninLogs keeps the nested values as dynamic; the newer AAD* tables store them as JSON text.
  const nested: ColumnType = table === 'SigninLogs' ? 'dynamic' : 'string';
  const text = (v: unknown) => (v === undefined || v === null || nested === 'dynamic' ? v : JSON.stringify(v));
  put(row, 'TenantId', 'string', WORKSPACE_TENANT);
  put(row, 'SourceSystem', 'string', 'Azure AD');
  put(row, 'TimeGenerated', 'datetime', r.time);
  put(row, 'ResourceId', 'string', r.resourceId);
  put(row, 'OperationName', 'string', r.operationName);
  put(row, 'OperationVersion', 'string', r.operationVersion);
  put(row, 'Category', 'string', r.category);
  put(row, 'ResultType', 'string', r.resultType);
  put(row, 'ResultSignature', 'string', r.resultSignature);
  put(row, 'ResultDescription', 'string', r.resultDescription ?? obj(p.status)?.failureReason);
  put(row, 'DurationMs', 'long', num(r.durationMs));
  put(row, 'CorrelationId', 'string', r.correlationId);
  put(row, 'Identity', 'string', typeof r.identity === 'string' ? r.identity : undefined);
  put(row, 'Level', 'string', r.Level ?? r.level);
  put(row, 'Location', 'string', r.location);
  put(row, 'AppDisplayName', 'string', p.appDisplayName);
  put(row, 'AppId', 'string', p.appId);
  put(row, 'ConditionalAccessStatus', 'string', p.conditionalAccessStatus);
  put(row, 'CreatedDateTime', 'datetime', p.createdDateTime);
  put(row, 'Id', 'string', p.id);
  put(row, 'IPAddress', 'string', p.ipAddress);
  put(row, 'IsInteractive', 'bool', p.isInteractive);
  put(row, 'LocationDetails', nested, text(p.location));
  put(row, 'ResourceDisplayName', 'string', p.resourceDisplayName);
  put(row, 'ResourceIdentity', 'string', p.resourceId);
  put(row, 'ResourceTenantId', 'string', p.resourceTenantId);
  put(row, 'HomeTenantId', 'string', p.homeTenantId);
  put(row, 'ServicePrincipalId', 'string', p.servicePrincipalId);
  put(row, 'ServicePrincipalName', 'string', p.servicePrincipalName);
  put(row, 'ServicePrincipalCredentialKeyId', 'string', p.servicePrincipalCredentialKeyId);
  put(row, 'ClientCredentialType', 'string', p.clientCredentialType);
  put(row, 'UniqueTokenIdentifier', 'string', p.uniqueTokenIdentifier);
  put(row, 'Status', nested, text(p.status));
  put(row, 'UserAgent', 'string', p.userAgent);
  put(row, 'UserDisplayName', 'string', p.userDisplayName);
  put(row, 'UserId', 'string', p.userId);
  put(row, 'UserPrincipalName', 'string', p.userPrincipalName);
  put(row, 'UserType', 'string', p.userType);
  put(row, 'ClientAppUsed', 'string', p.clientAppUsed);
  put(row, 'AADTenantId', 'string', r.tenantId);
  put(row, 'ManagedIdentityType', 'string', obj(p.managedServiceIdentity)?.msiType);
  return row;
}

/** AzureDiagnostics column name of a flattened field: non-alphanumerics become '_', plus the type suffix. */
function diagnosticsColumn(path: string, value: unknown): [string, ColumnType] {
  const base = path.replace(/[^A-Za-z0-9]+/g, '_');
  if (typeof value === 'number') return [`${base}_d`, 'real'];
  if (typeof value === 'boolean') return [`${base}_b`, 'bool'];
  if (typeof value === 'string' && GUID.test(value)) return [`${base}_g`, 'guid'];
  return [`${base}_s`, 'string'];
}

/** AzureDiagnostics flattens nested objects into `<path>_<type>` columns; arrays stay JSON text. */
function flatten(row: Row, prefix: string, value: unknown, depth = 0): void {
  if (value === undefined || value === null) return;
  if (typeof value === 'object' && !Array.isArray(value) && depth < 4) {
    for (const [k, v] of Object.entries(value as Rec)) flatten(row, prefix ? `${prefix}_${k}` : k, v, depth + 1);
    return;
  }
  const v = Array.isArray(value) || typeof value === 'object' ? JSON.stringify(value) : value;
  const [name, type] = diagnosticsColumn(prefix, v);
  row.set(name, [type, v]);
}

function diagnosticsRow(r: Rec): Row {
  const row: Row = new Map();
  const resourceId = (r.resourceId as string | undefined)?.toUpperCase();
  const arm = armParts(resourceId);
  put(row, 'TenantId', 'string', WORKSPACE_TENANT);
  put(row, 'TimeGenerated', 'datetime', r.time);
  put(row, 'ResourceId', 'string', resourceId);
  put(row, 'Category', 'string', r.category);
  put(row, 'ResourceGroup', 'string', arm.group);
  put(row, 'SubscriptionId', 'string', arm.subscription?.toLowerCase());
  put(row, 'ResourceProvider', 'string', arm.provider);
  put(row, 'Resource', 'string', arm.name);
  put(row, 'ResourceType', 'string', resourceId ? /\/PROVIDERS\/[^/]+\/([^/]+)/.exec(resourceId)?.[1] : undefined);
  put(row, 'OperationName', 'string', r.operationName);
  put(row, 'ResultType', 'string', r.resultType);
  put(row, 'ResultSignature', 'string', r.resultSignature === undefined ? undefined : text(r.resultSignature as Scalar));
  put(row, 'ResultDescription', 'string', r.resultDescription);
  put(row, 'DurationMs', 'long', num(r.durationMs));
  put(row, 'CallerIPAddress', 'string', r.callerIpAddress);
  put(row, 'CorrelationId', 'string', r.correlationId);
  put(row, 'OperationVersion', 'string', r.operationVersion);
  put(row, 'Location', 'string', r.location);
  flatten(row, 'identity', obj(r.identity));
  // A service that sends `properties` as JSON text gets one properties_s column; an object is flattened.
  if (typeof r.properties === 'string') put(row, 'properties_s', 'string', r.properties);
  else flatten(row, '', obj(r.properties));
  put(row, '_ResourceId', 'string', resourceId?.toLowerCase());
  return row;
}

function storageRow(r: Rec): Row {
  const row: Row = new Map();
  const identity = obj(r.identity) ?? {};
  const requester = obj(identity.requester) ?? {};
  const p = obj(r.properties) ?? {};
  put(row, 'TenantId', 'string', WORKSPACE_TENANT);
  put(row, 'TimeGenerated', 'datetime', r.time);
  put(row, 'AccountName', 'string', p.accountName);
  put(row, 'Location', 'string', r.location);
  put(row, 'Protocol', 'string', r.protocol);
  put(row, 'OperationName', 'string', r.operationName);
  put(row, 'AuthenticationType', 'string', identity.type);
  put(row, 'StatusCode', 'string', r.statusCode === undefined ? undefined : text(r.statusCode as Scalar));
  put(row, 'StatusText', 'string', r.statusText);
  put(row, 'DurationMs', 'real', num(r.durationMs));
  put(row, 'ServerLatencyMs', 'real', num(p.serverLatencyMs));
  put(row, 'Uri', 'string', r.uri);
  put(row, 'CallerIpAddress', 'string', r.callerIpAddress);
  put(row, 'CorrelationId', 'string', r.correlationId);
  put(row, 'SchemaVersion', 'string', r.schemaVersion);
  put(row, 'OperationVersion', 'string', r.operationVersion);
  put(row, 'AuthenticationHash', 'string', identity.tokenHash);
  put(row, 'RequesterObjectId', 'string', requester.objectId);
  put(row, 'RequesterTenantId', 'string', requester.tenantId);
  put(row, 'RequesterAppId', 'string', requester.appId);
  put(row, 'RequesterAudience', 'string', requester.audience);
  put(row, 'RequesterTokenIssuer', 'string', requester.tokenIssuer);
  put(row, 'RequesterUpn', 'string', requester.upn);
  put(row, 'AuthorizationDetails', 'dynamic', identity.authorization);
  put(row, 'UserAgentHeader', 'string', p.userAgentHeader);
  put(row, 'ClientRequestId', 'string', p.clientRequestId);
  put(row, 'Etag', 'string', p.etag);
  put(row, 'ServiceType', 'string', p.serviceType);
  put(row, 'OperationCount', 'int', num(p.operationCount));
  put(row, 'ObjectKey', 'string', p.objectKey);
  put(row, 'MetricResponseType', 'string', p.metricResponseType);
  put(row, 'RequestHeaderSize', 'long', num(p.requestHeaderSize));
  put(row, 'RequestBodySize', 'long', num(p.requestBodySize));
  put(row, 'ResponseHeaderSize', 'long', num(p.responseHeaderSize));
  put(row, 'ResponseBodySize', 'long', num(p.responseBodySize));
  put(row, 'ContentLengthHeader', 'long', num(p.contentLengthHeader));
  put(row, 'TlsVersion', 'string', p.tlsVersion);
  put(row, 'AccessTier', 'string', p.accessTier);
  put(row, 'SourceUri', 'string', p.sourceUri ?? p['x-ms-copy-source']);
  put(row, 'DestinationUri', 'string', p.destinationUri);
  put(row, 'Category', 'string', r.category);
  put(row, '_ResourceId', 'string', (r.resourceId as string | undefined)?.toLowerCase());
  return row;
}

/** Entra audit (AuditLogs): `Category` is Entra's own category; InitiatedBy, TargetResources, AdditionalDetails are dynamic. */
function auditRow(r: Rec): Row {
  const row: Row = new Map();
  const p = obj(r.properties) ?? {};
  put(row, 'TenantId', 'string', WORKSPACE_TENANT);
  put(row, 'SourceSystem', 'string', 'Azure AD');
  put(row, 'TimeGenerated', 'datetime', r.time);
  put(row, 'ResourceId', 'string', r.resourceId);
  put(row, 'OperationName', 'string', r.operationName);
  put(row, 'OperationVersion', 'string', r.operationVersion);
  put(row, 'Category', 'string', p.category);
  put(row, 'ResultSignature', 'string', r.resultSignature);
  put(row, 'DurationMs', 'long', num(r.durationMs));
  put(row, 'CorrelationId', 'string', r.correlationId);
  put(row, 'Identity', 'string', typeof r.identity === 'string' ? r.identity : undefined);
  put(row, 'Id', 'string', p.id);
  put(row, 'Result', 'string', p.result);
  put(row, 'ResultReason', 'string', p.resultReason);
  put(row, 'ActivityDisplayName', 'string', p.activityDisplayName);
  put(row, 'ActivityDateTime', 'datetime', p.activityDateTime);
  put(row, 'LoggedByService', 'string', p.loggedByService);
  put(row, 'AADOperationType', 'string', p.operationType);
  put(row, 'InitiatedBy', 'dynamic', p.initiatedBy);
  put(row, 'TargetResources', 'dynamic', p.targetResources);
  put(row, 'AdditionalDetails', 'dynamic', p.additionalDetails);
  put(row, 'AADTenantId', 'string', r.tenantId);
  return row;
}

/** MicrosoftGraphActivityLogs: the stream's properties as PascalCase columns. */
function graphRow(r: Rec): Row {
  const row: Row = new Map();
  const p = obj(r.properties) ?? {};
  put(row, 'TenantId', 'string', WORKSPACE_TENANT);
  put(row, 'TimeGenerated', 'datetime', p.timeGenerated ?? r.time);
  put(row, 'AadTenantId', 'string', p.tenantId);
  put(row, 'RequestId', 'string', p.requestId);
  put(row, 'OperationId', 'string', p.operationId);
  put(row, 'ApiVersion', 'string', p.apiVersion);
  put(row, 'RequestMethod', 'string', p.requestMethod);
  put(row, 'ResponseStatusCode', 'int', num(p.responseStatusCode));
  put(row, 'DurationMs', 'int', num(p.durationMs));
  put(row, 'ResponseSizeBytes', 'int', num(p.responseSizeBytes));
  put(row, 'SignInActivityId', 'string', p.signInActivityId);
  put(row, 'Roles', 'string', p.roles);
  put(row, 'Scopes', 'string', p.scopes);
  put(row, 'AppId', 'string', p.appId);
  put(row, 'UserId', 'string', p.userId);
  put(row, 'ServicePrincipalId', 'string', p.servicePrincipalId);
  put(row, 'ClientAuthMethod', 'int', num(p.clientAuthMethod));
  put(row, 'IPAddress', 'string', p.ipAddress);
  put(row, 'UserAgent', 'string', p.userAgent);
  put(row, 'RequestUri', 'string', p.requestUri);
  return row;
}

const ACTIVITY_CATEGORIES = new Set(['administrative', 'security', 'servicehealth', 'alert', 'recommendation', 'policy', 'autoscale', 'resourcehealth']);
const STORAGE_CATEGORIES = new Set(['storageread', 'storagewrite', 'storagedelete']);

/** The table a stream record lands in, and its row; undefined for records of other categories. */
export function toRow(record: Rec): { table: string; row: Row } | undefined {
  const category = String((record.category as Scalar) ?? '').toLowerCase();
  if (ACTIVITY_CATEGORIES.has(category)) return { table: 'AzureActivity', row: activityRow(record) };
  const signin = SIGNIN_TABLES[category];
  if (signin) return { table: signin, row: signinRow(record, signin) };
  if (STORAGE_CATEGORIES.has(category)) return { table: 'StorageBlobLogs', row: storageRow(record) };
  if (category === 'auditlogs') return { table: 'AuditLogs', row: auditRow(record) };
  if (category === 'microsoftgraphactivitylogs') return { table: 'MicrosoftGraphActivityLogs', row: graphRow(record) };
  if (/\/providers\/microsoft\.(keyvault|cognitiveservices)\//i.test(String((record.resourceId as Scalar) ?? '')))
    return { table: 'AzureDiagnostics', row: diagnosticsRow(record) };
  return undefined;
}

/** The record as the row a query returns (column values, with `Type`), as a backtest export holds it; undefined for other categories. */
export function rowRecord(record: Rec): Rec | undefined {
  const converted = toRow(record);
  if (!converted) return undefined;
  const row: Rec = {};
  for (const [name, [, value]] of converted.row) row[name] = value;
  row.Type = converted.table;
  return row;
}

/** Stream records → one table of rows per Log Analytics table, columns the union of the rows' in first-seen order, plus `Type`. */
export function toLogAnalyticsTables(records: Iterable<Rec>): Map<string, TableRows> {
  const byTable = new Map<string, Row[]>();
  for (const record of records) {
    const converted = toRow(record);
    if (!converted) continue;
    converted.row.set('Type', ['string', converted.table]);
    const rows = byTable.get(converted.table) ?? [];
    rows.push(converted.row);
    byTable.set(converted.table, rows);
  }
  const out = new Map<string, TableRows>();
  for (const [table, rows] of byTable) {
    const columns = new Map<string, ColumnType>();
    for (const row of rows) for (const [name, [type]] of row) if (!columns.has(name)) columns.set(name, type);
    const names = [...columns.keys()];
    out.set(table, {
      name: table,
      columns: names.map((name) => ({ name, type: columns.get(name)! })),
      rows: rows.map((row) => names.map((n) => row.get(n)?.[1] ?? null)),
    });
  }
  return out;
}

/**
 * Alert rows as the Logs Ingestion API took them → WardenAlerts_CL as the DCR stores them: the
 * stream's fields in the table's columns, reserved names renamed (Title is AlertTitle).
 */
export function wardenAlertsTable(rows: readonly Record<string, unknown>[]): TableRows {
  const stream = alertStreamColumns();
  const table = alertTableColumns();
  return {
    name: 'WardenAlerts_CL',
    columns: table.map((c) => ({ name: c.name, type: c.type === 'boolean' ? 'bool' : c.type })),
    rows: rows.map((row) =>
      stream.map((c) => {
        const value = row[c.name] ?? null;
        return c.type === 'dynamic' && value !== null ? JSON.stringify(value) : value;
      }),
    ),
  };
}
