import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The public sample corpus beside the repo (see its SOURCES.md): third-party files, never copied
 * in. The conformance tier (test/conformance) reads it; no other tier may.
 */
export const EXTERNAL_CAPTURES = join(repo, '..', 'shared', 'captures', 'external');

export const haveExternalCaptures = existsSync(EXTERNAL_CAPTURES);

/** The one line `npm test` gives when the conformance tier cannot run. */
export function conformanceAbsentLine(): string {
  const files = readdirSync(join(repo, 'test', 'conformance'))
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
  return `conformance tier not run: ${relative(repo, EXTERNAL_CAPTURES)} not found (${files.length} files in test/conformance: ${files.join(', ')})`;
}

export class MissingCapturesError extends Error {
  override name = 'MissingCapturesError';
}

export interface CapturedRecord {
  /** `<folder>/<file>` inside the corpus. */
  file: string;
  /** 1-based line for NDJSON files, else the index inside `records`. */
  at: number;
  record: Record<string, unknown>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every record of the corpus, parsed minimally: a `{"records":[...]}` document, an array, one JSON
 * record per file, or one record per line. Lines that are not JSON are left out (those files are
 * malformed on purpose; decoding them is the envelope decoder's job, not a source's).
 */
export function capturedRecords(): CapturedRecord[] {
  if (!haveExternalCaptures) throw new MissingCapturesError(`${EXTERNAL_CAPTURES} is absent: put the public samples there to run the conformance tier`);
  const out: CapturedRecord[] = [];
  for (const folder of readdirSync(EXTERNAL_CAPTURES, { withFileTypes: true })) {
    if (!folder.isDirectory()) continue;
    for (const name of readdirSync(join(EXTERNAL_CAPTURES, folder.name))) {
      const file = `${folder.name}/${name}`;
      const text = readFileSync(join(EXTERNAL_CAPTURES, file), 'utf8');
      let whole: unknown;
      try {
        whole = JSON.parse(text);
      } catch {
        whole = undefined;
      }
      if (whole && typeof whole === 'object') {
        const records = Array.isArray(whole)
          ? whole
          : Array.isArray((whole as { records?: unknown }).records)
            ? (whole as { records: unknown[] }).records
            : [whole];
        records.forEach((record, i) => {
          if (isRecord(record)) out.push({ file, at: i, record });
        });
        continue;
      }
      text.split('\n').forEach((line, i) => {
        if (!line.trim()) return;
        try {
          const record: unknown = JSON.parse(line);
          if (isRecord(record)) out.push({ file, at: i + 1, record });
        } catch {
          // malformed on purpose
        }
      });
    }
  }
  return out;
}

/** The record's category as the registry reads it (`category`, or PascalCase `Category`). */
export function categoryOf(record: Record<string, unknown>): string {
  const c = record.category ?? record.Category;
  return typeof c === 'string' ? c : '';
}
