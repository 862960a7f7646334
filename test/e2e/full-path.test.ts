/**
 * The whole path on the real SDK clients: the demo capture sent to the raw hubs on the AMQP test
 * broker as Azure Monitor sends it → ingest → keyed hub → detect (state in Tables on Azurite) →
 * outbox → the Logs Ingestion test server, run by the standalone host (`warden run`'s) over
 * triggers that behave like the Functions host's; also fed by `warden send`'s sender. Then the same
 * with the detect consumer killed mid-stream and restarted from its checkpoints, with ingest
 * killed, with both killed together, and with the keyed hub refusing sends for a while: every
 * alert arrives once, the same alerts as an in-process replay. Then detect, writing its state only
 * at checkpoints (every 1, 3 or 1000 batches), killed between writes and restarted: the AlertIds
 * and the state of an uninterrupted run over the same keyed hub.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EventHubProducerClient, type CheckpointStore } from '@azure/event-hubs';
import type { LogHandler } from '@azure/functions';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { startLogsIngestionServer, type LogsIngestionTestServer } from '../support/logs-ingestion-server.js';
import { waitFor } from '../support/wait.js';
import { ProcessKilledError, killable } from '../support/trigger-shim.js';
import { sendCaptures } from '../../src/eventhubs/capture-sender.js';
import { loadSettings } from '../../src/host/settings.js';
import { Warden } from '../../src/host/warden.js';
import { startStandaloneHost, type StandaloneHost, type StandaloneHostOptions } from '../../src/host/standalone.js';
import {
  DEFAULT_ALLOWED_LATENESS_MS,
  Detector,
  ResourceInventory,
  loadRules,
  mergeTunableOverrides,
  parseTunableOverrides,
  readInventoryFile,
} from '../../src/engine/index.js';
import { generateDemo } from '../../synth/scenario.js';
import { detectInCaptures } from '../../src/replay/replay.js';
import { AlertSchema, type Alert } from '../../src/model/index.js';
import { TableStateStore } from '../../src/state/tables.js';
import type { StateStore } from '../../src/state/types.js';
import { PARTITION_META_KEY } from '../../src/engine/evaluator.js';
import type { KeyState } from '../../src/engine/kinds/types.js';
import { candidateEvents } from '../../src/engine/kinds/sequence.js';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const RUNS = ['plain', 'send', 'killdetect', 'killingest', 'killboth', 'refused', 'keyed'] as const;
type Run = (typeof RUNS)[number];

let azurite: AzuriteInstance;
let broker: EventHubsBroker;
let server: LogsIngestionTestServer;
let tunables: string;
let inventoryDir: string | undefined;
let inventoryFile: string;
type Body = { hub: 'activity' | 'signin' | 'resource'; body: string; records: number };
/** The demo capture in event-time slices of a couple of minutes, each a body per raw hub, as Azure Monitor streams it. */
let slices: Body[][];
let replayed: Alert[];

const SIGNIN = /SignInLogs$/;
const ACTIVITY = new Set(['Administrative', 'Security', 'Policy', 'ServiceHealth', 'Alert', 'Recommendation', 'Autoscale', 'ResourceHealth']);

function hubOf(record: { category?: string }): 'activity' | 'signin' | 'resource' {
  if (SIGNIN.test(record.category ?? '')) return 'signin';
  return ACTIVITY.has(record.category ?? '') ? 'activity' : 'resource';
}

beforeAll(async () => {
  azurite = await startAzurite();
  const hubs: Record<string, { partitions: number }> = {};
  for (const run of RUNS) {
    for (const raw of ['activity', 'signin', 'resource']) hubs[`${run}-${raw}`] = { partitions: 2 };
    hubs[`${run}-events`] = { partitions: 4 };
  }
  broker = await startEventHubsBroker({ hubs });
  tunables = await readFile(repo('demo/tunables.json'), 'utf8');
  // A deployment whose detect instances each see some partitions gives the resource inventory (an
  // Azure Resource Graph export), or where an account lives depends on which events came first.
  const { tenant } = generateDemo();
  const resources = [
    ...tenant.aiAccounts.map((r) => ({ ...r, type: 'microsoft.cognitiveservices/accounts' })),
    ...tenant.keyVaults.map((r) => ({ ...r, type: 'microsoft.keyvault/vaults' })),
    ...tenant.storageAccounts.map((r) => ({ ...r, type: 'microsoft.storage/storageaccounts' })),
  ].map(({ id, name, type, subscriptionId }) => ({ id, name, type, subscriptionId }));
  inventoryDir = await mkdtemp(join(tmpdir(), 'warden-e2e-'));
  inventoryFile = join(inventoryDir, 'inventory.json');
  await writeFile(inventoryFile, JSON.stringify(resources));

  const text = gunzipSync(await readFile(repo('demo/tenant-hour.ndjson.gz'))).toString('utf8');
  const records = text
    .trim()
    .split('\n')
    .flatMap((line) => (JSON.parse(line) as { records: Array<{ time?: string; category?: string }> }).records);
  records.sort((a, b) => Date.parse(a.time ?? '') - Date.parse(b.time ?? ''));
  // Azure Monitor sends each hub what it has every few seconds: here, a body per hub per 60 records of the stream.
  slices = [];
  for (let i = 0; i < records.length; i += 60) {
    const slice = records.slice(i, i + 60);
    slices.push(
      (['signin', 'activity', 'resource'] as const).flatMap((hub) => {
        const mine = slice.filter((r) => hubOf(r) === hub);
        return mine.length ? [{ hub, body: JSON.stringify({ records: mine }), records: mine.length }] : [];
      }),
    );
  }

  // What an in-process replay of the same capture raises: the alerts the deployed path must deliver.
  const rules = (await loadRules()).map((l) => l.rule);
  const detector = new Detector(rules, {
    tunables: mergeTunableOverrides(parseTunableOverrides(tunables, 'demo/tunables.json'), {}),
    inventory: new ResourceInventory(readInventoryFile(inventoryFile)),
  });
  replayed = [];
  for await (const body of detectInCaptures([repo('demo/tenant-hour.ndjson.gz')], detector)) replayed.push(...body.alerts);
  // The demo's two attacks: the benign traffic raises nothing but carol's first call to the dev AI
  // account (learning follows the principal, docs/rules.md; test/cli/demo.test.ts pins the rest).
  const { attacker, benign } = JSON.parse(await readFile(repo('demo/manifest.json'), 'utf8')) as {
    attacker: { principalId: string };
    benign: Array<{ principalId: string; name: string }>;
  };
  const names = new Map(benign.map((b) => [b.principalId, b.name]));
  expect(replayed.filter((a) => a.PrincipalId === attacker.principalId).length).toBeGreaterThan(5);
  expect(replayed.filter((a) => names.has(a.PrincipalId)).map((a) => `${a.RuleId} ${names.get(a.PrincipalId)}`)).toEqual([
    'ai-new-caller carol.silva@contoso.com',
  ]);
});

beforeEach(async () => {
  server = await startLogsIngestionServer();
});
afterEach(async () => {
  await server?.close();
});
afterAll(async () => {
  if (inventoryDir) await rm(inventoryDir, { recursive: true, force: true });
  await broker?.stop();
  await azurite?.stop();
});

function settings(run: Run, env: Record<string, string> = {}) {
  return loadSettings({
    EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
    WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
    WARDEN_STORAGE_PREFIX: run,
    WARDEN_HUB_ACTIVITY: `${run}-activity`,
    WARDEN_HUB_SIGNIN: `${run}-signin`,
    WARDEN_HUB_RESOURCE: `${run}-resource`,
    WARDEN_HUB_EVENTS: `${run}-events`,
    WARDEN_CONSUMER_GROUP_INGEST: '$Default',
    WARDEN_CONSUMER_GROUP_DETECT: '$Default',
    SENTINEL_DCR_ENDPOINT: server.endpoint,
    SENTINEL_DCR_IMMUTABLE_ID: server.ruleId,
    WARDEN_TUNABLES: tunables,
    WARDEN_INVENTORY: inventoryFile,
    // The fixtures are dated 2025: older than the live stream keeps by default.
    WARDEN_MAX_EVENT_AGE: '3650d',
    // Pacing has its own tests (test/delivery/pacing.test.ts): here every alert of the demo goes in the
    // detect batch that raised it, and the timer's hold (the upload timeout + 30 s) stays inside the waits.
    SENTINEL_ROWS_PER_RUN: '150',
    SENTINEL_UPLOAD_TIMEOUT: '10s',
    ...env,
  });
}

async function checkpointStore(prefix: string): Promise<CheckpointStore> {
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(`${prefix}-checkpoints`);
  await container.createIfNotExists();
  return new BlobCheckpointStore(container);
}

const TEST_SPEED: StandaloneHostOptions = {
  maxWaitTimeInSeconds: 0.3,
  retry: { strategy: 'fixedDelay', delayInterval: { milliseconds: 300 }, maxRetryCount: -1 },
  deliverEveryMs: 500,
  clientOptions: {
    retryOptions: { maxRetries: 3, retryDelayInMs: 100, maxRetryDelayInMs: 300, timeoutInMs: 3000 },
    loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 300, partitionOwnershipExpirationIntervalInMs: 2000 },
  },
};

interface HostParts {
  env?: Record<string, string>;
  stateStore?: StateStore;
  logHandler?: LogHandler;
}

async function host(run: Run, functions: string[], store?: CheckpointStore, parts: HostParts = {}): Promise<StandaloneHost> {
  const warden = await Warden.create(settings(run, parts.env), {
    credential: server.credential,
    sentinelClientOptions: { tlsOptions: { ca: server.ca }, retryOptions: { maxRetries: 1, retryDelayInMs: 50, maxRetryDelayInMs: 100 } },
    eventHubsRetryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 200, timeoutInMs: 3000 },
    stateStore: parts.stateStore,
  });
  return startStandaloneHost(warden, { ...TEST_SPEED, functions, checkpointStore: store ?? (await checkpointStore(run)), logHandler: parts.logHandler });
}

/**
 * Send the demo to the run's raw hubs as Azure Monitor does (round robin over partitions), a slice
 * at a time: the next slice goes once ingest has read this one, so the hubs stay within a couple of
 * minutes of event time of each other, as a live stream does (well inside the allowed lateness).
 */
async function sendDemo(run: Run, ingested: () => number, hooks: { before?: (slice: number) => void; after?: (slice: number) => Promise<void> } = {}) {
  const producers = Object.fromEntries(
    (['activity', 'signin', 'resource'] as const).map((hub) => [hub, new EventHubProducerClient(broker.connectionString(`${run}-${hub}`))]),
  );
  try {
    let sent = 0;
    for (const [i, slice] of slices.entries()) {
      hooks.before?.(i);
      await Promise.all(slice.map(({ hub, body }) => producers[hub].sendBatch([{ body: Buffer.from(body) }])));
      sent += slice.reduce((n, b) => n + b.records, 0);
      await waitFor(`${run}: ingest reading ${sent} records`, () => ingested() >= sent, 90_000);
      await hooks.after?.(i);
    }
  } finally {
    await Promise.all(Object.values(producers).map((p) => p.close()));
  }
}

const totalRecords = () => slices.flat().reduce((n, b) => n + b.records, 0);

async function finished(run: Run, hosts: () => StandaloneHost[]) {
  const sum = (f: (s: ReturnType<StandaloneHost['stats']>) => number) => hosts().reduce((n, h) => n + f(h.stats()), 0);
  await waitFor(`${run}: every record ingested`, () => sum((s) => s.records) >= totalRecords(), 90_000);
  await waitFor(`${run}: every keyed event applied`, () => sum((s) => s.events) >= sum((s) => s.published), 90_000);
  await waitFor(`${run}: every alert sent`, () => new Set(server.rows().map((r) => r.AlertId)).size >= replayed.length, 90_000);
  // Let anything sent twice arrive before counting.
  await new Promise((r) => setTimeout(r, 1500));
}

/**
 * What the deployed path must match: each AlertId once, the same alerts (rule and principal) as the
 * replay, the attack's only. (AlertIds themselves may differ from replay's where rules read
 * several partitions' events in another order than one replay does, as a live stream may.)
 */
function expectReplayAlertsOnce() {
  const rows = server.rows();
  const ids = rows.map((r) => r.AlertId as string);
  expect(new Set(ids).size, `AlertIds delivered more than once: ${ids.filter((id, i) => ids.indexOf(id) !== i).join(', ')}`).toBe(ids.length);
  for (const row of rows) AlertSchema.parse(row);
  const byRule = (alerts: Array<Record<string, unknown>>) => alerts.map((a) => `${a.RuleId as string} ${a.PrincipalId as string}`).sort();
  expect(byRule(rows)).toEqual(byRule(replayed as unknown as Array<Record<string, unknown>>));
}

const ALL = ['ingest-activity', 'ingest-signin', 'ingest-resource', 'detect', 'deliver'];
const INGEST = ALL.slice(0, 3);
const DETECT = ['detect', 'deliver'];

describe('full path on the real Event Hubs, Tables, Blobs and Logs Ingestion clients', () => {
  it('delivers exactly the alerts a replay raises, each once', async () => {
    const h = await host('plain', ALL);
    try {
      await sendDemo('plain', () => h.stats().records);
      await finished('plain', () => [h]);
      expect(h.stats()).toMatchObject({ records: totalRecords(), deadLettered: 0, failedCalls: 0 });
      expect(h.stats().published).toBe(h.stats().events);
    } finally {
      await h.stop();
    }
    expectReplayAlertsOnce();
  });

  it('the capture as `warden send` streams it (one hub, paced, times moved to now) raises the same alerts', async () => {
    const h = await host('send', ALL);
    try {
      const sent = await sendCaptures([repo('demo/tenant-hour.ndjson.gz')], {
        eventHubName: 'send-resource',
        connection: { connectionString: broker.connectionString('send-resource') },
        recordsPerSecond: 800,
        shiftLatestTo: Date.now(),
      });
      expect(sent).toMatchObject({ records: totalRecords(), skipped: 0 });
      await finished('send', () => [h]);
      // Times were moved so the latest is now: every alert's evidence lies within the last hour.
      for (const row of server.rows()) expect(Date.parse(row.LastEventTime as string)).toBeGreaterThan(Date.now() - 3_600_000);
    } finally {
      await h.stop();
    }
    expectReplayAlertsOnce();
  });

  it('detect killed mid-stream and restarted from its checkpoints: the same alerts, each once', async () => {
    const ingest = await host('killdetect', INGEST);
    const crash = killable(await checkpointStore('killdetect'));
    const first = await host('killdetect', DETECT, crash.store);
    let second: StandaloneHost | undefined;
    try {
      const half = Math.floor(slices.length / 2);
      await sendDemo('killdetect', () => ingest.stats().records, {
        // The crash comes while this slice's batches are in hand: applied, never checkpointed.
        before: (i) => {
          if (i === half) crash.kill();
        },
        after: async (i) => {
          if (i !== half) return;
          await waitFor('the first detect host applying the slice', () => first.stats().events >= ingest.stats().published, 10_000);
          // A crashed process does not stop cleanly: its last checkpoint and ownership writes fail.
          await first.stop().catch(() => undefined);
          // A new instance: nothing in memory, state read back from the Table, reading from the checkpoints.
          second = await host('killdetect', DETECT);
        },
      });
      await finished('killdetect', () => [ingest, first, second!]);
    } finally {
      await Promise.all([ingest.stop(), first.stop().catch(() => undefined), second?.stop()]);
    }
    expect(first.stats().events).toBeGreaterThan(0);
    expect(second!.stats().events).toBeGreaterThan(0);
    // The batches in hand at the crash came again and were recognized as applied.
    expect(second!.stats().redelivered).toBeGreaterThan(0);
    expectReplayAlertsOnce();
  });

  it('ingest killed mid-stream (its batch in hand published again): the same alerts, each once', async () => {
    const detect = await host('killingest', DETECT);
    const crash = killable(await checkpointStore('killingest'));
    const first = await host('killingest', INGEST, crash.store);
    let second: StandaloneHost | undefined;
    try {
      const half = Math.floor(slices.length / 2);
      await sendDemo('killingest', () => first.stats().records + (second?.stats().records ?? 0), {
        // The crash comes after this slice is published to the keyed hub, before its checkpoint: it is published again.
        before: (i) => {
          if (i === half) crash.kill();
        },
        after: async (i) => {
          if (i !== half) return;
          await first.stop().catch(() => undefined);
          second = await host('killingest', INGEST);
        },
      });
      await finished('killingest', () => [detect, first, second!]);
    } finally {
      await Promise.all([detect.stop(), first.stop().catch(() => undefined), second?.stop()]);
    }
    // The slice published twice reached detect twice; its second copy was dropped, not counted.
    expect(detect.stats().repeats).toBeGreaterThan(0);
    expectReplayAlertsOnce();
  });

  it('ingest and detect killed together (a copy of a batch arrives at a new detect instance): the same alerts, each once', async () => {
    const ingestCrash = killable(await checkpointStore('killboth'));
    const detectCrash = killable(await checkpointStore('killboth'));
    const first = { ingest: await host('killboth', INGEST, ingestCrash.store), detect: await host('killboth', DETECT, detectCrash.store) };
    let second: { ingest: StandaloneHost; detect: StandaloneHost } | undefined;
    const all = () => [first.ingest, first.detect, ...(second ? [second.ingest, second.detect] : [])];
    try {
      const half = Math.floor(slices.length / 2);
      await sendDemo('killboth', () => first.ingest.stats().records + (second?.ingest.stats().records ?? 0), {
        before: (i) => {
          if (i !== half) return;
          ingestCrash.kill();
          detectCrash.kill();
        },
        after: async (i) => {
          if (i !== half) return;
          await waitFor('the first detect host applying the slice', () => first.detect.stats().events >= first.ingest.stats().published, 10_000);
          await Promise.all([first.ingest.stop().catch(() => undefined), first.detect.stop().catch(() => undefined)]);
          // New instances with nothing in memory: what detect knows of the copies it must read from the Table.
          second = { ingest: await host('killboth', INGEST), detect: await host('killboth', DETECT) };
        },
      });
      await finished('killboth', all);
    } finally {
      await Promise.all(all().map((h) => h.stop().catch(() => undefined)));
    }
    expect(second!.detect.stats().repeats).toBeGreaterThan(0);
    expectReplayAlertsOnce();
  });

  it('the keyed hub refusing sends for a while loses nothing: ingest retries until it takes them', async () => {
    const h = await host('refused', ALL);
    try {
      await sendDemo('refused', () => h.stats().records, {
        // Only the keyed hub refuses: Azure Monitor's sends to the raw hubs go on.
        before: (i) => {
          if (i === Math.floor(slices.length / 3)) broker.refuseSends(3000, 'refused-events');
        },
      });
      await finished('refused', () => [h]);
      // Ingest's publishes were refused until the hub took them again: its calls failed and were retried.
      expect(broker.stats.sendsRefused).toBeGreaterThan(0);
      expect(h.stats().failedCalls).toBeGreaterThan(0);
    } finally {
      await h.stop();
    }
    expectReplayAlertsOnce();
  });
});

/**
 * Detect alone on the keyed hub the 'keyed' run's ingest filled, as its own deployment (storage
 * prefix and consumer group), writing state every `batches` batches: never by time, so where the
 * writes fall does not depend on the machine's speed.
 */
async function keyedDetect(prefix: string, batches: number, parts: { checkpointStore?: CheckpointStore } & HostParts = {}): Promise<StandaloneHost> {
  const env = {
    WARDEN_STORAGE_PREFIX: prefix,
    WARDEN_CONSUMER_GROUP_DETECT: prefix,
    WARDEN_CHECKPOINT_BATCHES: String(batches),
    WARDEN_CHECKPOINT_EVERY: '1h',
  };
  return host('keyed', DETECT, parts.checkpointStore ?? (await checkpointStore(prefix)), { ...parts, env });
}

const stateTable = (prefix: string) => new TableStateStore({ connectionString: azurite.connectionString, table: `${prefix}state` });

/** The last sequence number of each keyed partition the 'keyed' run filled. */
function lastOnKeyedHub(): Record<string, number> {
  const last: Record<string, number> = {};
  for (const p of broker.partitionIds('keyed-events')) {
    const events = broker.partitionEvents('keyed-events', p);
    if (events.length) last[p] = events[events.length - 1].sequenceNumber;
  }
  return last;
}

/** Until detect handled every keyed partition to its end (`from`: where partitions it never read stood already). */
async function caughtUp(h: StandaloneHost, what: string, from: Record<string, number> = {}) {
  const last = lastOnKeyedHub();
  await waitFor(
    `${what}: every keyed event handled`,
    () => Object.entries(last).every(([p, seq]) => (h.stats().state.partitions[p]?.handled ?? from[p] ?? -1) >= seq),
    120_000,
  );
}

/**
 * A run's stored state, each rule's key pruned at its partition's final watermark as the engine
 * prunes it (and left out when nothing is left): runs that wrote at other batches wrote some keys
 * after a sweep had pruned them and some before, and a sweep forgets keys whose state has all
 * expired, which the other run keeps until its next sweep. Pruning composes, so the pruned states
 * must be equal. What the detector learned of names and resources is kept with the partition
 * whose event taught it first, which depends on how the partitions' batches interleave: it is
 * compared over all partitions. Everything else must be equal as stored.
 */
async function settledState(prefix: string): Promise<{ partitions: Record<string, Record<string, string>>; learned: string[] }> {
  const { rules } = new Detector(
    (await loadRules()).map((l) => l.rule),
    {
      tunables: mergeTunableOverrides(parseTunableOverrides(tunables, 'demo/tunables.json'), {}),
    },
  );
  const byId = new Map(rules.map((r) => [r.id, r]));
  const lateness = DEFAULT_ALLOWED_LATENESS_MS;
  const partitions: Record<string, Record<string, string>> = {};
  const learned = new Set<string>();
  for (const p of broker.partitionIds('keyed-events')) {
    const entries = await stateTable(prefix).load(p);
    const mark = entries.get(PARTITION_META_KEY);
    const watermark = mark === undefined ? 0 : (JSON.parse(mark) as { w: number }).w;
    for (const [key, value] of entries) {
      if (key.startsWith('~name|') || key.startsWith('~resource|')) {
        learned.add(`${key}=${value}`);
        entries.delete(key);
        continue;
      }
      const rule = byId.get(key.slice(0, key.indexOf(':')));
      if (!rule || key.startsWith('~')) continue;
      const st = JSON.parse(value) as KeyState;
      rule.logic.restore?.(st);
      // As the evaluator prunes: suppression ends, then the kind prunes.
      if (st.a !== undefined && st.a + rule.suppressMs < watermark - lateness) st.a = undefined;
      if (rule.logic.prune(st, watermark, lateness) && st.a === undefined) entries.delete(key);
      // A sequence key by its candidates' events: its rows' layout depends on when it was written.
      else if (rule.rule.kind === 'sequence') entries.set(key, JSON.stringify({ ...st, c: candidateEvents(st), r: undefined }));
      else entries.set(key, rule.logic.serialize ? rule.logic.serialize(st) : JSON.stringify(st));
    }
    partitions[p] = Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  return { partitions, learned: [...learned].sort() };
}

/** `promise` settled, or `ms` passed: what a test waits for when a hang must not stall it. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** A state store that stops writing once killed, as a dead process would. Reads still work, for the next run. */
function killableState(store: StateStore): { store: StateStore; kill: () => void } {
  let dead = false;
  return {
    kill: () => {
      dead = true;
    },
    store: {
      maxEntryChars: store.maxEntryChars,
      load: (partitionId) => store.load(partitionId),
      async write(partitionId, upserts, deletes) {
        if (dead) throw new ProcessKilledError('the process was killed: no more state writes');
        return store.write(partitionId, upserts, deletes);
      },
    },
  };
}

describe('detect writing state at checkpoints (`warden run`), killed between writes', () => {
  /** What the uninterrupted run, writing after every batch as the Function App does, delivered and stored. */
  let reference: { alertIds: string[]; state: Awaited<ReturnType<typeof settledState>> } | undefined;

  it('uninterrupted, writing after every batch: the same alerts as a replay, each once (the reference for the kills)', async () => {
    const ingest = await host('keyed', INGEST);
    try {
      await sendDemo('keyed', () => ingest.stats().records);
    } finally {
      await ingest.stop();
    }
    const h = await keyedDetect('keyedref', 1);
    try {
      await caughtUp(h, 'keyedref');
      await waitFor('keyedref: every alert sent', () => new Set(server.rows().map((r) => r.AlertId)).size >= replayed.length, 90_000);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await h.stop();
    }
    expectReplayAlertsOnce();
    const state = h.stats().state;
    expect(state).toMatchObject({ writtenAt: 'checkpoint', lastWrittenAt: expect.any(String) });
    for (const [p, seq] of Object.entries(lastOnKeyedHub())) expect(state.partitions[p]).toMatchObject({ handled: seq, written: seq });
    reference = {
      alertIds: server
        .rows()
        .map((r) => r.AlertId as string)
        .sort(),
      state: await settledState('keyedref'),
    };
  }, 600_000);

  it.each([1, 3, 1000])(
    'killed at a partition’s fifth batch with state written every %i batches, restarted: the uninterrupted run’s AlertIds each once, and its state',
    async (batches) => {
      expect(reference, 'runs after the uninterrupted run').toBeDefined();
      const prefix = `keyedn${batches}`;
      const checkpoints = killable(await checkpointStore(prefix));
      const state = killableState(stateTable(prefix));
      const handled = new Map<string, number>();
      const killed: { host?: StandaloneHost } = {};
      let killedAt: { partition: string; state: HostStatsState } | undefined;
      let stopping: Promise<void> | undefined;
      // The kill comes as the fifth batch of a partition is handled, before its state write and
      // checkpoint: every 1 batch, the fourth was written; every 3, the third; every 1000, none.
      const logHandler: LogHandler = (_level, ...args) => {
        const partition = /^detect [^/]+\/(\d+): /.exec(String(args[0]))?.[1];
        const first = killed.host;
        if (!partition || killedAt || !first) return;
        handled.set(partition, (handled.get(partition) ?? 0) + 1);
        if (handled.get(partition)! < 5) return;
        checkpoints.kill();
        state.kill();
        killedAt = { partition, state: first.stats().state };
        // A crashed process reads nothing more: batches in hand end, no new one starts.
        stopping = first.stop().catch(() => undefined);
      };
      killed.host = await keyedDetect(prefix, batches, { checkpointStore: checkpoints.store, stateStore: state.store, logHandler });
      await waitFor(`${prefix}: the kill`, () => stopping !== undefined, 120_000);
      // A crashed process is gone whether or not its clients closed cleanly: a stop that hangs (an AMQP close on a busy machine) does not stall the test.
      await settledWithin(stopping!, 60_000);
      const { partition, state: atKill } = killedAt!;
      // Between writes: the partition had handled batches its stored state does not hold.
      const mark = (await stateTable(prefix).load(partition)).get(PARTITION_META_KEY);
      const stored = mark === undefined ? -1 : (JSON.parse(mark) as { q: number }).q;
      expect(stored).toBe(atKill.partitions[partition].written);
      expect(atKill.partitions[partition].handled).toBeGreaterThan(stored);
      if (batches === 1000) expect(stored).toBe(-1);

      // A new instance: state read back from the Table, the keyed hub read again from the checkpoints.
      const from = Object.fromEntries(
        (await checkpoints.store.listCheckpoints(broker.fullyQualifiedNamespace, 'keyed-events', prefix)).map((c) => [c.partitionId, c.sequenceNumber]),
      );
      const second = await keyedDetect(prefix, batches);
      try {
        await caughtUp(second, prefix, from);
        await waitFor(`${prefix}: every alert sent`, () => new Set(server.rows().map((r) => r.AlertId)).size >= reference!.alertIds.length, 120_000);
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        await settledWithin(second.stop(), 60_000);
      }
      // The batches handled but not written came again and were applied again, from the stored state.
      expect(second.stats().state.partitions[partition].written).toBe(lastOnKeyedHub()[partition]);
      expect(second.stats().events).toBeGreaterThan(0);
      const ids = server.rows().map((r) => r.AlertId as string);
      expect(new Set(ids).size, `AlertIds delivered more than once: ${ids.filter((id, i) => ids.indexOf(id) !== i).join(', ')}`).toBe(ids.length);
      expect(ids.sort()).toEqual(reference!.alertIds);
      expect(await settledState(prefix)).toEqual(reference!.state);
    },
    600_000,
  );
});

type HostStatsState = ReturnType<StandaloneHost['stats']>['state'];
