import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { Detector, type Rule } from '../../src/engine/index.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import type { Warden } from '../../src/host/warden.js';
import type { Alert, NormalizedEvent } from '../../src/model/index.js';
import { TableStateStore } from '../../src/state/tables.js';
import { appOnAzurite, batchContext, detectRouted } from '../hostile/app.js';
import { DEMO_RANGE, DEMO_TUNABLES_FILE, demoRules, demoTables, demoTunables, replayDemo } from './demo-history.js';

async function seed(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['seed', ...argv], { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false });
  return { code, out, err };
}

let dir: string;
let azurite: AzuriteInstance;
let rules: Rule[];
let replayed: { alerts: Alert[]; events: NormalizedEvent[] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-seed-'));
  azurite = await startAzurite();
  rules = await demoRules();
  replayed = await replayDemo(rules);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await azurite?.stop();
});

describe('warden seed --export into Table state (Azurite), then the live stream', () => {
  it('the first half hour seeded, the whole hour streamed: together the alerts of an uninterrupted run, each once; a second seed is refused', async () => {
    const exportDir = join(dir, 'export');
    mkdirSync(exportDir);
    for (const t of demoTables())
      writeFileSync(join(exportDir, `${t.name}.json`), JSON.stringify({ tables: [{ name: 'PrimaryResult', columns: t.columns, rows: t.rows }] }));
    const cut = new Date(DEMO_RANGE.from + 30 * 60_000).toISOString();
    const args = ['--export', exportDir, '--connection-string', azurite.connectionString, '--until', cut, '--tunables', DEMO_TUNABLES_FILE, '--json'];
    const seeded = await seed(...args);
    expect(seeded.err).toEqual([]);
    expect(seeded.code).toBe(0);
    const summary = JSON.parse(seeded.out.at(-1)!) as { alerts: number; seeded: number; seededSkipped: number };
    expect(summary.seeded).toBeGreaterThan(0);
    expect(summary.seededSkipped).toBeGreaterThan(0);

    // The live stream delivers the whole hour, the seeded half included (the keyed hub numbers its own events).
    const store = new TableStateStore({ connectionString: azurite.connectionString, table: 'wardenstate' });
    const detector = new Detector(rules, { store, tunables: demoTunables() });
    const router = new PartitionRouter(4);
    const events = [...replayed.events].sort((a, b) => a.time - b.time);
    const streamed: Alert[] = [];
    for (let i = 0; i < events.length; i += 500) {
      streamed.push(...(await detector.process(events.slice(i, i + 500).flatMap((e) => router.route(e, e.time)))));
      await detector.flush();
    }
    // The stream skips every keyed copy of what the seed applied: each event, and its second copy when it has a target or app key elsewhere.
    const seededEvents = events.filter((e) => e.time < Date.parse(cut));
    const secondCopies = new PartitionRouter(4).routeAll(seededEvents, 0).length - seededEvents.length;
    expect(secondCopies).toBeGreaterThan(0);
    expect(detector.stats().seededSkipped).toBe(summary.seeded + secondCopies);
    const ids = streamed.map((a) => a.AlertId);
    expect(new Set(ids).size).toBe(ids.length);
    const uninterrupted = new Set(replayed.alerts.map((a) => a.AlertId));
    for (const id of ids) expect(uninterrupted.has(id)).toBe(true);
    // What the seed reported and what the stream raised add up to the uninterrupted run.
    expect(summary.alerts + streamed.length).toBe(replayed.alerts.length);
    expect(streamed.length).toBeGreaterThan(0);

    // The live stream has just written the state: while it does, seeding is refused.
    const again = await seed(...args);
    expect(again.code).toBe(2);
    expect(again.err.join('\n')).toMatch(
      /^warden seed: the app is running: partition \d's state was written by the live stream \d+ s ago\. .*--force seeds anyway$/,
    );
  });
});

describe('warden seed while the app runs (the app on Azurite): refused, accepted once it stopped, forced', () => {
  const prefix = 'seedlive';
  const router = new PartitionRouter(4); // the keyed hub: it numbers each partition's events on, across restarts
  /** Deliver events to the app's detect function as the keyed hub would: per partition, batches of up to 100. */
  const stream = (app: Warden, events: readonly NormalizedEvent[]): Promise<Alert[]> => detectRouted(app, router, events, 100);
  const appEnv = { WARDEN_STORAGE_PREFIX: prefix, WARDEN_TUNABLES_FILE: DEMO_TUNABLES_FILE };

  it('refuses while the app writes or its deliver timer runs; once stopped, rebuilds what it wrote and hands over; --force seeds anyway', async () => {
    const exportDir = join(dir, 'export-live');
    mkdirSync(exportDir);
    for (const t of demoTables())
      writeFileSync(join(exportDir, `${t.name}.json`), JSON.stringify({ tables: [{ name: 'PrimaryResult', columns: t.columns, rows: t.rows }] }));
    const events = [...replayed.events].sort((a, b) => a.time - b.time);
    const at = (minutes: number) => DEMO_RANGE.from + minutes * 60_000;
    const before = (minutes: number) => events.filter((e) => e.time < at(minutes));
    const from = (minutes: number) => events.filter((e) => e.time >= at(minutes));
    const args = (...more: string[]) => [
      '--export',
      exportDir,
      '--connection-string',
      azurite.connectionString,
      '--prefix',
      prefix,
      '--tunables',
      DEMO_TUNABLES_FILE,
      ...more,
    ];

    // The app went live without a seed and ran the first twenty minutes.
    const app = await appOnAzurite(azurite, appEnv);
    const liveAlerts = await stream(app, before(20));
    const running = await seed(...args('--until', new Date(at(40)).toISOString()));
    expect(running.code).toBe(2);
    expect(running.err).toEqual([expect.stringMatching(/^warden seed: the app is running: partition \d's state was written by the live stream \d+ s ago\. /)]);
    // Idle, its deliver timer still runs every minute: that is a running app too.
    await app.deliver(batchContext('', 0));
    await app.close();
    const idle = await seed(...args('--until', new Date(at(40)).toISOString(), '--stale-after', '1h'));
    expect(idle.err.join('\n')).toMatch(
      /the app is running: partition \d's state was written by the live stream \d+ s ago and its deliver timer ran \d+ s ago/,
    );

    // Stopped: once nothing was written for the staleness window, the seed is accepted.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const early = await seed(...args('--until', new Date(at(10)).toISOString(), '--stale-after', '2s'));
    expect(early.err).toEqual([
      expect.stringMatching(
        /^warden seed: --until 2025-06-02T09:10:00\.000Z is not after 2025-06-02T09:1\d:\d\d\.\d+Z, the newest event the app applied on partition \d/,
      ),
    ]);
    const seeded = await seed(...args('--until', new Date(at(40)).toISOString(), '--stale-after', '2s', '--json'));
    expect(seeded.err).toEqual([]);
    expect(seeded.code).toBe(0);
    expect(seeded.out).toContainEqual(
      expect.stringMatching(/^rebuilding partitions [\d, ]+ from history: the app had written them \(last \d+ s ago\); that state is replaced$/),
    );
    const summary = JSON.parse(seeded.out.at(-1)!) as { alerts: number; seeded: number };
    expect(summary.seeded).toBe(before(40).length);

    // Restarted, the app reads on from where it stopped: what history applied before the cut is skipped, the rest raises the remaining alerts.
    const restarted = await appOnAzurite(azurite, appEnv);
    const streamed = await stream(restarted, from(20));
    expect((await restarted.health()).detector.events).toBe(from(40).length);
    const ids = streamed.map((a) => a.AlertId);
    expect(new Set(ids).size).toBe(ids.length);
    const uninterrupted = new Set(replayed.alerts.map((a) => a.AlertId));
    for (const id of [...ids, ...liveAlerts.map((a) => a.AlertId)]) expect(uninterrupted.has(id)).toBe(true);
    expect(summary.alerts + streamed.length).toBe(replayed.alerts.length);

    // The restarted app has just written: --force seeds anyway, saying why it needed forcing.
    const forced = await seed(...args('--until', new Date(at(61)).toISOString(), '--force'));
    expect(forced.code).toBe(0);
    expect(forced.err).toEqual([
      expect.stringMatching(/^warden seed: --force: seeding although partition \d's state was written by the live stream \d+ s ago/),
    ]);
    await restarted.close();
  });
});
