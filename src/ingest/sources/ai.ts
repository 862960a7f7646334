import { z } from 'zod';
import type { AiDetails } from '../../model/index.js';
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
  keyPrincipal,
  lowerGuid,
  numberish,
  type Principal,
  principalFromCaller,
  put,
  requestResult,
  targetResource,
  text,
  timeish,
  unknownPrincipal,
} from './resource-log.js';
import { defineSource, recordShape, type EventParts } from './define-source.js';

/**
 * Azure OpenAI / AI services resource logs (Microsoft.CognitiveServices/accounts): Audit,
 * RequestResponse, Trace and AzureOpenAIRequestUsage, streamed as resource-log records or read back
 * from AzureDiagnostics rows (ResourceProvider MICROSOFT.COGNITIVESERVICES).
 */

const CATEGORIES = ['Audit', 'RequestResponse', 'Trace', 'AzureOpenAIRequestUsage'] as const;
const CATEGORY_SET: ReadonlySet<string> = new Set(CATEGORIES.map((c) => c.toLowerCase()));
/** Control-plane calls always carry an Entra caller; only data-plane calls can be made with an account key. */
const CONTROL_PLANE = 'audit';
const COGNITIVE_RESOURCE = /\/providers\/microsoft\.cognitiveservices\//i;
const ANY_PROVIDER = /\/providers\//i;
/** `Azure OpenAI API version 2024-02-15-preview` → `2024-02-15-preview`. */
const API_VERSION = /\bversion\s+(\S+)/i;

/** Usage logs write token counts as one-element arrays (`[138652]`), request logs as numbers. */
const tokens = z.union([z.number(), z.string(), z.array(z.union([z.number(), z.string()]))]).nullish();

const Properties = z.object({
  objectId: text,
  apiName: text,
  modelDeploymentName: text,
  modelName: text,
  modelVersion: numberish,
  streamType: text,
  requestLength: numberish,
  responseLength: numberish,
  promptTokens: tokens,
  completionTokens: tokens,
  generatedTokens: tokens,
  totalTokens: tokens,
});
type AiProperties = z.infer<typeof Properties>;

const properties = z.preprocess((v) => obj(v) ?? v, Properties).nullish();

const StreamRecord = compiled(
  z.object({
    time: timeish,
    resourceId: text,
    category: z.string().min(1),
    operationName: text,
    resultSignature: numberish,
    resultType: text,
    durationMs: numberish,
    callerIpAddress: text,
    correlationId: text,
    identity: z.union([z.object({ claim: z.record(z.string(), z.unknown()).nullish() }), z.string()]).nullish(),
    properties,
  }),
);

type AiStreamRecord = z.output<typeof StreamRecord>;

function isTokens(v: unknown): boolean {
  if (!Array.isArray(v)) return isNumberish(v);
  for (let i = 0; i < v.length; i++) if (v[i] === undefined || v[i] === null || !isNumberish(v[i])) return false;
  return true;
}

function isProperties(p: Record<string, unknown>): boolean {
  return (
    isText(p.objectId) &&
    isText(p.apiName) &&
    isText(p.modelDeploymentName) &&
    isText(p.modelName) &&
    isNumberish(p.modelVersion) &&
    isText(p.streamType) &&
    isNumberish(p.requestLength) &&
    isNumberish(p.responseLength) &&
    isTokens(p.promptTokens) &&
    isTokens(p.completionTokens) &&
    isTokens(p.generatedTokens) &&
    isTokens(p.totalTokens)
  );
}

/** StreamRecord's fields by `typeof` (define-source.ts, "fast path"). */
function streamConforms(r: RawRecord): AiStreamRecord | undefined {
  const { identity, category } = r;
  const identityOk = identity === undefined || identity === null || typeof identity === 'string' || (isObject(identity) && isClaims(identity.claim));
  return identityOk &&
    commonFieldsConform(r) &&
    typeof category === 'string' &&
    category.length > 0 &&
    isText(r.resourceId) &&
    isNumberish(r.resultSignature) &&
    isText(r.resultType) &&
    isNumberish(r.durationMs) &&
    isNested(r.properties, isProperties)
    ? (r as AiStreamRecord)
    : undefined;
}

function isClaims(v: unknown): boolean {
  return v === undefined || v === null || isPlainRecord(v);
}

/**
 * AzureDiagnostics keeps `properties` whole in `properties_s` when the service sent it as a string,
 * and flattens it to `<name>_<type>` columns when it was an object: read both.
 */
const TableRow = compiled(
  z.object({
    TimeGenerated: timeish,
    ResourceId: text,
    _ResourceId: text,
    Category: z.string().min(1),
    OperationName: text,
    ResultSignature: numberish,
    ResultType: text,
    DurationMs: numberish,
    CallerIPAddress: text,
    CallerIpAddress: text,
    CorrelationId: text,
    properties_s: properties,
    objectId_g: text,
    objectId_s: text,
    apiName_s: text,
    modelDeploymentName_s: text,
    modelName_s: text,
    modelVersion_s: numberish,
    streamType_s: text,
    requestLength_d: numberish,
    responseLength_d: numberish,
    promptTokens_d: numberish,
    completionTokens_d: numberish,
    totalTokens_d: numberish,
    identity_claim_oid_g: text,
    identity_claim_upn_s: text,
    identity_claim_appid_g: text,
  }),
);

type AiTableRow = z.output<typeof TableRow>;

const TEXT_COLUMNS = [
  'ResourceId',
  '_ResourceId',
  'OperationName',
  'ResultType',
  'CallerIPAddress',
  'CallerIpAddress',
  'CorrelationId',
  'objectId_g',
  'objectId_s',
  'apiName_s',
  'modelDeploymentName_s',
  'modelName_s',
  'streamType_s',
  'identity_claim_oid_g',
  'identity_claim_upn_s',
  'identity_claim_appid_g',
];
const NUMBER_COLUMNS = [
  'ResultSignature',
  'DurationMs',
  'modelVersion_s',
  'requestLength_d',
  'responseLength_d',
  'promptTokens_d',
  'completionTokens_d',
  'totalTokens_d',
];

/** TableRow's columns by `typeof` (define-source.ts, "fast path"). */
function tableConforms(r: RawRecord): AiTableRow | undefined {
  const category = r.Category;
  return typeof category === 'string' &&
    category.length > 0 &&
    isTimeish(r.TimeGenerated) &&
    fieldsAre(r, isText, TEXT_COLUMNS) &&
    fieldsAre(r, isNumberish, NUMBER_COLUMNS) &&
    isNested(r.properties_s, isProperties)
    ? (r as AiTableRow)
    : undefined;
}

/** One AI services log entry, whichever shape it came in. */
interface AiCall {
  time: unknown;
  timeField: string;
  resourceId?: string | null;
  category: string;
  operationName?: string | null;
  operationField: string;
  resultSignature?: unknown;
  resultType?: string | null;
  durationMs?: unknown;
  callerIpAddress?: string | null;
  correlationId?: string | null;
  caller: Caller;
  props: AiProperties;
}

const NO_PROPERTIES: AiProperties = {};

function fromStream(r: z.output<typeof StreamRecord>): AiCall {
  const props = r.properties ?? NO_PROPERTIES;
  const caller = typeof r.identity === 'object' ? callerFromClaims(r.identity?.claim) : {};
  // Set on the caller, not spread into a copy: a spread per record costs more than the rest of this function.
  const objectId = str(props.objectId);
  if (objectId !== undefined) caller.objectId = objectId;
  return {
    time: r.time,
    timeField: 'time',
    resourceId: r.resourceId,
    category: r.category,
    operationName: r.operationName,
    operationField: 'operationName',
    resultSignature: r.resultSignature,
    resultType: r.resultType,
    durationMs: r.durationMs,
    callerIpAddress: r.callerIpAddress,
    correlationId: r.correlationId,
    caller,
    props,
  };
}

function fromTable(r: z.output<typeof TableRow>): AiCall {
  const p = r.properties_s ?? NO_PROPERTIES;
  return {
    time: r.TimeGenerated,
    timeField: 'TimeGenerated',
    resourceId: r.ResourceId ?? r._ResourceId,
    category: r.Category,
    operationName: r.OperationName,
    operationField: 'OperationName',
    resultSignature: r.ResultSignature,
    resultType: r.ResultType,
    durationMs: r.DurationMs,
    callerIpAddress: r.CallerIPAddress ?? r.CallerIpAddress,
    correlationId: r.CorrelationId,
    caller: {
      objectId: str(p.objectId) ?? r.objectId_g ?? r.objectId_s ?? r.identity_claim_oid_g,
      upn: r.identity_claim_upn_s,
      appId: r.identity_claim_appid_g,
    },
    props: {
      ...p,
      apiName: p.apiName ?? r.apiName_s,
      modelDeploymentName: p.modelDeploymentName ?? r.modelDeploymentName_s,
      modelName: p.modelName ?? r.modelName_s,
      modelVersion: p.modelVersion ?? r.modelVersion_s,
      streamType: p.streamType ?? r.streamType_s,
      requestLength: p.requestLength ?? r.requestLength_d,
      responseLength: p.responseLength ?? r.responseLength_d,
      promptTokens: p.promptTokens ?? r.promptTokens_d,
      completionTokens: p.completionTokens ?? r.completionTokens_d,
      totalTokens: p.totalTokens ?? r.totalTokens_d,
    },
  };
}

function tokenCount(v: AiProperties['promptTokens']): number | undefined {
  if (!Array.isArray(v)) return num(v);
  let sum: number | undefined;
  for (const item of v) {
    const n = num(item);
    if (n !== undefined) sum = (sum ?? 0) + n;
  }
  return sum;
}

/**
 * The caller's object id when Entra authenticated the call; a data-plane call without one was made
 * with an account key. A control-plane (Audit) call without one, or a key call whose resource id
 * names no account, has no identifiable actor: `unknown`.
 */
function principalOf(call: AiCall, account: string | undefined, resourceId: string | undefined): Principal {
  const principal = principalFromCaller(call.caller, 'unknown');
  if (principal) return principal;
  if (call.category.toLowerCase() === CONTROL_PLANE || !account) return unknownPrincipal(resourceId ?? 'ai', str(call.caller.name));
  return keyPrincipal(account);
}

function toEvent(call: AiCall): EventParts {
  const time = eventTime(call.time, call.timeField);
  const operation = eventOperation(call.operationName, call.operationField);
  const target = targetResource(str(call.resourceId));
  const account = target.name;
  const principal = principalOf(call, account, target.resourceId);
  const p = call.props;
  const statusCode = num(call.resultSignature);
  const promptTokens = tokenCount(p.promptTokens);
  const completionTokens = tokenCount(p.completionTokens) ?? tokenCount(p.generatedTokens);
  const totalTokens = tokenCount(p.totalTokens) ?? (promptTokens !== undefined && completionTokens !== undefined ? promptTokens + completionTokens : undefined);

  const details: AiDetails = {};
  put(details, 'account', account);
  put(details, 'authType', principal.principalType === 'key' ? 'key' : 'entra');
  put(details, 'deployment', str(p.modelDeploymentName));
  put(details, 'model', str(p.modelName));
  put(details, 'modelVersion', str(p.modelVersion));
  put(details, 'apiVersion', API_VERSION.exec(p.apiName ?? '')?.[1]);
  put(details, 'streamType', str(p.streamType));
  put(details, 'statusCode', statusCode);
  put(details, 'requestLength', num(p.requestLength));
  put(details, 'responseLength', num(p.responseLength));
  put(details, 'promptTokens', promptTokens);
  put(details, 'completionTokens', completionTokens);
  put(details, 'totalTokens', totalTokens);
  put(details, 'durationMs', duration(call.durationMs));

  return {
    time,
    category: call.category,
    operation,
    result: requestResult(statusCode, call.resultType),
    principal,
    ip: callerIp(call.callerIpAddress),
    tenantId: lowerGuid(call.caller.tenantId),
    target,
    correlationId: str(call.correlationId),
    details,
    // A request can log two RequestResponse rows with one correlation id and one time, one per deployment.
    distinguishing: [details.deployment],
  };
}

/** Records whose resource id names no provider (anonymised samples) are AI only if their properties say so. */
function looksLikeAi(record: RawRecord): boolean {
  const props = obj(record.properties);
  return props !== undefined && ('modelDeploymentName' in props || 'apiName' in props);
}

/** Whether a resource id names a Cognitive Services resource (true), another provider's (false), or no provider (undefined), worked out once per id. */
const cognitiveResources = new ByResourceId((id) => (COGNITIVE_RESOURCE.test(id) ? true : ANY_PROVIDER.test(id) ? false : undefined));

export const aiSource = defineSource({
  source: 'ai',
  streamCategories: CATEGORIES,
  tables: ['AzureDiagnostics'],
  // Audit, Trace and RequestResponse are category names other services use too: claim only Cognitive Services records.
  accepts(record, shape) {
    if (shape === 'stream') {
      const id = str(record.resourceId);
      const cognitive = id ? cognitiveResources.get(id) : undefined;
      if (cognitive !== undefined) return cognitive;
      return lower(record.category) === 'azureopenairequestusage' || looksLikeAi(record);
    }
    const category = lower(record.Category);
    if (category === undefined || !CATEGORY_SET.has(category)) return false;
    const provider = lower(record.ResourceProvider);
    if (provider !== undefined) return provider === 'microsoft.cognitiveservices';
    const id = str(record.ResourceId) ?? str(record._ResourceId);
    return id !== undefined && COGNITIVE_RESOURCE.test(id);
  },
  stream: recordShape(StreamRecord, fromStream, streamConforms),
  table: recordShape(TableRow, fromTable, tableConforms),
  toEvent,
});
