import type { NormalizedEvent, Source } from '../model/index.js';
import { WardenError } from '../common/errors.js';

/** One decoded log record before validation: a stream record or a Log Analytics row. */
export type RawRecord = Record<string, unknown>;

/** Thrown by a normalizer when a record of a handled category cannot be made into an event. */
export class InvalidRecordError extends WardenError {
  override name = 'InvalidRecordError';
  readonly userFixable = false;
}

/**
 * One log source: its zod schema and normalizer, in stream shape and in Log Analytics shape.
 * The registry (src/ingest/registry.ts) picks a module by the record's category or table.
 */
export interface SourceNormalizer {
  source: Source;
  /** Stream-shape `category` values handled (compared case-insensitively). */
  streamCategories: readonly string[];
  /** Log Analytics tables handled (the row's `Type`, or the table a backtest queried). */
  tables: readonly string[];
  /** Extra check when a category or table is shared by several sources (Audit, AzureDiagnostics). */
  accepts?(record: RawRecord, shape: 'stream' | 'table'): boolean;
  /** Its events come cut and redacted already (define-source.ts); the pipeline bounds any other's (limits.ts, boundEvent). */
  readonly boundsEvents?: boolean;
  /**
   * Normalize one record; throws InvalidRecordError with a reason a human can act on.
   * Policy for every source (docs/sources.md):
   * - Dead letters are for malformed records only: no usable time, no operation, or fields of the
   *   wrong shape. A record with a time and an operation is an event even when it names no actor.
   * - Principal: the actor the record names; `key:<account>` for key/SAS access with no identity;
   *   `azure:<provider>` for activity categories Azure writes itself (health, advisor, autoscale…);
   *   otherwise principalId and principalType `unknown`, keeping any display name and the IP.
   * - Id: the record's own unique id when the stream record and its Log Analytics row both carry it
   *   (sign-ins); otherwise `eventId` (util.ts) over normalized identifying fields, so replay and a
   *   backtest over Log Analytics give the same ids, and the same AlertIds.
   */
  normalize(record: RawRecord, shape: 'stream' | 'table'): NormalizedEvent;
}
