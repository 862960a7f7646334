/**
 * Issue #15's seeded scenario end to end: a service principal active for ten days (sign-ins, Key
 * Vault, AI calls) that on the tenth day reads blobs in one subscription and then, for the first
 * time ever, writes into another; a second one, first seen an hour before, does the same. The first
 * nine days are seeded by `warden seed --workspace` (a separate process, the real LogsQueryClient,
 * DefaultAzureCredential) from the test Log Analytics server into Table state on Azurite; only the
 * tenth day is streamed, through the app's detect function. The alerts are the uninterrupted run's,
 * each once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { Detector, loadRules } from '../../src/engine/index.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import type { Warden } from '../../src/host/warden.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { Alert, NormalizedEvent } from '../../src/model/index.js';
import { Rng } from '../../synth/random.js';
import { aiRequestRecord, keyVaultRecord, signinRecord, storageRecord, type StreamRecord, type SynthContext } from '../../synth/records.js';
import { buildTenant, WELL_KNOWN_APPS, type Principal } from '../../synth/tenant.js';
import { execWarden } from '../support/cli.js';
import { toLogAnalyticsTables } from '../support/log-analytics-rows.js';
import { startLogAnalyticsServer, type LogAnalyticsTestServer } from '../support/log-analytics-server.js';
import { appOnAzurite, detectRouted } from '../hostile/app.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2025-05-01T00:00:00Z');
const CUT = T0 + 9 * DAY;

const tenant = buildTenant(15, { users: 0, servicePrincipals: 2, managedIdentities: 0 });
const ctx: SynthContext = { tenant, rng: new Rng(15) };
const [known, newcomer] = tenant.principals;
const [ai] = tenant.aiAccounts;
const [vault] = tenant.keyVaults;
// Two accounts in different subscriptions: the prod data and the dev scratch account.
const source = tenant.storageAccounts.find((a) => a.name === 'stcontosoproddata')!;
const target = tenant.storageAccounts.find((a) => a.name === 'stcontosodevscratch')!;

/** A workload's ordinary hour: a sign-in, a secret read, a model call. */
function ordinaryHour(p: Principal, at: number): StreamRecord[] {
  const ip = p.ips[0];
  return [
    signinRecord(ctx, { time: at, principal: p, ip, resource: { id: WELL_KNOWN_APPS.keyVault.id, name: WELL_KNOWN_APPS.keyVault.name } }),
    keyVaultRecord(ctx, { time: at + 60_000, vault, principal: p, ip, operation: 'SecretGet', name: vault.secrets[0] }),
    aiRequestRecord(ctx, { time: at + 120_000, account: ai, deployment: ai.deployments[0], principal: p, ip }),
  ];
}

/** Reads a blob of the prod account, then writes one into the dev subscription's account. */
function readThenWrite(p: Principal, at: number): StreamRecord[] {
  const ip = p.ips[0];
  return [
    storageRecord(ctx, { time: at, account: source, operation: 'GetBlob', auth: p, ip, container: 'customer-exports', blob: 'q2.csv', bytes: 40_000 }),
    storageRecord(ctx, { time: at + 10 * 60_000, account: target, operation: 'PutBlob', auth: p, ip, container: 'scratch', blob: 'q2.csv', bytes: 40_000 }),
  ];
}

/** Ten days of the known workload, every hour; on the tenth, the newcomer appears and both read then write. */
function tenDays(): StreamRecord[] {
  const records: StreamRecord[] = [];
  for (let h = 0; h < 10 * 24; h++) records.push(...ordinaryHour(known, T0 + h * HOUR));
  records.push(...ordinaryHour(newcomer, CUT + 19 * HOUR), ...readThenWrite(known, CUT + 20 * HOUR), ...readThenWrite(newcomer, CUT + 20 * HOUR));
  return records;
}

/** The records as the normalizers make them (what ingest publishes to the keyed hub), in event-time order. */
function normalize(records: StreamRecord[]): NormalizedEvent[] {
  const result = ingestBody({ records }, { hub: 'test', partitionId: '0' });
  expect(result.deadLetters).toEqual([]);
  return result.events.map((e) => e.event).sort((a, b) => a.time - b.time);
}

let azurite: AzuriteInstance;
let server: LogAnalyticsTestServer;
let dir: string;
let records: StreamRecord[];

beforeAll(async () => {
  records = tenDays();
  dir = mkdtempSync(join(tmpdir(), 'warden-seed-workspace-'));
  [azurite, server] = await Promise.all([startAzurite(), startLogAnalyticsServer({ tables: [...toLogAnalyticsTables(records).values()] })]);
});
afterAll(async () => {
  await server?.close();
  await azurite?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('nine days seeded by warden seed --workspace, the tenth streamed through the app', () => {
  it('raises the uninterrupted run’s alerts, each once: the known identity’s first write into another subscription, nothing for the newcomer', async () => {
    const events = normalize(records);
    const rules = (await loadRules()).map((l) => l.rule);

    // Uninterrupted: every event through one detector, an hour's events per batch.
    const uninterruptedDetector = new Detector(rules);
    const router = new PartitionRouter(4);
    const uninterrupted: Alert[] = [];
    for (let from = T0; from < T0 + 11 * DAY; from += HOUR) {
      const batch = events.filter((e) => e.time >= from && e.time < from + HOUR).flatMap((e) => router.route(e, e.time));
      uninterrupted.push(...(await uninterruptedDetector.process(batch)));
      await uninterruptedDetector.flush();
    }
    const rwAlerts = uninterrupted.filter((a) => a.RuleId === 'cross-subscription-read-write-sequence');
    expect(rwAlerts.map((a) => a.PrincipalId)).toEqual([known.objectId]);
    expect(uninterrupted.some((a) => a.PrincipalId === newcomer.objectId)).toBe(false);
    expect(uninterruptedDetector.stats().learning['cross-subscription-read-write-sequence'].heldWhileLearning).toBe(1);

    // The first nine days from the workspace, read as a backtest reads them, into the app's state table.
    const prefix = 'seedws';
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, server.ca);
    const env: NodeJS.ProcessEnv = { ...process.env, ...server.childEnv, NODE_EXTRA_CA_CERTS: caFile };
    for (const k of Object.keys(env)) if (k.startsWith('AZURE_') || k.startsWith('MSI_')) delete env[k];
    const seeded = await execWarden(
      [
        'seed',
        '--workspace',
        server.workspaceId,
        '--from',
        new Date(T0).toISOString(),
        '--to',
        new Date(CUT).toISOString(),
        '--endpoint',
        server.url,
        '--connection-string',
        azurite.connectionString,
        '--prefix',
        prefix,
        '--json',
      ],
      env,
    );
    expect(seeded.stderr).not.toMatch(/Error|warden seed:/);
    const summary = JSON.parse(seeded.stdout.trim().split('\n').at(-1)!) as { seeded: number; alerts: number; until: string };
    expect(summary).toMatchObject({ seeded: events.filter((e) => e.time < CUT).length, alerts: 0, until: new Date(CUT).toISOString() });
    expect(server.requests.some((r) => r.table === 'StorageBlobLogs' && r.status === 200)).toBe(true);

    // The app goes live: its stream starts an hour before the cut (seeded, not counted again) and carries day ten.
    const app: Warden = await appOnAzurite(azurite, { WARDEN_STORAGE_PREFIX: prefix });
    try {
      const live = new PartitionRouter(4);
      const streamed: Alert[] = [];
      for (let from = CUT - HOUR; from < T0 + 10 * DAY; from += HOUR) {
        streamed.push(
          ...(await detectRouted(
            app,
            live,
            events.filter((x) => x.time >= from && x.time < from + HOUR),
          )),
        );
      }
      expect(streamed.map((a) => a.AlertId).sort()).toEqual(uninterrupted.map((a) => a.AlertId).sort());
      const health = await app.health();
      expect(health.detector.events).toBe(events.filter((e) => e.time >= CUT).length);
      // The newcomer's write was the one alert its learning held back.
      expect(health.detector.learning['cross-subscription-read-write-sequence']).toMatchObject({ heldWhileLearning: 1 });
    } finally {
      await app.close();
    }
  });
});
