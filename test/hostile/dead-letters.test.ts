import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import { DEAD_LETTERS_PER_BATCH, DEAD_LETTERS_PER_BODY } from '../../src/ingest/envelope.js';
import { BlobDeadLetterSink } from '../../src/delivery/dead-letters.js';
import { appOnAzurite, batchContext } from './app.js';

/** One Event Hubs event's worth (1 MB) of `{"records":[1,1,…]}`: 524 282 records that are not objects. */
function onesBody(): { text: string; records: number } {
  const records = (1024 * 1024 - '{"records":[]}'.length + 1) >> 1;
  return { text: `{"records":[${'1,'.repeat(records - 1)}1]}`, records };
}

describe('no dead-letter amplification', () => {
  it('one 1 MB body of non-records keeps a sample of dead letters and counts the rest', () => {
    const { text, records } = onesBody();
    const result = ingestBody(Buffer.from(text), { hub: 'warden-resource', partitionId: '0' });
    expect(result.records).toBe(records);
    expect(result.deadLetters).toHaveLength(DEAD_LETTERS_PER_BODY);
    expect(result.deadLetters[0]).toMatchObject({ reason: 'record is a number, not a JSON object', location: { index: 0 }, raw: '1' });
    const skipped = Object.values(result.skippedByCategory).reduce((a, b) => a + b, 0);
    expect(result.records).toBe(result.events.length + skipped + result.deadLetters.length + result.deadLettersNotKept);
    // What is kept of a 1 MB body is a few KB, not the 118 MB it was.
    expect(JSON.stringify(result).length).toBeLessThan(64 * 1024);
  });

  describe('a batch of five such bodies, through the app', () => {
    let azurite: AzuriteInstance;
    beforeAll(async () => {
      azurite = await startAzurite();
    }, 60_000);
    afterAll(async () => {
      await azurite?.stop();
    });

    it('is dead-lettered once, counted in full, in a blob of bounded size, and the partition moves on', async () => {
      const app = await appOnAzurite(azurite);
      const { text, records } = onesBody();
      const bodies = Array.from({ length: 5 }, () => Buffer.from(text));
      const heapBefore = process.memoryUsage().heapUsed;
      const result = await app.ingest('warden-resource', bodies, batchContext('0', 5, 1000));
      const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
      expect(result).toMatchObject({ records: 5 * records, published: 0, skipped: 0, deadLettered: 5 * records });
      // Loose: the bodies themselves are 5 MB of text, their parsed arrays 5 × 4 MB.
      expect(heapGrowth).toBeLessThan(256 * 1024 * 1024);

      const sink = app.deadLetters as BlobDeadLetterSink;
      const [blob] = await sink.list();
      const props = await sink.container.getBlobClient(blob).getProperties();
      expect(props.contentLength).toBeLessThan(1024 * 1024);
      const letters = await sink.read(blob);
      expect(letters).toHaveLength(5 * DEAD_LETTERS_PER_BODY + 1);
      expect(letters.at(-1)!.reason).toBe(
        `${5 * (records - DEAD_LETTERS_PER_BODY)} more records of this batch were dead-lettered and counted, not kept: at most ${DEAD_LETTERS_PER_BODY} per body and ${DEAD_LETTERS_PER_BATCH} per batch are`,
      );
      await app.close();
    }, 120_000);
  });
});
