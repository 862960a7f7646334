import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The public sample corpus next to the repo (see its SOURCES.md); tests skip when it is absent. */
export const EXTERNAL_CAPTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'captures', 'external');

export interface CapturedRecord {
  /** `<folder>/<file>` inside the corpus. */
  file: string;
  /** 1-based line for NDJSON files, else the index inside `records`. */
  at: number;
  record: Record<string, unknown>;
}

/**
 * Every record of the corpus, parsed minimally: a `{"records":[...]}` document, one JSON record per
 * file, or one record per line. Lines that are not JSON are left out (those files are malformed on
 * purpose; decoding them is the envelope decoder's job, not a source's).
 */
export function capturedRecords(): CapturedRecord[] {
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
        const records = (whole as { records?: unknown }).records;
        const list = Array.isArray(records) ? records : [whole];
        list.forEach((record, i) => {
          if (record && typeof record === 'object') out.push({ file, at: i, record: record as Record<string, unknown> });
        });
        continue;
      }
      text.split('\n').forEach((line, i) => {
        if (!line.trim()) return;
        try {
          const record: unknown = JSON.parse(line);
          if (record && typeof record === 'object' && !Array.isArray(record)) out.push({ file, at: i + 1, record: record as Record<string, unknown> });
        } catch {
          // malformed on purpose
        }
      });
    }
  }
  return out;
}

export const haveExternalCaptures = existsSync(EXTERNAL_CAPTURES);

/** Test-name suffix that says why sample tests were skipped, when they are. */
export const SAMPLES_NOTE = haveExternalCaptures ? '../shared/captures/external' : 'skipped: ../shared/captures/external is absent';

/** The record's category as the registry reads it (`category`, or PascalCase `Category`). */
export function categoryOf(record: Record<string, unknown>): string {
  const c = record.category ?? record.Category;
  return typeof c === 'string' ? c : '';
}
