import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_GZIP_RATIO, MAX_LINE_BYTES, readCaptureFile, type CaptureBody } from '../../src/ingest/files.js';
import { captureAvro } from '../ingest/capture-files.js';
import { Worker } from 'node:worker_threads';
import type { IngestResult } from '../../src/ingest/pipeline.js';
import { DEAD_LETTERS_PER_BODY } from '../../src/ingest/envelope.js';
import { replayFiles } from '../../src/ingest/replay.js';

async function bodiesOf(file: string, options = {}, stopAfter = 20): Promise<CaptureBody[]> {
  const out: CaptureBody[] = [];
  for await (const body of readCaptureFile(file, options)) {
    out.push(body);
    // A reader that does not stop would give millions: a few are enough to tell.
    if (out.length >= stopAfter) break;
  }
  return out;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-hostile-readers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readers that bound what they read', () => {
  it('stops a gzip capture that expands like a bomb: one unreadable body, nothing of what it expands to', async () => {
    const file = join(dir, 'bomb.ndjson.gz');
    const line = Buffer.from('{}\n'.repeat(1 << 16));
    let left = Math.ceil((80 * 1024 * 1024) / line.length);
    await pipeline(
      Readable.from(
        (function* () {
          while (left-- > 0) yield line;
        })(),
      ),
      createGzip({ level: 9 }),
      createWriteStream(file),
    );
    const bodies = await bodiesOf(file);
    expect(bodies).toHaveLength(1);
    expect(bodies[0].unreadable).toMatch(new RegExp(`cannot read gzip: it expands more than ${MAX_GZIP_RATIO} times`));
  });

  it('reads a line longer than a capture line may be as one dead letter, and goes on with the next line', async () => {
    const file = join(dir, 'long-line.ndjson');
    const record = (n: number) => JSON.stringify({ records: [{ n }] });
    await writeFile(file, `${record(1)}\n${'x'.repeat(MAX_LINE_BYTES + 10)}\n\n${record(4)}\n`);
    // Line by line, as a file over the whole-file limit is read.
    const bodies = await bodiesOf(file, { wholeFileLimit: 1024 });
    expect(bodies.map((b) => ({ line: b.location.line, unreadable: b.unreadable, size: b.body.length }))).toEqual([
      { line: 1, unreadable: undefined, size: record(1).length },
      { line: 2, unreadable: `line 2 is ${MAX_LINE_BYTES + 10} bytes, longer than the ${MAX_LINE_BYTES} a capture line may be`, size: 0 },
      { line: 4, unreadable: undefined, size: record(4).length },
    ]);
  });
});

/**
 * ingestBody of NDJSON with `lines` lines, in a worker whose heap is held to 64 MB: the body's
 * lines were once all kept with their parse errors until the last was read (500 MB for a million).
 */
async function inSmallHeap(lines: number): Promise<IngestResult> {
  const code = `
    const { register } = await import('tsx/esm/api');
    register();
    const { ingestBody } = await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'ingest', 'pipeline.ts'))});
    const { parentPort } = await import('node:worker_threads');
    const record = (n) => JSON.stringify({ records: [{ time: '2025-06-02T09:00:00Z', category: 'NoSuchCategory', n }] });
    const text = Array.from({ length: ${lines} }, (_, i) => (i % 1000 === 999 ? record(i) : '{"records":[')).join('\\r\\n');
    parentPort.postMessage(ingestBody(text, { file: 'many-bad-lines.ndjson' }));
  `;
  const worker = new Worker(code, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 64 } });
  try {
    return await new Promise<IngestResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the worker ended (${code}) without a result`)));
    });
  } finally {
    await worker.terminate();
  }
}

describe('the line reader', () => {
  const record = (n: number) => JSON.stringify({ records: [{ time: '2025-06-02T09:00:00Z', category: 'NoSuchCategory', n }] });

  it('reads a body of half a million bad lines within a 64 MB heap: a sample of dead letters with their line numbers, the rest counted', async () => {
    // A whole-file body (up to 64 MB of a file is read as one): every thousandth line a body, the rest cut records.
    const lines = 500_000;
    const result = await inSmallHeap(lines);
    const skipped = Object.values(result.skippedByCategory).reduce((a, b) => a + b, 0);
    expect([result.records, skipped, result.deadLetters.length, result.deadLettersNotKept]).toEqual([
      lines,
      lines / 1000,
      DEAD_LETTERS_PER_BODY,
      lines - lines / 1000 - DEAD_LETTERS_PER_BODY,
    ]);
    expect(result.records).toBe(result.events.length + skipped + result.deadLetters.length + result.deadLettersNotKept);
    expect(result.deadLetters.map((d) => d.location.line)).toEqual(Array.from({ length: DEAD_LETTERS_PER_BODY }, (_, i) => i + 1));
    expect(result.deadLetters[0]).toMatchObject({ reason: expect.stringMatching(/^invalid JSON on line 1: /), raw: '{"records":[' });
  });

  it('goes on past a first record cut short in a file read line by line, and past bad lines after it, counting each', async () => {
    const file = join(dir, 'cut-first.ndjson');
    await writeFile(file, ['{"records":[{"time":"2025-06-02T09', record(2), 'not json', '', record(5), '{"records":[', record(7)].join('\n') + '\n');
    let records = 0;
    let deadLettered = 0;
    let skipped = 0;
    const lines: number[] = [];
    for await (const { location, result } of replayFiles([file], { wholeFileLimit: 16 })) {
      lines.push(location.line!);
      records += result.records;
      deadLettered += result.deadLetters.length;
      skipped += Object.values(result.skippedByCategory).reduce((a, b) => a + b, 0);
    }
    expect(lines).toEqual([1, 2, 3, 5, 6, 7]);
    expect({ records, deadLettered, skipped }).toEqual({ records: 6, deadLettered: 3, skipped: 3 });
  });
});

describe('Avro captures that are cut or inflate like bombs', () => {
  const message = (n: number, body: Buffer) => ({ sequenceNumber: n, offset: String(n), enqueuedTimeUtc: '2025-06-02T09:00:00Z', body });

  it('says a truncated capture lost records instead of ending quietly', async () => {
    const whole = await captureAvro([message(0, Buffer.from('{"records":[]}')), message(1, Buffer.from('{"records":[]}'))]);
    const file = join(dir, 'cut.avro');
    await writeFile(file, whole.subarray(0, whole.length - 10));
    const bodies = await bodiesOf(file);
    expect(bodies.at(-1)!.unreadable).toMatch(/^the file ends inside an Avro block \(\d+ bytes after record 0\): a truncated capture/);
  });

  it('refuses a block that inflates past the limit, as one unreadable body', async () => {
    const file = join(dir, 'bomb.avro');
    await writeFile(file, await captureAvro([message(0, Buffer.alloc(8 * 1024 * 1024))]));
    const bodies = await bodiesOf(file, { maxAvroBlockBytes: 1024 * 1024 });
    expect(bodies).toEqual([
      expect.objectContaining({ body: '', unreadable: expect.stringMatching(/cannot read Avro record 1 onwards: .*inflates past 1048576 bytes/) }),
    ]);
  });
});
