/**
 * Target-keyed routing through the deployed path, on the real SDK clients: Entra bodies sent to
 * the raw sign-in hub on the AMQP test broker → ingest → keyed hub (the audit entry published to
 * the adder's partition and, marked, to the service principal's — or, for an entry about an
 * application object, to its app id's, where the service principal's sign-ins are copied too) →
 * detect with state in Tables on Azurite → outbox → the Logs Ingestion test server. The secret is
 * added in one body and used hours later (event time) in another: sp-credential-added-then-used
 * arrives once.
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
const APP_ID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const PARTITIONS = 4;

let azurite: AzuriteInstance;
let broker: EventHubsBroker;
let server: LogsIngestionTestServer;

beforeAll(async () => {
  [azurite, broker, server] = await Promise.all([
    startAzurite(),
    startEventHubsBroker({
      hubs: {
        activity: { partitions: 2 },
        resource: { partitions: 2 },
        // One raw sign-in hub and keyed hub per case: each case starts from an empty stream and state.
        ...Object.fromEntries(
          CASES.flatMap(({ hubs }) => [
            [hubs.signin, { partitions: 2 }],
            [hubs.events, { partitions: PARTITIONS }],
          ]),
        ),
      },
    }),
    startLogsIngestionServer(),
  ]);
});
afterAll(async () => {
  await server?.close();
  await broker?.stop();
  await azurite?.stop();
});

interface Case {
  to: string;
  files: string[];
  /** Where the entry's target copy goes: the service principal's object id, or the application's app id. */
  targetKey: string;
  hubs: { signin: string; events: string; prefix: string };
}
const CASES: Case[] = [
  {
    to: 'a service principal',
    files: ['billing-sync-signs-in-as-usual.json', 'secret-added-by-a-user.json', 'secret-used-from-new-ip.json'],
    targetKey: SP,
    hubs: { signin: 'signin', events: 'events', prefix: 'targetkeyed' },
  },
  {
    to: 'an application object',
    files: ['billing-sync-signs-in-as-usual.json', 'app-secret-added-by-a-user.json', 'app-secret-used-from-new-ip.json'],
    targetKey: APP_ID,
    hubs: { signin: 'signin-app', events: 'events-app', prefix: 'appkeyed' },
  },
];

async function host({ signin, events, prefix }: Case['hubs']): Promise<StandaloneHost> {
  const settings = loadSettings({
    EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
    WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
    WARDEN_STORAGE_PREFIX: prefix,
    WARDEN_HUB_ACTIVITY: 'activity',
    WARDEN_HUB_SIGNIN: signin,
    WARDEN_HUB_RESOURCE: 'resource',
    WARDEN_HUB_EVENTS: events,
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
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(`${prefix}-checkpoints`);
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
  it.each(CASES)(
    'a secret added to $to in one body and used hours later in another raises sp-credential-added-then-used once, about the service principal',
    async ({ files, targetKey, hubs }) => {
      expect(routeToPartition(ADDER, PARTITIONS)).not.toBe(routeToPartition(targetKey, PARTITIONS));
      // The service principal's sign-ins are copied to its app id's partition: another one here.
      expect(routeToPartition(APP_ID, PARTITIONS)).not.toBe(routeToPartition(SP, PARTITIONS));
      const before = server.rows().filter((r) => r.RuleId === RULE).length;
      const h = await host(hubs);
      const producer = new EventHubProducerClient(broker.connectionString(hubs.signin));
      try {
        let sent = 0;
        for (const name of files) {
          const body = await readFile(fixture(name), 'utf8');
          await producer.sendBatch([{ body: Buffer.from(body) }]);
          sent += (JSON.parse(body) as { records: unknown[] }).records.length;
          await waitFor(`ingest reading ${sent} records`, () => h.stats().records >= sent, 60_000);
        }
        await waitFor('every keyed event applied', () => h.stats().events >= h.stats().published, 60_000);
        await waitFor('the alert sent', () => server.rows().filter((r) => r.RuleId === RULE).length > before, 60_000);
        // Let anything sent twice arrive before counting.
        await new Promise((r) => setTimeout(r, 1500));
        // 11 records, 22 keyed events: the audit entry went to the adder's partition and to the target key's;
        // each of the ten sign-ins to the service principal's and to its app id's.
        expect(h.stats()).toMatchObject({ records: 11, published: 22, deadLettered: 0 });
        const copies = broker
          .partitionIds(hubs.events)
          .flatMap((id) =>
            broker.partitionEvents(hubs.events, id).map((e) => ({ id, body: JSON.parse(String(e.body)) as { event: { source: string }; routedFor?: string } })),
          );
        const bySource = (source: string) => copies.filter(({ body }) => body.event.source === source).map(({ id, body }) => [id, body.routedFor]);
        expect(bySource('directory')).toEqual(
          expect.arrayContaining([
            [String(routeToPartition(ADDER, PARTITIONS)), undefined],
            [String(routeToPartition(targetKey, PARTITIONS)), 'target'],
          ]),
        );
        expect(bySource('directory')).toHaveLength(2);
        expect(new Set(bySource('signin').map(String))).toEqual(
          new Set([`${routeToPartition(SP, PARTITIONS)},`, `${routeToPartition(APP_ID, PARTITIONS)},app`]),
        );
      } finally {
        await producer.close();
        await h.stop();
      }
      const rows = server.rows().filter((r) => r.RuleId === RULE);
      expect(rows.slice(before).map((r) => [r.PrincipalId, r.IpAddresses, (r.Evidence as { appId?: string }).appId])).toEqual([
        [SP, ['203.0.113.9', '192.0.2.45'], APP_ID],
      ]);
    },
  );
});
