import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { Detector, type Rule } from '../../src/engine/index.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import type { Alert, NormalizedEvent } from '../../src/model/index.js';
import { TableStateStore } from '../../src/state/tables.js';
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
    expect(detector.stats().seededSkipped).toBe(summary.seeded);
    const ids = streamed.map((a) => a.AlertId);
    expect(new Set(ids).size).toBe(ids.length);
    const uninterrupted = new Set(replayed.alerts.map((a) => a.AlertId));
    for (const id of ids) expect(uninterrupted.has(id)).toBe(true);
    // What the seed reported and what the stream raised add up to the uninterrupted run.
    expect(summary.alerts + streamed.length).toBe(replayed.alerts.length);
    expect(streamed.length).toBeGreaterThan(0);

    // The live stream wrote to the state: seeding it again is refused with what to do.
    const again = await seed(...args);
    expect(again.code).not.toBe(0);
    expect(again.err.join('\n')).toMatch(/already holds state written by the live stream/);
  });
});
