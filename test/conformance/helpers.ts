import { expect } from 'vitest';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';
import { InvalidRecordError, type SourceNormalizer } from '../../src/ingest/types.js';
import { categoryOf, type CapturedRecord } from '../support/external-captures.js';

/** The records a source claims: its stream category, and its own `accepts` check. */
export function claimedBy(source: SourceNormalizer, records: CapturedRecord[]): CapturedRecord[] {
  const categories = new Set(source.streamCategories.map((c) => c.toLowerCase()));
  return records.filter(({ record }) => categories.has(categoryOf(record).toLowerCase()) && (source.accepts?.(record, 'stream') ?? true));
}

export interface Outcome {
  normalized: { file: string; record: CapturedRecord['record']; event: NormalizedEvent }[];
  rejected: { file: string; record: CapturedRecord['record']; error: InvalidRecordError }[];
}

/** Normalizes each record: it must give a contract-valid event or an InvalidRecordError, nothing else. */
export function normalizeAll(source: SourceNormalizer, records: CapturedRecord[]): Outcome {
  const outcome: Outcome = { normalized: [], rejected: [] };
  for (const { file, at, record } of records) {
    const where = `${file}:${at}`;
    let event: NormalizedEvent;
    try {
      event = source.normalize(record, 'stream');
    } catch (error) {
      expect(error, `${where}: ${String(error)}`).toBeInstanceOf(InvalidRecordError);
      outcome.rejected.push({ file: where, record, error: error as InvalidRecordError });
      continue;
    }
    const parsed = NormalizedEventSchema.safeParse(event);
    expect(parsed.success, `${where}: event breaks the contract: ${parsed.error?.message}`).toBe(true);
    outcome.normalized.push({ file: where, record, event });
  }
  return outcome;
}
