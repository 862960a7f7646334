import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactDeep } from '../../src/common/redact.js';
import { Detector, loadRules, parseTunableOverrides, trimEvent, type Rule, type TunableOverrides } from '../../src/engine/index.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { Alert, NormalizedEvent, StreamEvent } from '../../src/model/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import { generateWorkload } from '../../synth/scenario.js';

/**
 * Sequence alerts carry their steps' events as evidence, kept in the key's state as candidates
 * (rows of interned values since issue #20) and written to the store between batches. The alerts
 * of every sequence rule of the pack, whole (evidence, title, entities), are pinned as the build
 * before rows raised them, on the demo and on bench workloads; `WARDEN_PIN_SEQUENCE_EVIDENCE=1`
 * rewrites the file (only when a change of sequence alerts is intended).
 */
const PIN_FILE = join(import.meta.dirname, 'sequence-evidence.json');
const repo = join(import.meta.dirname, '..', '..');
const RECORDS = 20_000;
const PRINCIPALS = 2_000;
const PARTITIONS = 4;
const NOW = Date.parse('2025-06-02T12:00:00Z');

let rules: Rule[];
/** The demo's tunables (learning periods that fit an hour) of the rules loaded. */
let tunables: TunableOverrides;

/** Batches of events as the keyed hub delivers them, each event routed by principal. */
function batchesOf(bodies: readonly string[]): StreamEvent[][] {
  const router = new PartitionRouter(PARTITIONS);
  return bodies.map((body, i) => ingestBody(body, { partitionId: '0', sequenceNumber: i }).events.flatMap(({ event }) => router.route(event, NOW - 1000)));
}

/** The alerts of the batches, state written after each; with `restartEvery`, a new detector restored from the store that often. */
async function alertsOf(batches: readonly StreamEvent[][], restartEvery?: number): Promise<Alert[]> {
  const store = new InMemoryStateStore();
  const detector = () => new Detector(rules, { store, tunables, now: () => NOW });
  let d = detector();
  const alerts: Alert[] = [];
  for (let i = 0; i < batches.length; i++) {
    if (restartEvery && i % restartEvery === restartEvery - 1) d = detector();
    alerts.push(...(await d.process(batches[i])));
    await d.flush();
  }
  return alerts;
}

function demoBodies(): string[] {
  return gunzipSync(readFileSync(join(repo, 'demo/tenant-hour.ndjson.gz')))
    .toString('utf8')
    .trim()
    .split('\n');
}

const inputs: Record<string, () => string[]> = {
  demo: demoBodies,
  'workload-1': () => generateWorkload({ seed: 1, records: RECORDS, principals: PRINCIPALS }).bodies,
  'workload-2': () => generateWorkload({ seed: 2, records: RECORDS, principals: PRINCIPALS }).bodies,
};

const pinned = JSON.parse(readFileSync(PIN_FILE, 'utf8')) as Record<string, { count: number; sha256: string }>;
const actual: Record<string, { count: number; sha256: string }> = {};
afterAll(() => {
  if (process.env.WARDEN_PIN_SEQUENCE_EVIDENCE === '1') writeFileSync(PIN_FILE, `${JSON.stringify(actual, null, 2)}\n`);
});

describe('sequence alerts, evidence included, byte for byte', () => {
  beforeAll(async () => {
    rules = (await loadRules()).map((l) => l.rule).filter((r) => r.kind === 'sequence');
    const demo = parseTunableOverrides(readFileSync(join(repo, 'demo/tunables.json'), 'utf8'), 'demo/tunables.json');
    tunables = Object.fromEntries(Object.entries(demo).filter(([id]) => rules.some((r) => r.id === id)));
  });

  for (const [name, bodies] of Object.entries(inputs)) {
    it(`${name}: as the build before rows raised them; the same with state restored from the store every 3 batches; each step's evidence the trimmed event`, async () => {
      const batches = batchesOf(bodies());
      const alerts = await alertsOf(batches);
      const json = alerts.map((a) => JSON.stringify(a));
      actual[name] = { count: alerts.length, sha256: createHash('sha256').update(json.join('\n')).digest('hex') };
      if (process.env.WARDEN_PIN_SEQUENCE_EVIDENCE !== '1') expect(actual[name]).toEqual(pinned[name]);
      expect(alerts.length).toBeGreaterThan(0);

      // Candidates written as rows and read back between batches raise the very same alerts.
      expect((await alertsOf(batches, 3)).map((a) => JSON.stringify(a))).toEqual(json);

      // Each step's event in the evidence is the event as ingested, trimmed (and, as every text of an alert, redacted): same fields, same order, same values.
      const byId = new Map<string, NormalizedEvent>();
      for (const batch of batches) for (const se of batch) byId.set(se.event.id, se.event);
      for (const alert of alerts) {
        const events = alert.Evidence.events as { id: string }[];
        expect(events.length).toBeGreaterThan(1);
        for (const shown of events) {
          const e = trimEvent(byId.get(shown.id)!);
          expect(JSON.stringify(shown)).toBe(JSON.stringify(redactDeep({ ...e, time: new Date(e.time).toISOString() })));
        }
      }
    }, 300_000);
  }
});
