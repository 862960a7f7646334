import type { CheckpointStore, EventHubConsumerClientOptions } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import functions, { type LogHandler, type RetryOptions } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { parseHostDateTime, startEventHubTrigger, type EventHubTrigger } from './eventhubs-trigger.js';
import { containerClientFor } from '../state/azure-storage.js';
import { EVENT_HUB_RETRY, HOST_EVENT_HUB_OPTIONS, wardenFunctions, type WardenFunction } from './functions.js';
import type { DetectBatchResult, IngestBatchResult, StateWrites, Warden } from './warden.js';
import { WardenError } from '../common/errors.js';
import type { RuleLearning } from '../engine/index.js';

// The package is a CommonJS bundle: Node's ESM loader cannot see its named exports, so take the default.
const { InvocationContext } = functions;

export interface StandaloneHostOptions {
  /** Which functions to run (default all but `health`): e.g. only `detect` and `deliver` on one machine, ingest on others. */
  functions?: readonly string[];
  /** Where checkpoints and partition ownership live. Default: container `<prefix>-checkpoints` in the Warden storage account. */
  checkpointStore?: CheckpointStore;
  /** Where the function logs go (default: nowhere; the status line says what happens). */
  logHandler?: LogHandler;
  /** Default the Functions app's policy (exponential backoff, retry forever). */
  retry?: RetryOptions;
  /** Test speed: read waits, load balancing intervals, client retries. */
  maxWaitTimeInSeconds?: number;
  clientOptions?: EventHubConsumerClientOptions;
  /** How often `deliver` runs (default every minute, as the timer). */
  deliverEveryMs?: number;
  /** Errors the triggers report (receive, checkpoint); default: through logHandler. */
  onError?: (error: unknown, functionName: string) => void;
}

export interface HostStats {
  /** Raw events (Azure Monitor bodies) read by the ingest functions. */
  rawEvents: number;
  records: number;
  published: number;
  deadLettered: number;
  /** Keyed events detect received (redeliveries and copies included). */
  events: number;
  /** Keyed events delivered again (after a restart) and recognized as applied already. */
  redelivered: number;
  /** Keyed events dropped as copies of an event applied at another position (an ingest batch published twice). */
  repeats: number;
  alerts: number;
  /** Alerts raised again by keyed events handled again after a restart, found in the outbox already: not sent again. */
  repeatedAlerts: number;
  /** Batches whose handler failed (each retried per the retry policy). */
  failedCalls: number;
  /** How far behind the newest event read is, per function: now − its enqueued time. */
  lagMs: Record<string, number>;
  /** Per rule with a learning period: keys still learning and alerts held back while learning (see HealthReport). */
  learning: Record<string, RuleLearning>;
  /** Per keyed partition, how far detect has read and written its state, and when it last wrote (see HealthReport). */
  state: StateWrites;
}

export interface StandaloneHost {
  readonly functions: readonly string[];
  stats(): HostStats;
  /** One line: events per second since the last call, lag, alerts, what is waiting in the outbox. */
  statusLine(): Promise<string>;
  /** Stop reading, finish and checkpoint the batches in hand, run deliver once more, close the clients. */
  stop(): Promise<void>;
}

function lastEnqueuedMs(context: InstanceType<typeof InvocationContext>): number | undefined {
  const times = context.triggerMetadata?.enqueuedTimeUtcArray;
  return Array.isArray(times) ? parseHostDateTime(times[times.length - 1]) : undefined;
}

/**
 * Warden outside Azure Functions (Container Apps, AKS, a VM, a laptop against real Event Hubs):
 * the same functions the Functions app registers, driven by triggers that behave like the host's
 * (batches, retry policy, a checkpoint after every ingest batch) and a deliver loop. Detect writes
 * its state only right before a checkpoint of the keyed hub, every WARDEN_CHECKPOINT_BATCHES
 * batches or WARDEN_CHECKPOINT_EVERY, and when stopping: a crash replays the keyed hub from the
 * checkpoint onto the state written with it (docs/delivery.md).
 */
export async function startStandaloneHost(warden: Warden, options: StandaloneHostOptions = {}): Promise<StandaloneHost> {
  const all = wardenFunctions(warden);
  const wanted = options.functions ?? all.filter((f) => f.kind !== 'http').map((f) => f.name);
  const unknown = wanted.filter((name) => !all.some((f) => f.name === name && f.kind !== 'http'));
  if (unknown.length) {
    throw new HostConfigError(
      `unknown function ${unknown.join(', ')}: choose from ${all
        .filter((f) => f.kind !== 'http')
        .map((f) => f.name)
        .join(', ')}`,
    );
  }
  const chosen = all.filter((f) => wanted.includes(f.name));
  const { settings } = warden;
  let checkpointStore = options.checkpointStore;
  if (!checkpointStore) {
    const storage = 'accountName' in settings.storage ? { ...settings.storage, credential: warden.credential } : settings.storage;
    const container = containerClientFor({ ...storage, container: `${settings.storagePrefix}-checkpoints` }, `${settings.storagePrefix}-checkpoints`);
    await container.createIfNotExists();
    checkpointStore = new BlobCheckpointStore(container);
  }
  const connection = 'connectionString' in settings.eventHubs ? settings.eventHubs : { ...settings.eventHubs, credential: warden.credential };

  const stats: Omit<HostStats, 'learning' | 'state'> = {
    rawEvents: 0,
    records: 0,
    published: 0,
    deadLettered: 0,
    events: 0,
    redelivered: 0,
    repeats: 0,
    alerts: 0,
    repeatedAlerts: 0,
    failedCalls: 0,
    lagMs: {},
  };
  if (chosen.some((f) => f.name === 'detect')) warden.writeStateAtCheckpoints();
  const log = options.logHandler ?? (() => undefined);
  const triggers: EventHubTrigger[] = [];
  const timers = chosen.filter((f): f is Extract<WardenFunction, { kind: 'timer' }> => f.kind === 'timer');
  const intervals: NodeJS.Timeout[] = [];
  // One run at a time per timer function, as the timer's singleton lock does in the host.
  const running = new Map<string, Promise<unknown>>();
  const runTimer = (f: Extract<WardenFunction, { kind: 'timer' }>) => {
    const next = (running.get(f.name) ?? Promise.resolve()).then(() =>
      f
        .handler(
          { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } },
          new InvocationContext({ invocationId: randomUUID(), functionName: f.name, logHandler: log }),
        )
        .catch((err: unknown) => {
          log('error', `${f.name}: ${(err as Error).message}`);
        }),
    );
    running.set(f.name, next);
    return next;
  };
  const deliver = timers.find((f) => f.name === 'deliver');
  const runDeliver = () => (deliver ? runTimer(deliver) : Promise.resolve());

  for (const f of chosen) {
    if (f.kind !== 'eventHub') continue;
    const detect = f.name === 'detect';
    const { batches, everyMs } = settings.checkpoint;
    triggers.push(
      startEventHubTrigger({
        functionName: f.name,
        eventHubName: f.eventHubName,
        consumerGroup: f.consumerGroup,
        connection,
        checkpointStore,
        dataType: 'string',
        maxEventBatchSize: HOST_EVENT_HUB_OPTIONS.maxEventBatchSize,
        prefetchCount: HOST_EVENT_HUB_OPTIONS.prefetchCount,
        initialOffset: HOST_EVENT_HUB_OPTIONS.initialOffset,
        // An idle partition's state is written at its first empty read past WARDEN_CHECKPOINT_EVERY.
        maxWaitTimeInSeconds: detect ? Math.min(options.maxWaitTimeInSeconds ?? 60, everyMs / 1000) : options.maxWaitTimeInSeconds,
        checkpoint: detect
          ? {
              batches,
              everyMs,
              beforeCheckpoint: async (partitionId) => {
                const { lost } = await warden.writeState(partitionId);
                if (lost) log('error', `detect ${f.eventHubName}/${partitionId}: ${lost}`);
              },
              onOwnershipLost: (partitionId) => warden.releasePartition(partitionId),
            }
          : undefined,
        retry: options.retry ?? EVENT_HUB_RETRY,
        logHandler: log,
        clientOptions: options.clientOptions,
        onError: (error) => (options.onError ? options.onError(error, f.name) : log('error', `${f.name}: ${(error as Error)?.message ?? String(error)}`)),
        handler: async (messages, context) => {
          try {
            const result = await f.handler(messages, context);
            const enqueued = lastEnqueuedMs(context);
            if (enqueued !== undefined) stats.lagMs[f.name] = Math.max(0, Date.now() - enqueued);
            if (f.name === 'detect') {
              const r = result as DetectBatchResult;
              stats.events += r.events;
              stats.alerts += r.alerts.length - r.repeatedAlerts;
              stats.repeatedAlerts += r.repeatedAlerts;
              stats.deadLettered += r.deadLettered;
            } else {
              const r = result as IngestBatchResult;
              stats.rawEvents += messages.length;
              stats.records += r.records;
              stats.published += r.published;
              stats.deadLettered += r.deadLettered;
            }
            return result;
          } catch (err) {
            stats.failedCalls++;
            log('warning', `${f.name}: batch failed, retrying per the retry policy: ${(err as Error).message}`);
            throw err;
          }
        },
      }),
    );
  }
  for (const f of timers) intervals.push(setInterval(() => void runTimer(f), f === deliver ? (options.deliverEveryMs ?? f.everyMs) : f.everyMs));

  let last = { at: Date.now(), records: 0, events: 0 };
  let stopped: Promise<void> | undefined;
  return {
    functions: chosen.map((f) => f.name),
    stats: () => {
      const detector = warden.detector.stats();
      return {
        ...stats,
        redelivered: detector.duplicatesSkipped,
        repeats: detector.republishedSkipped,
        lagMs: { ...stats.lagMs },
        learning: detector.learning,
        state: warden.stateWrites(),
      };
    },
    async statusLine() {
      const now = Date.now();
      const seconds = Math.max(0.001, (now - last.at) / 1000);
      const recordsPerSec = Math.round((stats.records - last.records) / seconds);
      const eventsPerSec = Math.round((stats.events - last.events) / seconds);
      last = { at: now, records: stats.records, events: stats.events };
      const lag = Object.values(stats.lagMs);
      let waiting = '';
      try {
        waiting = `, ${await warden.outbox.backlog()} waiting to be sent`;
      } catch (err) {
        waiting = `, outbox unreadable (${(err as Error).message.split('\n')[0]})`;
      }
      return (
        `warden run: ${recordsPerSec} records/s in, ${eventsPerSec} events/s detected, lag ${lag.length ? `${(Math.max(...lag) / 1000).toFixed(1)} s` : '-'}, ` +
        `${stats.alerts} alerts${waiting}, ${stats.deadLettered} dead-lettered${stats.failedCalls ? `, ${stats.failedCalls} failed calls` : ''}` +
        stateText(warden.stateWrites(), now) +
        learningText(warden.detector.stats().learning)
      );
    },
    stop() {
      stopped ??= (async () => {
        for (const interval of intervals) clearInterval(interval);
        await Promise.all(running.values());
        await Promise.all(triggers.map((t) => t.stop()));
        await runDeliver();
        await warden.close();
      })();
      return stopped;
    },
  };
}

/**
 * `, state written 4.2 s ago (230 events since)`: the latest state write, and the keyed events
 * handled since the state was written (what a crash would replay). Empty without detect.
 */
export function stateText(state: StateWrites, now: number): string {
  const partitions = Object.values(state.partitions);
  if (!partitions.length) return '';
  const since = partitions.reduce((n, p) => n + p.handled - p.written, 0);
  const events = since ? ` (${since} events since)` : '';
  if (state.lastWrittenAt === undefined) return `, state not written yet${events}`;
  return `, state written ${((now - Date.parse(state.lastWrittenAt)) / 1000).toFixed(1)} s ago${events}`;
}

/** Rules named in a status line's learning part; the rest are counted. */
const LEARNING_RULES_SHOWN = 3;

/** `, still learning: 12 keys (ai-new-caller 8, keyvault-first-secret-read 4)`: the busiest rules first; empty when no key learns. */
export function learningText(learning: Record<string, RuleLearning>): string {
  const rules = Object.entries(learning)
    .filter(([, l]) => l.keysLearning > 0)
    .sort((a, b) => b[1].keysLearning - a[1].keysLearning || (a[0] < b[0] ? -1 : 1));
  if (!rules.length) return '';
  const total = rules.reduce((n, [, l]) => n + l.keysLearning, 0);
  const shown = rules.slice(0, LEARNING_RULES_SHOWN).map(([id, l]) => `${id} ${l.keysLearning}`);
  if (rules.length > LEARNING_RULES_SHOWN) shown.push(`${rules.length - LEARNING_RULES_SHOWN} more rules`);
  return `, still learning: ${total} key${total === 1 ? '' : 's'} (${shown.join(', ')})`;
}

/** A `warden run` option that cannot work (an unknown function name). */
export class HostConfigError extends WardenError {
  override name = 'HostConfigError';
  readonly userFixable = true;
}
