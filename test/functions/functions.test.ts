/**
 * The Functions app as the host runs it: registrations as the worker indexes them, handlers
 * called with the inputs and trigger metadata the host sends, the real Event Hubs producer against
 * the AMQP test broker (keyed hub), Azurite for state, outbox and dead letters, and the real
 * Logs Ingestion client against the Sentinel test server.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import type { HttpResponseInit } from '@azure/functions';
import functions from '@azure/functions';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { startLogsIngestionServer, type LogsIngestionTestServer } from '../support/logs-ingestion-server.js';
import { startLogAnalyticsServer, type LogAnalyticsTestServer } from '../support/log-analytics-server.js';
import { wardenAlertsTable } from '../support/log-analytics-rows.js';
import { eventHubBatch, invocationContext, loadFunctionsApp, type Registration } from '../support/functions-host.js';
import { parseDeadLetters } from '../../src/delivery/dead-letters.js';
import { AlertSchema } from '../../src/model/index.js';
import type { KeyedEvent } from '../../src/eventhubs/keyed-hub.js';

import { functionsAppDependencies } from '../../src/host/warden.js';
import { startFaultProxy } from '../support/tcp-fault-proxy.js';
import { routeToPartition } from '../../src/eventhubs/partitioning.js';

const { HttpRequest } = functions;
const fixture = (path: string) => readFileSync(fileURLToPath(new URL(`../../detections/${path}`, import.meta.url)), 'utf8');
const SECRET_SWEEP = fixture('keyvault-mass-secret-read.fixtures/sp-reads-twelve-secrets.json');
const SWEEPER = '6db46faa-d557-4a97-aed5-97c6b8e3e46d';
const KEY_LISTING = fixture('ai-key-listing.fixtures/sp-lists-openai-keys.json');
const KEY_LISTER = '3f2a9c1e-5b7d-4e8f-a1c2-9d0e4b6f8a21';

let azurite: AzuriteInstance;
let broker: EventHubsBroker;
let server: LogsIngestionTestServer;
let workspace: LogAnalyticsTestServer;
/** Rows before this index were sent by earlier tests (the same fixtures give the same AlertIds): the workspace holds the rest. */
let workspaceFrom = 0;
let fns: Map<string, Registration>;
let run = 0;
const clock = { now: Date.UTC(2025, 5, 12, 9, 0, 0) };

/** Every app setting the deployment sets, pointed at the local stand-ins; names per test so tests do not share hubs or tables. */
function settings(): Record<string, string> {
  return {
    EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
    WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
    WARDEN_STORAGE_PREFIX: `test${run}`,
    WARDEN_HUB_ACTIVITY: 'warden-activity',
    WARDEN_HUB_SIGNIN: 'warden-signin',
    WARDEN_HUB_RESOURCE: 'warden-resource',
    WARDEN_HUB_EVENTS: `warden-events-${run}`,
    WARDEN_CONSUMER_GROUP_INGEST: 'warden-ingest',
    WARDEN_CONSUMER_GROUP_DETECT: 'warden-detect',
    SENTINEL_DCR_ENDPOINT: server.endpoint,
    SENTINEL_DCR_IMMUTABLE_ID: server.ruleId,
    SENTINEL_STREAM_NAME: 'Custom-WardenAlerts',
    WARDEN_AUDIT_WORKSPACE_ID: workspace.workspaceId,
    WARDEN_ALLOWED_LATENESS: '5m',
    // The fixtures are dated 2025: older than the live stream keeps by default.
    WARDEN_MAX_EVENT_AGE: '3650d',
    WARDEN_TUNABLES: '{}',
  };
}

beforeAll(async () => {
  azurite = await startAzurite();
  const hubs: Record<string, { partitions: number }> = {
    'warden-activity': { partitions: 2 },
    'warden-signin': { partitions: 2 },
    'warden-resource': { partitions: 2 },
  };
  for (let i = 1; i <= 16; i++) hubs[`warden-events-${i}`] = { partitions: 4 };
  broker = await startEventHubsBroker({ hubs });
  server = await startLogsIngestionServer();
  // The workspace holds what the ingestion stand-in kept, as the DCR stores it; one token opens both.
  const token = (await server.credential.getToken('https://monitor.azure.com//.default'))?.token;
  workspace = await startLogAnalyticsServer({ tables: () => [wardenAlertsTable(server.rows().slice(workspaceFrom))], token });
  Object.assign(functionsAppDependencies, {
    credential: server.credential,
    sentinelClientOptions: { tlsOptions: { ca: server.ca }, retryOptions: { maxRetries: 0 } },
    auditClientOptions: { endpoint: workspace.endpoint, tlsOptions: { ca: workspace.ca }, retryOptions: { maxRetries: 0 } },
    now: () => clock.now,
  });
});
afterAll(async () => {
  await workspace?.close();
  await server?.close();
  await broker?.stop();
  await azurite?.stop();
});

beforeEach(async () => {
  run++;
  fns = await loadFunctionsApp(settings());
});

describe('registrations (what the host indexes)', () => {
  it('registers ingest per raw hub and detect as batched string Event Hubs triggers with a retry-forever backoff, a deliver timer and a health endpoint', () => {
    expect([...fns.keys()].sort()).toEqual(['audit', 'deliver', 'detect', 'health', 'ingest-activity', 'ingest-resource', 'ingest-signin', 'silent-sources']);
    const hubsOf = Object.fromEntries(
      ['ingest-activity', 'ingest-signin', 'ingest-resource', 'detect'].map((name) => {
        const trigger = Object.values(fns.get(name)!.bindings).find((b) => b.direction === 'in')!;
        expect(trigger).toMatchObject({ type: 'eventHubTrigger', connection: 'EventHubConnection', cardinality: 'many', dataType: 'string' });
        expect(fns.get(name)!.retryOptions).toMatchObject({ retryStrategy: 'exponentialBackoff', maxRetryCount: -1 });
        return [name, `${trigger.eventHubName as string}/${trigger.consumerGroup as string}`];
      }),
    );
    expect(hubsOf).toEqual({
      'ingest-activity': 'warden-activity/warden-ingest',
      'ingest-signin': 'warden-signin/warden-ingest',
      'ingest-resource': 'warden-resource/warden-ingest',
      detect: `warden-events-${run}/warden-detect`,
    });
    expect(Object.values(fns.get('deliver')!.bindings)[0]).toMatchObject({ type: 'timerTrigger', schedule: '0 */1 * * * *' });
    expect(Object.values(fns.get('audit')!.bindings)[0]).toMatchObject({ type: 'timerTrigger', schedule: '0 */5 * * * *' });
    expect(Object.values(fns.get('health')!.bindings).find((b) => b.direction === 'in')).toMatchObject({
      type: 'httpTrigger',
      authLevel: 'function',
      methods: ['GET'],
      route: 'health',
    });
  });

  it('with a missing or malformed setting, registers every function anyway: health answers 503 with the one line, the others fail fast with it', async () => {
    const health = async (registered: Map<string, Registration>) =>
      (await registered
        .get('health')!
        .handler(new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }), invocationContext('health'))) as HttpResponseInit;
    const { SENTINEL_DCR_IMMUTABLE_ID: _, ...missing } = settings();
    const broken = await loadFunctionsApp(missing);
    expect([...broken.keys()].sort()).toEqual([...fns.keys()].sort());
    // Bound where the settings say, so the host indexes the same triggers.
    expect(Object.values(broken.get('detect')!.bindings)[0]).toMatchObject({ eventHubName: `warden-events-${run}`, consumerGroup: 'warden-detect' });
    expect(await health(broken)).toEqual({
      status: 503,
      jsonBody: {
        status: 'unavailable',
        error: expect.stringMatching(/^SENTINEL_DCR_IMMUTABLE_ID: is not set; set it like SENTINEL_DCR_IMMUTABLE_ID=dcr-[0-9a-f]{32}$/),
      },
    });
    await expect(broken.get('deliver')!.handler({ isPastDue: false }, invocationContext('deliver'))).rejects.toThrow(
      /^Warden did not start: SENTINEL_DCR_IMMUTABLE_ID: is not set/,
    );
    const { messages, context } = eventHubBatch('ingest-activity', 'warden-activity', '0', [
      { body: KEY_LISTING, sequenceNumber: 0, enqueuedTime: new Date(clock.now) },
    ]);
    await expect(broken.get('ingest-activity')!.handler(messages, context)).rejects.toThrow(/WardenStartupError|did not start/);

    const lateness = await health(await loadFunctionsApp({ ...settings(), WARDEN_ALLOWED_LATENESS: 'five minutes' }));
    expect(lateness.jsonBody).toMatchObject({
      error: expect.stringMatching(/^WARDEN_ALLOWED_LATENESS: is not a duration .*; set it like WARDEN_ALLOWED_LATENESS=5m$/),
    });
    const tunable = await health(await loadFunctionsApp({ ...settings(), WARDEN_TUNABLES: '{"no-such-rule":{"threshold":3}}' }));
    expect(tunable).toMatchObject({ status: 503, jsonBody: { error: expect.stringMatching(/no-such-rule/) } });
    expect(String((tunable.jsonBody as { error: string }).error).split('\n')).toHaveLength(1);
  });
});

/** Call an ingest function with one raw-hub batch (one body per event), as the host does. */
async function ingest(name: string, hub: string, bodies: unknown[], firstSequenceNumber = 0) {
  const lines: string[] = [];
  const events = bodies.map((body, i) => ({ body, sequenceNumber: firstSequenceNumber + i, enqueuedTime: new Date(clock.now - 2000) }));
  const { messages, context } = eventHubBatch(name, hub, '1', events, lines);
  const result = await fns.get(name)!.handler(messages, context);
  return { result, lines };
}

/** What the keyed hub holds now, as detect batches: one per partition, in sequence order. */
function keyedBatches(from = 0) {
  const hub = `warden-events-${run}`;
  return broker
    .partitionIds(hub)
    .map((partitionId) => ({
      partitionId,
      events: broker
        .partitionEvents(hub, partitionId)
        .filter((e) => e.sequenceNumber >= from)
        .map((e) => ({ body: e.body, sequenceNumber: e.sequenceNumber, offset: e.offset, enqueuedTime: e.enqueuedTime, partitionKey: e.partitionKey })),
    }))
    .filter((b) => b.events.length);
}

async function detectAll(batches = keyedBatches()) {
  const results: Array<{ alerts: Array<{ AlertId: string; RuleId: string; PrincipalId: string }> }> = [];
  for (const b of batches) {
    const { messages, context } = eventHubBatch('detect', `warden-events-${run}`, b.partitionId, b.events);
    results.push((await fns.get('detect')!.handler(messages, context)) as (typeof results)[number]);
  }
  return results.flatMap((r) => r.alerts);
}

async function deadLetterBlobs(): Promise<Array<{ name: string; text: string }>> {
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(`test${run}-deadletters`);
  const out: Array<{ name: string; text: string }> = [];
  if (!(await container.exists())) return out;
  for await (const blob of container.listBlobsFlat())
    out.push({ name: blob.name, text: (await container.getBlobClient(blob.name).downloadToBuffer()).toString('utf8') });
  return out;
}

describe('ingest → keyed hub → detect → outbox → Sentinel', () => {
  it("publishes every normalized event to the keyed hub, all of a principal's events on its partition, with where it was read", async () => {
    const { result } = await ingest('ingest-resource', 'warden-resource', [SECRET_SWEEP], 7);
    const records = (JSON.parse(SECRET_SWEEP) as { records: unknown[] }).records.length;
    expect(result).toMatchObject({ records, published: records, deadLettered: 0 });
    const hub = `warden-events-${run}`;
    const onHub = broker.partitionIds(hub).flatMap((p) => broker.partitionEvents(hub, p).map((e) => ({ p, e })));
    expect(onHub).toHaveLength(records);
    const keyed = onHub.map(({ p, e }) => ({ p, ...(JSON.parse((e.body as Buffer).toString('utf8')) as KeyedEvent) }));
    for (const k of keyed) {
      // The routing replay uses (--partitions), so a principal's partition is the same in both.
      expect(k.p).toBe(String(routeToPartition(k.event.principalId, 4)));
      expect(k.event.source).toBe('keyvault');
      // Arrival is the raw hub's enqueued time, so DetectionLatencyMs counts from when Azure delivered the log.
      expect(k.arrivedAt).toBe(clock.now - 2000);
    }
    // Each event names its raw record: raw hub partition, raw sequence number, index in the body, in order.
    expect(keyed.map((k) => k.origin)).toEqual(keyed.map((_, index) => ({ source: 'warden-resource/1', sequenceNumber: 7, index })));
  });

  it('delivers each alert to Sentinel exactly once, also when the host delivers a batch again', async () => {
    await ingest('ingest-resource', 'warden-resource', [SECRET_SWEEP]);
    await ingest('ingest-activity', 'warden-activity', [KEY_LISTING]);
    const before = server.rows().length;
    const alerts = await detectAll();
    expect(alerts.map((a) => `${a.RuleId} ${a.PrincipalId}`).sort()).toEqual([`ai-key-listing ${KEY_LISTER}`, `keyvault-mass-secret-read ${SWEEPER}`]);
    // The host redelivers the same batches after a crash before its checkpoint.
    const again = await detectAll();
    expect(again).toEqual([]);
    const rows = server.rows().slice(before);
    expect(rows.map((r) => r.AlertId).sort()).toEqual(alerts.map((a) => a.AlertId).sort());
    for (const row of rows) AlertSchema.parse(row);
    const deliver = (await fns.get('deliver')!.handler({ isPastDue: false }, invocationContext('deliver'))) as { sent: number; backlog: number };
    expect(deliver).toMatchObject({ sent: 0, backlog: 0 });
    expect(server.rows().length - before).toBe(alerts.length);
  });

  it('keeps every alert in the outbox through a Sentinel outage, and the deliver timer empties it once Sentinel is back', async () => {
    await ingest('ingest-resource', 'warden-resource', [SECRET_SWEEP]);
    await ingest('ingest-activity', 'warden-activity', [KEY_LISTING]);
    const before = server.rows().length;
    server.outage(true);
    let alerts;
    try {
      alerts = await detectAll();
      expect(alerts).toHaveLength(2);
      const during = (await fns.get('deliver')!.handler({ isPastDue: false }, invocationContext('deliver'))) as { sent: number; backlog: number };
      expect(during).toMatchObject({ sent: 0, backlog: 2 });
      const health = (await fns
        .get('health')!
        .handler(new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }), invocationContext('health'))) as HttpResponseInit;
      expect(health.jsonBody).toMatchObject({
        status: 'degraded',
        outbox: { backlog: 2 },
        lastDelivery: { by: 'detect', sent: 0, failed: 1, lastError: expect.stringMatching(/^503/) },
      });
    } finally {
      server.outage(false);
    }
    expect(server.rows().length).toBe(before);
    // Failed sends back off (5 s first): the next timer run after that sends both.
    clock.now += 60_000;
    const after = (await fns.get('deliver')!.handler({ isPastDue: false }, invocationContext('deliver'))) as { sent: number; backlog: number };
    expect(after).toMatchObject({ sent: 2, failed: 0, backlog: 0 });
    expect(
      server
        .rows()
        .slice(before)
        .map((r) => r.AlertId)
        .sort(),
    ).toEqual(alerts.map((a) => a.AlertId).sort());
  });

  it("a batch with malformed records still raises the good records' alerts and dead-letters the rest with reason and location", async () => {
    const sweep = JSON.parse(SECRET_SWEEP) as { records: Array<Record<string, unknown>> };
    const badRecord = { ...sweep.records[3], time: 'not a time' };
    const withBadRecord = JSON.stringify({ records: [...sweep.records.slice(0, 3), badRecord, ...sweep.records.slice(4)] });
    const before = (await deadLetterBlobs()).length;
    const { result } = await ingest('ingest-resource', 'warden-resource', ['{"records": [ {"truncated', withBadRecord, 'plain text, not JSON'], 40);
    expect(result).toMatchObject({ deadLettered: 3 });
    const alerts = await detectAll();
    expect(alerts.map((a) => `${a.RuleId} ${a.PrincipalId}`)).toEqual([`keyvault-mass-secret-read ${SWEEPER}`]);
    expect(server.rows().map((r) => r.AlertId)).toContain(alerts[0].AlertId);
    const blobs = (await deadLetterBlobs()).slice(before);
    const mine = blobs.filter((b) => b.name.includes('/warden-resource/1/00000000000000000040'));
    expect(mine).toHaveLength(1);
    const letters = parseDeadLetters(mine[0].text);
    expect(letters.map((d) => d.location.sequenceNumber)).toEqual([40, 41, 42]);
    for (const d of letters) expect(d.location).toMatchObject({ hub: 'warden-resource', partitionId: '1', enqueuedTime: expect.any(String) });
    expect(letters[1].reason).toMatch(/time/);
    expect(letters[1].raw).toContain('not a time');
    expect(letters[2].raw).toBe('plain text, not JSON');
  });

  it('an ingest batch published twice is counted once: copies are recognized by where they were read', async () => {
    const sweep = JSON.parse(SECRET_SWEEP) as { records: unknown[] };
    // Seven of the twelve secrets, published twice (an ingest retry): under the threshold of 10 distinct secrets.
    const part = JSON.stringify({ records: sweep.records.slice(0, 7) });
    await ingest('ingest-resource', 'warden-resource', [part], 3);
    await ingest('ingest-resource', 'warden-resource', [part], 3);
    const alerts = await detectAll();
    expect(alerts).toEqual([]);
    const health = (await fns
      .get('health')!
      .handler(new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }), invocationContext('health'))) as HttpResponseInit;
    // The sweeper is new to Warden: its first reads of six secrets (the seventh record lists them) are held back while it learns.
    expect(health.jsonBody).toMatchObject({
      detector: { events: 7, republishedSkipped: 7, learning: { 'keyvault-first-secret-read': { keysLearning: 1, heldWhileLearning: 6 } } },
    });
  });

  it('detect fails its batch while Tables are down (the host retries it), and the retry raises the alert once, from the stored state', async () => {
    const tables = await startFaultProxy(Number(new URL(azurite.tableUrl).port));
    try {
      fns = await loadFunctionsApp({
        ...settings(),
        WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString.replace(new URL(azurite.tableUrl).host, `127.0.0.1:${tables.port}`),
      });
      await ingest('ingest-resource', 'warden-resource', [SECRET_SWEEP]);
      const before = server.rows().length;
      const [batch] = keyedBatches();
      const call = async (events: typeof batch.events) => {
        const { messages, context } = eventHubBatch('detect', `warden-events-${run}`, batch.partitionId, events);
        return (await fns.get('detect')!.handler(messages, context)) as { alerts: Array<{ AlertId: string; RuleId: string }> };
      };
      // The first reads: the partition is loaded and stored; no alert yet.
      expect((await call(batch.events.slice(0, 4))).alerts).toEqual([]);
      tables.down();
      // The reads that cross the threshold: applied in memory, but the outbox cannot be written.
      await expect(call(batch.events.slice(4))).rejects.toThrow();
      tables.up();
      // The host's retry: the partition starts again from the Table, so the alert is raised (not skipped as applied).
      const retried = await call(batch.events.slice(4));
      expect(retried.alerts.map((a) => a.RuleId)).toEqual(['keyvault-mass-secret-read']);
      // And a redelivery after that changes nothing.
      expect((await call(batch.events)).alerts).toEqual([]);
      expect(
        server
          .rows()
          .slice(before)
          .map((r) => r.AlertId),
      ).toEqual([retried.alerts[0].AlertId]);
    } finally {
      await tables.close();
    }
  });

  it('a partition whose lease went to another instance and came back is read again from the Table', async () => {
    await ingest('ingest-resource', 'warden-resource', [SECRET_SWEEP]);
    const [batch] = keyedBatches();
    const [a, b] = [fns, await loadFunctionsApp(settings())];
    const call = async (app: Map<string, Registration>, events: typeof batch.events) => {
      const { messages, context } = eventHubBatch('detect', `warden-events-${run}`, batch.partitionId, events);
      return ((await app.get('detect')!.handler(messages, context)) as { alerts: Array<{ RuleId: string; EventCount: number }> }).alerts;
    };
    // A reads the first secrets, B (holding the lease for a while) the next ones, then A again the rest.
    expect(await call(a, batch.events.slice(0, 4))).toEqual([]);
    expect(await call(b, batch.events.slice(4, 9))).toEqual([]);
    const alerts = await call(a, batch.events.slice(9));
    // Only with B's reads, stored in the Table, does A see enough distinct secrets.
    expect(alerts.map((x) => x.RuleId)).toEqual(['keyvault-mass-secret-read']);
  });

  it('the audit finds rows the DCR dropped after a 204: health degraded with their AlertIds, the resend lands them, health ok again', async () => {
    const call = (name: string) => fns.get(name)!.handler({ isPastDue: false }, invocationContext(name));
    const health = async () =>
      (
        (await fns
          .get('health')!
          .handler(new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }), invocationContext('health'))) as HttpResponseInit
      ).jsonBody as Record<string, unknown>;
    workspaceFrom = server.rows().length;
    await ingest('ingest-resource', 'warden-resource', [SECRET_SWEEP]);
    await ingest('ingest-activity', 'warden-activity', [KEY_LISTING]);
    server.dropRows(() => true);
    const alerts = await detectAll();
    server.dropRows(undefined);
    expect(alerts).toHaveLength(2);
    expect(await health()).toMatchObject({ status: 'ok' }); // every send was answered 204
    clock.now += 11 * 60_000;
    const audit = (await call('audit')) as { missing: string[]; resent: string[] };
    expect(audit.missing.sort()).toEqual(alerts.map((a) => a.AlertId).sort());
    expect(await health()).toMatchObject({
      status: 'degraded',
      audit: { checked: 2, landed: 0, missing: expect.arrayContaining(alerts.map((a) => a.AlertId)), lostTotal: 0 },
    });
    expect(await call('deliver')).toMatchObject({ sent: 2, backlog: 0 });
    clock.now += 11 * 60_000;
    expect(await call('audit')).toMatchObject({ checked: 2, landed: 2, missing: [] });
    expect(await health()).toMatchObject({ status: 'ok', audit: { landed: 2, missing: [] } });
  });

  it('health reports configuration, rules, backlog and the last delivery, and no secret', async () => {
    await ingest('ingest-activity', 'warden-activity', [KEY_LISTING]);
    await detectAll();
    const response = (await fns
      .get('health')!
      .handler(new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }), invocationContext('health'))) as HttpResponseInit;
    expect(response.status).toBe(200);
    const body = response.jsonBody as {
      status: string;
      rules: { count: number; ids: string[] };
      outbox: { backlog: number };
      settings: Record<string, unknown>;
      lastDelivery: { at: string };
    };
    expect(body).toMatchObject({ status: 'ok', outbox: { backlog: 0 }, lastDelivery: { by: 'detect', sent: 1, failed: 0, at: expect.any(String) } });
    expect(body.rules.count).toBe(31);
    expect(body.rules.ids).toContain('nhi-new-ip-then-key-access');
    expect(body.settings).toMatchObject({ eventsHub: `warden-events-${run}`, sentinel: { streamName: 'Custom-WardenAlerts' } });
    const text = JSON.stringify(body);
    expect(text).not.toMatch(/SharedAccessKey|AccountKey|sig=|Bearer/i);
    expect(text).not.toContain(azurite.connectionString);
  });
});
