import type { z } from 'zod';
import type { Details, NormalizedEvent, Result, Source } from '../../model/index.js';
import type { RawRecord, SourceNormalizer } from '../types.js';
import { eventId } from '../util.js';
import { schemaError, type Principal, type TargetResource } from './resource-log.js';

/**
 * The skeleton every source module fills in (one source, one file): its categories and tables, how
 * to read each shape of its records (stream record, Log Analytics row) into one source-specific
 * value, and what event that value makes. Parsing, schema rejections and the assembly of the
 * NormalizedEvent (optional fields, id) happen here, the same way for every source.
 */

type Shape = 'stream' | 'table';

/** One shape of a source's records: validated by a schema, then read into what the source's toEvent takes. */
export interface RecordShape<T> {
  /** Throws InvalidRecordError naming the first field that does not match. */
  parse(record: RawRecord, label: string): T;
}

export function recordShape<S extends z.ZodType, T>(schema: S, read: (parsed: z.output<S>) => T): RecordShape<T> {
  return {
    parse(record, label) {
      const parsed = schema.safeParse(record);
      if (!parsed.success) throw schemaError(label, parsed.error);
      return read(parsed.data);
    },
  };
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
  ip?: string;
  tenantId?: string;
  target: Readonly<TargetResource>;
  /** The subscription when the target's resource id names none. */
  subscriptionId?: string;
  correlationId?: string;
  /** Another identity the event is about, whose key it also reaches (NormalizedEvent.targetPrincipalId). */
  targetPrincipalId?: string;
  details: Details;
  /** The record's own unique id, when the stream record and its row both carry it (sign-ins). */
  recordId?: string;
  /** What tells apart records that share the common identifying fields: eventId's extras (docs/sources.md, "Event ids"). */
  distinguishing?: ReadonlyArray<string | number | boolean | undefined>;
}

const NONE: readonly never[] = [];

/** The NormalizedEvent for `parts`: fields in one order for every source, optional ones only when present. */
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
  if (parts.ip) event.ip = parts.ip;
  if (parts.tenantId) event.tenantId = parts.tenantId;
  const subscriptionId = target.subscriptionId ?? parts.subscriptionId;
  if (subscriptionId) event.subscriptionId = subscriptionId;
  if (target.resourceId) event.resourceId = target.resourceId;
  if (target.resourceType) event.resourceType = target.resourceType;
  if (parts.correlationId) event.correlationId = parts.correlationId;
  event.id = parts.recordId ?? eventId(event, ...(parts.distinguishing ?? NONE));
  if (parts.targetPrincipalId) event.targetPrincipalId = parts.targetPrincipalId;
  return event;
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

export function defineSource<T>(definition: SourceDefinition<T>): SourceNormalizer {
  const { source, stream, table, shapeOf, toEvent } = definition;
  const label = definition.label ?? source;
  const normalizer: SourceNormalizer = {
    source,
    streamCategories: definition.streamCategories,
    tables: definition.tables,
    normalize(record, shape) {
      const actual = shapeOf ? shapeOf(record, shape) : shape;
      return buildEvent(source, toEvent((actual === 'table' ? table : stream).parse(record, label)));
    },
  };
  if (definition.accepts) normalizer.accepts = definition.accepts;
  return normalizer;
}
