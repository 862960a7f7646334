/**
 * Warden's telemetry as Application Insights would receive it, caught by OpenTelemetry's
 * in-memory exporters: the Functions app (test/support/functions-host.ts) on the local stand-ins
 * runs ingest → keyed hub → detect → outbox → Sentinel, then the deliver and silent-sources
 * timers; every metric of docs/telemetry.md comes out with its dimensions, and each ingest batch is
 * one trace through detect and the send.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { startLogsIngestionServer, type LogsIngestionTestServer } from '../support/logs-ingestion-server.js';
import { eventHubBatch, invocationContext, loadFunctionsApp, type Registration } from '../support/functions-host.js';
import { EventHubProducerClient } from '@azure/event-hubs';
import { Warden, functionsAppDependencies } from '../../src/host/warden.js';
import { loadSettings } from '../../src/host/settings.js';
import { startStandaloneHost } from '../../src/host/standalone.js';
import { waitFor } from '../support/wait.js';
import { METRIC } from '../../src/telemetry/telemetry.js';
import { defineRule, loadRules } from '../../src/engine/index.js';

const fixture = (path: string) => readFileSync(fileURLToPath(new URL(`../../detections/${path}`, import.meta.url)), 'utf8');
const SECRET_SWEEP = fixture('keyvault-mass-secret-read.fixtures/sp-reads-twelve-secrets.json');
const SWEEPER = '6db46faa-d557-4a97-aed5-97c6b8e3e46d';
const KEY_LISTING = fixture('ai-key-listing.fixtures/sp-lists-openai-keys.json');
/** The same listing logged two hours earlier: later than the allowed lateness once the first is applied. */
const LATE_LISTING = KEY_LISTING.replaceAll('2025-03-01T10:15', '2025-03-01T08:15');
/** A rule with a bug: it throws on every activity event it sees (the four listings, late ones too). */
const BROKEN = defineRule({
  id: 'test-broken',
  version: '1',
  title: 'broken',
  description: 'test rule',
  severity: 'Low',
  tactics: ['Discovery'],
  techniques: ['T1526'],
  sources: ['activity'],
  kind: 'match',
  where: (e) => (e.details.assigneePrincipalId as string).length > 0,
});

let azurite: AzuriteInstance;
let broker: EventHubsBroker;
let server: LogsIngestionTestServer;
let fns: Map<string, Registration>;
const clock = { now: Date.UTC(2025, 5, 12, 9, 0, 0) };
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
const spans = new InMemorySpanExporter();

beforeAll(async () => {
  // What the Azure Monitor distro registers in the app, with exporters that keep what they get.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  azurite = await startAzurite();
  broker = await startEventHubsBroker({
    hubs: {
      'warden-activity': { partitions: 2 },
      'warden-signin': { partitions: 2 },
      'warden-resource': { partitions: 2 },
      'warden-events': { partitions: 4 },
      'run-activity': { partitions: 2 },
      'run-signin': { partitions: 2 },
      'run-resource': { partitions: 2 },
      'run-events': { partitions: 4 },
    },
  });
  server = await startLogsIngestionServer();
  Object.assign(functionsAppDependencies, {
    credential: server.credential,
    sentinelClientOptions: { tlsOptions: { ca: server.ca }, retryOptions: { maxRetries: 0 } },
    now: () => clock.now,
    rules: [...(await loadRules()).map((l) => l.rule), BROKEN],
  });
  fns = await loadFunctionsApp({
    EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
    WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
    WARDEN_STORAGE_PREFIX: 'telemetry',
    // The fixtures are logs of 2025: older than the live stream's default age limit.
    WARDEN_MAX_EVENT_AGE: '3650d',
    SENTINEL_DCR_ENDPOINT: server.endpoint,
    SENTINEL_DCR_IMMUTABLE_ID: server.ruleId,
    // One row per rule run: the second alert of the batch waits for the next run (paced).
    SENTINEL_ROWS_PER_RUN: '1',
  });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await broker?.stop();
  await azurite?.stop();
});

type Point = DataPoint<number | Histogram>;
async function collected(): Promise<Map<string, Point[]>> {
  await reader.forceFlush();
  const byName = new Map<string, Point[]>();
  for (const rm of metricExporter.getMetrics()) {
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) byName.set(m.descriptor.name, m.dataPoints as Point[]);
  }
  return byName;
}
const value = (p: Point) => (typeof p.value === 'number' ? p.value : p.value.count);
const sum = (points: Point[] | undefined, attrs: Record<string, string> = {}) =>
  (points ?? []).filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)).reduce((n, p) => n + value(p), 0);

describe('telemetry of a full-path run', () => {
  it('emits every metric with low-cardinality dimensions, and one trace per ingest batch through detect and the send', async () => {
    const ingest = (name: string, hub: string, bodies: string[]) => {
      const events = bodies.map((body, i) => ({ body, sequenceNumber: i, enqueuedTime: new Date(clock.now - 3000) }));
      const { messages, context: ctx } = eventHubBatch(name, hub, '0', events);
      return fns.get(name)!.handler(messages, ctx);
    };
    // A secret sweep, a key listing, a record no normalizer knows and a body that is not JSON.
    await ingest('ingest-resource', 'warden-resource', [
      SECRET_SWEEP,
      '{"records":[{"category":"NoSuchCategory","time":"2025-06-12T08:59:00Z"}]}',
      '{not json',
    ]);
    await ingest('ingest-activity', 'warden-activity', [KEY_LISTING, LATE_LISTING]);
    clock.now += 2000;
    const keyed = broker
      .partitionIds('warden-events')
      .map((partitionId) => ({
        partitionId,
        events: broker
          .partitionEvents('warden-events', partitionId)
          .map((e) => ({ body: e.body, sequenceNumber: e.sequenceNumber, enqueuedTime: new Date(clock.now - 1500), properties: e.properties })),
      }))
      .filter((b) => b.events.length);
    for (const b of keyed) {
      const { messages, context: ctx } = eventHubBatch('detect', 'warden-events', b.partitionId, b.events);
      await fns.get('detect')!.handler(messages, ctx);
    }
    clock.now += 120_000;
    await fns.get('deliver')!.handler({ isPastDue: false }, invocationContext('deliver'));
    await fns.get('silent-sources')!.handler({ isPastDue: false }, invocationContext('silent-sources'));

    const m = await collected();
    const sweepRecords = (JSON.parse(SECRET_SWEEP) as { records: unknown[] }).records.length;
    expect(sum(m.get(METRIC.recordsIn), { 'warden.hub': 'warden-resource' })).toBe(sweepRecords + 2);
    expect(sum(m.get(METRIC.eventsPublished), { 'warden.hub': 'warden-resource' })).toBe(sweepRecords);
    const published = sum(m.get(METRIC.eventsPublished));
    expect(sum(m.get(METRIC.eventsDetected), { 'warden.hub': 'warden-events' })).toBe(published);
    expect(m.get(METRIC.deadLetters)!.map((p) => p.attributes)).toEqual(
      expect.arrayContaining([expect.objectContaining({ 'warden.stage': 'ingest', 'warden.hub': 'warden-resource' })]),
    );
    expect(sum(m.get(METRIC.deadLetters))).toBe(1);
    // A category no normalizer reads is skipped, counted by category.
    expect(m.get(METRIC.skipped)!.map((p) => `${String(p.attributes['warden.category'])}=${value(p)}`)).toEqual(['NoSuchCategory=1']);
    // Rows, bodies and latencies in milliseconds: the raw hub's lag is the 3 s since enqueued, the keyed hub's 1.5 s.
    const lag = m.get(METRIC.lag)!;
    expect(lag.find((p) => p.attributes['warden.hub'] === 'warden-resource')!.value).toMatchObject({ min: 3000, max: 3000 });
    expect(lag.find((p) => p.attributes['warden.hub'] === 'warden-events')!.value).toMatchObject({ min: 1500, max: 1500 });
    expect(
      m
        .get(METRIC.alerts)!
        .map((p) => `${String(p.attributes['warden.rule'])}/${String(p.attributes['warden.severity'])}=${value(p)}`)
        .sort(),
    ).toEqual(['ai-key-listing/Medium=1', 'keyvault-mass-secret-read/High=1']);
    expect(sum(m.get(METRIC.detectionLatency))).toBe(2);
    expect(m.get(METRIC.lateEvents)!.map(value)).toEqual([2]);
    expect(m.get(METRIC.ruleErrors)!.map((p) => `${String(p.attributes['warden.rule'])}=${value(p)}`)).toEqual(['test-broken=4']);
    expect(sum(m.get(METRIC.tableTransactions), { 'warden.table': 'state' })).toBeGreaterThan(0);
    expect(sum(m.get(METRIC.tableWriteDuration))).toBe(keyed.length);
    // One sent at once, one paced to the next rule run and sent by the deliver timer.
    expect(sum(m.get(METRIC.deliveries), { 'warden.outcome': 'sent' })).toBe(2);
    expect(sum(m.get(METRIC.deliveries), { 'warden.outcome': 'paced', 'warden.by': 'detect' })).toBe(1);
    expect(sum(m.get(METRIC.deliveries), { 'warden.outcome': 'sent', 'warden.by': 'deliver' })).toBe(1);
    expect(m.get(METRIC.outboxBacklog)!.map(value)).toEqual([0]);
    expect(m.get(METRIC.silentSources)!.map(value)).toEqual([0]);
    // Dimensions are hubs, stages, categories, rules, severities and outcomes: never a principal.
    for (const points of m.values()) for (const p of points) expect(JSON.stringify(p.attributes)).not.toContain(SWEEPER);

    const finished = spans.getFinishedSpans();
    const ingestSpan = finished.find((s) => s.name === 'warden.ingest' && s.attributes['warden.hub'] === 'warden-resource')!;
    const sweepDetect = finished.filter((s) => s.name === 'warden.detect' && s.spanContext().traceId === ingestSpan.spanContext().traceId);
    // The sweeper's events are all on one keyed partition: that detect batch continues the ingest batch's trace.
    expect(sweepDetect.length).toBeGreaterThan(0);
    expect(sweepDetect[0].parentSpanContext?.spanId).toBe(ingestSpan.spanContext().spanId);
    const send = finished.filter(
      (s) => s.name === 'warden.deliver' && s.attributes['warden.by'] === 'detect' && s.spanContext().traceId === ingestSpan.spanContext().traceId,
    );
    expect(send).toHaveLength(1);
    // The immediate send of the batch's alert is under that detect span.
    expect(sweepDetect.map((d) => d.spanContext().spanId)).toContain(send[0].parentSpanContext?.spanId);
  }, 120_000);

  it('warden run (the standalone host, on real AMQP links) emits the same metrics and carries the trace over the keyed hub', async () => {
    const recordsBefore = sum((await collected()).get(METRIC.recordsIn), { 'warden.hub': 'run-resource' });
    spans.reset();
    const warden = await Warden.create(
      loadSettings({
        EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
        WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
        WARDEN_STORAGE_PREFIX: 'wardenrun',
        WARDEN_MAX_EVENT_AGE: '3650d',
        WARDEN_HUB_ACTIVITY: 'run-activity',
        WARDEN_HUB_SIGNIN: 'run-signin',
        WARDEN_HUB_RESOURCE: 'run-resource',
        WARDEN_HUB_EVENTS: 'run-events',
        WARDEN_CONSUMER_GROUP_INGEST: '$Default',
        WARDEN_CONSUMER_GROUP_DETECT: '$Default',
        SENTINEL_DCR_ENDPOINT: server.endpoint,
        SENTINEL_DCR_IMMUTABLE_ID: server.ruleId,
      }),
      { credential: server.credential, sentinelClientOptions: { tlsOptions: { ca: server.ca }, retryOptions: { maxRetries: 0 } } },
    );
    const host = await startStandaloneHost(warden, { functions: ['ingest-resource', 'detect'], maxWaitTimeInSeconds: 0.3 });
    const producer = new EventHubProducerClient(broker.connectionString('run-resource'));
    const records = (JSON.parse(SECRET_SWEEP) as { records: unknown[] }).records.length;
    try {
      await producer.sendBatch([{ body: Buffer.from(SECRET_SWEEP) }]);
      await waitFor('the sweep detected', () => host.stats().alerts >= 1 && host.stats().events >= records, 30_000);
    } finally {
      await producer.close();
      await host.stop();
      await warden.close();
    }
    const m = await collected();
    expect(sum(m.get(METRIC.recordsIn), { 'warden.hub': 'run-resource' }) - recordsBefore).toBe(records);
    expect(sum(m.get(METRIC.eventsDetected), { 'warden.hub': 'run-events' })).toBe(records);
    const finished = spans.getFinishedSpans();
    const ingestSpan = finished.find((x) => x.name === 'warden.ingest' && x.attributes['warden.hub'] === 'run-resource')!;
    const detect = finished.find((x) => x.name === 'warden.detect' && x.attributes['warden.hub'] === 'run-events')!;
    expect(detect.spanContext().traceId).toBe(ingestSpan.spanContext().traceId);
    expect(detect.parentSpanContext?.spanId).toBe(ingestSpan.spanContext().spanId);
  }, 120_000);
});
