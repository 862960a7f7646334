/**
 * Test helpers around the Event Hubs trigger (src/host/eventhubs-trigger.ts): a checkpoint
 * store on Azurite, test-speed defaults, a record of every invocation and settled batch, and
 * `kill()`, which stops the trigger the way a crash would: nothing more is checkpointed.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import type { Checkpoint, CheckpointStore, PartitionOwnership } from '@azure/event-hubs';
import type { InvocationContext, RetryOptions } from '@azure/functions';
import {
  startEventHubTrigger,
  type CheckpointPolicy,
  type EventHubTrigger,
  type EventHubTriggerOptions,
  type SettledBatch,
} from '../../src/host/eventhubs-trigger.js';
import type { AzuriteInstance } from '../../src/dev/azurite.js';
import type { EventHubsBroker } from './eventhubs-broker.js';

/** A fresh blob container on Azurite holding checkpoints and ownership, as the host's storage account does. */
export async function blobCheckpointStore(azurite: AzuriteInstance, container: string): Promise<CheckpointStore> {
  if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(container)) {
    throw new TypeError(`"${container}" is not a valid blob container name: use 3-63 lower-case letters, digits and single hyphens`);
  }
  const client = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(container);
  await client.createIfNotExists();
  return new BlobCheckpointStore(client);
}

export class ProcessKilledError extends Error {
  override name = 'ProcessKilledError';
}

/** A store that stops writing once killed, as a dead process would. Reads still work, for the next run. */
export function killable(store: CheckpointStore): { store: CheckpointStore; kill: () => void } {
  let dead = false;
  const refuseWhenDead = () => {
    if (dead) throw new ProcessKilledError('the trigger was killed: no more checkpoints or ownership claims');
  };
  return {
    kill: () => {
      dead = true;
    },
    store: {
      listOwnership: (ns, hub, cg) => store.listOwnership(ns, hub, cg),
      listCheckpoints: (ns, hub, cg) => store.listCheckpoints(ns, hub, cg),
      async claimOwnership(ownerships: PartitionOwnership[]) {
        refuseWhenDead();
        return store.claimOwnership(ownerships);
      },
      async updateCheckpoint(checkpoint: Checkpoint) {
        refuseWhenDead();
        return store.updateCheckpoint(checkpoint);
      },
    },
  };
}

export interface Invocation {
  messages: unknown[];
  context: InvocationContext;
}

export interface ShimOptions {
  broker: EventHubsBroker;
  hub: string;
  checkpointStore: CheckpointStore;
  handler?: (messages: unknown[], context: InvocationContext) => unknown;
  maxEventBatchSize?: number;
  retry?: RetryOptions;
  dataType?: 'string' | 'binary';
  consumerGroup?: string;
  functionName?: string;
  checkpoint?: CheckpointPolicy;
}

export interface TriggerShim {
  trigger: EventHubTrigger;
  /** Every handler call, retries included, in call order. */
  invocations: Invocation[];
  settled: SettledBatch[];
  errors: unknown[];
  stop(): Promise<void>;
  /** Crash: from now on the handler is not called and nothing is checkpointed; then disconnect. */
  kill(): Promise<void>;
}

export function startTriggerShim(options: ShimOptions): TriggerShim {
  const { store, kill } = killable(options.checkpointStore);
  const invocations: Invocation[] = [];
  const settled: SettledBatch[] = [];
  const errors: unknown[] = [];
  let dead = false;
  const triggerOptions: EventHubTriggerOptions = {
    functionName: options.functionName ?? 'detect',
    eventHubName: options.hub,
    connection: { connectionString: options.broker.connectionString(options.hub) },
    consumerGroup: options.consumerGroup,
    checkpointStore: store,
    dataType: options.dataType,
    maxEventBatchSize: options.maxEventBatchSize ?? 10,
    // Test speed: reads return within half a second, load balancing claims everything at once.
    maxWaitTimeInSeconds: 0.5,
    retry: options.retry,
    checkpoint: options.checkpoint,
    logHandler: () => undefined,
    clientOptions: {
      retryOptions: { maxRetries: 5, retryDelayInMs: 100, maxRetryDelayInMs: 500, timeoutInMs: 3000 },
      loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 500, partitionOwnershipExpirationIntervalInMs: 3000 },
    },
    // eslint-disable-next-line @typescript-eslint/require-await -- a killed trigger's handler rejects, as a real one would, rather than throwing synchronously
    handler: async (messages, context) => {
      if (dead) throw new ProcessKilledError('the trigger was killed');
      invocations.push({ messages, context });
      return options.handler?.(messages, context);
    },
    onBatchSettled: (batch) => {
      if (!dead) settled.push(batch);
    },
    onError: (error) => {
      if (!(error instanceof ProcessKilledError)) errors.push(error);
    },
  };
  const trigger = startEventHubTrigger(triggerOptions);
  let ended: Promise<void> | undefined;
  return {
    trigger,
    invocations,
    settled,
    errors,
    stop: () => (ended ??= trigger.stop()),
    kill() {
      ended ??= (async () => {
        dead = true;
        kill();
        // A dead process leaves its partition ownership behind; the next instance waits for it to expire.
        await trigger.stop().catch((error: unknown) => {
          if (!(error instanceof ProcessKilledError)) throw error;
        });
      })();
      return ended;
    },
  };
}

/** Sequence numbers a shim's handler saw for one partition, in order, from the trigger metadata. */
export function seenSequenceNumbers(shim: TriggerShim, partitionId: string): number[] {
  return shim.invocations
    .filter((i) => (i.context.triggerMetadata?.partitionContext as { partitionId: string }).partitionId === partitionId)
    .flatMap((i) => i.context.triggerMetadata?.sequenceNumberArray as number[]);
}
