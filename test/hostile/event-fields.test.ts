import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { RawRecord } from '../../src/ingest/types.js';
import { generateWorkload } from '../../synth/scenario.js';
import { rowRecord } from '../support/log-analytics-rows.js';

/**
 * Ingest redacts only the event texts copied from the record as logged; ids, GUIDs, addresses and
 * the target resource are built in shapes said to hold no credential, or bounded once per resource
 * (src/ingest/sources/define-source.ts, buildEvent). Whatever a record carries, in whichever field,
 * no credential may come out in an event or a dead letter.
 */

const ARRIVED = Date.parse('2026-01-01T00:00:00Z');
const REPO = join(import.meta.dirname, '..', '..');

/** Credentials of every kind the patterns know, each with its canary. */
const CREDENTIALS = [
  'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.CanaryJwt0',
  'AccountKey=CanaryAccountKey0/abc==',
  'https://a.blob.core.windows.net/c?sv=1&sig=CanarySig0',
  'password=CanaryPassword0',
  'api-key: CanaryApiKey0',
  'https://admin:CanaryUrl0@db.example.com/x',
  'client_secret=CanaryClientSecret0',
];
// Case-insensitive: resource ids and principal ids are lower-cased.
const CANARY = /canary[a-z]+0/gi;

/** Every string of a record (at any depth) set to a credential, with one after it or before it, and with a SAS signature: one mutant per string and way. */
function* planted(record: unknown): Generator<unknown> {
  let n = 0;
  const ways: Array<(s: string, c: string) => string> = [(_s, c) => c, (s, c) => `${s} ${c}`, (s, c) => `${c}/${s}`, (s) => `${s}?sig=CanaryQuery0`];
  function* walk(value: unknown, set: (v: unknown) => unknown): Generator<unknown> {
    if (typeof value === 'string') {
      for (const way of ways) yield set(way(value, CREDENTIALS[n++ % CREDENTIALS.length]));
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) yield* walk(value[i], (v) => set(value.map((x, j) => (j === i ? v : x))));
    } else if (typeof value === 'object' && value !== null) {
      for (const key of Object.keys(value)) yield* walk((value as RawRecord)[key], (v) => set({ ...value, [key]: v }));
    }
  }
  yield* walk(record, (v) => v);
}

function leaks(records: unknown[], options: { rows?: boolean } = {}): { leaked: string[]; events: number; redacted: number } {
  const result = ingestBody(JSON.stringify(options.rows ? records : { records }), { file: 'planted' }, { ...options, times: { arrivedAt: ARRIVED } });
  const text = JSON.stringify([result.events, result.deadLetters, result.skippedByCategory]);
  return {
    leaked: text.match(CANARY) ?? [],
    events: result.events.length,
    redacted: result.events.filter((e) => JSON.stringify(e).includes('REDACTED')).length,
  };
}

/** A few records of each kind the workload and the rules' fixtures hold (directory and Graph records come only from these). */
function samples(): RawRecord[] {
  const workload = generateWorkload({ seed: 3, records: 2_000, principals: 100 });
  const records = workload.bodies.flatMap((b) => (JSON.parse(b) as { records: RawRecord[] }).records);
  const dir = join(REPO, 'detections');
  for (const folder of readdirSync(dir).filter((f) => f.endsWith('.fixtures'))) {
    for (const file of readdirSync(join(dir, folder)).filter((f) => f.endsWith('.json') && f !== 'cases.json')) {
      const doc = JSON.parse(readFileSync(join(dir, folder, file), 'utf8')) as { records?: RawRecord[] } | RawRecord[];
      records.push(...(Array.isArray(doc) ? doc : (doc.records ?? [])));
    }
  }
  // One of each source, category and operation is enough to reach every field a source reads.
  const seen = new Set<string>();
  return records.filter((r) => {
    const kind = `${String(r.category)}|${String(r.operationName)}|${typeof r.properties === 'object' && r.properties ? Object.keys(r.properties).sort().join() : ''}`;
    if (seen.has(kind)) return false;
    seen.add(kind);
    return true;
  });
}

describe('no credential planted in any field of a record comes out of ingest', () => {
  const records = samples();

  it('in stream records', () => {
    let events = 0;
    let redacted = 0;
    for (const record of records) {
      const out = leaks([...planted(record)]);
      expect(out.leaked, JSON.stringify(record).slice(0, 300)).toEqual([]);
      events += out.events;
      redacted += out.redacted;
    }
    // Most mutants are still events, and many carry a redacted credential: the test reaches the events' fields.
    expect(records.length).toBeGreaterThan(50);
    expect(events).toBeGreaterThan(records.length * 20);
    expect(redacted).toBeGreaterThan(records.length * 5);
  }, 120_000);

  it('in Log Analytics rows', () => {
    let events = 0;
    for (const record of records) {
      const row = rowRecord(record);
      if (!row) continue;
      const out = leaks([...planted(row)], { rows: true });
      expect(out.leaked, JSON.stringify(row).slice(0, 300)).toEqual([]);
      events += out.events;
    }
    expect(events).toBeGreaterThan(records.length * 20);
  }, 120_000);

  it('in the fields an event keeps without redaction when their shape is right: an IPv6 zone, a resource id', () => {
    const [record] = records.filter((r) => typeof r.resourceId === 'string' && typeof r.callerIpAddress === 'string');
    const zoned = leaks([{ ...record, callerIpAddress: 'fe80::1%password:CanaryZone0' }]);
    expect(zoned).toMatchObject({ leaked: [], events: 1, redacted: 1 });
    const resource = leaks([{ ...record, resourceId: `${String(record.resourceId)}/x?sig=CanaryResource0` }]);
    expect(resource).toMatchObject({ leaked: [], events: 1, redacted: 1 });
  });
});
