/**
 * Target-keyed routing through the deployed path, on the real SDK clients: Entra bodies sent to
 * the raw sign-in hub on the AMQP test broker → ingest → keyed hub (the audit entry published to
 * the adder's partition and, marked, to the service principal's) → detect with state in Tables on
 * Azurite → outbox → the Logs Ingestion test server. The secret is added in one body and used
 * hours later (event time) in another: sp-credential-added-then-used arrives once.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { startLogsIngestionServer, type LogsIngestionTestServer } from '../support/logs-ingestion-server.js';
import { waitFor } from '../support/wait.js';
import { loadSettings } from '../../src/host/settings.js';
import { Warden } from '../../src/host/warden.js';
import { startStandaloneHost, type StandaloneHost } from '../../src/host/standalone.js';
import { routeToPartition } from '../../src/eventhubs/partitioning.js';

const RULE = 'sp-credential-added-then-used';
const fixture = (name: string) => fileURLToPath(new URL(`../../detections/${RULE}.fixtures/${name}`, import.meta.url));
const SP = '5d6e7f80-91a2-4b3c-8d4e-5f6071829304';
const ADDER = 'f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b';
const PARTITIONS = 4;

let azurite: AzuriteInstance;
let broker: EventHubsBroker;
let server: LogsIngestionTestServer;

beforeAll(async () => {
  [azurite, broker, server] = await Promise.all([
    startAzurite(),
    startEventHubsBroker({ hubs: { activity: { partitions: 2 }, signin: { partitions: 2 }, resource: { partitions: 2 }, events: { partitions: PARTITIONS } } }),
    startLogsIngestionServer(),
  ]);
});
afterAll(async () => {
  await server?.close();
  await broker?.stop();
  await azurite?.stop();
});

async function host(): Promise<StandaloneHost> {
  const settings = loadSettings({
    EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
    WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
    WARDEN_STORAGE_PREFIX: 'targetkeyed',
    WARDEN_HUB_ACTIVITY: 'activity',
    WARDEN_HUB_SIGNIN: 'signin',
    WARDEN_HUB_RESOURCE: 'resource',
    WARDEN_HUB_EVENTS: 'events',
    WARDEN_CONSUMER_GROUP_INGEST: '$Default',
    WARDEN_CONSUMER_GROUP_DETECT: '$Default',
    SENTINEL_DCR_ENDPOINT: server.endpoint,
    SENTINEL_DCR_IMMUTABLE_ID: server.ruleId,
    WARDEN_TUNABLES: JSON.stringify({ [RULE]: { learning: '2h' } }),
    // The fixtures are dated 2025: older than the live stream keeps by default.
    WARDEN_MAX_EVENT_AGE: '3650d',
  });
  const warden = await Warden.create(settings, {
    credential: server.credential,
    sentinelClientOptions: { tlsOptions: { ca: server.ca }, retryOptions: { maxRetries: 1, retryDelayInMs: 50, maxRetryDelayInMs: 100 } },
    eventHubsRetryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 200, timeoutInMs: 3000 },
  });
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('targetkeyed-checkpoints');
  await container.createIfNotExists();
  return startStandaloneHost(warden, {
    maxWaitTimeInSeconds: 0.3,
    retry: { strategy: 'fixedDelay', delayInterval: { milliseconds: 300 }, maxRetryCount: -1 },
    deliverEveryMs: 500,
    clientOptions: {
      retryOptions: { maxRetries: 3, retryDelayInMs: 100, maxRetryDelayInMs: 300, timeoutInMs: 3000 },
      loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 300, partitionOwnershipExpirationIntervalInMs: 2000 },
    },
    checkpointStore: new BlobCheckpointStore(container),
  });
}

describe('target-keyed routing on the test broker', () => {
  it('a secret added in one body and used hours later in another raises sp-credential-added-then-used once, about the service principal', async () => {
    expect(routeToPartition(ADDER, PARTITIONS)).not.toBe(routeToPartition(SP, PARTITIONS));
    const h = await host();
    const producer = new EventHubProducerClient(broker.connectionString('signin'));
    try {
      let sent = 0;
      for (const name of ['billing-sync-signs-in-as-usual.json', 'secret-added-by-a-user.json', 'secret-used-from-new-ip.json']) {
        const body = await readFile(fixture(name), 'utf8');
        await producer.sendBatch([{ body: Buffer.from(body) }]);
        sent += (JSON.parse(body) as { records: unknown[] }).records.length;
        await waitFor(`ingest reading ${sent} records`, () => h.stats().records >= sent, 60_000);
      }
      await waitFor('every keyed event applied', () => h.stats().events >= h.stats().published, 60_000);
      await waitFor('the alert sent', () => server.rows().some((r) => r.RuleId === RULE), 60_000);
      // Let anything sent twice arrive before counting.
      await new Promise((r) => setTimeout(r, 1500));
      // 11 records, 12 keyed events: the audit entry went to the adder's partition and to the service principal's.
      expect(h.stats()).toMatchObject({ records: 11, published: 12, deadLettered: 0 });
      const copies = broker
        .partitionIds('events')
        .flatMap((id) =>
          broker.partitionEvents('events', id).map((e) => ({ id, body: JSON.parse(String(e.body)) as { event: { source: string }; routedFor?: string } })),
        )
        .filter(({ body }) => body.event.source === 'directory');
      expect(copies.map(({ id, body }) => [id, body.routedFor])).toEqual(
        expect.arrayContaining([
          [String(routeToPartition(ADDER, PARTITIONS)), undefined],
          [String(routeToPartition(SP, PARTITIONS)), 'target'],
        ]),
      );
      expect(copies).toHaveLength(2);
    } finally {
      await producer.close();
      await h.stop();
    }
    const rows = server.rows().filter((r) => r.RuleId === RULE);
    expect(rows.map((r) => [r.PrincipalId, r.IpAddresses])).toEqual([[SP, ['203.0.113.9', '192.0.2.45']]]);
  });
});
