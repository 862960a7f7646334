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
 *
 * With `checkpoint` it checkpoints less often, as `batchCheckpointFrequency` > 1 does, but each
 * checkpoint waits for a hook to succeed first (where `warden run`'s detect writes its state):
 * every N batches or T after the first batch not checkpointed, when idle past T, and when stopping.
 * The host has no such hook (it also checkpoints on shutdown and when idle without calling the
 * function), which is why the Function App keeps a checkpoint per batch (docs/delivery.md).
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
  /** Checkpoint less often than every batch, each checkpoint after `beforeCheckpoint` succeeded (see CheckpointPolicy). */
  checkpoint?: CheckpointPolicy;
}

/**
 * When a partition is checkpointed: after `batches` batches, or once `everyMs` passed since the
 * first batch not checkpointed (at the next batch, or while idle at the next empty read), and when
 * the trigger stops. Never when the partition's ownership was lost: the next owner reads the
 * batches again.
 */
export interface CheckpointPolicy {
  batches: number;
  everyMs: number;
  /**
   * Runs right before each checkpoint; a checkpoint is taken only once it succeeded. After a
   * batch it is retried per the retry policy (the handler is not called again); at an idle or
   * stopping checkpoint a failure is reported and the batches stay for the next checkpoint.
   */
  beforeCheckpoint: (partitionId: string) => Promise<void>;
  /** The partition went to another consumer: what this instance holds of it is stale. */
  onOwnershipLost?: (partitionId: string) => void;
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
  /** Whether the checkpoint now covers this batch (with a CheckpointPolicy, false until a later one does). */
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
  const policy = options.checkpoint;
  if (policy && (!Number.isInteger(policy.batches) || policy.batches < 1 || !(policy.everyMs > 0))) {
    throw new EventHubTriggerConfigError(`checkpoint batches must be a positive integer and everyMs positive, got ${policy.batches} and ${policy.everyMs}`);
  }
  /** Per partition, what was handled since its last checkpoint (with a CheckpointPolicy). */
  const unsettled = new Map<string, { partition: PartitionContext; last: ReceivedEventData; batches: number; since: number }>();
  const checkpointDue = (partitionId: string) => {
    const u = unsettled.get(partitionId);
    return u !== undefined && (u.batches >= policy!.batches || Date.now() - u.since >= policy!.everyMs);
  };
  /** The hook, then the checkpoint of the last event handled; false (reported) when either failed. */
  async function checkpointUnsettled(partitionId: string, hookDone = false): Promise<boolean> {
    const u = unsettled.get(partitionId);
    if (!u || ownershipLost.has(partitionId)) return false;
    try {
      if (!hookDone) await policy!.beforeCheckpoint(partitionId);
      await u.partition.updateCheckpoint(u.last);
      if (unsettled.get(partitionId) === u) unsettled.delete(partitionId);
      return true;
    } catch (error) {
      reportError(error, partitionId);
      return false;
    }
  }

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
    const partitionId = partition.partitionId;
    let attempts = 0;
    let outcome: SettledBatch['outcome'];
    let lastError: unknown;
    let handled = false;
    let hookDone = false;
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
        if (!handled) {
          // Values are rebuilt per attempt, as the host rebinds them: a retry never sees a previous attempt's mutations.
          await options.handler(
            events.map((e) => messageValue(e.body, dataType)),
            context,
          );
          handled = true;
          if (policy) {
            const u = unsettled.get(partitionId);
            if (u) Object.assign(u, { partition, last: events[events.length - 1], batches: u.batches + 1 });
            else unsettled.set(partitionId, { partition, last: events[events.length - 1], batches: 1, since: Date.now() });
          }
        }
        // A failed hook fails the attempt: retried as the batch would be, without handling it again.
        if (policy && checkpointDue(partitionId)) {
          await policy.beforeCheckpoint(partitionId);
          hookDone = true;
        }
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
    if (policy) {
      // A batch whose hook did not succeed stays unsettled: the next batch, an idle read or stopping tries again.
      if (hookDone) checkpointed = await checkpointUnsettled(partitionId, true);
    } else if (outcome !== 'abandoned' && !ownershipLost.has(partition.partitionId)) {
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
        if (reason !== CloseReason.OwnershipLost) return;
        ownershipLost.add(partition.partitionId);
        // The next owner reads from the last checkpoint: what was handled since is its to handle again.
        unsettled.delete(partition.partitionId);
        policy?.onOwnershipLost?.(partition.partitionId);
      },
      processEvents: async (events, partition) => {
        // Once stopping, batches not yet started stay unprocessed and uncheckpointed: they come again.
        if (stopSignal.signal.aborted) return;
        // Idle: an empty read settles what waited past the policy's time.
        if (events.length === 0 && !(policy && checkpointDue(partition.partitionId))) return;
        const batch = (events.length ? runBatch(events, partition) : checkpointUnsettled(partition.partitionId).then(() => undefined)).catch((error: unknown) =>
          reportError(error, partition.partitionId),
        );
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
        // What was handled since the last checkpoints is settled now, so a restart does not read it again.
        await Promise.all([...unsettled.keys()].map((partitionId) => checkpointUnsettled(partitionId)));
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
