/**
 * End-to-end latency on the local stand-ins: a body per alert sent to the raw hub on the AMQP test
 * broker → ingest → keyed hub → detect with state in Tables (Azurite) → outbox → the Logs
 * Ingestion test server, run by the standalone host (`warden run`'s) with its default settings,
 * pacing included (SENTINEL_ROWS_PER_RUN 15 per SENTINEL_RUN_EVERY 1m). Reports p50 / p99 from the
 * raw hub's enqueued time to the row accepted, per alert, at a steady rate and in a burst.
 *
 *   npm run -s bench:latency -- [--steady N] [--every-ms MS] [--burst N] [--json]
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EventHubProducerClient } from '@azure/event-hubs';
import { startAzurite } from '../src/dev/azurite.js';
import { loadSettings } from '../src/host/settings.js';
import { Warden } from '../src/host/warden.js';
import { startStandaloneHost } from '../src/host/standalone.js';
import { startEventHubsBroker } from '../test/support/eventhubs-broker.js';
import { startLogsIngestionServer } from '../test/support/logs-ingestion-server.js';

/** One alert per body: an AI account's keys listed by a principal never seen before (ai-key-listing). */
const LISTING = readFileSync(fileURLToPath(new URL('../detections/ai-key-listing.fixtures/sp-lists-openai-keys.json', import.meta.url)), 'utf8');
const LISTER = '3f2a9c1e-5b7d-4e8f-a1c2-9d0e4b6f8a21';

function listingBy(principal: string, at: Date): string {
  return LISTING.replaceAll(LISTER, principal)
    .replaceAll(LISTER.replaceAll('-', ''), principal.replaceAll('-', ''))
    .replaceAll('2025-03-01T10:15:02', at.toISOString().slice(0, 19));
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface LatencyFigures {
  alerts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function figures(latencies: number[]): LatencyFigures {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { alerts: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted[sorted.length - 1] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steady: { type: 'string', default: '12' },
      'every-ms': { type: 'string', default: '5000' },
      burst: { type: 'string', default: '30' },
      json: { type: 'boolean', default: false },
    },
  });
  const steady = Number(values.steady);
  const everyMs = Number(values['every-ms']);
  const burst = Number(values.burst);

  const azurite = await startAzurite();
  const broker = await startEventHubsBroker({
    hubs: {
      'warden-activity': { partitions: 2 },
      'warden-signin': { partitions: 2 },
      'warden-resource': { partitions: 2 },
      'warden-events': { partitions: 4 },
    },
  });
  const server = await startLogsIngestionServer();
  const settings = loadSettings({
    EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
    WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
    WARDEN_CONSUMER_GROUP_INGEST: '$Default',
    WARDEN_CONSUMER_GROUP_DETECT: '$Default',
    SENTINEL_DCR_ENDPOINT: server.endpoint,
    SENTINEL_DCR_IMMUTABLE_ID: server.ruleId,
  });
  const warden = await Warden.create(settings, { credential: server.credential, sentinelClientOptions: { tlsOptions: { ca: server.ca } } });
  const host = await startStandaloneHost(warden, {});
  const producer = new EventHubProducerClient(broker.connectionString('warden-activity'));

  // When each alert's row was accepted, polled every 20 ms (the figures' resolution).
  const acceptedAt = new Map<string, number>();
  const poll = setInterval(() => {
    for (const row of server.rows()) if (!acceptedAt.has(row.PrincipalId as string)) acceptedAt.set(row.PrincipalId as string, Date.now());
  }, 20);

  const sentPrincipals: string[] = [];
  const send = async (count: number) => {
    const principals = Array.from({ length: count }, () => randomUUID());
    sentPrincipals.push(...principals);
    await Promise.all(principals.map((p) => producer.sendBatch([{ body: Buffer.from(listingBy(p, new Date())) }])));
    return principals;
  };
  const waitDelivered = async (principals: string[], limitMs: number) => {
    const until = Date.now() + limitMs;
    while (principals.some((p) => !acceptedAt.has(p))) {
      if (Date.now() > until) throw new Error(`${principals.filter((p) => !acceptedAt.has(p)).length} alerts not delivered within ${limitMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const enqueued = () => {
    const at = new Map<string, number>();
    for (const partitionId of broker.partitionIds('warden-activity')) {
      for (const e of broker.partitionEvents('warden-activity', partitionId)) {
        const text = Buffer.isBuffer(e.body) ? e.body.toString('utf8') : String(e.body);
        const principal = sentPrincipals.find((p) => text.includes(p));
        if (principal) at.set(principal, e.enqueuedTime.getTime());
      }
    }
    return at;
  };
  const latencies = (principals: string[]) => {
    const at = enqueued();
    return figures(principals.map((p) => acceptedAt.get(p)! - at.get(p)!));
  };

  try {
    // Warm-up: the first batch opens the links and creates the tables; not measured.
    await waitDelivered(await send(1), 120_000);
    // The warm-up row took one row of this rule run's budget: start the steady run in a fresh one.
    await new Promise((r) => setTimeout(r, 61_000 - (Date.now() % 60_000)));
    const steadyRun: string[] = [];
    for (let i = 0; i < steady; i++) {
      steadyRun.push(...(await send(1)));
      await new Promise((r) => setTimeout(r, everyMs));
    }
    await waitDelivered(steadyRun, 180_000);
    await new Promise((r) => setTimeout(r, 61_000 - (Date.now() % 60_000)));
    const burstRun = await send(burst);
    await waitDelivered(burstRun, 600_000);
    const result = {
      steady: { ratePerMinute: Math.round(60_000 / everyMs), ...latencies(steadyRun) },
      burst: { size: burst, ...latencies(burstRun) },
      pacing: { rowsPerRun: settings.sentinel.rowsPerRun, runEveryMs: settings.sentinel.runEveryMs },
    };
    const line = (name: string, f: LatencyFigures) =>
      `${name.padEnd(26)} ${String(f.alerts).padStart(4)} alerts   p50 ${(f.p50Ms / 1000).toFixed(2)} s   p99 ${(f.p99Ms / 1000).toFixed(2)} s   max ${(f.maxMs / 1000).toFixed(2)} s`;
    console.log('end-to-end latency: raw hub enqueued → row accepted by the Logs Ingestion API (local stand-ins)');
    console.log(line(`steady, ${result.steady.ratePerMinute} alerts/min`, result.steady));
    console.log(line(`burst of ${burst}`, result.burst));
    console.log(`pacing: ${result.pacing.rowsPerRun} rows per ${result.pacing.runEveryMs / 1000} s rule run; deliver timer every 60 s`);
    if (values.json) console.log(JSON.stringify(result));
  } finally {
    clearInterval(poll);
    await producer.close();
    await host.stop();
    await warden.close();
    await server.close();
    await broker.stop();
    await azurite.stop();
  }
}

await main();
