import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_RAW_LIMIT, DeadLetterSchema, NormalizedEventSchema } from '../../src/model/index.js';
import { decodeBody } from '../../src/ingest/envelope.js';
import { listCaptureFiles, readCaptures } from '../../src/ingest/files.js';
import { ingestBody, type IngestResult } from '../../src/ingest/pipeline.js';
import { SourceRegistry } from '../../src/ingest/registry.js';
import { SOURCE_NORMALIZERS } from '../../src/ingest/sources/index.js';
import { InvalidRecordError, type RawRecord, type SourceNormalizer } from '../../src/ingest/types.js';

/**
 * Property-based: random, corrupted and hostile bodies and records. Decoding and ingesting never
 * throw and account for every record; a normalizer either returns a valid NormalizedEvent or
 * throws InvalidRecordError.
 */

function accountedFor(r: IngestResult): void {
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
function json(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'null';
}

function ingestOk(body: unknown): IngestResult {
  const r = ingestBody(body, { file: 'fuzz', partitionId: '0', sequenceNumber: 1 });
  accountedFor(r);
  return r;
}

/** A normalizer's answer is an event that passes the contract, or InvalidRecordError — nothing else. */
function normalizeOk(n: SourceNormalizer, record: RawRecord, shape: 'stream' | 'table'): void {
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

// Just over the dead-letter limit, so cutting is exercised without making every mutant slow.
const HUGE = 'A'.repeat(DEAD_LETTER_RAW_LIMIT + 4096);
const categories = SOURCE_NORMALIZERS.flatMap((n) => n.streamCategories);
const tables = SOURCE_NORMALIZERS.flatMap((n) => n.tables);
const fieldNames = [
  'time', 'TimeGenerated', 'createdDateTime', 'resourceId', 'ResourceId', '_ResourceId', 'operationName', 'OperationName',
  'category', 'Category', 'Type', 'resultType', 'ResultType', 'resultSignature', 'durationMs', 'DurationMs', 'callerIpAddress',
  'CallerIPAddress', 'correlationId', 'CorrelationId', 'identity', 'Identity', 'properties', 'tenantId', 'TenantId', 'level',
  'location', 'ResourceProvider', 'claims', 'authorization', 'caller', 'AppId', 'UserPrincipalName', 'ServicePrincipalId',
];
const anyValue = fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true, withUnicodeString: true });
const fieldValue = fc.oneof(anyValue, fc.constant(HUGE), fc.constantFrom('2025-01-01T00:00:00Z', '12/12/2025 3:03:58 PM', '/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV', '{"a":1}', '[', '81.2.69.***', '1.2.3.4:5'));
const randomFields = fc.dictionary(fc.oneof(fc.constantFrom(...fieldNames), fc.string()), fieldValue, { maxKeys: 12 });
/** Objects that look enough like a handled record to reach a normalizer. */
const lookalike = fc.oneof(
  fc.tuple(fc.constantFrom(...categories), randomFields).map(([category, f]) => ({ ...f, category })),
  fc.tuple(fc.constantFrom(...tables), randomFields).map(([Type, f]) => ({ ...f, Type })),
);

describe('decodeBody and ingestBody never throw and account for every record', () => {
  it('any JavaScript value as an already-parsed body', () => {
    fc.assert(fc.property(anyValue, (body) => void ingestOk(body)), { numRuns: 300 });
  });

  it('any value as a record inside {"records":[…]} and arrays', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(anyValue, lookalike), { maxLength: 8 }), (records) => {
        const r = ingestOk({ records });
        expect(r.records).toBe(records.length);
        expect(ingestOk(records).records).toBe(records.length);
      }),
      { numRuns: 300 },
    );
  });

  it('random JSON text, as a string and as bytes', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => {
        const a = ingestOk(text);
        const b = ingestOk(Buffer.from(text));
        expect(b.records).toBe(a.records);
      }),
      { numRuns: 300 },
    );
  });

  it('truncated JSON bodies', () => {
    const body = fc.array(lookalike, { minLength: 1, maxLength: 4 }).map((records) => json({ records }));
    fc.assert(
      fc.property(body, fc.nat(), (text, cut) => {
        const r = ingestOk(text.slice(0, cut % (text.length + 1)));
        expect(r.records).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => void ingestOk(Buffer.from(bytes))), { numRuns: 300 });
  });

  it('NDJSON with good, broken and blank lines: every non-blank line is accounted for', () => {
    const line = fc.oneof(
      lookalike.map(json),
      fc.json({ maxDepth: 2 }),
      fc.string({ unit: 'binary' }),
      fc.constant(''),
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 2, maxLength: 10 }), fc.boolean(), (lines, crlf) => {
        ingestOk(lines.join(crlf ? '\r\n' : '\n'));
      }),
      { numRuns: 300 },
    );
  });

  it('huge strings: a dead letter keeps at most 64 KiB of the record', () => {
    const r = ingestOk(`{"records":[{"category":"StorageRead","uri":"${'😀'.repeat(200_000)}"`);
    expect(r.deadLetters).toHaveLength(1);
    expect(Buffer.byteLength(r.deadLetters[0].raw)).toBeGreaterThan(DEAD_LETTER_RAW_LIMIT - 4);
    ingestOk({ records: [{ category: 'AuditEvent', operationName: HUGE, resourceId: HUGE, identity: HUGE, properties: HUGE }] });
  });
});

describe('each source normalizer returns a valid event or throws InvalidRecordError', () => {
  for (const n of SOURCE_NORMALIZERS) {
    it(`${n.source}: random records of its categories and tables`, () => {
      const stream = n.streamCategories.length ? fc.tuple(fc.constantFrom(...n.streamCategories), randomFields).map(([category, f]) => ({ ...f, category })) : undefined;
      const table = n.tables.length ? fc.tuple(fc.constantFrom(...n.tables), randomFields).map(([Type, f]) => ({ ...f, Type })) : undefined;
      if (stream) fc.assert(fc.property(stream, (r) => normalizeOk(n, r, 'stream')), { numRuns: 300 });
      if (table) fc.assert(fc.property(table, (r) => normalizeOk(n, r, 'table')), { numRuns: 300 });
    });
  }
});

/** Values of every wrong type to put in each field of a real record. */
const WRONG: unknown[] = [
  undefined, null, 0, -1, 1.5, 1e21, Number.MAX_SAFE_INTEGER + 2, true, false, '', ' ', 'x', '2025-13-45T99:99:99Z', '::', '{',
  '[1,2]', [], [null], [{}], {}, { a: { b: [1] } }, HUGE, 'ä😀'.repeat(1000), '__proto__',
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

const CAPTURES = join(import.meta.dirname, '..', '..', '..', 'shared', 'captures', 'external');

/** Real records each source handles: up to three per category from the public captures. */
async function seeds(): Promise<Array<{ record: RawRecord; normalizer: SourceNormalizer; shape: 'stream' | 'table' }>> {
  const registry = new SourceRegistry();
  const perCategory = new Map<string, number>();
  const out: Array<{ record: RawRecord; normalizer: SourceNormalizer; shape: 'stream' | 'table' }> = [];
  const { files } = await listCaptureFiles([CAPTURES]);
  for await (const { body, location } of readCaptures(files)) {
    for (const { record, row } of decodeBody(body, location).records) {
      const route = registry.route(record, undefined, row);
      if (route.kind !== 'normalize') continue;
      const key = `${route.normalizer.source}/${String(record.category ?? record.Type)}`;
      if ((perCategory.get(key) ?? 0) >= 3) continue;
      perCategory.set(key, (perCategory.get(key) ?? 0) + 1);
      out.push({ record, normalizer: route.normalizer, shape: route.shape });
    }
  }
  return out;
}

describe.runIf(existsSync(CAPTURES))('real records with every field replaced by every wrong type', () => {
  it('normalize gives a valid event or InvalidRecordError, and ingestBody accounts for all of them', async () => {
    const real = await seeds();
    expect(new Set(real.map((s) => s.normalizer.source)).size).toBe(SOURCE_NORMALIZERS.length);
    let tried = 0;
    const failures = new Set<string>();
    for (const { record, normalizer, shape } of real) {
      const mutants: RawRecord[] = [];
      for (const path of paths(record)) {
        for (const value of WRONG) {
          const m = withField(record, path, value);
          mutants.push(m);
          try {
            normalizeOk(normalizer, m, shape);
          } catch (err) {
            const what = typeof value === 'string' && value.length > 20 ? `string(${value.length})` : json(value);
            failures.add(`${normalizer.source} ${path.join('.')}=${what}: ${(err as Error).message.replace(/ for \{.*$/s, '').slice(0, 200)}`);
          }
        }
      }
      try {
        expect(ingestOk({ records: mutants }).records).toBe(mutants.length);
      } catch (err) {
        failures.add(`ingestBody: ${(err as Error).message.slice(0, 300)}`);
      }
      tried += mutants.length;
    }
    expect([...failures]).toEqual([]);
    expect(tried).toBeGreaterThan(1000);
  });
});
