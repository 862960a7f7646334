import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector, loadRules, parseTunableOverrides, type Rule, type TunableOverrides } from '../../src/engine/index.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { StreamEvent } from '../../src/model/index.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { TableStateStore } from '../../src/state/tables.js';
import type { StateStore } from '../../src/state/types.js';
import { drive } from '../engine/helpers.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';

const CAPTURE = fileURLToPath(new URL('../../demo/tenant-hour.ndjson.gz', import.meta.url));
const TUNABLES = fileURLToPath(new URL('../../demo/tunables.json', import.meta.url));
const NOW = Date.parse('2025-06-02T10:05:00Z');

let azurite: AzuriteInstance;
let rules: Rule[];
let tunables: TunableOverrides;
let list: StreamEvent[][];
let tables = 0;

/**
 * The demo hour as the keyed hub delivers it: each line of the capture is one Event Hubs body and
 * one batch, its events routed by principal over 4 partitions and numbered there once, so a
 * redelivered batch carries the sequence numbers it had the first time.
 */
function deliveries(): StreamEvent[][] {
  const router = new PartitionRouter(4);
  const lines = gunzipSync(readFileSync(CAPTURE)).toString('utf8').trim().split('\n');
  return lines.map((line, i) => {
    const result = ingestBody(line, { file: CAPTURE, line: i + 1 });
    expect(result.deadLetters).toEqual([]);
    return result.events.flatMap(({ event }) => router.route(event, NOW - 1000));
  });
}

/** A Table store on Azurite; a new one per call is a new instance's client (nothing shared in memory). */
const tableStore = (table: string) => new TableStateStore({ connectionString: azurite.connectionString, table });

const detector = (store?: StateStore) => new Detector(rules, { store, tunables, now: () => NOW });

beforeAll(async () => {
  azurite = await startAzurite();
  rules = (await loadRules()).map((l) => l.rule);
  tunables = parseTunableOverrides(readFileSync(TUNABLES, 'utf8'), 'demo/tunables.json');
  list = deliveries();
});
afterAll(async () => {
  await azurite?.stop();
});

describe('restoring detection state from Azure Tables (Azurite)', () => {
  it('stopped mid-capture and restored from the Table, continues with exactly the alerts of an uninterrupted run; redelivered batches add none', async () => {
    const uninterrupted = await drive(detector(tableStore(`restore${++tables}`)), list);
    // Table state changes nothing about what the rules raise.
    expect(await drive(detector(), list)).toEqual(uninterrupted);

    // Stop three quarters in: in the middle of the attack, with stateful rules (the rate anomaly's
    // baseline, first-seen values, sequence steps) still to alert after the restart.
    const table = `restore${++tables}`;
    const cut = Math.floor((list.length * 3) / 4);
    const before = await drive(detector(tableStore(table)), list.slice(0, cut));
    const restored = detector(tableStore(table));
    const redelivered = await drive(restored, [list[cut - 1]]);
    const after = await drive(restored, list.slice(cut));
    const again = await drive(restored, [list[list.length - 1]]);

    expect(before.length).toBeGreaterThan(0);
    expect(after.map((a) => a.RuleId)).toEqual(expect.arrayContaining(['ai-new-caller', 'cross-subscription-read-write-sequence']));
    expect(redelivered).toEqual([]);
    expect(again).toEqual([]);
    expect(restored.stats().duplicatesSkipped).toBe(list[cut - 1].length + list[list.length - 1].length);
    expect([...before, ...after].map((a) => a.AlertId)).toEqual(uninterrupted.map((a) => a.AlertId));
    expect([...before, ...after]).toEqual(uninterrupted);
  });
});
