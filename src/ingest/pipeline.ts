import type { NormalizedEvent, RecordLocation } from '../model/index.js';
import { deadLetter, decodeBody, keepDeadLetter, messageOf, type DeadLetterSample, type DecodedBody } from './envelope.js';
import { SourceRegistry } from './registry.js';
import { InvalidRecordError } from './types.js';
import { redactSecrets } from '../common/redact.js';
import { boundEvent, eventTimeProblem, type EventTimeBounds } from './limits.js';

/** What one body gave. Invariant: records = events.length + Σ skippedByCategory + deadLetters.length + deadLettersNotKept. */
export interface IngestResult extends DeadLetterSample {
  records: number;
  events: Array<{ event: NormalizedEvent; location: RecordLocation }>;
  skippedByCategory: Record<string, number>;
  bySource: Record<string, number>;
  /** Events read from Log Analytics rows: a file lists them in the query's order (a portal export newest first), not in time order. */
  rowEvents?: number;
}

/** Event-time order; equal times by id, so the order never depends on how the service listed rows. */
export function byEventTime(a: NormalizedEvent, b: NormalizedEvent): number {
  return a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export interface IngestOptions {
  /** The Log Analytics table the body was read from, when the caller knows it (backtest). */
  table?: string;
  /** Every record is a Log Analytics row (a backtest export), even in a plain JSON array. */
  rows?: boolean;
  /** Which source modules to use; the five built-in ones by default. */
  registry?: SourceRegistry;
  /** Bounds on event times; default: no later than the wall clock when the body is read plus DEFAULT_MAX_CLOCK_SKEW_MS. */
  times?: EventTimeBounds;
}

const defaultRegistry = new SourceRegistry();

/** Counts keyed by user-controlled names (categories): no prototype, so `__proto__` is just a name. */
export function counts(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

function add(into: Record<string, number>, key: string, n = 1): void {
  into[key] = (into[key] ?? 0) + n;
}

/** Categories named one by one in skipped counts; the rest are counted together (a writer to the hub can invent any number). */
export const MAX_SKIPPED_CATEGORIES = 50;
const OTHER_CATEGORIES = '(other categories)';
const MAX_CATEGORY_NAME = 64;

/** Count a skipped record under its category: the name cut and without credentials, as it is printed and sent. */
function addSkipped(into: Record<string, number>, category: string, n = 1): void {
  let name = redactSecrets(category.length > MAX_CATEGORY_NAME ? category.slice(0, MAX_CATEGORY_NAME) : category);
  if (into[name] === undefined && Object.keys(into).length >= MAX_SKIPPED_CATEGORIES) name = OTHER_CATEGORIES;
  add(into, name, n);
}

/**
 * Decode and normalize one body. Synchronous and never throws for bad input: a record that cannot
 * be decoded, has no category, or that its normalizer rejects becomes a dead letter with the reason
 * and where it came from; a record of a category no module handles is counted as skipped.
 */
export function ingestBody(body: unknown, location: RecordLocation, options: IngestOptions = {}): IngestResult {
  return ingestDecoded(decodeBody(body, location), options);
}

/** A body the capture reader could not read at all (corrupt gzip or Avro): one dead letter. */
export function unreadableBody(reason: string, location: RecordLocation, raw: unknown): IngestResult {
  return { records: 1, events: [], deadLetters: [deadLetter(reason, location, raw)], deadLettersNotKept: 0, skippedByCategory: counts(), bySource: counts() };
}

function ingestDecoded(decoded: DecodedBody, options: IngestOptions): IngestResult {
  const registry = options.registry ?? defaultRegistry;
  const times = options.times ?? { arrivedAt: Date.now() };
  const result: IngestResult = {
    records: decoded.records.length + decoded.deadLetters.length + decoded.deadLettersNotKept,
    events: [],
    deadLetters: decoded.deadLetters,
    deadLettersNotKept: decoded.deadLettersNotKept,
    skippedByCategory: counts(),
    bySource: counts(),
  };
  for (const { record, location, text, row } of decoded.records) {
    const route = registry.route(record, options.table, row || options.rows);
    if (route.kind === 'skip') {
      addSkipped(result.skippedByCategory, route.category);
      continue;
    }
    if (route.kind === 'deadLetter') {
      if (keepDeadLetter(result)) result.deadLetters.push(deadLetter(route.reason, location, text ?? record));
      continue;
    }
    const source = route.normalizer.source;
    let event: NormalizedEvent;
    try {
      event = route.normalizer.normalize(record, route.shape);
    } catch (err) {
      const reason = err instanceof InvalidRecordError ? `${source}: ${err.message}` : `${source} normalizer failed (a bug to report): ${messageOf(err)}`;
      if (keepDeadLetter(result)) result.deadLetters.push(deadLetter(reason, location, text ?? record));
      continue;
    }
    const missing = missingField(event);
    if (missing) {
      if (keepDeadLetter(result))
        result.deadLetters.push(deadLetter(`${source} normalizer returned an event without ${missing} (a bug to report)`, location, text ?? record));
      continue;
    }
    const untrusted = eventTimeProblem(event.time, times);
    if (untrusted) {
      if (keepDeadLetter(result)) result.deadLetters.push(deadLetter(`${source}: ${untrusted}`, location, text ?? record));
      continue;
    }
    if (!route.normalizer.boundsEvents) boundEvent(event);
    result.events.push({ event, location });
    add(result.bySource, source);
    if (route.shape === 'table') result.rowEvents = (result.rowEvents ?? 0) + 1;
  }
  return result;
}

/** Cheap guard on the fields everything downstream keys on; full schema checks live in the tests. */
function missingField(event: NormalizedEvent | undefined): string | undefined {
  if (typeof event !== 'object' || event === null) return 'anything (not an object)';
  if (typeof event.id !== 'string' || !event.id) return 'id';
  if (typeof event.time !== 'number' || !Number.isFinite(event.time)) return 'time';
  if (typeof event.principalId !== 'string' || !event.principalId) return 'principalId';
  return undefined;
}

/** The summary `warden replay --json` prints: counts only, keys sorted so output is stable. */
export interface IngestSummary {
  records: number;
  events: number;
  /** Kept and counted-only dead letters alike. */
  deadLettered: number;
  skipped: number;
  bySource: Record<string, number>;
  skippedByCategory: Record<string, number>;
}

function sorted(c: Record<string, number>): Record<string, number> {
  const out = counts();
  for (const k of Object.keys(c).sort()) out[k] = c[k];
  return out;
}

/** Accumulates counts over many bodies without keeping their events (replay of large folders streams). */
export class IngestTotals {
  records = 0;
  events = 0;
  deadLettered = 0;
  skipped = 0;
  readonly bySource = counts();
  readonly skippedByCategory = counts();

  add(result: IngestResult): void {
    this.records += result.records;
    this.events += result.events.length;
    this.deadLettered += result.deadLetters.length + result.deadLettersNotKept;
    for (const k in result.bySource) add(this.bySource, k, result.bySource[k]);
    for (const k in result.skippedByCategory) {
      this.skipped += result.skippedByCategory[k];
      addSkipped(this.skippedByCategory, k, result.skippedByCategory[k]);
    }
  }

  summary(): IngestSummary {
    return {
      records: this.records,
      events: this.events,
      deadLettered: this.deadLettered,
      skipped: this.skipped,
      bySource: sorted(this.bySource),
      skippedByCategory: sorted(this.skippedByCategory),
    };
  }
}
