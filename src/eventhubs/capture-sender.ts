/**
 * Sends captured logs into an Event Hub the way Azure Monitor's diagnostic settings stream them:
 * `{"records":[...]}` JSON bodies of up to 100 records, one body per event, sent without a
 * partition key so the service spreads them round-robin over the partitions. Reads whatever
 * `warden replay` reads (src/ingest/files.ts): JSON, NDJSON, Log Analytics query output, Event
 * Hubs Capture Avro, any of them gzipped. Optionally paced, and moved in time to end now.
 */
import { EventHubProducerClient, parseEventHubConnectionString, type EventHubClientOptions } from '@azure/event-hubs';
import type { RecordLocation } from '../model/index.js';
import { decodeBody } from '../ingest/envelope.js';
import { listCaptureFiles, readCaptureFile } from '../ingest/files.js';
import type { RawRecord } from '../ingest/types.js';
import { obj, parseTime } from '../ingest/util.js';
import { EventHubConnection } from './connection.js';
import { WardenError } from '../common/errors.js';
import { isEventHubsEmulator } from '../common/connection-string.js';

/** Options that cannot work (a key-bearing connection string, a hub name that contradicts it, a bad rate). */
export class CaptureSendConfigError extends WardenError {
  override name = 'CaptureSendConfigError';
  readonly userFixable = true;
}

/** The namespace answered, but has no hub of that name. */
export class EventHubNotFoundError extends WardenError {
  override name = 'EventHubNotFoundError';
  readonly userFixable = true;
}

export interface CaptureSendProgress {
  /** The file being read, from 1. */
  file: number;
  files: number;
  records: number;
  events: number;
}

export interface CaptureSendOptions {
  eventHubName: string;
  /** A fully-qualified namespace and a credential; a connection string only for the local emulator or test broker. */
  connection: EventHubConnection;
  /** Records per second, paced over the run; default as fast as the hub takes them. */
  recordsPerSecond?: number;
  /** Move every event time by one offset (whole seconds) so the latest becomes this time (epoch ms). */
  shiftLatestTo?: number;
  /** Default 100, as Azure Monitor's bodies. */
  maxRecordsPerBody?: number;
  /** Default 256 KiB: well under the 1 MB event limit of the Standard tier. A body the hub still refuses is split. */
  maxBodyBytes?: number;
  /** After every event sent. */
  onProgress?: (progress: CaptureSendProgress) => void;
  /** A record (or a body of the input) that could not be sent, and why. */
  onSkipped?: (reason: string, location: RecordLocation) => void;
  clientOptions?: EventHubClientOptions;
}

export interface CaptureSendSummary {
  hub: string;
  partitions: number;
  files: number;
  /** Files inside the folders given that are not a capture format (README.md, …). */
  ignoredFiles: number;
  /** Records sent. */
  records: number;
  /** `{"records":[...]}` bodies made. */
  bodies: number;
  /** Events the hub accepted (one body each); fewer than bodies only when a one-record body exceeds the event limit. */
  events: number;
  /** Records and input bodies not sent: not JSON records, unreadable, or larger than an event may be. */
  skipped: number;
  /** Added to every event time, when times were shifted. */
  timeShiftMs?: number;
  seconds: number;
}

const BODY_PREFIX = '{"records":[';
const BODY_SUFFIX = ']}';
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

function producerFor(hub: string, connection: EventHubConnection, clientOptions: EventHubClientOptions | undefined): EventHubProducerClient {
  if ('connectionString' in connection) {
    const parsed = parseConnectionString(connection.connectionString);
    // Keys do not belong in a command line or a shell profile: a real namespace is reached as an identity.
    // The SDK's parser does not report UseDevelopmentEmulator (6.0), so read it as settings.ts does.
    if (!isEventHubsEmulator(connection.connectionString)) {
      throw new CaptureSendConfigError(
        'a connection string is only for the local emulator or test broker (UseDevelopmentEmulator=true, endpoint on 127.0.0.1): for a real namespace give its host name instead, signed in as DefaultAzureCredential',
      );
    }
    if (parsed.eventHubName !== undefined && parsed.eventHubName !== hub) {
      throw new CaptureSendConfigError(`the connection string is for hub '${parsed.eventHubName}', not '${hub}': drop its EntityPath or send to that hub`);
    }
    return new EventHubProducerClient(connection.connectionString, hub, clientOptions);
  }
  if (!HOST_NAME.test(connection.fullyQualifiedNamespace)) {
    throw new CaptureSendConfigError(
      `'${connection.fullyQualifiedNamespace}' is not a namespace host name: give it like warden-ehns.servicebus.windows.net, without sb:// or a path`,
    );
  }
  return new EventHubProducerClient(connection.fullyQualifiedNamespace, hub, connection.credential, clientOptions);
}

function parseConnectionString(connectionString: string): ReturnType<typeof parseEventHubConnectionString> {
  try {
    return parseEventHubConnectionString(connectionString);
  } catch {
    // The SDK's message repeats the string, key included.
    throw new CaptureSendConfigError(
      'the connection string is not an Event Hubs connection string: it needs Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…',
    );
  }
}

/**
 * Visits the fields Warden takes an event's time from (src/ingest/sources): a stream record's
 * `time`, a Log Analytics row's `TimeGenerated`, and the record's own time where a source prefers
 * it: a sign-in's `createdDateTime` / `CreatedDateTime`, an Entra audit entry's
 * `activityDateTime` / `ActivityDateTime`, a Graph request's `timeGenerated`. `visit` returns the
 * value to store.
 */
function eachEventTime(record: RawRecord, visit: (value: string) => string): void {
  const at = (holder: Record<string, unknown>, key: string): boolean => {
    const value = holder[key];
    if (typeof value !== 'string') return false;
    const next = visit(value);
    if (next === value) return false;
    holder[key] = next;
    return true;
  };
  at(record, 'time');
  at(record, 'TimeGenerated');
  at(record, 'CreatedDateTime');
  at(record, 'ActivityDateTime');
  // `properties` may arrive JSON-encoded; it stays encoded.
  const properties = obj(record.properties);
  if (!properties) return;
  let changed = at(properties, 'createdDateTime');
  changed = at(properties, 'activityDateTime') || changed;
  changed = at(properties, 'timeGenerated') || changed;
  if (changed && typeof record.properties === 'string') record.properties = JSON.stringify(properties);
}

const ZONE_OFFSET = /([+-])(\d{2}):?(\d{2})$/;

/**
 * `value` moved by `byMs` (whole seconds), written as it was: an ISO time keeps its fraction digits
 * and zone, only the date and clock change. Other time formats come back as ISO; non-times as they are.
 */
function shiftTime(value: string, byMs: number): string {
  const ms = parseTime(value);
  if (ms === undefined) return value;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(value)) return new Date(ms + byMs).toISOString();
  const tail = value.slice(19);
  const zone = ZONE_OFFSET.exec(tail);
  const offsetMs = zone ? (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) * 60_000 : 0;
  return new Date(ms + byMs + offsetMs).toISOString().slice(0, 19) + tail;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface ReadRecord {
  record: RawRecord;
  location: RecordLocation;
  fileIndex: number;
}

/** Every record of the files in order; what is not a record goes to `onSkipped`. */
async function* recordsOf(files: string[], onSkipped: (reason: string, location: RecordLocation, count?: number) => void): AsyncGenerator<ReadRecord> {
  for (let fileIndex = 0; fileIndex < files.length; fileIndex++) {
    for await (const capture of readCaptureFile(files[fileIndex])) {
      if (capture.unreadable) {
        onSkipped(capture.unreadable, capture.location);
        continue;
      }
      const decoded = decodeBody(capture.body, capture.location);
      // A dead letter's location is the RecordLocation it was made from.
      for (const d of decoded.deadLetters) onSkipped(d.reason, d.location);
      if (decoded.deadLettersNotKept)
        onSkipped(`${decoded.deadLettersNotKept} more items of this body are not records`, capture.location, decoded.deadLettersNotKept);
      for (const { record, location } of decoded.records) yield { record, location, fileIndex };
    }
  }
}

async function latestEventTime(files: string[]): Promise<number | undefined> {
  let latest: number | undefined;
  for await (const { record } of recordsOf(files, () => undefined)) {
    eachEventTime(record, (value) => {
      const ms = parseTime(value);
      if (ms !== undefined && (latest === undefined || ms > latest)) latest = ms;
      return value;
    });
  }
  return latest;
}

/**
 * Send the records of the given capture files and folders to `options.eventHubName`. Throws
 * CaptureReadError for a path that cannot be read (before connecting), CaptureSendConfigError,
 * EventHubNotFoundError, or the SDK's error when a send fails after its retries.
 */
export async function sendCaptures(paths: string[], options: CaptureSendOptions): Promise<CaptureSendSummary> {
  const rate = options.recordsPerSecond;
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
    throw new CaptureSendConfigError(`records per second must be a positive number, got ${rate}`);
  }
  // Paced, a body carries about a quarter second of records, so the stream flows rather than jumps.
  const perBody = Math.max(1, Math.min(options.maxRecordsPerBody ?? 100, rate === undefined ? Infinity : Math.ceil(rate / 4)));
  const maxBodyBytes = options.maxBodyBytes ?? 256 * 1024;
  const found = await listCaptureFiles(paths);
  const started = Date.now();
  const summary: CaptureSendSummary = {
    hub: options.eventHubName,
    partitions: 0,
    files: found.files.length,
    ignoredFiles: found.ignored.length,
    records: 0,
    bodies: 0,
    events: 0,
    skipped: 0,
    seconds: 0,
  };
  const skip = (reason: string, location: RecordLocation, count = 1) => {
    summary.skipped += count;
    options.onSkipped?.(reason, location);
  };

  const client = producerFor(options.eventHubName, options.connection, options.clientOptions);
  try {
    try {
      summary.partitions = (await client.getEventHubProperties()).partitionIds.length;
    } catch (err) {
      if ((err as { code?: string }).code === 'MessagingEntityNotFoundError') {
        throw new EventHubNotFoundError(`the namespace has no Event Hub '${options.eventHubName}': check the hub name`);
      }
      throw err;
    }

    let byMs = 0;
    if (options.shiftLatestTo !== undefined) {
      const latest = await latestEventTime(found.files);
      // Whole seconds keep every fraction as written; rounding down keeps the latest time at or before the target.
      if (latest !== undefined) byMs = Math.floor((options.shiftLatestTo - latest) / 1000) * 1000;
      summary.timeShiftMs = byMs;
    }

    let file = 0;
    // Pacing counts from the first send, not from the time-shift pass over the input.
    const sendingFrom = Date.now();
    const sendBody = async (records: Array<{ json: string; location: RecordLocation }>): Promise<void> => {
      summary.bodies++;
      const batch = await client.createBatch();
      const body = BODY_PREFIX + records.map((r) => r.json).join(',') + BODY_SUFFIX;
      // A Buffer goes on the wire as is; any other body the SDK would JSON-encode again.
      if (batch.tryAdd({ body: Buffer.from(body), contentType: 'application/json' })) {
        if (rate !== undefined) await sleep(sendingFrom + (summary.records / rate) * 1000 - Date.now());
        await client.sendBatch(batch);
        summary.events++;
        summary.records += records.length;
        options.onProgress?.({ file, files: found.files.length, records: summary.records, events: summary.events });
        return;
      }
      if (records.length === 1) {
        skip(`record is larger than the hub's event size limit (${batch.maxSizeInBytes} bytes)`, records[0].location);
        return;
      }
      // Over this hub's event size (Basic tier: 256 KB): halves fit where the whole did not.
      summary.bodies--;
      const half = Math.ceil(records.length / 2);
      await sendBody(records.slice(0, half));
      await sendBody(records.slice(half));
    };

    const EMPTY_BODY_BYTES = BODY_PREFIX.length + BODY_SUFFIX.length;
    let pending: Array<{ json: string; location: RecordLocation }> = [];
    let pendingBytes = EMPTY_BODY_BYTES;
    const flush = async () => {
      if (pending.length) await sendBody(pending);
      pending = [];
      pendingBytes = EMPTY_BODY_BYTES;
    };
    for await (const { record, location, fileIndex } of recordsOf(found.files, skip)) {
      file = fileIndex + 1;
      if (byMs !== 0) eachEventTime(record, (value) => shiftTime(value, byMs));
      const json = JSON.stringify(record);
      const bytes = Buffer.byteLength(json) + 1;
      if (pending.length && (pending.length >= perBody || pendingBytes + bytes > maxBodyBytes)) await flush();
      pending.push({ json, location });
      pendingBytes += bytes;
    }
    await flush();
  } finally {
    await client.close();
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}
