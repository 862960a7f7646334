import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_RAW_LIMIT, DeadLetterSchema, NormalizedEventSchema } from '../../src/model/index.js';
import { listCaptureFiles } from '../../src/ingest/files.js';
import { IngestTotals } from '../../src/ingest/pipeline.js';
import { replayFiles } from '../../src/ingest/replay.js';

/**
 * Conformance over every public capture in ../shared/captures/external (see its SOURCES.md): each
 * record is normalized, skipped by category, or dead-lettered with a reason; nothing throws and
 * nothing goes missing.
 */
const CAPTURES = join(import.meta.dirname, '..', '..', '..', 'shared', 'captures', 'external');
const present = existsSync(CAPTURES);

/** Record counts SOURCES.md gives per file (fragments and non-records count 0 there). */
function documentedCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(join(CAPTURES, 'SOURCES.md'), 'utf8').split('\n')) {
    // Rows of the Files table: | local file | repo | path | commit | license | format | kinds | record count | notes |
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length !== 11) continue;
    const file = /^`([^`]+)`$/.exec(cells[1])?.[1];
    const count = Number(cells[8]);
    if (file && Number.isInteger(count)) counts.set(file, count);
  }
  return counts;
}

interface FileCounts {
  records: number;
  events: number;
  skipped: number;
  deadLettered: number;
}

describe.runIf(present)('conformance: every public capture file', async () => {
  const { files } = present ? await listCaptureFiles([CAPTURES]) : { files: [] };
  const perFile = new Map<string, FileCounts>();
  const totals = new IngestTotals();

  it('reads every file; each record is an event, skipped, or a dead letter; nothing throws', async () => {
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      const mine = new IngestTotals();
      for await (const { result, location } of replayFiles([file])) {
        const skipped = Object.values(result.skippedByCategory).reduce((a, b) => a + b, 0);
        expect(result.records, `${file} ${JSON.stringify(location)}`).toBe(result.events.length + skipped + result.deadLetters.length);
        for (const { event, location: at } of result.events) {
          const parsed = NormalizedEventSchema.safeParse(event);
          expect(parsed.success, `${file} ${JSON.stringify(at)}: ${parsed.error?.message}`).toBe(true);
          expect(at.file).toBe(file);
          expect(result.bySource[event.source]).toBeGreaterThan(0);
        }
        for (const d of result.deadLetters) {
          expect(() => DeadLetterSchema.parse(d)).not.toThrow();
          expect(d.reason.length).toBeGreaterThan(0);
          expect(d.location.file).toBe(file);
          expect(Buffer.byteLength(d.raw)).toBeLessThanOrEqual(DEAD_LETTER_RAW_LIMIT);
        }
        mine.add(result);
        totals.add(result);
      }
      const s = mine.summary();
      perFile.set(relative(CAPTURES, file), { records: s.records, events: s.events, skipped: s.skipped, deadLettered: s.deadLettered });
    }
    const s = totals.summary();
    expect(s.records).toBe(s.events + s.skipped + s.deadLettered);
  });

  it('finds as many records in each file as SOURCES.md documents (a fragment is one dead letter)', () => {
    const documented = documentedCounts();
    expect(documented.size).toBe(perFile.size);
    for (const [file, counts] of perFile) {
      const expected = documented.get(file);
      expect(expected, `${file} is not in SOURCES.md`).toBeDefined();
      if (expected === 0) expect(counts, file).toEqual({ records: 1, events: 0, skipped: 0, deadLettered: 1 });
      else expect(counts.records, file).toBe(expected);
    }
  });
});

describe.skipIf(present)('conformance', () => {
  it(`skipped: no public captures at ${CAPTURES}`, () => {});
});
