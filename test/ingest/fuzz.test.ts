import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_RAW_LIMIT } from '../../src/model/index.js';
import { SOURCE_NORMALIZERS } from '../../src/ingest/sources/index.js';
import type { RawRecord } from '../../src/ingest/types.js';
import { DEMO_CAPTURE_FILE } from '../../synth/demo-capture.js';
import { anyValue, HUGE, ingestOk, json, mutateEveryField, normalizeOk, seedsFrom } from '../support/field-mutation.js';
import { toLogAnalyticsTables } from '../support/log-analytics-rows.js';

const repo = join(import.meta.dirname, '..', '..');

/**
 * Property-based: random, corrupted and hostile bodies and records. Decoding and ingesting never
 * throw and account for every record; a normalizer either returns a valid NormalizedEvent or
 * throws InvalidRecordError.
 */

const categories = SOURCE_NORMALIZERS.flatMap((n) => n.streamCategories);
const tables = SOURCE_NORMALIZERS.flatMap((n) => n.tables);
const fieldNames = [
  'time',
  'TimeGenerated',
  'createdDateTime',
  'resourceId',
  'ResourceId',
  '_ResourceId',
  'operationName',
  'OperationName',
  'category',
  'Category',
  'Type',
  'resultType',
  'ResultType',
  'resultSignature',
  'durationMs',
  'DurationMs',
  'callerIpAddress',
  'CallerIPAddress',
  'correlationId',
  'CorrelationId',
  'identity',
  'Identity',
  'properties',
  'tenantId',
  'TenantId',
  'level',
  'location',
  'ResourceProvider',
  'claims',
  'authorization',
  'caller',
  'AppId',
  'UserPrincipalName',
  'ServicePrincipalId',
];
const fieldValue = fc.oneof(
  anyValue,
  fc.constant(HUGE),
  fc.constantFrom(
    '2025-01-01T00:00:00Z',
    '12/12/2025 3:03:58 PM',
    '/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV',
    '{"a":1}',
    '[',
    '81.2.69.***',
    '1.2.3.4:5',
  ),
);
const randomFields = fc.dictionary(fc.oneof(fc.constantFrom(...fieldNames), fc.string()), fieldValue, { maxKeys: 12 });
/** Objects that look enough like a handled record to reach a normalizer. */
const lookalike = fc.oneof(
  fc.tuple(fc.constantFrom(...categories), randomFields).map(([category, f]) => ({ ...f, category })),
  fc.tuple(fc.constantFrom(...tables), randomFields).map(([Type, f]) => ({ ...f, Type })),
);

describe('decodeBody and ingestBody never throw and account for every record', () => {
  it('any JavaScript value as an already-parsed body', () => {
    fc.assert(
      fc.property(anyValue, (body) => void ingestOk(body)),
      { numRuns: 300 },
    );
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
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => void ingestOk(Buffer.from(bytes))),
      { numRuns: 300 },
    );
  });

  it('NDJSON with good, broken and blank lines: every non-blank line is accounted for', () => {
    const line = fc.oneof(lookalike.map(json), fc.json({ maxDepth: 2 }), fc.string({ unit: 'binary' }), fc.constant(''));
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
      const stream = n.streamCategories.length
        ? fc.tuple(fc.constantFrom(...n.streamCategories), randomFields).map(([category, f]) => ({ ...f, category }))
        : undefined;
      const table = n.tables.length ? fc.tuple(fc.constantFrom(...n.tables), randomFields).map(([Type, f]) => ({ ...f, Type })) : undefined;
      if (stream)
        fc.assert(
          fc.property(stream, (r) => normalizeOk(n, r, 'stream')),
          { numRuns: 300 },
        );
      if (table)
        fc.assert(
          fc.property(table, (r) => normalizeOk(n, r, 'table')),
          { numRuns: 300 },
        );
    });
  }
});

/** Rule fixtures of the sources the demo capture does not carry yet (Entra audit, Graph activity). */
const NHI_FIXTURES = ['federated-credential-changed.fixtures/subject-swapped-to-fork.json', 'nhi-graph-recon-burst.fixtures/stolen-secret-maps-tenant.json'];

/** The committed demo capture (synthetic, written from the documented stream schemas), own NHI fixtures, and the Log Analytics rows of their records. */
function ownBodies(): unknown[] {
  const bodies = gunzipSync(readFileSync(join(repo, DEMO_CAPTURE_FILE)))
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { records: RawRecord[] });
  for (const f of NHI_FIXTURES) bodies.push(JSON.parse(readFileSync(join(repo, 'detections', f), 'utf8')) as { records: RawRecord[] });
  return [...bodies, { tables: [...toLogAnalyticsTables(bodies.flatMap((b) => b.records)).values()] }];
}

describe('own records with every field replaced by every wrong type', () => {
  it('normalize gives a valid event or InvalidRecordError, and ingestBody accounts for all of them', () => {
    // One record per source and category (or table) keeps this in the fast loop; the conformance tier takes three.
    const seeds = seedsFrom(ownBodies(), 1);
    // Every source, in both shapes: the stream record and its Log Analytics row.
    expect(new Set(seeds.map((s) => `${s.normalizer.source}/${s.shape}`)).size).toBe(SOURCE_NORMALIZERS.length * 2);
    const { failures, tried } = mutateEveryField(seeds);
    expect(failures).toEqual([]);
    expect(tried).toBeGreaterThan(1000);
  });
});
