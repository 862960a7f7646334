import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';
import { InvalidRecordError, type RawRecord, type SourceNormalizer } from '../../src/ingest/types.js';

/** Public log samples (../shared/captures/external, see its SOURCES.md); never copied into the repo. */
export const SAMPLES_DIR = fileURLToPath(new URL('../../../shared/captures/external/', import.meta.url));
export const samplesPresent = existsSync(SAMPLES_DIR);
export const SAMPLES_ABSENT = `skipped: ${SAMPLES_DIR} is absent`;

export interface SampleRecord {
  file: string;
  record: RawRecord;
}

function isRecord(v: unknown): v is RawRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Every record of every sample file, parsed minimally: a JSON document (`{"records":[…]}`, an
 * array, or one record), else NDJSON lines. Lines that are not JSON are the corpus's deliberately
 * malformed inputs: they are not records of any source, so they are left out.
 */
export function sampleRecords(): SampleRecord[] {
  const out: SampleRecord[] = [];
  for (const dir of readdirSync(SAMPLES_DIR, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const name of readdirSync(join(SAMPLES_DIR, dir.name))) {
      const file = `${dir.name}/${name}`;
      const text = readFileSync(join(SAMPLES_DIR, file), 'utf8');
      let docs: unknown[];
      try {
        docs = [JSON.parse(text)];
      } catch {
        docs = [];
        for (const line of text.split('\n')) {
          if (!line.trim()) continue;
          try {
            docs.push(JSON.parse(line));
          } catch {
            // not a record
          }
        }
      }
      for (const doc of docs) {
        const records = Array.isArray(doc) ? doc : isRecord(doc) && Array.isArray(doc.records) ? doc.records : [doc];
        for (const record of records) if (isRecord(record)) out.push({ file, record });
      }
    }
  }
  return out;
}

/** The records a source claims: its stream category, and its own `accepts` check. */
export function claimedBy(source: SourceNormalizer, records: SampleRecord[]): SampleRecord[] {
  const categories = new Set(source.streamCategories.map((c) => c.toLowerCase()));
  return records.filter(({ record }) =>
    typeof record.category === 'string' && categories.has(record.category.toLowerCase()) &&
    (source.accepts?.(record, 'stream') ?? true));
}

export interface Outcome {
  normalized: { file: string; event: NormalizedEvent }[];
  rejected: { file: string; error: InvalidRecordError }[];
}

/** Normalizes each record: it must give a contract-valid event or an InvalidRecordError, nothing else. */
export function normalizeAll(source: SourceNormalizer, records: SampleRecord[]): Outcome {
  const outcome: Outcome = { normalized: [], rejected: [] };
  for (const { file, record } of records) {
    let event: NormalizedEvent;
    try {
      event = source.normalize(record, 'stream');
    } catch (error) {
      expect(error, `${file}: ${String(error)}`).toBeInstanceOf(InvalidRecordError);
      outcome.rejected.push({ file, error: error as InvalidRecordError });
      continue;
    }
    expect(NormalizedEventSchema.safeParse(event).success, `${file}: event breaks the contract`).toBe(true);
    outcome.normalized.push({ file, event });
  }
  return outcome;
}
