import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { BlobDeadLetterSink, DeadLetterFormatError, JsonlDeadLetterSink, parseDeadLetters } from '../../src/delivery/dead-letters.js';
import { decodeBody } from '../../src/ingest/envelope.js';
import { DEAD_LETTER_RAW_LIMIT, type DeadLetter } from '../../src/model/index.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';

let azurite: AzuriteInstance;
let containers = 0;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

const sinkInOwnContainer = () => new BlobDeadLetterSink({ connectionString: azurite.connectionString, container: `deadletters-${++containers}` });

/** Dead letters as the ingest stage makes them from a broken Event Hubs body. */
function deadLettersOf(body: string, sequenceNumber: number): DeadLetter[] {
  const { deadLetters } = decodeBody(body, { hub: 'resource-logs', partitionId: '3', sequenceNumber });
  expect(deadLetters.length).toBeGreaterThan(0);
  return deadLetters;
}

describe('BlobDeadLetterSink on Azurite', () => {
  it('writes one JSONL blob per batch, named by date, hub, partition and sequence, that reads back as written', async () => {
    const sink = sinkInOwnContainer();
    const huge = `{"records":[${'x'.repeat(200_000)}`;
    const batch = [...deadLettersOf(huge, 120), ...deadLettersOf('{"records":[42,"text"]}', 121)];
    const origin = { hub: 'resource-logs', partitionId: '3', sequenceNumber: 120, enqueuedTime: '2025-06-01T23:59:58.000Z' };
    await sink.write(batch, origin);

    const name = '2025/06/01/resource-logs/3/00000000000000000120.jsonl';
    expect(await sink.list('2025/06/01/')).toEqual([name]);
    const read = await sink.read(name);
    expect(read).toEqual(batch);
    expect(read[0].reason).toMatch(/invalid JSON/);
    expect(Buffer.byteLength(read[0].raw)).toBeLessThanOrEqual(DEAD_LETTER_RAW_LIMIT);
    expect(read[0].location).toMatchObject({ hub: 'resource-logs', partitionId: '3', sequenceNumber: 120 });

    // Anyone with the container can read it: plain JSON Lines.
    const blob = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(sink.container.containerName).getBlobClient(name);
    const text = (await blob.downloadToBuffer()).toString('utf8');
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(batch);
    expect((await blob.getProperties()).contentType).toMatch(/ndjson/);
  });

  it('keeps batches of different hubs and partitions apart, listed in stream order', async () => {
    const sink = sinkInOwnContainer();
    const day = '2025-06-02T10:00:00Z';
    await sink.write(deadLettersOf('not json', 1000), { hub: 'resource-logs', partitionId: '3', sequenceNumber: 1000, enqueuedTime: day });
    await sink.write(deadLettersOf('not json', 99), { hub: 'resource-logs', partitionId: '3', sequenceNumber: 99, enqueuedTime: day });
    await sink.write(deadLettersOf('not json', 5), { hub: 'signin', partitionId: '0', sequenceNumber: 5, enqueuedTime: day });
    expect(await sink.list('2025/06/02/resource-logs/3/')).toEqual([
      '2025/06/02/resource-logs/3/00000000000000000099.jsonl',
      '2025/06/02/resource-logs/3/00000000000000001000.jsonl',
    ]);
    expect(await sink.list('2025/06/02/signin/')).toHaveLength(1);
  });

  it('rewrites the blob of a redelivered batch instead of adding a second one; writes nothing for a clean batch', async () => {
    const sink = sinkInOwnContainer();
    const origin = { hub: 'activity', partitionId: '1', sequenceNumber: 7, enqueuedTime: new Date('2025-06-03T00:00:00Z') };
    await sink.write(deadLettersOf('[1,2]', 7), origin);
    const again = deadLettersOf('[1,2]', 7);
    await sink.write(again, origin);
    await sink.write([], { ...origin, sequenceNumber: 8 });
    const names = await sink.list();
    expect(names).toEqual(['2025/06/03/activity/1/00000000000000000007.jsonl']);
    expect(await sink.read(names[0])).toEqual(again);
  });

  it('reaches an account by name over HTTPS with a token credential (production: managed identity)', () => {
    const credential = { getToken: () => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 60_000 }) };
    const sink = new BlobDeadLetterSink({ accountName: 'wardenprod', credential });
    expect(sink.container.url).toBe('https://wardenprod.blob.core.windows.net/warden-deadletters');
  });
});

describe('JsonlDeadLetterSink', () => {
  it('appends dead letters of concurrent batches as whole lines that read back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-dl-'));
    try {
      const path = join(dir, 'dead-letters.jsonl');
      const sink = new JsonlDeadLetterSink(path);
      const batches = Array.from({ length: 20 }, (_, i) => deadLettersOf(`{"records":[${i},"${'y'.repeat(5000)}"]}`, i));
      await Promise.all(batches.map((b, i) => sink.write(b, { hub: 'replay', partitionId: '0', sequenceNumber: i })));
      const read = parseDeadLetters(readFileSync(path, 'utf8'));
      expect(read).toEqual(batches.flat());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a failed append to its caller without failing the writes after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-dl-'));
    try {
      const bad = new JsonlDeadLetterSink(join(dir, 'missing-dir', 'x.jsonl'));
      const origin = { hub: 'replay', partitionId: '0', sequenceNumber: 0 };
      await expect(bad.write(deadLettersOf('nope', 0), origin)).rejects.toThrow(/ENOENT/);
      const good = new JsonlDeadLetterSink(join(dir, 'ok.jsonl'));
      await good.write(deadLettersOf('nope', 0), origin);
      expect(parseDeadLetters(readFileSync(join(dir, 'ok.jsonl'), 'utf8'))).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the line that is not a dead letter', () => {
    const ok = JSON.stringify(deadLettersOf('nope', 0)[0]);
    expect(() => parseDeadLetters(`${ok}\n{"reason":"r"}\n`)).toThrow(DeadLetterFormatError);
    expect(() => parseDeadLetters(`${ok}\n{"reason":"r"}\n`)).toThrow(/line 2 is not a dead letter: location/);
    expect(() => parseDeadLetters(`${ok}\n\n{oops\n`)).toThrow(/line 3 is not JSON/);
  });
});
