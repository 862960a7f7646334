import { z } from 'zod';
import type { KeyVaultDetails } from '../../model/index.js';
import { compiled } from '../schema.js';
import type { RawRecord } from '../types.js';
import { lower, num, obj, str } from '../util.js';
import {
  ByResourceId,
  type Caller,
  callerFromClaims,
  callerIp,
  commonFieldsConform,
  duration,
  eventOperation,
  eventTime,
  fieldsAre,
  isNested,
  isNumberish,
  isObject,
  isPlainRecord,
  isText,
  isTimeish,
  lowerGuid,
  numberish,
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

/**
 * Key Vault data-plane audit log (category AuditEvent, Microsoft.KeyVault/vaults), streamed as
 * resource-log records or read back from AzureDiagnostics rows (ResourceProvider MICROSOFT.KEYVAULT).
 */

const KEYVAULT_RESOURCE = /\/providers\/microsoft\.keyvault\//i;
const ANY_PROVIDER = /\/providers\//i;

const Properties = z.object({
  id: text,
  requestUri: text,
  httpStatusCode: numberish,
  clientInfo: text,
});

const StreamRecord = compiled(
  z.object({
    time: timeish,
    resourceId: text,
    category: text,
    operationName: text,
    resultType: text,
    resultSignature: numberish,
    durationMs: numberish,
    callerIpAddress: text,
    correlationId: text,
    tenantId: text,
    identity: z.object({ claim: z.record(z.string(), z.unknown()).nullish() }).nullish(),
    properties: z.preprocess((v) => obj(v) ?? v, Properties).nullish(),
  }),
);

type VaultStreamRecord = z.output<typeof StreamRecord>;

function isProperties(p: Record<string, unknown>): boolean {
  return isText(p.id) && isText(p.requestUri) && isNumberish(p.httpStatusCode) && isText(p.clientInfo);
}

/** StreamRecord's fields by `typeof` (define-source.ts, "fast path"). */
function streamConforms(r: RawRecord): VaultStreamRecord | undefined {
  const { identity } = r;
  const identityOk =
    identity === undefined ||
    identity === null ||
    (isObject(identity) && (identity.claim === undefined || identity.claim === null || isPlainRecord(identity.claim)));
  return identityOk &&
    commonFieldsConform(r) &&
    isText(r.resourceId) &&
    isText(r.category) &&
    isText(r.resultType) &&
    isNumberish(r.resultSignature) &&
    isNumberish(r.durationMs) &&
    isText(r.tenantId) &&
    isNested(r.properties, isProperties)
    ? r
    : undefined;
}

/** AzureDiagnostics flattens `properties.x` to `x_<type>` and `identity.claim.x` to `identity_claim_x_<type>`. */
const TableRow = compiled(
  z.object({
    TimeGenerated: timeish,
    ResourceId: text,
    _ResourceId: text,
    Category: text,
    OperationName: text,
    ResultType: text,
    ResultSignature: numberish,
    DurationMs: numberish,
    CallerIPAddress: text,
    CallerIpAddress: text,
    CorrelationId: text,
    id_s: text,
    requestUri_s: text,
    httpStatusCode_d: numberish,
    clientInfo_s: text,
    identity_claim_oid_g: text,
    identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g: text,
    identity_claim_appid_g: text,
    identity_claim_upn_s: text,
    identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s: text,
    identity_claim_idtyp_s: text,
    identity_claim_xms_mirid_s: text,
    identity_claim_xms_az_mirid_s: text,
    identity_claim_tid_g: text,
    identity_claim_http_schemas_microsoft_com_identity_claims_tenantid_g: text,
  }),
);

type VaultTableRow = z.output<typeof TableRow>;

const TEXT_COLUMNS = [
  'ResourceId',
  '_ResourceId',
  'Category',
  'OperationName',
  'ResultType',
  'CallerIPAddress',
  'CallerIpAddress',
  'CorrelationId',
  'id_s',
  'requestUri_s',
  'clientInfo_s',
  'identity_claim_oid_g',
  'identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g',
  'identity_claim_appid_g',
  'identity_claim_upn_s',
  'identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s',
  'identity_claim_idtyp_s',
  'identity_claim_xms_mirid_s',
  'identity_claim_xms_az_mirid_s',
  'identity_claim_tid_g',
  'identity_claim_http_schemas_microsoft_com_identity_claims_tenantid_g',
];
const NUMBER_COLUMNS = ['ResultSignature', 'DurationMs', 'httpStatusCode_d'];

/** TableRow's columns by `typeof` (define-source.ts, "fast path"). */
function tableConforms(r: RawRecord): VaultTableRow | undefined {
  return isTimeish(r.TimeGenerated) && fieldsAre(r, isText, TEXT_COLUMNS) && fieldsAre(r, isNumberish, NUMBER_COLUMNS) ? r : undefined;
}

/** One audit entry, whichever shape it came in. */
interface VaultAudit {
  time: unknown;
  timeField: string;
  resourceId?: string | null;
  category?: string | null;
  operationName?: string | null;
  operationField: string;
  resultType?: string | null;
  resultSignature?: unknown;
  durationMs?: unknown;
  callerIpAddress?: string | null;
  correlationId?: string | null;
  tenantId?: string | null;
  caller: Caller;
  /** The object the request returned (`properties.id`): the same secret URL repeats across records. */
  objectUri?: string | null;
  requestUri?: string | null;
  httpStatusCode?: unknown;
  clientInfo?: string | null;
}

function fromStream(r: z.output<typeof StreamRecord>): VaultAudit {
  const p = r.properties;
  return {
    time: r.time,
    timeField: 'time',
    resourceId: r.resourceId,
    category: r.category,
    operationName: r.operationName,
    operationField: 'operationName',
    resultType: r.resultType,
    resultSignature: r.resultSignature,
    durationMs: r.durationMs,
    callerIpAddress: r.callerIpAddress,
    correlationId: r.correlationId,
    tenantId: r.tenantId,
    caller: callerFromClaims(r.identity?.claim),
    objectUri: p?.id,
    requestUri: p?.requestUri,
    httpStatusCode: p?.httpStatusCode,
    clientInfo: p?.clientInfo,
  };
}

function fromTable(r: z.output<typeof TableRow>): VaultAudit {
  // The row's TenantId column is the workspace, not the caller's tenant: only the claim says that.
  return {
    time: r.TimeGenerated,
    timeField: 'TimeGenerated',
    resourceId: r.ResourceId ?? r._ResourceId,
    category: r.Category,
    operationName: r.OperationName,
    operationField: 'OperationName',
    resultType: r.ResultType,
    resultSignature: r.ResultSignature,
    durationMs: r.DurationMs,
    callerIpAddress: r.CallerIPAddress ?? r.CallerIpAddress,
    correlationId: r.CorrelationId,
    caller: {
      objectId: r.identity_claim_oid_g ?? r.identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g,
      appId: r.identity_claim_appid_g,
      upn: r.identity_claim_upn_s ?? r.identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s,
      idType: r.identity_claim_idtyp_s,
      managedIdentityResourceId: r.identity_claim_xms_mirid_s ?? r.identity_claim_xms_az_mirid_s,
      tenantId: r.identity_claim_tid_g ?? r.identity_claim_http_schemas_microsoft_com_identity_claims_tenantid_g,
    },
    objectUri: r.id_s,
    requestUri: r.requestUri_s,
    httpStatusCode: r.httpStatusCode_d,
    clientInfo: r.clientInfo_s,
  };
}

/** Object collections in vault URLs and the details key each one names. */
const OBJECT_NAME_KEY = new Map<string, 'secretName' | 'keyName' | 'certificateName'>([
  ['secrets', 'secretName'],
  ['deletedsecrets', 'secretName'],
  ['keys', 'keyName'],
  ['deletedkeys', 'keyName'],
  ['certificates', 'certificateName'],
  ['deletedcertificates', 'certificateName'],
]);
/** `/certificates/contacts` and `/certificates/issuers/x` address vault settings, not a certificate. */
const NOT_AN_OBJECT = new Set(['contacts', 'issuers']);

/** `https://kv.vault.azure.net/secrets/name/version` → `['secretName', 'name']`. */
function objectName(uri: string | null | undefined): ['secretName' | 'keyName' | 'certificateName', string] | undefined {
  const parts = uri ? urlParts(uri) : undefined;
  if (!parts) return undefined;
  const [collection, name] = segments(parts.path);
  const key = collection ? OBJECT_NAME_KEY.get(collection.toLowerCase()) : undefined;
  return key && name && !NOT_AN_OBJECT.has(name.toLowerCase()) ? [key, name] : undefined;
}

/** Vault name from a data-plane URL host (`kv.vault.azure.net`), for records without a usable resource id. */
function vaultFromUri(uri: string | null | undefined): string | undefined {
  const host = uri ? urlParts(uri)?.host : undefined;
  return host && (host.includes('.vault.') || host.includes('.managedhsm.')) ? host.slice(0, host.indexOf('.')) : undefined;
}

function toEvent(a: VaultAudit): EventParts {
  const time = eventTime(a.time, a.timeField);
  const operation = eventOperation(a.operationName, a.operationField);
  // Unauthenticated requests, such as the 401 challenge before every SDK client's first call, carry no claims.
  const target = targetResource(str(a.resourceId));
  const principal = principalFromCaller(a.caller, 'servicePrincipal') ?? unknownPrincipal(target.resourceId ?? 'keyvault', str(a.caller.name));
  const statusCode = num(a.httpStatusCode) ?? num(a.resultSignature);

  const details: KeyVaultDetails = {};
  put(details, 'vault', target.resourceType?.startsWith('microsoft.keyvault/') ? target.name : (vaultFromUri(a.objectUri) ?? vaultFromUri(a.requestUri)));
  const named = objectName(a.objectUri) ?? objectName(a.requestUri);
  if (named) details[named[0]] = named[1];
  put(details, 'statusCode', statusCode);
  put(details, 'durationMs', duration(a.durationMs));
  put(details, 'userAgent', str(a.clientInfo));

  return {
    time,
    category: a.category ?? 'AuditEvent',
    operation,
    result: requestResult(statusCode, a.resultType),
    principal,
    ip: callerIp(a.callerIpAddress),
    tenantId: lowerGuid(a.caller.tenantId) ?? lowerGuid(a.tenantId),
    target,
    correlationId: str(a.correlationId),
    details,
    // properties.id is the object's URL and repeats across reads, so it names the object in the id, never is the id.
    distinguishing: [details.vault, named?.[0], named?.[1]],
  };
}

/** AuditEvent is Key Vault's category, but other services log one too: claim it unless the id names another provider. */
function isVaultResource(resourceId: unknown): boolean {
  const id = str(resourceId);
  return !id || vaultResources.get(id);
}

/** isVaultResource's answer for each logged id, worked out once per id. */
const vaultResources = new ByResourceId((id) => KEYVAULT_RESOURCE.test(id) || !ANY_PROVIDER.test(id));

export const keyvaultSource = defineSource({
  source: 'keyvault',
  streamCategories: ['AuditEvent'],
  tables: ['AzureDiagnostics'],
  accepts(record, shape) {
    if (shape === 'stream') return isVaultResource(record.resourceId);
    const category = lower(record.Category);
    if (category !== undefined && category !== 'auditevent') return false;
    const provider = lower(record.ResourceProvider);
    if (provider !== undefined) return provider === 'microsoft.keyvault';
    const id = str(record.ResourceId) ?? str(record._ResourceId);
    return id !== undefined && KEYVAULT_RESOURCE.test(id);
  },
  stream: recordShape(StreamRecord, fromStream, streamConforms),
  table: recordShape(TableRow, fromTable, tableConforms),
  toEvent,
});
