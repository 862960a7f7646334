import { gzipSync } from 'node:zlib';
import avro from 'avsc';

/** The schema Event Hubs Capture writes (learn.microsoft.com: "Capture Event Hubs data in Avro format"). */
export const CAPTURE_SCHEMA = {
  type: 'record',
  name: 'EventData',
  namespace: 'Microsoft.ServiceBus.Messaging',
  fields: [
    { name: 'SequenceNumber', type: 'long' },
    { name: 'Offset', type: 'string' },
    { name: 'EnqueuedTimeUtc', type: 'string' },
    { name: 'SystemProperties', type: { type: 'map', values: ['long', 'double', 'string', 'bytes'] } },
    { name: 'Properties', type: { type: 'map', values: ['long', 'double', 'string', 'bytes', 'null'] } },
    { name: 'Body', type: ['null', 'bytes'] },
  ],
} as const;

export interface CaptureMessage {
  sequenceNumber: number;
  offset: string;
  enqueuedTimeUtc: string;
  body: Buffer | null;
}

export interface CaptureAvroOptions {
  gzip?: boolean;
  /** Default deflate, as Capture writes; 'null' leaves the records' bytes as they are, for a test to damage. */
  codec?: 'deflate' | 'null';
  /** The file's 16-byte sync marker (default random, as avsc writes it). */
  syncMarker?: Buffer;
}

/** An Event Hubs Capture Avro container file, built with avsc. */
export async function captureAvro(messages: CaptureMessage[], options: CaptureAvroOptions = {}): Promise<Buffer> {
  const encoder = new avro.streams.BlockEncoder(CAPTURE_SCHEMA as unknown as avro.Schema, {
    codec: options.codec ?? 'deflate',
    syncMarker: options.syncMarker,
  });
  const chunks: Buffer[] = [];
  encoder.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    encoder.on('end', () => resolve());
    encoder.on('error', reject);
  });
  for (const m of messages) {
    encoder.write({
      SequenceNumber: m.sequenceNumber,
      Offset: m.offset,
      EnqueuedTimeUtc: m.enqueuedTimeUtc,
      SystemProperties: { 'x-opt-enqueued-time': { long: Date.parse('2025-01-01T00:00:00Z') } },
      Properties: {},
      Body: m.body,
    });
  }
  encoder.end();
  await done;
  const file = Buffer.concat(chunks);
  return options.gzip ? gzipSync(file) : file;
}
