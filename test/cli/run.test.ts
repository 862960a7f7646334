/**
 * `warden run` as a process: settings from the environment, status lines on stderr, and SIGTERM
 * finishing the batches in hand and checkpointing them.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { waitFor } from '../support/wait.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const BENIGN = readFileSync(`${repo}detections/keyvault-mass-secret-read.fixtures/backup-job-and-analyst.json`, 'utf8');

let azurite: AzuriteInstance;
let broker: EventHubsBroker;

beforeAll(async () => {
  azurite = await startAzurite();
  broker = await startEventHubsBroker({
    hubs: { 'run-activity': { partitions: 1 }, 'run-signin': { partitions: 1 }, 'run-resource': { partitions: 2 }, 'run-events': { partitions: 2 } },
  });
});
afterAll(async () => {
  await broker?.stop();
  await azurite?.stop();
});

function spawnRun(env: Record<string, string>, args: string[] = []) {
  // node itself (not npx), so the signal reaches warden run rather than a wrapper.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', ...args], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const err: string[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr.on('data', (d: Buffer) => err.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, err, exited };
}

const SETTINGS = () => ({
  EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
  WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
  WARDEN_STORAGE_PREFIX: 'clirun',
  WARDEN_HUB_ACTIVITY: 'run-activity',
  WARDEN_HUB_SIGNIN: 'run-signin',
  WARDEN_HUB_RESOURCE: 'run-resource',
  WARDEN_HUB_EVENTS: 'run-events',
  WARDEN_CONSUMER_GROUP_INGEST: '$Default',
  WARDEN_CONSUMER_GROUP_DETECT: '$Default',
  SENTINEL_DCR_ENDPOINT: 'https://127.0.0.1:9',
  SENTINEL_DCR_IMMUTABLE_ID: 'dcr-00000000000000000000000000000000',
  // The fixtures are dated 2025: older than the live stream keeps by default.
  WARDEN_MAX_EVENT_AGE: '3650d',
});

describe('warden run', () => {
  it('reads the raw hubs, prints status lines, and on SIGTERM checkpoints what it handled and exits 0', async () => {
    const run = spawnRun(SETTINGS(), ['--status-every', '1s', '--json']);
    try {
      await waitFor('warden run to start', () => run.err.some((l) => l.includes('running; SIGINT or SIGTERM stops')), 120_000, 100);
      const producer = new EventHubProducerClient(broker.connectionString('run-resource'));
      await producer.sendBatch([{ body: Buffer.from(BENIGN) }]);
      await producer.close();
      const records = (JSON.parse(BENIGN) as { records: unknown[] }).records.length;
      await waitFor(
        'a status line counting the records',
        () =>
          run.err.some((l) => /warden run: \d+ records\/s in, \d+ events\/s detected, lag [\d.]+ s, 0 alerts, 0 waiting to be sent, 0 dead-lettered/.test(l)),
        60_000,
        100,
      );
      // The fixture's principals are new to Warden: the first-secret-read rule's keys are still learning, and the line says so.
      await waitFor(
        'a status line with the keys still learning',
        () => run.err.some((l) => /, still learning: 2 keys \(keyvault-first-secret-read 2\)$/.test(l)),
        60_000,
        100,
      );
      // Detect writes its state at checkpoints (every 10 batches or 30 s by default): the line says what a crash would replay.
      expect(run.err.some((l) => /, state not written yet \(\d+ events since\)|, state written [\d.]+ s ago/.test(l))).toBe(true);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      const summary = JSON.parse(run.out.at(-1)!) as {
        signal: string;
        records: number;
        published: number;
        events: number;
        state: { writtenAt: string; lastWrittenAt?: string; partitions: Record<string, { handled: number; written: number }> };
      };
      // Stopping wrote what detect handled before it checkpointed.
      expect(summary.state).toMatchObject({ writtenAt: 'checkpoint', lastWrittenAt: expect.any(String) });
      for (const p of Object.values(summary.state.partitions)) expect(p.written).toBe(p.handled);
      expect(Object.values(summary.state.partitions).reduce((n, p) => n + p.handled + 1, 0)).toBe(records);
      expect(summary).toMatchObject({
        signal: 'SIGTERM',
        records,
        published: records,
        events: records,
        learning: { 'keyvault-first-secret-read': { keysLearning: 2 }, 'ai-new-caller': { keysLearning: 0, heldWhileLearning: 0 } },
      });
      // What it handled is checkpointed: a restart would not read it again.
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('clirun-checkpoints');
      const checkpoints = await new BlobCheckpointStore(container).listCheckpoints(broker.fullyQualifiedNamespace, 'run-resource', '$Default');
      const lastSequence = Math.max(...checkpoints.map((c) => c.sequenceNumber));
      expect(lastSequence).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('stops before reading anything when a setting is missing: one line naming it, exit 2', async () => {
    const run = spawnRun({ ...SETTINGS(), SENTINEL_DCR_ENDPOINT: '' });
    expect(await run.exited).toBe(2);
    expect(run.err).toEqual([
      'warden run: SENTINEL_DCR_ENDPOINT: is not set; set it like SENTINEL_DCR_ENDPOINT=https://warden-dcr-abcd.westeurope-1.ingest.monitor.azure.com',
    ]);
  });
});
