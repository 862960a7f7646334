import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnWarden } from '../support/cli.js';
import { captureAvro } from '../ingest/capture-files.js';

/**
 * A one-byte corruption made avsc's decoder loop for good: a count read from the wrong place
 * (2^60 map entries) held the event loop, and `warden replay` never ended. Run as a process, so a
 * reader that spins fails this test by its timeout instead of hanging the test run.
 */
describe('an Avro capture damaged by one byte', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-hostile-avro-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Bodies with text beyond ASCII, as display names are: UTF-8 bytes with their high bit set, which
  // a varint read out of place takes as one long number.
  const body = Buffer.from(JSON.stringify({ records: [{ displayName: 'Zoë Ångström — ÿÿÿÿÿÿÿÿÿÿÿÿ' }] }));
  const message = (n: number) => ({ sequenceNumber: 4_000_000_000 + n, offset: String(8_000_000_000 + n), enqueuedTimeUtc: '2025-06-02T09:00:00Z', body });

  it('is one dead letter naming the first record not read, in a replay that ends', async () => {
    // In a record: the last byte of the third record's sequence number.
    const inRecord = await captureAvro([message(0), message(1), message(2)], { codec: 'null' });
    const third = avro.Type.forSchema('long').toBuffer(4_000_000_002);
    inRecord[inRecord.indexOf(third) + third.length - 1] = 0xff;
    // In the header: the end of its metadata, followed by a sync marker of high bytes.
    const sync = Buffer.alloc(16, 0xff);
    const inHeader = await captureAvro([message(0)], { codec: 'null', syncMarker: sync });
    inHeader[inHeader.indexOf(sync) - 1] = 0xff;
    const files = [join(dir, 'record.avro'), join(dir, 'header.avro')];
    await writeFile(files[0], inRecord);
    await writeFile(files[1], inHeader);
    const letters = join(dir, 'dead-letters.jsonl');

    const run = spawnWarden(['replay', ...files, '--dead-letter', letters, '--json']);
    expect(run.error, 'warden replay did not end').toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { records: number; events: number; skipped: number; deadLettered: number };
    expect(summary.records).toBe(summary.events + summary.skipped + summary.deadLettered);
    const read = (await readFile(letters, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; location: { file: string; line: number } });
    expect(read.map((d) => d.location.file)).toEqual(files);
    for (const d of read)
      expect(d.reason).toMatch(/^cannot read Avro record \d+ onwards: \d+ bytes of Avro ask for more than \d+ reads to decode: a corrupt count or length$/);
  });
});
