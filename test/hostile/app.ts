import type { InvocationContext } from '@azure/functions';
import type { TokenCredential } from '@azure/core-auth';
import { loadSettings } from '../../src/host/settings.js';
import { Warden, type WardenDependencies } from '../../src/host/warden.js';
import type { AzuriteInstance } from '../../src/dev/azurite.js';
import type { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import type { Alert, NormalizedEvent, StreamEvent } from '../../src/model/index.js';

/** Never asked for a token: these tests reach only Azurite, and nothing is sent to Sentinel or the keyed hub unless a test says so. */
const noCredential: TokenCredential = { getToken: () => Promise.resolve(null) };

let prefixes = 0;

/** The app on Azurite, with its own tables and container; the keyed hub is an address nothing listens on. */
export async function appOnAzurite(azurite: AzuriteInstance, env: Record<string, string> = {}, deps: WardenDependencies = {}): Promise<Warden> {
  const settings = loadSettings({
    EventHubConnection: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true',
    WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
    WARDEN_STORAGE_PREFIX: `hostile${process.pid % 1000}x${++prefixes}`,
    SENTINEL_DCR_ENDPOINT: 'https://127.0.0.1:1',
    SENTINEL_DCR_IMMUTABLE_ID: 'dcr-0123456789abcdef0123456789abcdef',
    ...env,
  });
  return Warden.create(settings, { credential: noCredential, eventHubsRetryOptions: { maxRetries: 0 }, ...deps });
}

/** What the Functions host passes with a batch of one partition: sequence numbers from `first`, enqueued now. */
export function batchContext(partitionId: string, count: number, first = 0, log: string[] = []): InvocationContext {
  const enqueued = new Date().toISOString();
  return {
    triggerMetadata: {
      partitionContext: { partitionId },
      sequenceNumberArray: Array.from({ length: count }, (_, i) => first + i),
      enqueuedTimeUtcArray: Array.from({ length: count }, () => enqueued),
      offsetArray: Array.from({ length: count }, (_, i) => String(first + i)),
    },
    log: (...args: unknown[]) => log.push(args.join(' ')),
    warn: (...args: unknown[]) => log.push(args.join(' ')),
    error: (...args: unknown[]) => log.push(args.join(' ')),
  } as unknown as InvocationContext;
}

/** A keyed-hub message as ingest publishes it: an activity event of principal `p<n>` at `time`, record `n` of warden-activity/0. */
export function keyedActivity(n: number, time: number): string {
  const event = {
    id: `e${n}`,
    time,
    source: 'activity',
    category: 'Administrative',
    operation: 'X',
    result: 'success',
    principalId: `p${n}`,
    principalType: 'user',
    details: {},
  };
  return JSON.stringify({ event, arrivedAt: time, origin: { source: 'warden-activity/0', sequenceNumber: n, index: 0 } });
}

/**
 * Events through the app's detect function as the keyed hub delivers them: routed by `router`
 * (numbered on from its last call), then per partition in batches of `batchSize`, each message
 * marked as read from raw partition `raw/<partition>`. Returns the alerts detect raised.
 */
export async function detectRouted(app: Warden, router: PartitionRouter, events: readonly NormalizedEvent[], batchSize = Infinity): Promise<Alert[]> {
  const byPartition = new Map<string, StreamEvent[]>();
  for (const e of events) {
    for (const se of router.route(e, e.time)) {
      const list = byPartition.get(se.partitionId);
      if (list) list.push(se);
      else byPartition.set(se.partitionId, [se]);
    }
  }
  const alerts: Alert[] = [];
  for (const [partitionId, list] of byPartition) {
    for (let i = 0; i < list.length; i += batchSize) {
      const batch = list.slice(i, i + batchSize);
      const messages = batch.map((se) =>
        JSON.stringify({
          event: se.event,
          arrivedAt: se.arrivedAt,
          routedFor: se.routedFor,
          origin: { source: `raw/${partitionId}`, sequenceNumber: se.sequenceNumber, index: 0 },
        }),
      );
      alerts.push(...(await app.detect(messages, batchContext(partitionId, batch.length, batch[0].sequenceNumber))).alerts);
    }
  }
  return alerts;
}
