import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContainerClient } from '@azure/storage-blob';
import { DeadLetterSchema, type DeadLetter } from '../model/index.js';
import { containerClientFor, once, type ContainerLocation } from '../state/azure-storage.js';
import { WardenError } from '../common/errors.js';

export const DEFAULT_DEAD_LETTER_CONTAINER = 'warden-deadletters';
/** Blob blocks of a dead-letter upload: a batch's letters go up in pieces this size, never as one buffer. */
const UPLOAD_BLOCK_BYTES = 4 * 1024 * 1024;

/** The Event Hubs batch dead letters came from: names the blob, so a redelivered batch rewrites its own. */
export interface DeadLetterOrigin {
  hub: string;
  partitionId: string;
  /** Sequence number of the batch's first event. */
  sequenceNumber: number;
  /** Enqueued time of the batch's first event (else the time of writing): the blob's date folder. */
  enqueuedTime?: Date | string;
}

/** Where records that could not be decoded or validated are kept (never silently dropped). */
export interface DeadLetterSink {
  write(deadLetters: readonly DeadLetter[], origin: DeadLetterOrigin): Promise<void>;
}

/** Dead letters as JSON Lines, one DeadLetter per line, made as they are written: never one string of them all. */
export function* jsonlLines(deadLetters: readonly DeadLetter[]): Generator<string> {
  for (const d of deadLetters) yield `${JSON.stringify(d)}\n`;
}

/** Read JSON Lines written by a dead-letter sink; a line that is not a DeadLetter is an error naming the line. */
export function parseDeadLetters(text: string): DeadLetter[] {
  const out: DeadLetter[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch (err) {
      throw new DeadLetterFormatError(`line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
    const parsed = DeadLetterSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DeadLetterFormatError(`line ${i + 1} is not a dead letter: ${issue ? `${issue.path.join('.') || 'value'}: ${issue.message}` : 'invalid'}`);
    }
    out.push(parsed.data);
  }
  return out;
}

export class DeadLetterFormatError extends WardenError {
  override name = 'DeadLetterFormatError';
  readonly userFixable = false;
}

/**
 * One JSONL blob per batch in a container (default `warden-deadletters`), named
 * `<yyyy>/<mm>/<dd>/<hub>/<partition>/<first sequence number, 20 digits>.jsonl` so a day, a hub or
 * a partition can be listed and read in order. A redelivered batch overwrites its own blob; dead
 * letters it no longer holds were in a later part of the stream and land in that part's blob.
 */
export class BlobDeadLetterSink implements DeadLetterSink {
  readonly container: ContainerClient;
  private readonly ensureContainer: () => Promise<void>;

  constructor(location: ContainerLocation) {
    this.container = containerClientFor(location, DEFAULT_DEAD_LETTER_CONTAINER);
    this.ensureContainer = once(() => this.container.createIfNotExists());
  }

  static blobName(origin: DeadLetterOrigin, now = new Date()): string {
    const day = new Date(origin.enqueuedTime ?? now).toISOString().slice(0, 10).replaceAll('-', '/');
    const sequence = String(origin.sequenceNumber).padStart(20, '0');
    return `${day}/${encodeURIComponent(origin.hub)}/${encodeURIComponent(origin.partitionId)}/${sequence}.jsonl`;
  }

  async write(deadLetters: readonly DeadLetter[], origin: DeadLetterOrigin): Promise<void> {
    if (!deadLetters.length) return;
    await this.ensureContainer();
    await this.container.getBlockBlobClient(BlobDeadLetterSink.blobName(origin)).uploadStream(Readable.from(jsonlLines(deadLetters)), UPLOAD_BLOCK_BYTES, 2, {
      blobHTTPHeaders: { blobContentType: 'application/x-ndjson; charset=utf-8' },
    });
  }

  /** Blob names under a prefix (`2025/06/01/`, `2025/06/01/resource-logs/3/`), in name order. */
  async list(prefix = ''): Promise<string[]> {
    const names: string[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix })) names.push(blob.name);
    return names;
  }

  async read(blobName: string): Promise<DeadLetter[]> {
    const data = await this.container.getBlobClient(blobName).downloadToBuffer();
    return parseDeadLetters(data.toString('utf8'));
  }
}

/** Dead letters appended to one JSONL file: `warden replay` and local runs. */
export class JsonlDeadLetterSink implements DeadLetterSink {
  private last: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** Writes are queued, so lines of concurrent batches never interleave. The origin is in each dead letter's location already. */
  write(deadLetters: readonly DeadLetter[], _origin?: DeadLetterOrigin): Promise<void> {
    if (!deadLetters.length) return this.last;
    // A failed append is reported to its own caller, and does not fail the writes queued after it.
    const write = this.last.catch(() => undefined).then(() => pipeline(Readable.from(jsonlLines(deadLetters)), createWriteStream(this.path, { flags: 'a' })));
    this.last = write;
    return write;
  }
}
