import { EventHubProducerClient, type EventDataBatch, type RetryOptions } from '@azure/event-hubs';
import type { EventHubConnection } from './eventhubs-trigger.js';
import { NormalizedEventSchema, type NormalizedEvent } from '../model/index.js';

/**
 * What ingest puts on the keyed hub for each normalized event: the event and when its raw record
 * reached Warden (the raw hub's enqueued time), so detect can report DetectionLatencyMs from
 * arrival, not from its own read.
 */
export interface KeyedEvent {
  event: NormalizedEvent;
  arrivedAt: number;
}

/** A keyed-hub message that is not a KeyedEvent (a foreign producer, a bug): detect dead-letters it. */
export class KeyedEventFormatError extends Error {
  override name = 'KeyedEventFormatError';
}

/**
 * Read a keyed-hub message as the Functions host hands it (`dataType: 'string'`: parsed JSON, or
 * the text when it did not parse). Validates against the NormalizedEvent contract.
 */
export function parseKeyedEvent(message: unknown): KeyedEvent {
  let value = message;
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    try {
      value = JSON.parse(value.toString());
    } catch {
      throw new KeyedEventFormatError('not JSON: a keyed-hub message is {"event": NormalizedEvent, "arrivedAt": epoch ms}');
    }
  }
  const { event, arrivedAt } = (value ?? {}) as Partial<KeyedEvent>;
  if (typeof arrivedAt !== 'number' || !Number.isFinite(arrivedAt)) {
    throw new KeyedEventFormatError('"arrivedAt" is missing or not a number (epoch ms)');
  }
  const parsed = NormalizedEventSchema.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyedEventFormatError(`"event" is not a NormalizedEvent: ${issue ? `${['event', ...issue.path].join('.')}: ${issue.message}` : 'invalid'}`);
  }
  return { event: parsed.data as NormalizedEvent, arrivedAt };
}

export interface KeyedHubPublisherOptions {
  eventHubName: string;
  connection: EventHubConnection;
  /** Sends in flight at once (one per principal batch). Default 16. */
  maxConcurrency?: number;
  /** Passed to the producer (retry options: a send the service refuses is retried by the SDK first). */
  retryOptions?: RetryOptions;
}

export interface PublishStats {
  /** Events sent. */
  events: number;
  /** Event Hubs sends made (one or more per principal). */
  sends: number;
  /** Events over the hub's event size limit: not sent, for the caller to dead-letter. */
  tooLarge: KeyedEvent[];
}

/**
 * Publishes normalized events to the keyed hub with `partitionKey` = principal, so every event of
 * a principal lands on one partition, read by one detect instance at a time. Events of one
 * principal keep their order: they go in one batch (or consecutive batches, sent one after the
 * other). A failed send rejects: the ingest function's retry policy then runs the whole batch again.
 */
export class KeyedHubPublisher {
  readonly client: EventHubProducerClient;
  private readonly maxConcurrency: number;

  constructor(options: KeyedHubPublisherOptions) {
    const clientOptions = options.retryOptions ? { retryOptions: options.retryOptions } : {};
    this.client = 'connectionString' in options.connection
      ? new EventHubProducerClient(options.connection.connectionString, options.eventHubName, clientOptions)
      : new EventHubProducerClient(options.connection.fullyQualifiedNamespace, options.eventHubName, options.connection.credential, clientOptions);
    this.maxConcurrency = options.maxConcurrency ?? 16;
  }

  async publish(events: readonly KeyedEvent[]): Promise<PublishStats> {
    const byPrincipal = new Map<string, KeyedEvent[]>();
    for (const e of events) {
      const list = byPrincipal.get(e.event.principalId);
      if (list) list.push(e);
      else byPrincipal.set(e.event.principalId, [e]);
    }
    const stats: PublishStats = { events: 0, sends: 0, tooLarge: [] };
    const queue = [...byPrincipal];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.sendPrincipal(next[0], next[1], stats);
    };
    await Promise.all(Array.from({ length: Math.min(this.maxConcurrency, queue.length) }, worker));
    return stats;
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async sendPrincipal(principalId: string, events: readonly KeyedEvent[], stats: PublishStats): Promise<void> {
    let batch: EventDataBatch = await this.client.createBatch({ partitionKey: principalId });
    const send = async () => {
      await this.client.sendBatch(batch);
      stats.sends++;
      stats.events += batch.count;
    };
    for (const e of events) {
      // A Buffer goes on the wire as is; any other body the SDK would JSON-encode again.
      const data = { body: Buffer.from(JSON.stringify(e)), contentType: 'application/json' };
      if (batch.tryAdd(data)) continue;
      if (batch.count > 0) {
        await send();
        batch = await this.client.createBatch({ partitionKey: principalId });
        if (batch.tryAdd(data)) continue;
      }
      stats.tooLarge.push(e);
    }
    if (batch.count > 0) await send();
  }
}
