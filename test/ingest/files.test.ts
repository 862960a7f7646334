import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureReadError, listCaptureFiles, readCaptures, type CaptureBody } from '../../src/ingest/files.js';
import { decodeBody } from '../../src/ingest/envelope.js';
import { captureAvro } from './capture-files.js';

const rec = (n: number) => ({ category: 'AuditEvent', time: `2025-01-01T00:00:0${n}Z`, n });
const envelope = (...ns: number[]) => JSON.stringify({ records: ns.map(rec) });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(paths: string[], options?: { wholeFileLimit?: number }): Promise<CaptureBody[]> {
  const out: CaptureBody[] = [];
  for await (const body of readCaptures(paths, options)) out.push(body);
  return out;
}

/** The `n` of every record the bodies decode to, in order. */
function ns(bodies: CaptureBody[]): unknown[] {
  return bodies.flatMap((b) => decodeBody(b.body, b.location).records.map((r) => r.record.n));
}

describe('listCaptureFiles', () => {
  it('walks folders recursively in name order, ignores other files, and reads named files whatever their extension', async () => {
    const root = join(dir, 'walk');
    await mkdir(join(root, 'b', 'deep'), { recursive: true });
    await mkdir(join(root, 'a'), { recursive: true });
    for (const f of ['b/deep/z.json', 'b/y.ndjson', 'a/x.jsonl.gz', 'a/w.avro', 'c.log', 'd.txt', 'README.md', 'notes.csv']) {
      await writeFile(join(root, f), '{}');
    }
    await writeFile(join(dir, 'named.capture'), envelope(1));
    const found = await listCaptureFiles([root, join(dir, 'named.capture')]);
    expect(found.files).toEqual([
      // CSV: a Log Analytics portal export.
      ...['a/w.avro', 'a/x.jsonl.gz', 'b/deep/z.json', 'b/y.ndjson', 'c.log', 'd.txt', 'notes.csv'].map((f) => join(root, f)),
      join(dir, 'named.capture'),
    ]);
    expect(found.ignored).toEqual([join(root, 'README.md')]);
  });

  it('throws CaptureReadError naming the path when it does not exist', async () => {
    const missing = join(dir, 'missing');
    await expect(listCaptureFiles([missing])).rejects.toThrow(CaptureReadError);
    await expect(listCaptureFiles([missing])).rejects.toThrow(`cannot read ${missing}: no such file or folder`);
    await expect(collect([missing])).rejects.toThrow(CaptureReadError);
  });
});

describe('readCaptures: JSON, NDJSON and gzip', () => {
  it('gives a JSON file as one body and an NDJSON file with line numbers', async () => {
    await writeFile(join(dir, 'one.json'), envelope(1, 2));
    await writeFile(join(dir, 'lines.ndjson'), `${JSON.stringify(rec(3))}\n\n${envelope(4, 5)}\n`);
    const bodies = await collect([join(dir, 'one.json'), join(dir, 'lines.ndjson')]);
    expect(bodies.map((b) => b.location)).toEqual([{ file: join(dir, 'one.json') }, { file: join(dir, 'lines.ndjson') }]);
    expect(ns(bodies)).toEqual([1, 2, 3, 4, 5]);
    const lines = decodeBody(bodies[1].body, bodies[1].location).records.map((r) => r.location.line);
    expect(lines).toEqual([1, 3, 3]);
  });

  it('gunzips .gz files and reads them as their inner extension', async () => {
    await writeFile(join(dir, 'z.json.gz'), gzipSync(envelope(6)));
    await writeFile(join(dir, 'z.ndjson.gz'), gzipSync(`${JSON.stringify(rec(7))}\n${JSON.stringify(rec(8))}\n`));
    expect(ns(await collect([join(dir, 'z.json.gz'), join(dir, 'z.ndjson.gz')]))).toEqual([6, 7, 8]);
  });

  it('reports a corrupt .gz file as unreadable instead of failing the replay', async () => {
    const file = join(dir, 'bad.json.gz');
    await writeFile(file, Buffer.concat([gzipSync(envelope(1)).subarray(0, 12), Buffer.from('garbage')]));
    const bodies = await collect([file]);
    expect(bodies).toHaveLength(1);
    expect(bodies[0].location).toEqual({ file });
    expect(bodies[0].unreadable).toMatch(/^cannot read gzip: /);
  });

  it('streams files above the whole-file limit line by line, keeping line numbers', async () => {
    const file = join(dir, 'big.log');
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify(rec(i)));
    lines.splice(10, 0, '');
    await writeFile(file, lines.join('\r\n'));
    const bodies = await collect([file], { wholeFileLimit: 256 });
    expect(bodies).toHaveLength(50);
    expect(bodies.every((b) => typeof b.body === 'string' && !b.body.endsWith('\r'))).toBe(true);
    expect(bodies[9].location).toEqual({ file, line: 10 });
    expect(bodies[10].location).toEqual({ file, line: 12 });
    expect(ns(bodies)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('refuses to split a large file that is one pretty-printed document, with advice', async () => {
    const file = join(dir, 'big-pretty.json');
    await writeFile(file, JSON.stringify({ records: Array.from({ length: 30 }, (_, i) => rec(i)) }, null, 2));
    const bodies = await collect([file], { wholeFileLimit: 256 });
    expect(bodies).toHaveLength(1);
    expect(bodies[0].unreadable).toMatch(/larger than 256 bytes and is not NDJSON .*split it/);
  });
});

describe('readCaptures: Event Hubs Capture Avro', () => {
  const messages = [
    { sequenceNumber: 100, offset: '4294967296', enqueuedTimeUtc: '1/9/2025 9:31:51 PM', body: Buffer.from(envelope(1, 2)) },
    {
      sequenceNumber: 101,
      offset: '4294967800',
      enqueuedTimeUtc: '1/9/2025 9:31:52 PM',
      body: Buffer.from(`${JSON.stringify(rec(3))}\n${JSON.stringify(rec(4))}`),
    },
    { sequenceNumber: 102, offset: '4294968300', enqueuedTimeUtc: '1/9/2025 9:31:53 PM', body: null },
  ];

  it('gives one body per Avro record with the file, record number, sequence number, offset and enqueued time', async () => {
    const file = join(dir, 'capture.avro');
    await writeFile(file, await captureAvro(messages));
    const bodies = await collect([file]);
    expect(bodies.map((b) => b.location)).toEqual(
      messages.map((m, i) => ({ file, line: i + 1, sequenceNumber: m.sequenceNumber, offset: m.offset, enqueuedTime: m.enqueuedTimeUtc })),
    );
    expect(ns(bodies)).toEqual([1, 2, 3, 4]);
    // A null Body is an empty body: dead-lettered downstream, not lost.
    expect(decodeBody(bodies[2].body, bodies[2].location).deadLetters.map((d) => [d.reason, d.location.sequenceNumber])).toEqual([['empty body', 102]]);
  });

  it('reads gzipped Capture files', async () => {
    const file = join(dir, 'capture.avro.gz');
    await writeFile(file, await captureAvro(messages.slice(0, 1), { gzip: true }));
    expect(ns(await collect([file]))).toEqual([1, 2]);
  });

  it('reports a file that is not Avro, or is cut short, as unreadable from where it breaks', async () => {
    const notAvro = join(dir, 'not.avro');
    await writeFile(notAvro, envelope(1));
    const [bad] = await collect([notAvro]);
    expect(bad).toMatchObject({
      location: { file: notAvro, line: 1 },
      unreadable: expect.stringMatching(/^cannot read Avro record 1 onwards: invalid magic bytes/),
    });

    // Incompressible bodies spread the file over several read chunks; those before the damage are still read.
    const noise = (i: number) => createHash('sha512').update(String(i)).digest('hex');
    const many = Array.from({ length: 2000 }, (_, i) => ({
      ...messages[0],
      sequenceNumber: i,
      body: Buffer.from(JSON.stringify({ records: [{ ...rec(i), noise: noise(i) }] })),
    }));
    const whole = await captureAvro(many);
    const cut = join(dir, 'cut.avro');
    await writeFile(cut, Buffer.concat([whole.subarray(0, whole.length - 40), Buffer.alloc(40, 7)]));
    const bodies = await collect([cut]);
    const last = bodies[bodies.length - 1];
    expect(last.unreadable).toMatch(/^cannot read Avro record \d+ onwards: /);
    expect(bodies.length).toBeGreaterThan(100);
    expect(bodies.slice(0, -1).every((b) => b.unreadable === undefined)).toBe(true);
    expect(last.location.line).toBe(bodies.length);
  });
});
