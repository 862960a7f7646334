import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { METRIC } from '../../src/telemetry/telemetry.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import type { NormalizedEvent } from '../../src/model/index.js';
import type { Warden } from '../../src/host/warden.js';
import type { BlobDeadLetterSink } from '../../src/delivery/dead-letters.js';
import { appOnAzurite, batchContext, keyedActivity } from './app.js';

const T0 = Date.now() - 3_600_000;
const VAULT = '/subscriptions/22534aab-409e-4718-b7be-29a91840928f/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv-prod';

const READER = '0b9b5e4e-1111-4222-8333-444455556666';

/** One principal reading many secrets with long names, as the keyed hub carries them (anyone who can send there can write this). */
function secretReads(count: number, from: number, nameLength: number, principalId = READER): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    const event: NormalizedEvent = {
      id: `read-${n}`,
      time: T0 + n * 10,
      source: 'keyvault',
      category: 'AuditEvent',
      operation: 'SECRETGET',
      result: 'success',
      principalId,
      principalType: 'servicePrincipal',
      resourceId: VAULT,
      subscriptionId: '22534aab-409e-4718-b7be-29a91840928f',
      resourceType: 'microsoft.keyvault/vaults',
      details: { vault: 'kv-prod', secretName: `${String(n).padStart(6, '0')}-${'s'.repeat(nameLength)}` },
    };
    return JSON.stringify({ event, arrivedAt: event.time, origin: { source: 'warden-resource/0', sequenceNumber: n, index: 0 } });
  });
}

// What Application Insights would receive: set before any app is built (its meter is taken then).
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [metricReader] }));

async function countedByRule(name: string): Promise<Record<string, number>> {
  await metricReader.forceFlush();
  const out: Record<string, number> = {};
  for (const rm of metricExporter.getMetrics())
    for (const sm of rm.scopeMetrics)
      for (const m of sm.metrics) if (m.descriptor.name === name) for (const p of m.dataPoints) out[String(p.attributes['warden.rule'])] = p.value as number;
  return out;
}

describe('no input wedges a partition', () => {
  let azurite: AzuriteInstance;
  let app: Warden;
  beforeAll(async () => {
    azurite = await startAzurite();
    app = await appOnAzurite(azurite, { WARDEN_TUNABLES: '{}' });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await azurite?.stop();
  });

  it('a key whose state outgrows a Table entity is forgotten, counted and shown; the batch and the next ones go through', async () => {
    const first = secretReads(3000, 0, 1000);
    const result = await app.detect(first, batchContext('0', first.length, 0));
    expect(result.events).toBe(3000);
    const health = await app.health();
    expect(health.status).toBe('degraded');
    expect(health.detector.evicted).toBeGreaterThan(0);
    expect(health.detector.evictedSamples[0]).toMatch(/characters\)$/);
    // The Function App writes state after every batch: health says so, and when.
    expect(health.state).toMatchObject({ writtenAt: 'batch', partitions: { '0': { handled: 2999, written: 2999, writtenAt: expect.any(String) } } });
    // The partition is not stuck: the next batch is applied and stored.
    const next = secretReads(10, 3000, 10);
    await expect(app.detect(next, batchContext('0', next.length, 3000))).resolves.toMatchObject({ events: 10 });
    // And a restarted instance reads the partition back without the evicted key.
    const again = await appOnAzurite(azurite, { WARDEN_STORAGE_PREFIX: app.settings.storagePrefix });
    await expect(again.detect(secretReads(1, 3010, 10), batchContext('0', 1, 3010))).resolves.toMatchObject({ events: 1 });
    await again.close();
  }, 120_000);

  it('a batch that no retry can store is dead-lettered and the partition goes on; health names the partition, since when and why', async () => {
    // A state store that refuses what it is given, as Tables does an entity it cannot hold.
    const store = (app.detector as unknown as { options: { store: { write: (...a: unknown[]) => Promise<unknown> } } }).options.store;
    const write = store.write.bind(store);
    store.write = () =>
      Promise.reject(Object.assign(new Error('0:The property value exceeds the maximum allowed size (64KB).'), { statusCode: 400, name: 'RestError' }));
    try {
      const batch = secretReads(5, 5000, 10);
      const result = await app.detect(batch, batchContext('1', batch.length, 0));
      expect(result.deadLettered).toBe(5);
      const health = await app.health();
      expect(health.status).toBe('degraded');
      expect(health.failingPartitions).toEqual([
        expect.objectContaining({
          partitionId: '1',
          failures: 1,
          deadLettered: true,
          reason: expect.stringMatching(/exceeds the maximum allowed size/),
          since: expect.stringMatching(/^\d{4}-/),
        }),
      ]);
      const sink = app.deadLetters as BlobDeadLetterSink;
      const names = await sink.list();
      expect(names.some((n) => n.includes('/1/'))).toBe(true);
    } finally {
      store.write = write;
    }
    const ok = secretReads(1, 5005, 10);
    await app.detect(ok, batchContext('1', 1, 5));
    expect((await app.health()).failingPartitions).toEqual([]);
  }, 60_000);

  it('what a key drops at its caps (sequence candidates, first-seen values) is counted per rule in health and telemetry', async () => {
    const counting = await appOnAzurite(azurite, { WARDEN_TUNABLES: '{}' });
    try {
      // 600 secrets read by one principal: first-seen keeps 500 values per key (maxValues), a
      // sequence 20 candidates per step (maxCandidates); the oldest go, and each one gone is counted.
      const reads = secretReads(600, 0, 10, '7c1d2e3f-aaaa-4bbb-8ccc-ddddeeeeffff');
      const before = await countedByRule(METRIC.capEvictions);
      await expect(counting.detect(reads, batchContext('2', reads.length, 0))).resolves.toMatchObject({ events: 600 });
      const health = await counting.health();
      expect(health.detector.capEvictions).toMatchObject({ 'keyvault-first-secret-read': 100, 'nhi-new-ip-then-key-access': 580 });
      // The metric is the process's, and earlier tests' apps count into it too.
      const after = await countedByRule(METRIC.capEvictions);
      const rule = (id: string) => after[id] - (before[id] ?? 0);
      expect([rule('keyvault-first-secret-read'), rule('nhi-new-ip-then-key-access')]).toEqual([100, 580]);
    } finally {
      await counting.close();
    }
  }, 60_000);

  it('a batch after 200 000 principals went silent for a month forgets them all and is stored (a spread of their keys overflowed the stack)', async () => {
    const quiet = await appOnAzurite(azurite, {}, { rules: [] });
    // The partition's writes are kept here: 200 000 entities one by one are more than a test waits for Azurite to take.
    const store = (quiet.detector as unknown as { options: { store: { write: (p: string, u: Map<string, string>, d: string[]) => Promise<unknown> } } }).options
      .store;
    const written: Array<{ upserts: number; deletes: number }> = [];
    store.write = (_p, upserts, deletes) => {
      written.push({ upserts: upserts.size, deletes: deletes.length });
      return Promise.resolve({ entities: upserts.size + deletes.length, transactions: 1 });
    };
    const principals = 200_000;
    try {
      const first = Array.from({ length: principals }, (_, n) => keyedActivity(n, T0 + n));
      await expect(quiet.detect(first, batchContext('3', principals, 0))).resolves.toMatchObject({ events: principals });
      // A month later: three events in a row move the partition's clock, and the sweep forgets everyone it had.
      const later = [0, 1, 2].map((k) => keyedActivity(principals + k, T0 + 32 * 86_400_000 + k));
      await expect(quiet.detect(later, batchContext('3', 3, principals))).resolves.toMatchObject({ events: 3 });
      expect(written.at(-1)).toEqual({ upserts: 4, deletes: principals });
      expect((await quiet.health()).failingPartitions).toEqual([]);
    } finally {
      await quiet.close();
    }
  }, 120_000);

  it('one record with a 490 000-character correlation and object id, and 25 records of 25 KB a sequence keeps, are stored cut to size', async () => {
    const fresh = await appOnAzurite(azurite, { WARDEN_TUNABLES: '{}' });
    try {
      const long = (c: string) => c.repeat(490_000);
      const sp = '5e5e5e5e-1111-4222-8333-444455556666';
      const event = (n: number, over: Record<string, unknown>) =>
        JSON.stringify({
          event: {
            id: `big-${n}`,
            time: T0 + n,
            source: 'keyvault',
            category: 'AuditEvent',
            operation: 'SECRETGET',
            result: 'success',
            principalId: sp,
            principalType: 'servicePrincipal',
            resourceId: VAULT,
            details: { vault: 'kv-prod', secretName: `s${n}` },
            ...over,
          },
          arrivedAt: T0 + n,
          origin: { source: 'warden-resource/0', sequenceNumber: n, index: 0 },
        });
      // Each of these a candidate of nhi-new-ip-then-key-access's second step, waiting for a sign-in from a new IP.
      const batch = [
        event(0, { principalId: long('a'), correlationId: long('c') }),
        ...Array.from({ length: 25 }, (_, i) => event(1 + i, { details: { vault: 'kv-prod', secretName: `s${i}`, userAgent: 'u'.repeat(25 * 1024) } })),
      ];
      await expect(fresh.detect(batch, batchContext('4', batch.length, 0))).resolves.toMatchObject({ events: 26, deadLettered: 0 });
      const health = await fresh.health();
      expect(health.detector).toMatchObject({ evicted: 0, events: 26 });
      expect(health.failingPartitions).toEqual([]);
      // What the Table holds for the partition is the cut texts: the largest entry a few KB of the 25 × 25 KB.
      const stored = await (fresh.detector as unknown as { options: { store: { load: (p: string) => Promise<Map<string, string>> } } }).options.store.load('4');
      let largest = 0;
      for (const [k, v] of stored) largest = Math.max(largest, k.length + v.length);
      expect(stored.get(`nhi-new-ip-then-key-access:sequence|${sp}`)).toContain('"u');
      expect(largest).toBeLessThan(64 * 1024);
      expect([...stored.keys()].some((k) => k.includes('a'.repeat(256)) && !k.includes('a'.repeat(257)))).toBe(true);
    } finally {
      await fresh.close();
    }
  }, 60_000);
});
