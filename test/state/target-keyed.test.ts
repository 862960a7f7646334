/**
 * The target-keyed path of issue #18 with the shipped rule: a secret added to a service principal,
 * or to its application object (keyed on the app id, which the service principal's sign-ins reach
 * too), by a user (whose events live on another keyed partition) in one batch, used hours later
 * from a new IP in another batch, raises sp-credential-added-then-used once — with state in memory,
 * in Azure Tables (Azurite), and across a restore from either store with the batches redelivered.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector, loadRules, type Rule } from '../../src/engine/index.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { Alert, StreamEvent } from '../../src/model/index.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { TableStateStore } from '../../src/state/tables.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import type { StateStore } from '../../src/state/types.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import { drive } from '../engine/helpers.js';

const RULE = 'sp-credential-added-then-used';
const fixture = (name: string) => fileURLToPath(new URL(`../../detections/${RULE}.fixtures/${name}`, import.meta.url));
const SP = '5d6e7f80-91a2-4b3c-8d4e-5f6071829304';
const APP_ID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const NOW = Date.parse('2025-03-05T00:00:00Z');

let azurite: AzuriteInstance;
let rules: Rule[];
let tables = 0;

const detector = (store?: StateStore) => new Detector(rules, { store, tunables: { [RULE]: { learning: '2h' } }, now: () => NOW });
const tableStore = (table: string) => new TableStateStore({ connectionString: azurite.connectionString, table });
const ours = (alerts: Alert[]) => alerts.filter((a) => a.RuleId === RULE);

/** Each file one batch, as one Event Hubs delivery. */
function batchesOf(files: readonly string[]): StreamEvent[][] {
  const router = new PartitionRouter(4);
  return files.map((name) => {
    const result = ingestBody(readFileSync(fixture(name), 'utf8'), { file: name });
    expect(result.deadLetters).toEqual([]);
    return router.routeAll(
      result.events.map(({ event }) => event),
      NOW,
    );
  });
}

beforeAll(async () => {
  azurite = await startAzurite();
  rules = (await loadRules()).map((l) => l.rule);
});
afterAll(async () => {
  await azurite?.stop();
});

// The identity's usual sign-ins, the credential added (at 12:05), the credential used from a new address (at 16:40).
describe.each([
  {
    to: 'a service principal',
    files: ['billing-sync-signs-in-as-usual.json', 'secret-added-by-a-user.json', 'secret-used-from-new-ip.json'],
    // Nine sign-ins, the entry and the use; the entry's target copy, and each sign-in's app copy (its app id's partition is another).
    stats: { events: 11, targetCopies: 11 },
  },
  {
    to: 'an application object',
    files: ['billing-sync-signs-in-as-usual.json', 'app-secret-added-by-a-user.json', 'app-secret-used-from-new-ip.json'],
    stats: { events: 11, targetCopies: 11 },
  },
])('a credential added to $to in one batch and used hours later in another partition raises sp-credential-added-then-used once', ({ files, stats }) => {
  let batches: StreamEvent[][];
  let uninterrupted: Alert[];

  beforeAll(() => {
    batches = batchesOf(files);
    // The change reaches two partitions: the user's (the actor copy) and the target's, where the sign-ins reach too.
    const [added, used] = [batches[1], batches[2]];
    expect(added.map((se) => se.routedFor)).toEqual([undefined, 'target']);
    expect(added[0].partitionId).not.toBe(used[0].partitionId);
    expect(used.some((se) => se.partitionId === added[1].partitionId)).toBe(true);
  });

  it('with state in memory', async () => {
    const d = detector();
    uninterrupted = await drive(d, batches);
    expect(ours(uninterrupted).map((a) => [a.PrincipalId, a.IpAddresses, a.Evidence.appId])).toEqual([[SP, ['203.0.113.9', '192.0.2.45'], APP_ID]]);
    expect(d.stats()).toMatchObject(stats);
  });

  it.each([
    ['in memory', () => new InMemoryStateStore()],
    ['in Azure Tables (Azurite)', () => tableStore(`targetkeyed${++tables}`)],
  ])('with state %s, across a restore with the batch in hand redelivered', async (_, store) => {
    const shared = store();
    const first = detector(shared);
    expect(ours(await drive(first, batches.slice(0, 2)))).toEqual([]);
    // A new instance reads the partitions back from the store: the change is known where the sign-ins meet it.
    const restored = detector(shared);
    expect(await drive(restored, [batches[1]])).toEqual([]);
    const after = await drive(restored, [batches[2]]);
    expect(ours(after).map((a) => a.AlertId)).toEqual(ours(uninterrupted).map((a) => a.AlertId));
    // Everything again (a replay of the whole stream): nothing is counted twice, nothing raised again.
    expect(await drive(restored, batches)).toEqual([]);
    expect(restored.stats().duplicatesSkipped).toBe(batches[1].length + batches.flat().length);
    // A third instance from the store: the sign-in redelivered once more is known as applied.
    const third = detector(shared);
    expect(await drive(third, [batches[2]])).toEqual([]);
    expect(third.stats().duplicatesSkipped).toBe(batches[2].length);
  });
});
