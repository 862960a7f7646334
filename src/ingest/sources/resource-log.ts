import { isIP } from 'node:net';
import { z } from 'zod';
import { isFirstPartyClient, unidentifiedPrincipalId, type Details, type PrincipalType, type Result } from '../../model/index.js';
import { boundedLower, MAX_ID_LENGTH, MAX_RESOURCE_ID_LENGTH } from '../limits.js';
import { InvalidRecordError } from '../types.js';
import { isGuid, lower, num, parseTime, resourceName, resourceTypeFromResourceId, stripPort, str, subscriptionFromResourceId } from '../util.js';

/**
 * Field helpers shared by the Azure resource-log sources (ai, keyvault, storage): the parts of
 * the Azure Monitor common schema and of its Log Analytics rows that all three read the same way.
 */

/** zod building blocks tolerant of both shapes: Log Analytics rows carry nulls, streams carry strings for numbers. */
export const text = z.string().nullish();
export const numberish = z.union([z.number(), z.string()]).nullish();
/** The Log Analytics query SDK hands datetime columns over as Date objects. */
export const timeish = z.union([z.string(), z.number(), z.date()]).nullish();

/*
 * The same tests without zod, for the sources' fast paths (define-source.ts): each says whether the
 * schema above takes `v` and gives it back unchanged. zod's numbers are finite, its dates valid.
 */

export function isText(v: unknown): v is string | null | undefined {
  return v === undefined || v === null || typeof v === 'string';
}

export function isNumberish(v: unknown): v is number | string | null | undefined {
  return v === undefined || v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

export function isTimeish(v: unknown): v is number | string | Date | null | undefined {
  return isNumberish(v) || (v instanceof Date && !Number.isNaN(v.getTime()));
}

/** What `z.object` takes: any object but an array (its undeclared keys are dropped; the fast path reads declared ones only). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * What `z.record(z.string(), z.unknown())` gives back with the same keys and values: a plain object
 * (zod's isPlainObject) without symbol keys or an own `__proto__` (which zod's copy would turn into
 * the copy's prototype).
 */
export function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (!isObject(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  const ctor = v.constructor;
  if (typeof ctor === 'function' && ctor !== Object) return false;
  return !Object.hasOwn(v, '__proto__') && Object.getOwnPropertySymbols(v).length === 0;
}

/** The common schema's fields every source's stream record declares alike: `time` (timeish) and text `operationName`, `callerIpAddress`, `correlationId`. */
export function commonFieldsConform(r: Record<string, unknown>): boolean {
  return isTimeish(r.time) && isText(r.operationName) && isText(r.callerIpAddress) && isText(r.correlationId);
}

/** What `z.union([z.string(), z.object({})]).nullish()` takes (an identity that is a display name or an object no field of which is read). */
export function isTextOrObject(v: unknown): boolean {
  return isText(v) || isObject(v);
}

/** Whether every field `names` lists passes `test` (for rows of many flat columns, off the stream's hot path). */
export function fieldsAre(record: Record<string, unknown>, test: (v: unknown) => boolean, names: readonly string[]): boolean {
  for (const name of names) if (!test(record[name])) return false;
  return true;
}

/** What `z.preprocess(obj, schema).nullish()` / `jsonObject(schema)` take unchanged: nothing, or an object `fields` accepts (a JSON string is left to the schema). */
export function isNested<T>(v: unknown, fields: (o: Record<string, unknown>) => boolean): v is T | null | undefined {
  return v === undefined || v === null || (isObject(v) && fields(v));
}

/** A record that failed its source's schema: the first issue, named by its field path. */
export function schemaError(source: string, error: z.ZodError): InvalidRecordError {
  const issue = error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'record';
  return new InvalidRecordError(`${source} record does not match its schema: ${where}: ${issue?.message ?? 'invalid'}`);
}

/** Event time in epoch ms; a record without one cannot be placed in any window, so it is rejected. */
export function eventTime(v: unknown, field: string): number {
  const t = v instanceof Date ? v.getTime() : parseTime(v);
  if (t === undefined || !Number.isFinite(t) || t <= 0) {
    throw new InvalidRecordError(`no usable event time in '${field}' (got ${JSON.stringify(v) ?? 'nothing'})`);
  }
  return t;
}

/** The operation, upper-case; a record without one is a fragment, not an event, so it is rejected. */
export function eventOperation(v: string | null | undefined, field: string): string {
  const operation = v?.trim();
  if (!operation) throw new InvalidRecordError(`no operation in '${field}': a record without one is a fragment, not an event`);
  return operation.toUpperCase();
}

/**
 * Texts of a shape no credential fits in, as their readers below give them, so an event keeps them
 * without redaction (define-source.ts, buildEvent). A GUID is hex digits and dashes.
 */
export type Guid = string & { readonly shape: 'guid' };
/** An IPv4, IPv6 or masked address: digits, hex letters, `.`, `:`, `*`, `X`, and in an IPv6 zone (`%…`) any letters. */
export type Address = string & { readonly shape: 'address' };

export interface TargetResource {
  /** As logged, lower-case: what event ids hash and resource names are read from. */
  resourceId?: string;
  resourceType?: string;
  /** Its last segment (common/ids.ts, resourceName): an account's or a vault's name. */
  name?: string;
  /** Hex digits and dashes (common/ids.ts reads it by that pattern). */
  subscriptionId?: Guid;
  /** The resource id and type as an event keeps them: cut and redacted (limits.ts), once per resource. */
  kept?: { readonly resourceId: string; readonly resourceType?: string };
}

const NO_TARGET: Readonly<TargetResource> = Object.freeze({});

/** Slots of a ByResourceId cache: more than a tenant's resources that log often. */
const SLOTS = 4096;

/** A slot from the id's length, its last 24 characters and a few of its subscription's: what tells a tenant's resource ids apart. */
function slotOf(id: string): number {
  const n = id.length;
  let h = n;
  for (let i = n - 1, stop = Math.max(0, n - 24); i >= stop; i--) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  for (let i = 15; i < 51 && i < n; i += 4) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return (h ^ (h >>> 15)) & (SLOTS - 1);
}

/**
 * What a resource id reads as, worked out once per id: a tenant's resources are few and logged over
 * and over. Looked up by the record's own text without hashing it, as a Map key would be hashed: a
 * fresh 150-character string costs ~280 ns to hash and compare, ~100 to pick its slot and compare
 * here. Two ids sharing a slot take turns in it, so memory stays bounded (SLOTS entries).
 */
export class ByResourceId<T> {
  private readonly ids = new Array<string | undefined>(SLOTS);
  private readonly values = new Array<T | undefined>(SLOTS);

  constructor(private readonly read: (resourceId: string) => T) {}

  get(resourceId: string): T {
    const slot = slotOf(resourceId);
    if (this.ids[slot] === resourceId) return this.values[slot] as T;
    const value = this.read(resourceId);
    this.ids[slot] = resourceId;
    this.values[slot] = value;
    return value;
  }
}

const targets = new ByResourceId<Readonly<TargetResource>>((resourceId) => {
  const id = resourceId.toLowerCase();
  const resourceType = resourceTypeFromResourceId(id);
  const kept = { resourceId: boundedLower(id, MAX_RESOURCE_ID_LENGTH), resourceType: resourceType && boundedLower(resourceType, MAX_ID_LENGTH) };
  const subscriptionId = subscriptionFromResourceId(id) as Guid | undefined;
  return Object.freeze({ resourceId: id, resourceType, name: resourceName(id), subscriptionId, kept: Object.freeze(kept) });
});

/** The target resource's id, type and subscription (lower-case). Shared between records: read it, do not change it. */
export function targetResource(resourceId: string | undefined): Readonly<TargetResource> {
  return resourceId ? targets.get(resourceId) : NO_TARGET;
}

/** An address masked by the service (`81.2.69.***`, `87.174.239.XXX`): kept as logged. */
const MASKED_IP = /^[0-9a-f.:]*[.:](\*+|X+)$/i;

/**
 * Caller IP without port; masked addresses (`81.2.69.***`) kept; anything else that is not an
 * address (placeholders such as `<Redacted>`, a GUID some services write there) dropped, so no
 * rule compares it as one.
 */
export function callerIp(v: unknown): Address | undefined {
  const ip = stripPort(v);
  return ip && isAddress(ip) ? (ip as Address) : undefined;
}

/** isIP or MASKED_IP, cheapest first: most are IPv4 (read by hand) or masked with `*`, which ends no address. */
function isAddress(ip: string): boolean {
  if (isDottedQuad(ip)) return true;
  if (ip.charCodeAt(ip.length - 1) === 42) return MASKED_IP.test(ip);
  return isIP(ip) !== 0 || MASKED_IP.test(ip);
}

/** Four decimal octets 0–255 without leading zeros: what node:net's isIPv4 takes, read without its regex (never true where it is false). */
function isDottedQuad(s: string): boolean {
  const n = s.length;
  let i = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (s.charCodeAt(i) !== 46) return false;
      i++;
    }
    const start = i;
    let value = 0;
    while (i < n && i - start < 4) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      value = value * 10 + d;
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || value > 255 || (digits > 1 && s.charCodeAt(start) === 48)) return false;
  }
  return i === n;
}

/** HTTP status → result; undefined when there is no usable status. */
export function resultFromStatus(status: number | undefined): Result | undefined {
  if (status === undefined || status < 100) return undefined;
  return status < 400 ? 'success' : 'failure';
}

/**
 * A result word as services write it, for lookup: lower-case, without surrounding spaces or
 * trailing punctuation (`Succeeded.` in some forwarded activity records).
 */
export function resultWord(v: unknown): string | undefined {
  const s = lower(v);
  if (s === undefined) return undefined;
  const last = s.charCodeAt(s.length - 1);
  // Only `.`, `!` or a space at the end costs a regex; nearly every record skips it.
  return last === 46 || last === 33 || last === 32 || s.charCodeAt(0) === 32 ? s.trim().replace(/[.!]+$/, '') : s;
}

/**
 * `Success`, `Succeeded`, `Failed`, `ClientOtherError`, `Start`, storage's metric response types
 * (`SASSuccess`, `AuthorizationError`) … → result; undefined when unrecognised.
 */
export function resultFromText(v: unknown): Result | undefined {
  const s = resultWord(v);
  if (!s) return undefined;
  if (s === 'success' || s === 'succeeded' || s === 'ok' || s.endsWith('success')) return 'success';
  if (s === 'start' || s === 'started') return 'start';
  if (s === 'failed' || s === 'failure' || s.endsWith('error')) return 'failure';
  return undefined;
}

/** The result of a request: its HTTP status, else its logged result word, else `unknown`. */
export function requestResult(status: number | undefined, word: unknown): Result {
  return resultFromStatus(status) ?? resultFromText(word) ?? 'unknown';
}

/** Lower-cased GUID, or undefined for anything else (`/TENANT_ID`, a region name in `Tenant`). */
export function lowerGuid(v: unknown): Guid | undefined {
  return isGuid(v) ? (v.toLowerCase() as Guid) : undefined;
}

/** Non-negative milliseconds; services sometimes log negative durations, which mean nothing. */
export function duration(v: unknown): number | undefined {
  const n = num(v);
  return n !== undefined && n >= 0 ? n : undefined;
}

/** Who made the call, as the token claims (or their Log Analytics columns) describe them. */
export interface Caller {
  objectId?: unknown;
  appId?: unknown;
  upn?: unknown;
  /** `idtyp` claim: `user` or `app`. */
  idType?: unknown;
  /** `xms_mirid` / `xms_az_mirid`: the managed identity's ARM id, present only for managed identities. */
  managedIdentityResourceId?: unknown;
  tenantId?: unknown;
  name?: unknown;
}

export interface Principal {
  principalId: string;
  principalType: PrincipalType;
  principalName?: string;
  appId?: string;
}

/** The long claim names Azure writes next to (or instead of) the short ones. */
const CLAIM = {
  objectId: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  tenantId: 'http://schemas.microsoft.com/identity/claims/tenantid',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
} as const;

/** Caller from a JWT claim map as logged in `identity.claim`: short or long claim names. */
export function callerFromClaims(claim: Record<string, unknown> | null | undefined): Caller {
  if (!claim) return {};
  return {
    objectId: claim.oid ?? claim[CLAIM.objectId],
    appId: claim.appid ?? claim.azp,
    upn: claim.upn ?? claim[CLAIM.upn],
    idType: claim.idtyp,
    managedIdentityResourceId: claim.xms_mirid ?? claim.xms_az_mirid,
    tenantId: claim.tid ?? claim[CLAIM.tenantId],
    name: claim.name ?? claim[CLAIM.name],
  };
}

/**
 * The actor: object id, else the UPN, else app id (lower-case), never the app id of a Microsoft
 * public client (the CLI, the portal: see FIRST_PARTY_CLIENTS), which every user of that tool
 * shares. Type: a UPN means a user, `xms_mirid` a managed identity, `idtyp` says user or app;
 * otherwise `fallback`, which each source picks from what its logs can tell. Undefined when the
 * caller carries no id that names it.
 */
export function principalFromCaller(caller: Caller, fallback: PrincipalType): Principal | undefined {
  const objectId = lower(caller.objectId);
  const appId = lower(caller.appId);
  const upn = str(caller.upn);
  // A user's token names the client it came through as its app id: the UPN says who acted.
  const principalId = objectId ?? upn?.toLowerCase() ?? (isFirstPartyClient(appId) ? undefined : appId);
  if (!principalId) return undefined;
  const mirid = str(caller.managedIdentityResourceId);
  const idType = lower(caller.idType);
  const principalType: PrincipalType = upn || idType === 'user' ? 'user' : mirid ? 'managedIdentity' : idType === 'app' ? 'servicePrincipal' : fallback;
  const principal: Principal = { principalId, principalType };
  const name = upn ?? str(caller.name) ?? (mirid ? mirid.slice(mirid.lastIndexOf('/') + 1) : undefined);
  if (name) principal.principalName = name;
  if (appId) principal.appId = appId;
  return principal;
}

/**
 * No identifiable actor (docs/sources.md, "Principals"): still an event, keyed `unknown:<scope>`
 * (the resource it acted on, else the source and how it came in) so that no two resources' callers,
 * and no real principal, share its key; with a display name when one was logged.
 */
export function unknownPrincipal(scope: string, name?: string): Principal {
  const principal: Principal = { principalId: unidentifiedPrincipalId(scope), principalType: 'unknown' };
  if (name) principal.principalName = name;
  return principal;
}

/** Key or SAS access with no identity: the account (or vault) is the only actor there is. */
export function keyPrincipal(account: string): Principal {
  return { principalId: `key:${account.toLowerCase()}`, principalType: 'key' };
}

/** Host and path of an absolute URL, without allocating a URL object on the hot path. */
export function urlParts(uri: string): { host: string; path: string } | undefined {
  const scheme = uri.indexOf('://');
  if (scheme < 0) return undefined;
  const hostStart = scheme + 3;
  const query = uri.indexOf('?', hostStart);
  const fragment = uri.indexOf('#', hostStart);
  let end = uri.length;
  if (query >= 0) end = query;
  if (fragment >= 0 && fragment < end) end = fragment;
  const slash = uri.indexOf('/', hostStart);
  const hostEnd = slash >= 0 && slash < end ? slash : end;
  const hostPort = uri.slice(hostStart, hostEnd);
  const colon = hostPort.lastIndexOf(':');
  const host = (colon >= 0 && !hostPort.endsWith(']') ? hostPort.slice(0, colon) : hostPort).toLowerCase();
  return { host, path: hostEnd < end ? uri.slice(hostEnd, end) : '/' };
}

/** Path segments without empty ones: `/a//b/` → `['a', 'b']`. */
export function segments(path: string): string[] {
  return path.split('/').filter(Boolean);
}

/** Adds only defined values, so `details` stays small and flat. */
export function put<D extends Details, K extends keyof D & string>(details: D, key: K, value: D[K] | undefined): void {
  if (value !== undefined) details[key] = value;
}
