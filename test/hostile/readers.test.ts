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

async function bodiesOf(file: string, options = {}, stopAfter = 20): Promise<CaptureBody[]> {
  const out: CaptureBody[] = [];
  for await (const body of readCaptureFile(file, options)) {
    out.push(body);
    // A reader that does not stop would give millions: a few are enough to tell.
    if (out.length >= stopAfter) break;
  }
  return out;
}

describe('readers that bound what they read', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-hostile-readers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

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

describe('Avro captures that are cut or inflate like bombs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-hostile-avro-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

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
