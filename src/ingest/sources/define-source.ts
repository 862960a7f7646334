import { z } from 'zod';
import type { Details, NormalizedEvent, Result, Source } from '../../model/index.js';
import type { RawRecord, SourceNormalizer } from '../types.js';
import { bounded, boundLoggedTexts, MAX_ID_LENGTH } from '../limits.js';
import { compiled } from '../schema.js';
import { eventId } from '../util.js';
import { schemaError, type Address, type Guid, type Principal, type TargetResource } from './resource-log.js';

/**
 * The skeleton every source module fills in (one source, one file): its categories and tables, how
 * to read each shape of its records (stream record, Log Analytics row) into one source-specific
 * value, and what event that value makes. Parsing, schema rejections and the assembly of the
 * NormalizedEvent (optional fields, id) happen here, the same way for every source.
 *
 * Each shape is read two ways. The fast path: the source's hand-written `conforms`, plain `typeof`
 * checks of the fields its schema declares, which hands back the record itself (no copy) when every
 * field is what the schema would take unchanged. The schema (zod) reads whatever `conforms`
 * declines: records of the wrong shape, whose reason it words, and the rare valid ones the fast path
 * leaves to it (a JSON-encoded `properties`, say). Both give the same value to `read`, so the same
 * event and the same dead letters (test/ingest/fast-path.test.ts holds them to it).
 */

type Shape = 'stream' | 'table';

/** One shape of a source's records: validated, then read into what the source's toEvent takes. */
export interface RecordShape<T> {
  /** The schema's reading: throws InvalidRecordError naming the first field that does not match. */
  parse(record: RawRecord, label: string): T;
  /** The same value as `parse` for the records it takes, without the schema; undefined for the rest (then `parse` reads them). */
  fast?(record: RawRecord): T | undefined;
  /** The schemas `parse` reads with (the equality test generates records from the fields they declare). */
  readonly schemas: readonly z.ZodType[];
}

/**
 * `conforms` returns what the schema would give `read` (the record itself, or for rows the
 * record mapped to stream shape) when it can tell with `typeof` checks alone, else undefined. It
 * may decline anything; it must never take a record the schema rejects or would change.
 */
export function recordShape<S extends z.ZodType, T>(
  schema: S,
  read: (parsed: z.output<S>) => T,
  conforms?: (record: RawRecord) => z.output<S> | undefined,
): RecordShape<T> {
  const shape: RecordShape<T> = {
    schemas: [schema],
    parse(record, label) {
      const parsed = schema.safeParse(record);
      if (!parsed.success) throw schemaError(label, parsed.error);
      return read(parsed.data);
    },
  };
  if (conforms)
    shape.fast = (record) => {
      const parsed = conforms(record);
      return parsed === undefined ? undefined : read(parsed);
    };
  return shape;
}

/**
 * The table shape of a source whose Log Analytics rows are mapped onto its stream records (activity,
 * sign-ins, directory audits, Graph activity), so one schema validates both: `asStream` maps the
 * row, then the stream record's schema and `conforms` read it. A row that is not an object is left
 * to the schema to reject.
 */
export function rowsAsStream<S extends z.ZodType, T>(
  streamSchema: S,
  asStream: (row: RawRecord) => RawRecord,
  read: (parsed: z.output<S>) => T,
  conforms: (record: RawRecord) => z.output<S> | undefined,
): RecordShape<T> {
  const mapped = (row: unknown): unknown => (row && typeof row === 'object' ? asStream(row as RawRecord) : row);
  const rowSchema = compiled(z.preprocess(mapped, streamSchema));
  return recordShape<typeof rowSchema, T>(rowSchema, read, (row) => conforms(mapped(row) as RawRecord));
}

/** What a source found in one record; buildEvent turns it into the event. */
export interface EventParts {
  time: number;
  category: string;
  operation: string;
  result: Result;
  principal: Principal;
  /** The client application, when the source names one apart from the principal (sign-ins); else the principal's. */
  appId?: string;
  ip?: Address;
  tenantId?: Guid;
  target: Readonly<TargetResource>;
  /** The subscription when the target's resource id names none. */
  subscriptionId?: Guid;
  correlationId?: string;
  /** Another identity the event is about, whose key it also reaches (NormalizedEvent.targetPrincipalId). */
  targetPrincipalId?: Guid;
  /** The actor's app id when the actor is an application's service principal (NormalizedEvent.principalAppId). */
  principalAppId?: Guid;
  details: Details;
  /** The record's own unique id, when the stream record and its row both carry it (sign-ins). */
  recordId?: string;
  /** What tells apart records that share the common identifying fields: eventId's extras (docs/sources.md, "Event ids"). */
  distinguishing?: ReadonlyArray<string | number | boolean | undefined>;
}

/**
 * The NormalizedEvent for `parts`: fields in one order for every source, optional ones only when
 * present, cut and redacted as limits.ts bounds every event. Only the texts copied from the record
 * as logged need the patterns (boundLoggedTexts); the rest are of shapes no credential fits in
 * (hex ids, GUIDs, addresses: their types say which reader made them) or were bounded once per
 * resource (the target), so they are only cut where they could be long.
 */
export function buildEvent(source: Source, parts: EventParts): NormalizedEvent {
  const { principal, target } = parts;
  const event: NormalizedEvent = {
    id: '',
    time: parts.time,
    source,
    category: parts.category,
    operation: parts.operation,
    result: parts.result,
    principalId: principal.principalId,
    principalType: principal.principalType,
    details: parts.details,
  };
  if (principal.principalName) event.principalName = principal.principalName;
  const appId = parts.appId ?? principal.appId;
  if (appId) event.appId = appId;
  if (parts.ip) event.ip = keptAddress(parts.ip);
  if (parts.tenantId) event.tenantId = parts.tenantId;
  const subscriptionId = target.subscriptionId ?? parts.subscriptionId;
  if (subscriptionId) event.subscriptionId = subscriptionId;
  if (target.resourceId) event.resourceId = target.resourceId;
  if (target.resourceType) event.resourceType = target.resourceType;
  if (parts.correlationId) event.correlationId = parts.correlationId;
  // The id hashes the fields as logged, before they are cut or redacted.
  event.id = parts.recordId === undefined ? eventId(event, parts.distinguishing) : bounded(parts.recordId, MAX_ID_LENGTH);
  if (parts.targetPrincipalId) event.targetPrincipalId = parts.targetPrincipalId;
  if (parts.principalAppId) event.principalAppId = parts.principalAppId;
  if (target.kept) {
    event.resourceId = target.kept.resourceId;
    if (target.kept.resourceType) event.resourceType = target.kept.resourceType;
  }
  boundLoggedTexts(event);
  return event;
}

/** Only an IPv6 zone (`fe80::1%…`) can hold the letters a credential needs; an address without one is only cut. */
function keptAddress(ip: Address): string {
  if (ip.includes('%')) return bounded(ip, MAX_ID_LENGTH);
  return ip.length <= MAX_ID_LENGTH ? ip : ip.slice(0, MAX_ID_LENGTH);
}

export interface SourceDefinition<T> {
  source: Source;
  /** How rejection reasons name the source, when not by `source`. */
  label?: string;
  streamCategories: readonly string[];
  tables: readonly string[];
  accepts?: SourceNormalizer['accepts'];
  stream: RecordShape<T>;
  table: RecordShape<T>;
  /** The shape a record is really in, when the registry's guess can be wrong (Entra exports that spell stream records with row columns). */
  shapeOf?: (record: RawRecord, shape: Shape) => Shape;
  toEvent: (read: T) => EventParts;
}

/** What defineSource gives: the source's normalizer, its fast path alone, and the source read by its schemas alone. */
export interface DefinedSource extends SourceNormalizer {
  /** The event by the fast path, or undefined when it declines the record (`normalize` then reads it by the schema). */
  fast(record: RawRecord, shape: Shape): NormalizedEvent | undefined;
  /** The schema path for every record: what the fast path is held equal to. */
  readonly reference: SourceNormalizer;
  /** Every schema of both shapes. */
  readonly schemas: readonly z.ZodType[];
}

export function defineSource<T>(definition: SourceDefinition<T>): DefinedSource {
  const { source, stream, table, shapeOf, toEvent } = definition;
  const label = definition.label ?? source;
  const pick = (record: RawRecord, shape: Shape): RecordShape<T> => ((shapeOf ? shapeOf(record, shape) : shape) === 'table' ? table : stream);
  const normalizer = (normalize: SourceNormalizer['normalize']): SourceNormalizer => {
    const n: SourceNormalizer = { source, streamCategories: definition.streamCategories, tables: definition.tables, boundsEvents: true, normalize };
    if (definition.accepts) n.accepts = definition.accepts;
    return n;
  };
  const reference = normalizer((record, shape) => buildEvent(source, toEvent(pick(record, shape).parse(record, label))));
  const fast = (record: RawRecord, shape: Shape): NormalizedEvent | undefined => {
    const read = pick(record, shape).fast?.(record);
    return read === undefined ? undefined : buildEvent(source, toEvent(read));
  };
  return Object.assign(
    normalizer((record, shape) => fast(record, shape) ?? reference.normalize(record, shape)),
    { fast, reference, schemas: [...stream.schemas, ...table.schemas] },
  );
}
