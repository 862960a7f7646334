import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { Detector, loadRules, parseTunableOverrides, type Rule } from '../../src/engine/index.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { Alert } from '../../src/model/index.js';
import { detectInCaptures } from '../../src/replay/replay.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import { TableStateStore } from '../../src/state/tables.js';
import type { StateStore } from '../../src/state/types.js';
import { generateWorkload } from '../../synth/scenario.js';

/**
 * The AlertIds the rule pack raises on the demo and on bench workloads, pinned: a change to the
 * rule API or the rules that alters any alert (its rule, key or window) fails here. Recorded once
 * with the rules as they were; `WARDEN_PIN_ALERT_IDS=1` rewrites the file (only when a change of
 * alerts is intended).
 */
const PIN_FILE = join(import.meta.dirname, 'alert-ids.json');
const repo = join(import.meta.dirname, '..', '..');
const RECORDS = 20_000;
const PRINCIPALS = 2_000;
const PARTITIONS = 4;
/** A detector is started again from the store this often (in batches), as after a restart. */
const RESTART_EVERY = 3;

interface Pin {
  count: number;
  byRule: Record<string, number>;
  sha256: string;
}

function pinOf(alerts: readonly Alert[]): Pin {
  const ids = alerts.map((a) => a.AlertId).sort();
  const byRule: Record<string, number> = {};
  for (const a of alerts) byRule[a.RuleId] = (byRule[a.RuleId] ?? 0) + 1;
  return { count: ids.length, byRule: Object.fromEntries(Object.entries(byRule).sort()), sha256: createHash('sha256').update(ids.join('\n')).digest('hex') };
}

let rules: Rule[];
/** The demo's tunables (learning periods that fit an hour): the bench workload is an hour long too, so first-seen and sequence rules alert on it. */
const tunables = parseTunableOverrides(readFileSync(join(repo, 'demo/tunables.json'), 'utf8'), 'demo/tunables.json');

async function demoAlerts(): Promise<Alert[]> {
  const detector = new Detector(rules, { store: new InMemoryStateStore(), tunables });
  const alerts: Alert[] = [];
  for await (const body of detectInCaptures([join(repo, 'demo/tenant-hour.ndjson.gz')], detector, { partitions: PARTITIONS })) alerts.push(...body.alerts);
  return alerts;
}

/**
 * The bench workload of `seed`, `bodiesPerBatch` bodies (of 100 records) per batch, state written
 * after each batch, and the detector started again from `store` every few batches. The alerts do
 * not depend on the batching (a Table write costs tens of milliseconds on Azurite: fewer, larger batches there).
 */
async function workloadAlerts(seed: number, store: StateStore, bodiesPerBatch: number): Promise<Alert[]> {
  const { bodies } = generateWorkload({ seed, records: RECORDS, principals: PRINCIPALS });
  const router = new PartitionRouter(PARTITIONS);
  const alerts: Alert[] = [];
  let detector = new Detector(rules, { store, tunables });
  for (let i = 0, batch = 0; i < bodies.length; i += bodiesPerBatch, batch++) {
    if (batch % RESTART_EVERY === RESTART_EVERY - 1) detector = new Detector(rules, { store, tunables });
    const events = bodies.slice(i, i + bodiesPerBatch).flatMap((body, k) => ingestBody(body, { partitionId: '0', sequenceNumber: i + k }).events);
    alerts.push(...(await detector.process(events.flatMap(({ event }) => router.route(event, 0)))));
    await detector.flush();
  }
  return alerts;
}

const pinned = JSON.parse(readFileSync(PIN_FILE, 'utf8')) as Record<string, Pin>;
const actual: Record<string, Pin> = {};
afterAll(() => {
  if (process.env.WARDEN_PIN_ALERT_IDS === '1') writeFileSync(PIN_FILE, `${JSON.stringify(actual, null, 2)}\n`);
});

describe('AlertIds of the rule pack (pinned in test/engine/alert-ids.json)', () => {
  beforeAll(async () => {
    rules = (await loadRules()).map((l) => l.rule);
  });

  const check = (name: string, pin: Pin) => {
    actual[name] = pin;
    if (process.env.WARDEN_PIN_ALERT_IDS !== '1') expect(pin, name).toEqual(pinned[name]);
  };

  it('the demo', async () => {
    check('demo', pinOf(await demoAlerts()));
  });

  for (const seed of [1, 2]) {
    it(`bench workload seed ${seed}, state in memory`, async () => {
      check(`workload-${seed}`, pinOf(await workloadAlerts(seed, new InMemoryStateStore(), 1)));
    }, 600_000);
  }

  describe('state in Tables (Azurite)', () => {
    let azurite: AzuriteInstance;
    beforeAll(async () => {
      azurite = await startAzurite();
    }, 120_000);
    afterAll(async () => {
      await azurite?.stop();
    });

    for (const seed of [1, 2]) {
      it(`bench workload seed ${seed}, batches of 1000 records`, async () => {
        const store = new TableStateStore({ connectionString: azurite.connectionString, table: `pin${seed}` });
        check(`workload-${seed}-tables`, pinOf(await workloadAlerts(seed, store, 10)));
        // 20 000 records through every rule with a Table write per batch: minutes on a loaded 2-core machine.
      }, 900_000);
    }
  });
});
