/**
 * An Event Hubs trigger that behaves like the Azure Functions host's (`cardinality: 'many'`), for
 * running the same handlers outside the host: tests, and the standalone `warden run` consumer.
 *
 * What it reproduces from the host (Microsoft.Azure.WebJobs.Extensions.EventHubs 5.x and the
 * Node.js v4 worker):
 * - batches of up to `maxEventBatchSize` events per partition, partitions in parallel, one batch
 *   at a time per partition; empty reads never invoke the handler;
 * - message values as the Node worker delivers them for `dataType: 'string'` (UTF-8 text, then
 *   JSON-parsed when it parses) or `'binary'` (Buffers);
 * - `triggerMetadata` as the worker builds it: the host's binding data (`PartitionContext`,
 *   `SequenceNumberArray`, `EnqueuedTimeUtcArray`, …) serialized by Json.NET and with every key
 *   camel-cased, including keys inside application properties;
 * - the function retry policy (`fixedDelay`, `exponentialBackoff` with the host's randomized
 *   backoff), each attempt a new invocation carrying `retryContext`;
 * - a checkpoint after every batch whatever the outcome (at-least-once; a handler that keeps
 *   failing does not stall the partition), except when stopping interrupted the retries or the
 *   partition's ownership was lost: then the batch is left for redelivery, as the host does.
 */
import { randomUUID } from 'node:crypto';
import {
  CloseReason,
  EventHubConsumerClient,
  earliestEventPosition,
  latestEventPosition,
  type CheckpointStore,
  type EventHubConsumerClientOptions,
  type EventPosition,
  type PartitionContext,
  type ReceivedEventData,
  type Subscription,
} from '@azure/event-hubs';
// The package is a CommonJS bundle: Node's ESM loader cannot see its named exports, so take the default.
import functions from '@azure/functions';
import type { Duration, LogHandler, RetryContext, RetryOptions, TriggerMetadata } from '@azure/functions';

const { InvocationContext } = functions;
type InvocationContext = InstanceType<typeof InvocationContext>;

import type { EventHubConnection } from '../eventhubs/connection.js';
import { WardenError } from '../common/errors.js';

export type EventHubBatchHandler = (messages: unknown[], context: InvocationContext) => unknown;

export interface EventHubTriggerOptions {
  /** Reported to the handler as `context.functionName` and `triggerMetadata.sys.methodName`. */
  functionName: string;
  eventHubName: string;
  connection: EventHubConnection;
  /** Default `$Default`. */
  consumerGroup?: string;
  /** Where checkpoints and partition ownership live (BlobCheckpointStore in production). */
  checkpointStore: CheckpointStore;
  handler: EventHubBatchHandler;
  /** As in function.json. Default `'string'`. */
  dataType?: 'string' | 'binary';
  /** host.json `extensions.eventHubs.maxEventBatchSize`. Default 100. */
  maxEventBatchSize?: number;
  /** How long one partition read waits for events before trying again. Default 60 s. */
  maxWaitTimeInSeconds?: number;
  /** host.json `prefetchCount`. Default 300. */
  prefetchCount?: number;
  /** Where a partition without a checkpoint starts, as host.json `initialOffsetOptions`. Default `'fromStart'`. */
  initialOffset?: 'fromStart' | 'fromEnd' | Date;
  retry?: RetryOptions;
  logHandler?: LogHandler;
  /** Called once per batch after it is settled (checkpointed or left for redelivery). */
  onBatchSettled?: (batch: SettledBatch) => void;
  /** Errors from receiving or checkpointing; the trigger keeps running. Default: logged through `logHandler`/console. */
  onError?: (error: unknown, partitionId: string) => void;
  /** Passed to the EventHubConsumerClient; the trigger defaults to greedy load balancing. */
  clientOptions?: EventHubConsumerClientOptions;
}

export interface SettledBatch {
  partitionId: string;
  eventCount: number;
  firstSequenceNumber: number;
  lastSequenceNumber: number;
  /** Handler calls made for this batch (1 + retries). */
  attempts: number;
  /** `abandoned`: stopping cut the retries short, so the batch is not checkpointed. */
  outcome: 'succeeded' | 'failed' | 'abandoned';
  error?: unknown;
  checkpointed: boolean;
}

export interface EventHubTrigger {
  readonly eventHubName: string;
  readonly consumerGroup: string;
  /** Stop taking batches, let the batches in hand finish (and checkpoint), then disconnect. */
  stop(): Promise<void>;
}

export class EventHubTriggerConfigError extends WardenError {
  override name = 'EventHubTriggerConfigError';
  readonly userFixable = true;
}

function durationMs(value: Duration | number, what: string): number {
  const ms =
    typeof value === 'number'
      ? value
      : (value.hours ?? 0) * 3_600_000 + (value.minutes ?? 0) * 60_000 + (value.seconds ?? 0) * 1000 + (value.milliseconds ?? 0);
  if (!Number.isFinite(ms) || ms < 0) throw new EventHubTriggerConfigError(`retry ${what} must be a non-negative duration, got ${JSON.stringify(value)}`);
  return ms;
}

/** Delays between attempts, as the host computes them for one execution. */
function retryDelays(retry: RetryOptions): () => number {
  if (retry.strategy === 'fixedDelay') {
    const delay = durationMs(retry.delayInterval, 'delayInterval');
    return () => delay;
  }
  const min = durationMs(retry.minimumInterval, 'minimumInterval');
  const max = durationMs(retry.maximumInterval, 'maximumInterval');
  if (min > max) throw new EventHubTriggerConfigError(`retry minimumInterval (${min} ms) must not exceed maximumInterval (${max} ms)`);
  // RandomizedExponentialBackoffStrategy: min, then min + 2^(n-1)·min·[0.8, 1.2), capped at max.
  let exponent = 0;
  let current = min;
  return () => {
    if (current === max) return max;
    let next = min;
    if (exponent > 0) next += (0.8 + Math.random() * 0.4) * 2 ** (exponent - 1) * min;
    if (next < max) {
      current = next;
      exponent++;
    } else {
      current = max;
    }
    return current;
  };
}

/** A .NET DateTime of unspecified kind as Json.NET writes it: no zone, trailing fraction zeros dropped. */
export function hostDateTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return fraction ? `${iso.slice(0, 19)}.${fraction}` : iso.slice(0, 19);
}

/** A time the host wrote with hostDateTime (no zone: UTC), or with a zone, as epoch ms; undefined when it is not a time. */
export function parseHostDateTime(text: unknown): number | undefined {
  if (typeof text !== 'string' || !text) return undefined;
  const ms = Date.parse(/[zZ]$|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The Node worker's camel-casing: first letter of every key lower-cased, recursively. */
function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) out[key.charAt(0).toLowerCase() + key.slice(1)] = camelCaseKeys(child);
  return out;
}

function offsetValue(offset: string): string | number {
  return /^\d+$/.test(offset) ? Number(offset) : offset;
}

function rawBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body ?? null), 'utf8');
}

/** What the Node worker hands the handler for one event (its `tryJsonParse` of a string). */
export function messageValue(body: unknown, dataType: 'string' | 'binary'): unknown {
  const bytes = rawBytes(body);
  if (dataType === 'binary') return bytes;
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function buildTriggerMetadata(
  events: ReceivedEventData[],
  partition: { fullyQualifiedNamespace: string; eventHubName: string; consumerGroup: string; partitionId: string },
  functionName: string,
): TriggerMetadata {
  const n = events.length;
  const partitionKeyArray = new Array<string | null>(n);
  const offsetArray = new Array<string>(n);
  const sequenceNumberArray = new Array<number>(n);
  const enqueuedTimeUtcArray = new Array<string>(n);
  const propertiesArray = new Array<unknown>(n);
  const systemPropertiesArray = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    const e = events[i];
    const enqueuedMs = e.enqueuedTimeUtc.getTime();
    const key = e.partitionKey ?? null;
    partitionKeyArray[i] = key;
    offsetArray[i] = e.offset;
    sequenceNumberArray[i] = e.sequenceNumber;
    enqueuedTimeUtcArray[i] = hostDateTime(enqueuedMs);
    propertiesArray[i] = camelCaseKeys(e.properties ?? {});
    systemPropertiesArray[i] = camelCaseKeys({
      ...e.systemProperties,
      'x-opt-sequence-number': e.sequenceNumber,
      'x-opt-offset': e.offset,
      'x-opt-enqueued-time': new Date(enqueuedMs),
      ...(key !== null ? { 'x-opt-partition-key': key } : {}),
      SequenceNumber: e.sequenceNumber,
      Offset: offsetValue(e.offset),
      PartitionKey: key,
      EnqueuedTimeUtc: enqueuedTimeUtcArray[i],
    });
  }
  return {
    partitionContext: {
      isCheckpointingAfterInvocation: true,
      fullyQualifiedNamespace: partition.fullyQualifiedNamespace,
      eventHubName: partition.eventHubName,
      consumerGroup: partition.consumerGroup,
      partitionId: partition.partitionId,
    },
    partitionKeyArray,
    offsetArray,
    sequenceNumberArray,
    enqueuedTimeUtcArray,
    propertiesArray,
    systemPropertiesArray,
    sys: { methodName: functionName, utcNow: new Date().toISOString(), randGuid: randomUUID() },
  };
}

function startPosition(initialOffset: EventHubTriggerOptions['initialOffset']): EventPosition {
  if (initialOffset instanceof Date) return { enqueuedOn: initialOffset };
  return initialOffset === 'fromEnd' ? latestEventPosition : earliestEventPosition;
}

function errorDetails(error: unknown): { message?: string; stackTrace?: string; source?: string } {
  if (error instanceof Error) return { message: error.message, stackTrace: error.stack, source: error.name };
  return { message: String(error) };
}

export function startEventHubTrigger(options: EventHubTriggerOptions): EventHubTrigger {
  const consumerGroup = options.consumerGroup ?? '$Default';
  const dataType = options.dataType ?? 'string';
  const maxEventBatchSize = options.maxEventBatchSize ?? 100;
  if (!Number.isInteger(maxEventBatchSize) || maxEventBatchSize < 1) {
    throw new EventHubTriggerConfigError(`maxEventBatchSize must be a positive integer, got ${maxEventBatchSize}`);
  }
  const maxRetryCount = options.retry?.maxRetryCount ?? 0;
  if (!Number.isInteger(maxRetryCount) || maxRetryCount < -1) {
    throw new EventHubTriggerConfigError(`retry maxRetryCount must be -1 (retry forever) or a non-negative integer, got ${maxRetryCount}`);
  }
  if (options.retry) retryDelays(options.retry); // validate the intervals now, not at the first failure
  const log = options.logHandler;
  const reportError =
    options.onError ??
    ((error: unknown, partitionId: string) => {
      const line = `Event Hubs trigger ${options.functionName} (partition ${partitionId || '-'}): ${(error as Error)?.message ?? String(error)}`;
      if (log) log('error', line);
      else console.error(line);
    });

  const clientOptions: EventHubConsumerClientOptions = {
    ...options.clientOptions,
    loadBalancingOptions: { strategy: 'greedy', ...options.clientOptions?.loadBalancingOptions },
  };
  const client =
    'connectionString' in options.connection
      ? new EventHubConsumerClient(consumerGroup, options.connection.connectionString, options.eventHubName, options.checkpointStore, clientOptions)
      : new EventHubConsumerClient(
          consumerGroup,
          options.connection.fullyQualifiedNamespace,
          options.eventHubName,
          options.connection.credential,
          options.checkpointStore,
          clientOptions,
        );

  const stopSignal = new AbortController();
  const inHand = new Set<Promise<void>>();
  const ownershipLost = new Set<string>();

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stopSignal.signal.removeEventListener('abort', done);
        resolve();
      }
      stopSignal.signal.addEventListener('abort', done);
    });
  }

  async function runBatch(events: ReceivedEventData[], partition: PartitionContext): Promise<void> {
    const triggerMetadata = buildTriggerMetadata(events, partition, options.functionName);
    const nextDelay = options.retry ? retryDelays(options.retry) : undefined;
    let attempts = 0;
    let outcome: SettledBatch['outcome'];
    let lastError: unknown;
    for (;;) {
      const retryContext: RetryContext | undefined = options.retry
        ? { retryCount: attempts, maxRetryCount, ...(attempts > 0 ? { exception: errorDetails(lastError) } : {}) }
        : undefined;
      attempts++;
      const context = new InvocationContext({
        invocationId: randomUUID(),
        functionName: options.functionName,
        triggerMetadata,
        retryContext,
        logHandler: log,
        options: {
          trigger: {
            type: 'eventHubTrigger',
            name: 'messages',
            direction: 'in',
            eventHubName: options.eventHubName,
            consumerGroup,
            cardinality: 'many',
            dataType,
          },
        },
      });
      try {
        // Values are rebuilt per attempt, as the host rebinds them: a retry never sees a previous attempt's mutations.
        await options.handler(
          events.map((e) => messageValue(e.body, dataType)),
          context,
        );
        outcome = 'succeeded';
        lastError = undefined;
        break;
      } catch (error) {
        lastError = error;
        const retriesLeft = maxRetryCount === -1 || attempts <= maxRetryCount;
        if (!nextDelay || !retriesLeft) {
          outcome = 'failed';
          break;
        }
        if (stopSignal.signal.aborted) {
          outcome = 'abandoned';
          break;
        }
        await sleep(nextDelay());
        if (stopSignal.signal.aborted) {
          outcome = 'abandoned';
          break;
        }
      }
    }
    let checkpointed = false;
    if (outcome !== 'abandoned' && !ownershipLost.has(partition.partitionId)) {
      try {
        await partition.updateCheckpoint(events[events.length - 1]);
        checkpointed = true;
      } catch (error) {
        reportError(error, partition.partitionId);
      }
    }
    options.onBatchSettled?.({
      partitionId: partition.partitionId,
      eventCount: events.length,
      firstSequenceNumber: events[0].sequenceNumber,
      lastSequenceNumber: events[events.length - 1].sequenceNumber,
      attempts,
      outcome,
      ...(lastError !== undefined ? { error: lastError } : {}),
      checkpointed,
    });
  }

  const subscription: Subscription = client.subscribe(
    {
      // eslint-disable-next-line @typescript-eslint/require-await -- the Event Hubs SDK takes promise-returning handlers
      processInitialize: async (partition) => {
        ownershipLost.delete(partition.partitionId);
      },
      // eslint-disable-next-line @typescript-eslint/require-await -- the Event Hubs SDK takes promise-returning handlers
      processClose: async (reason, partition) => {
        if (reason === CloseReason.OwnershipLost) ownershipLost.add(partition.partitionId);
      },
      processEvents: async (events, partition) => {
        // Once stopping, batches not yet started stay unprocessed and uncheckpointed: they come again.
        if (events.length === 0 || stopSignal.signal.aborted) return;
        const batch = runBatch(events, partition).catch((error: unknown) => reportError(error, partition.partitionId));
        inHand.add(batch);
        try {
          await batch;
        } finally {
          inHand.delete(batch);
        }
      },
      // eslint-disable-next-line @typescript-eslint/require-await -- the Event Hubs SDK takes promise-returning handlers
      processError: async (error, partition) => reportError(error, partition.partitionId),
    },
    {
      maxBatchSize: maxEventBatchSize,
      maxWaitTimeInSeconds: options.maxWaitTimeInSeconds ?? 60,
      prefetchCount: options.prefetchCount ?? 300,
      startPosition: startPosition(options.initialOffset),
      // The handler gets the raw bytes decoded the way the worker does, not the SDK's JSON guess.
      skipParsingBodyAsJson: true,
    },
  );

  let stopped: Promise<void> | undefined;
  return {
    eventHubName: options.eventHubName,
    consumerGroup,
    stop(): Promise<void> {
      stopped ??= (async () => {
        stopSignal.abort();
        await Promise.all([...inHand]);
        try {
          await subscription.close();
        } finally {
          await client.close();
        }
      })();
      return stopped;
    },
  };
}
