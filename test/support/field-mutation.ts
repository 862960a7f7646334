import fc from 'fast-check';
import { expect } from 'vitest';
import { DEAD_LETTER_RAW_LIMIT, DeadLetterSchema, NormalizedEventSchema } from '../../src/model/index.js';
import { decodeBody } from '../../src/ingest/envelope.js';
import { ingestBody, type IngestResult } from '../../src/ingest/pipeline.js';
import { SourceRegistry } from '../../src/ingest/registry.js';
import { InvalidRecordError, type RawRecord, type SourceNormalizer } from '../../src/ingest/types.js';

/**
 * What the ingest fuzz tests hold every input to: ingesting never throws and accounts for every
 * record; a normalizer gives a contract-valid event or throws InvalidRecordError. Used by the unit
 * tier (own fixtures) and the conformance tier (public samples) alike.
 */

export function accountedFor(r: IngestResult): void {
  const skipped = Object.values(r.skippedByCategory).reduce((a, b) => a + b, 0);
  expect(r.records).toBe(r.events.length + skipped + r.deadLetters.length + r.deadLettersNotKept);
  for (const { event } of r.events) {
    const parsed = NormalizedEventSchema.safeParse(event);
    expect(parsed.success, parsed.error?.message).toBe(true);
  }
  for (const d of r.deadLetters) {
    expect(DeadLetterSchema.safeParse(d).success).toBe(true);
    expect(d.reason).not.toBe('');
    expect(Buffer.byteLength(d.raw)).toBeLessThanOrEqual(DEAD_LETTER_RAW_LIMIT);
  }
}

/** JSON text of generated values, which may hold BigInts. */
export function json(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'null';
}

export function ingestOk(body: unknown): IngestResult {
  const r = ingestBody(body, { file: 'fuzz', partitionId: '0', sequenceNumber: 1 });
  accountedFor(r);
  return r;
}

/** A normalizer's answer is an event that passes the contract, or InvalidRecordError — nothing else. */
export function normalizeOk(n: SourceNormalizer, record: RawRecord, shape: 'stream' | 'table'): void {
  let event;
  try {
    event = n.normalize(record, shape);
  } catch (err) {
    if (err instanceof InvalidRecordError) {
      expect(err.message).not.toBe('');
      return;
    }
    throw new Error(`${n.source}.normalize threw ${(err as Error)?.name}: ${(err as Error)?.message} for ${json(record).slice(0, 500)}`);
  }
  const parsed = NormalizedEventSchema.safeParse(event);
  expect(parsed.success, `${n.source}: ${parsed.error?.message} for ${json(record).slice(0, 500)}`).toBe(true);
}

/** Any JavaScript value, including what JSON cannot carry (Dates, Maps, sparse arrays, null prototypes, BigInts, boxed values). */
export const anyValue = fc.anything({
  withNullPrototype: true,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withBoxedValues: true,
  withUnicodeString: true,
});

// Just over the dead-letter limit, so cutting is exercised without making every mutant slow.
export const HUGE = 'A'.repeat(DEAD_LETTER_RAW_LIMIT + 4096);

/** Values of every wrong type to put in each field of a well-formed record. */
const WRONG: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  1e21,
  Number.MAX_SAFE_INTEGER + 2,
  true,
  false,
  '',
  ' ',
  'x',
  '2025-13-45T99:99:99Z',
  '::',
  '{',
  '[1,2]',
  [],
  [null],
  [{}],
  {},
  { a: { b: [1] } },
  HUGE,
  'ä😀'.repeat(1000),
  '__proto__',
];

function withField(record: RawRecord, path: string[], value: unknown): RawRecord {
  const copy: RawRecord = { ...record };
  if (path.length === 1) {
    if (value === undefined) delete copy[path[0]];
    else copy[path[0]] = value;
  } else {
    copy[path[0]] = withField(record[path[0]] as RawRecord, path.slice(1), value);
  }
  return copy;
}

/** Top-level fields and the fields of object-valued fields (properties, identity, …). */
function paths(record: RawRecord): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(record)) {
    out.push([k]);
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const inner of Object.keys(v)) out.push([k, inner]);
  }
  return out;
}

export interface Seed {
  record: RawRecord;
  normalizer: SourceNormalizer;
  shape: 'stream' | 'table';
}

/** Records the registry routes to a normalizer, at most `perCategory` of each source and category (or table). */
export function seedsFrom(bodies: Iterable<unknown>, perCategory = 3): Seed[] {
  const registry = new SourceRegistry();
  const taken = new Map<string, number>();
  const out: Seed[] = [];
  for (const body of bodies) {
    for (const { record, row } of decodeBody(body).records) {
      const route = registry.route(record, undefined, row);
      if (route.kind !== 'normalize') continue;
      const key = `${route.normalizer.source}/${route.shape}/${String(record.category ?? record.Type)}`;
      if ((taken.get(key) ?? 0) >= perCategory) continue;
      taken.set(key, (taken.get(key) ?? 0) + 1);
      out.push({ record, normalizer: route.normalizer, shape: route.shape });
    }
  }
  return out;
}

/** Every seed field (and field of an object-valued field) set to every wrong value, one mutant each. */
export function* mutantsOf(record: RawRecord): Generator<{ path: string[]; value: unknown; mutant: RawRecord }> {
  for (const path of paths(record)) for (const value of WRONG) yield { path, value, mutant: withField(record, path, value) };
}

/**
 * Puts every wrong value in every field of each seed: each mutant must normalize to a valid event
 * or InvalidRecordError, and a body of all of a seed's mutants must be accounted for. Returns the
 * distinct failures (empty when all hold) and how many mutants were tried.
 */
export function mutateEveryField(seeds: Seed[]): { failures: string[]; tried: number } {
  let tried = 0;
  const failures = new Set<string>();
  for (const { record, normalizer, shape } of seeds) {
    const mutants: RawRecord[] = [];
    for (const { path, value, mutant } of mutantsOf(record)) {
      mutants.push(mutant);
      try {
        normalizeOk(normalizer, mutant, shape);
      } catch (err) {
        const what = typeof value === 'string' && value.length > 20 ? `string(${value.length})` : json(value);
        failures.add(`${normalizer.source} ${path.join('.')}=${what}: ${(err as Error).message.replace(/ for \{.*$/s, '').slice(0, 200)}`);
      }
    }
    try {
      expect(ingestOk({ records: mutants }).records).toBe(mutants.length);
    } catch (err) {
      failures.add(`ingestBody: ${(err as Error).message.slice(0, 300)}`);
    }
    tried += mutants.length;
  }
  return { failures: [...failures], tried };
}
