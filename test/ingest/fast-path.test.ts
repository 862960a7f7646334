import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestBody, type IngestOptions, type IngestResult } from '../../src/ingest/pipeline.js';
import { SourceRegistry } from '../../src/ingest/registry.js';
import { REFERENCE_NORMALIZERS, SOURCE_NORMALIZERS } from '../../src/ingest/sources/index.js';
import type { RawRecord, SourceNormalizer } from '../../src/ingest/types.js';
import type { DefinedSource } from '../../src/ingest/sources/define-source.js';
import { generateWorkload } from '../../synth/scenario.js';
import { anyValue, mutantsOf, seedsFrom } from '../support/field-mutation.js';
import { rowRecord } from '../support/log-analytics-rows.js';

/**
 * Each source reads its records two ways (src/ingest/sources/define-source.ts): a hand-written fast
 * path of `typeof` checks, and its zod schemas, which read whatever the fast path declines and word
 * the dead letters. The two must give the same events, the same dead letters and the same reasons,
 * byte for byte: over the bench workload (seeds 1 and 2) and its Log Analytics rows, over the
 * rules' fixtures, and over malformed variants of them (every field of every kind of record set to
 * every wrong value, and generated ones).
 */

const ARRIVED = Date.parse('2026-01-01T00:00:00Z');
const repo = join(import.meta.dirname, '..', '..');
const reference = new SourceRegistry(REFERENCE_NORMALIZERS);
const referenceOf = new Map(REFERENCE_NORMALIZERS.map((n) => [n.source, n]));

/** An ingest result as text, dead letters without the time they were written; `undefined` values shown, so a key set to undefined differs from a missing one. */
function text(result: IngestResult): string {
  const deadLetters = result.deadLetters.map(({ reason, location, raw }) => ({ reason, location, raw }));
  return JSON.stringify({ ...result, deadLetters }, (_k, v: unknown) => (v === undefined ? '<undefined>' : v));
}

/** Ingests `body` through the fast paths and through the schemas alone; returns both texts (compared by the caller, so a failure shows both). */
function bothWays(body: unknown, options: IngestOptions = {}): [string, string] {
  // Bodies are text where they can be, so each way parses its own records and neither can see what the other did to them.
  // One arrival time for both, or a time refused as too far ahead would name two.
  const both = { ...options, times: { arrivedAt: ARRIVED } };
  return [text(ingestBody(body, { file: 'body' }, both)), text(ingestBody(body, { file: 'body' }, { ...both, registry: reference }))];
}

/** What one normalizer makes of one record: the event, or the error it throws. */
function outcome(n: SourceNormalizer, record: RawRecord, shape: 'stream' | 'table'): string {
  try {
    return JSON.stringify(n.normalize(record, shape), (_k, v: unknown) => (v === undefined ? '<undefined>' : v));
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

const workloads = [1, 2].map((seed) => generateWorkload({ seed, records: 20_000, principals: 1_000 }));
const workloadRecords = workloads.flatMap((w) => w.bodies.flatMap((b) => (JSON.parse(b) as { records: RawRecord[] }).records));

/** Every rule fixture body (directory and Graph records come only from these). */
function fixtureBodies(): string[] {
  const dir = join(repo, 'detections');
  const out: string[] = [];
  for (const folder of readdirSync(dir)
    .filter((f) => f.endsWith('.fixtures'))
    .sort()) {
    for (const file of readdirSync(join(dir, folder)).sort()) {
      if (/\.(json|ndjson)$/.test(file) && file !== 'cases.json') out.push(readFileSync(join(dir, folder, file), 'utf8'));
    }
  }
  return out;
}

/** The records of the fixture bodies that hold `{"records":[…]}` (NDJSON ones are read as bodies only). */
function recordsOf(bodies: readonly string[]): RawRecord[] {
  return bodies.flatMap((b) => {
    try {
      const doc = JSON.parse(b) as { records?: RawRecord[] };
      return Array.isArray(doc.records) ? doc.records : [];
    } catch {
      return [];
    }
  });
}

function rowBodies(records: readonly RawRecord[]): string[] {
  const rows = records.map(rowRecord).filter((r): r is RawRecord => r !== undefined);
  const out: string[] = [];
  for (let i = 0; i < rows.length; i += 100) out.push(JSON.stringify(rows.slice(i, i + 100)));
  return out;
}

// Byte-for-byte comparisons over whole workloads: minutes on a busy 2-core machine.
describe('the fast paths give what the schemas give', { timeout: 600_000 }, () => {
  it('the fast path reads every record of the bench workload, in both shapes (else it speeds nothing up)', () => {
    const registry = new SourceRegistry();
    const declined = new Map<string, number>();
    const rows = workloadRecords.map(rowRecord).filter((r): r is RawRecord => r !== undefined);
    for (const record of [...workloadRecords, ...rows]) {
      const route = registry.route(record);
      if (route.kind !== 'normalize') throw new Error(`workload record not normalized: ${route.kind}`);
      const n = SOURCE_NORMALIZERS.find((s) => s === route.normalizer)!;
      if (n.fast(record, route.shape) === undefined) declined.set(`${n.source}/${route.shape}`, (declined.get(`${n.source}/${route.shape}`) ?? 0) + 1);
    }
    expect(Object.fromEntries(declined)).toEqual({});
  });

  it('the bench workload, seeds 1 and 2: every body, as stream records and as Log Analytics rows', () => {
    let compared = 0;
    for (const w of workloads) {
      for (const body of w.bodies) {
        const [fast, slow] = bothWays(body);
        expect(fast).toBe(slow);
        compared++;
      }
    }
    for (const body of rowBodies(workloadRecords)) {
      const [fast, slow] = bothWays(body, { rows: true });
      expect(fast).toBe(slow);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(800);
  });

  it('the rules fixtures, and their records as rows', () => {
    const bodies = fixtureBodies();
    for (const body of bodies) {
      const [fast, slow] = bothWays(body);
      expect(fast).toBe(slow);
    }
    for (const body of rowBodies(recordsOf(bodies))) {
      const [fast, slow] = bothWays(body, { rows: true });
      expect(fast).toBe(slow);
    }
  });

  it('every field of three records of each source, category and table set to every wrong value', () => {
    const fixtures = fixtureBodies();
    const sample = [...workloadRecords.filter((_, i) => i % 50 === 0), ...recordsOf(fixtures)];
    // Rows carry their table in `Type`, so the registry reads them in table shape.
    const seeds = seedsFrom([...workloads.map((w) => w.bodies.join('\n')), ...fixtures, ...rowBodies(sample)], 3);
    // Every source, in both shapes.
    expect(new Set(seeds.map((s) => `${s.normalizer.source}/${s.shape}`)).size).toBe(SOURCE_NORMALIZERS.length * 2);
    let tried = 0;
    for (const { record, normalizer, shape } of seeds) {
      const slow = referenceOf.get(normalizer.source)!;
      const mutants: RawRecord[] = [];
      for (const { path, mutant } of mutantsOf(record)) {
        expect(outcome(normalizer, mutant, shape), `${normalizer.source}/${shape} ${path.join('.')}`).toBe(outcome(slow, mutant, shape));
        mutants.push(mutant);
      }
      const [fast, schema] = bothWays(shape === 'table' ? mutants : { records: mutants }, shape === 'table' ? { rows: true } : {});
      expect(fast).toBe(schema);
      tried += mutants.length;
    }
    expect(tried).toBeGreaterThan(10_000);
  });
});

/** Values of any kind, and ones that look like the real thing. */
const fieldValue = fc.oneof(
  anyValue,
  fc.constantFrom(
    '',
    ' ',
    '2025-06-02T09:00:01.1234567Z',
    '12/12/2025 3:03:58 PM',
    new Date('2025-06-02T09:00:00Z'),
    new Date(NaN),
    Number.NaN,
    Infinity,
    '{"a":1}',
    '{"claim":{"oid":"x"}}',
    [1, '2'],
    ['x', null],
    { __proto__: null, oid: 'aaaa' },
    JSON.parse('{"__proto__":{"oid":"bbbb"}}') as unknown,
    '81.2.69.***',
    '1.2.3.4:5',
  ),
);

/** The paths of a record: its fields, their fields and theirs. */
function pathsOf(record: RawRecord, prefix: string[] = [], depth = 0): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(record)) {
    out.push([...prefix, k]);
    if (depth < 2 && v && typeof v === 'object' && !Array.isArray(v)) out.push(...pathsOf(v as RawRecord, [...prefix, k], depth + 1));
  }
  return out;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  innerType?: { _zod: { def: SchemaDef } };
  in?: { _zod: { def: SchemaDef } };
  out?: { _zod: { def: SchemaDef } };
  options?: Array<{ _zod: { def: SchemaDef } }>;
  element?: { _zod: { def: SchemaDef } };
}

/** Every field path a zod schema declares (array items as index 0), read from its definition. */
function declaredPaths(def: SchemaDef, prefix: string[] = [], out: string[][] = []): string[][] {
  if (def.type === 'object') {
    for (const [k, v] of Object.entries(def.shape ?? {})) {
      out.push([...prefix, k]);
      declaredPaths(v._zod.def, [...prefix, k], out);
    }
  }
  for (const inner of [def.innerType, def.in, def.out, ...(def.options ?? [])]) if (inner) declaredPaths(inner._zod.def, prefix, out);
  if (def.element) declaredPaths(def.element._zod.def, [...prefix, '0'], out);
  return out;
}

/** A copy of `record` with `value` at `path` (the objects on the way copied, or made; the record left as it was). */
function setAt(record: RawRecord, path: string[], value: unknown): RawRecord {
  const copy: RawRecord = Array.isArray(record) ? ([...(record as unknown[])] as unknown as RawRecord) : { ...record };
  if (path.length === 1) copy[path[0]] = value;
  else {
    const inner = record[path[0]];
    copy[path[0]] = setAt(inner && typeof inner === 'object' ? (inner as RawRecord) : {}, path.slice(1), value);
  }
  return copy;
}

describe('generated malformed records: the fast paths give what the schemas give', { timeout: 600_000 }, () => {
  const samples = [...workloadRecords.filter((_, i) => i % 40 === 0), ...recordsOf(fixtureBodies())];
  const rows = samples.map(rowRecord).filter((r): r is RawRecord => r !== undefined);

  it('a record of the workload or the fixtures, stream or row, with one to four of its fields or of the fields its schemas declare (at any depth) set to anything', () => {
    const registry = new SourceRegistry();
    const declared = new Map(SOURCE_NORMALIZERS.map((n) => [n, n.schemas.flatMap((schema) => declaredPaths(schema._zod.def as SchemaDef))]));
    const damaged = fc
      .tuple(fc.constantFrom(...samples, ...rows), fc.array(fc.tuple(fc.nat(), fieldValue), { minLength: 1, maxLength: 4 }))
      .map(([record, changes]) => {
        const route = registry.route(record);
        const own = route.kind === 'normalize' ? (declared.get(route.normalizer as DefinedSource) ?? []) : [];
        let out = record;
        for (const [at, value] of changes) {
          const paths = [...pathsOf(out), ...own];
          out = setAt(out, paths[at % paths.length], value);
        }
        return out;
      });
    fc.assert(
      fc.property(damaged, (record) => {
        const [fast, slow] = bothWays({ records: [record] });
        expect(fast).toBe(slow);
      }),
      { numRuns: 4000 },
    );
  });

  it('random fields under a category or table a source reads', () => {
    const categories = SOURCE_NORMALIZERS.flatMap((n) => n.streamCategories);
    const tables = SOURCE_NORMALIZERS.flatMap((n) => n.tables);
    const names = [
      ...new Set([...samples, ...rows].flatMap((r) => pathsOf(r).map((p) => p[0]))),
      ...new Set(SOURCE_NORMALIZERS.flatMap((n) => n.schemas.flatMap((schema) => declaredPaths(schema._zod.def as SchemaDef).map((p) => p[0])))),
    ];
    const fields = fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string()), fieldValue, { maxKeys: 12 });
    const lookalike = fc.oneof(
      fc.tuple(fc.constantFrom(...categories), fields).map(([category, f]) => ({ ...f, category })),
      fc.tuple(fc.constantFrom(...tables), fields).map(([Type, f]) => ({ ...f, Type })),
    );
    fc.assert(
      fc.property(fc.array(lookalike, { minLength: 1, maxLength: 5 }), (records) => {
        const [fast, slow] = bothWays({ records });
        expect(fast).toBe(slow);
      }),
      { numRuns: 1000 },
    );
  });
});
