import { EventHubProducerClient, type EventDataBatch, type RetryOptions } from '@azure/event-hubs';

import { NormalizedEventSchema, ROUTED_FOR, servesActor, type NormalizedEvent, type RoutedFor, type StreamEvent } from '../model/index.js';
import { keyedRoutes } from './partitioning.js';
import { EventHubConnection } from './connection.js';
import { WardenError } from '../common/errors.js';
import { boundEvent } from '../ingest/limits.js';

/**
 * What ingest puts on the keyed hub for each normalized event: the event, when its raw record
 * reached Warden (the raw hub's enqueued time, so detect reports DetectionLatencyMs from arrival),
 * and where it was read (so detect recognizes a copy when an ingest batch is published again).
 */
export interface KeyedEvent {
  event: NormalizedEvent;
  arrivedAt: number;
  origin: NonNullable<StreamEvent['origin']>;
  /** Set by the publisher on an event's copy for its target principal or app id (see keyedRoutes); absent on the actor's. */
  routedFor?: RoutedFor;
}

/** A keyed-hub message that is not a KeyedEvent (a foreign producer, a bug): detect dead-letters it. */
export class KeyedEventFormatError extends WardenError {
  override name = 'KeyedEventFormatError';
  readonly userFixable = false;
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
      throw new KeyedEventFormatError('not JSON: a keyed-hub message is {"event": NormalizedEvent, "arrivedAt": epoch ms, "origin": {…}}');
    }
  }
  const { event, arrivedAt, origin, routedFor } = (value ?? {}) as Partial<KeyedEvent>;
  if (typeof arrivedAt !== 'number' || !Number.isFinite(arrivedAt)) {
    throw new KeyedEventFormatError('"arrivedAt" is missing or not a number (epoch ms)');
  }
  if (typeof origin?.source !== 'string' || !Number.isSafeInteger(origin.sequenceNumber) || !Number.isSafeInteger(origin.index)) {
    throw new KeyedEventFormatError('"origin" is missing or malformed: {"source": "hub/partition", "sequenceNumber": n, "index": n}');
  }
  if (routedFor !== undefined && !ROUTED_FOR.includes(routedFor)) {
    throw new KeyedEventFormatError(`"routedFor" is ${JSON.stringify(routedFor)}: leave it out (the actor's copy) or give one of ${ROUTED_FOR.join(', ')}`);
  }
  const parsed = NormalizedEventSchema.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyedEventFormatError(`"event" is not a NormalizedEvent: ${issue ? `${['event', ...issue.path].join('.')}: ${issue.message}` : 'invalid'}`);
  }
  // Anyone with send rights on the keyed hub skips ingest: its texts are bounded and redacted here too.
  const bounded = parsed.data;
  boundEvent(bounded);
  const keyed: KeyedEvent = { event: bounded, arrivedAt, origin: { source: origin.source, sequenceNumber: origin.sequenceNumber, index: origin.index } };
  if (routedFor !== undefined) keyed.routedFor = routedFor;
  return keyed;
}

export interface KeyedHubPublisherOptions {
  eventHubName: string;
  connection: EventHubConnection;
  /** Passed to the producer (retry options: a send the service refuses is retried by the SDK first). */
  retryOptions?: RetryOptions;
}

export interface PublishStats {
  /** Events sent. */
  events: number;
  /** Event Hubs sends made (at most a few per keyed partition). */
  sends: number;
  /** Events over the hub's event size limit: not sent, for the caller to dead-letter. */
  tooLarge: KeyedEvent[];
}

/**
 * Publishes normalized events to the keyed hub, each principal's events to one partition (FNV-1a
 * of the principal over the hub's partitions: the routing `warden replay --partitions` uses), so
 * one detect instance at a time holds a principal's state. An event with a target principal goes
 * (or an application's service principal's event with its app id) to that key's partition too, that copy marked `routedFor` (keyedRoutes). Per partition the events go in one
 * batch (or consecutive batches, one after the other) in the order given: events of one origin
 * then reach each partition in their raw order, which is how detect tells a copy from a new event
 * when a batch is published again (after a failed send or a crash before the checkpoint). A failed
 * send rejects: the ingest function's retry policy then runs the whole batch again.
 */
export class KeyedHubPublisher {
  readonly client: EventHubProducerClient;
  private partitionIds?: Promise<string[]>;

  constructor(options: KeyedHubPublisherOptions) {
    const clientOptions = options.retryOptions ? { retryOptions: options.retryOptions } : {};
    this.client =
      'connectionString' in options.connection
        ? new EventHubProducerClient(options.connection.connectionString, options.eventHubName, clientOptions)
        : new EventHubProducerClient(options.connection.fullyQualifiedNamespace, options.eventHubName, options.connection.credential, clientOptions);
  }

  /** `properties` go on every event as application properties (the batch's trace context). */
  async publish(events: readonly KeyedEvent[], properties?: Record<string, string>): Promise<PublishStats> {
    const stats: PublishStats = { events: 0, sends: 0, tooLarge: [] };
    if (!events.length) return stats;
    // The partition count of a Standard hub never changes: read it once.
    this.partitionIds ??= this.client.getPartitionIds().catch((err: unknown) => {
      this.partitionIds = undefined;
      throw err;
    });
    const ids = await this.partitionIds;
    const byPartition = new Map<string, KeyedEvent[]>();
    let e: KeyedEvent;
    const add = (partition: number, routedFor?: RoutedFor) => {
      const partitionId = ids[partition];
      const copy = routedFor ? { ...e, routedFor } : e;
      const list = byPartition.get(partitionId);
      if (list) list.push(copy);
      else byPartition.set(partitionId, [copy]);
    };
    for (e of events) keyedRoutes(e.event, ids.length, add);
    await Promise.all([...byPartition].map(([partitionId, list]) => this.sendPartition(partitionId, list, stats, properties)));
    return stats;
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async sendPartition(partitionId: string, events: readonly KeyedEvent[], stats: PublishStats, properties?: Record<string, string>): Promise<void> {
    let batch: EventDataBatch = await this.client.createBatch({ partitionId });
    const send = async () => {
      await this.client.sendBatch(batch);
      stats.sends++;
      stats.events += batch.count;
    };
    for (const e of events) {
      // A Buffer goes on the wire as is; any other body the SDK would JSON-encode again.
      const data = { body: Buffer.from(JSON.stringify(e)), contentType: 'application/json', ...(properties ? { properties } : {}) };
      if (batch.tryAdd(data)) continue;
      if (batch.count > 0) {
        await send();
        batch = await this.client.createBatch({ partitionId });
        if (batch.tryAdd(data)) continue;
      }
      // Its actor's copy (the same event) is reported already, or will be: one dead letter per event.
      if (servesActor(e.routedFor)) stats.tooLarge.push(e);
    }
    if (batch.count > 0) await send();
  }
}
