import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import readWrite from '../../detections/cross-subscription-read-write-sequence.js';
import { Detector } from '../../src/engine/index.js';
import { defineRule } from '../../src/engine/api.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import type { Alert, NormalizedEvent, StreamEvent } from '../../src/model/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import { TableStateStore } from '../../src/state/tables.js';
import type { StateStore } from '../../src/state/types.js';
import { DAY, HOUR, MIN, SP, SP2, SUB_A, SUB_B, T0, ev } from '../engine/helpers.js';

const blob = (sub: string) => `/subscriptions/${sub}/resourcegroups/rg/providers/microsoft.storage/storageaccounts/st${sub.slice(0, 4)}`;
const vault = `/subscriptions/${SUB_A}/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1`;
const openai = `/subscriptions/${SUB_A}/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/oai1`;

/** An identity's ordinary hour: a sign-in, a secret read, a model call. */
function ordinaryHour(principalId: string, at: number): NormalizedEvent[] {
  return [
    ev(at, { principalId, source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN', ip: '20.1.2.3', resourceId: undefined }),
    ev(at + MIN, { principalId, source: 'keyvault', category: 'AuditEvent', operation: 'SECRETGET', resourceId: vault }),
    ev(at + 2 * MIN, { principalId, source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE', resourceId: openai }),
  ];
}

/** Reads a blob in subscription A, then (for the first time ever) writes one into subscription B. */
function readThenWrite(principalId: string, at: number): NormalizedEvent[] {
  return [
    ev(at, { principalId, source: 'storage', category: 'StorageRead', operation: 'GETBLOB', resourceId: blob(SUB_A), subscriptionId: SUB_A }),
    ev(at + 10 * MIN, { principalId, source: 'storage', category: 'StorageWrite', operation: 'PUTBLOB', resourceId: blob(SUB_B), subscriptionId: SUB_B }),
  ];
}

/**
 * Ten days as the keyed hub delivers them, one batch per hour: SP is active from day 0 (sign-ins,
 * Key Vault, AI calls, never a storage write); on day 10 it reads blobs in A and writes into B.
 * SP2 is first seen an hour before doing the same.
 */
function tenDays(): { history: StreamEvent[][]; dayTen: StreamEvent[][] } {
  const router = new PartitionRouter(4);
  const hours: NormalizedEvent[][] = [];
  for (let h = 0; h < 10 * 24; h++) hours.push(ordinaryHour(SP, h * HOUR));
  const day10 = 10 * DAY;
  const dayTen = [
    [...ordinaryHour(SP, day10), ...ordinaryHour(SP2, day10)],
    [...readThenWrite(SP, day10 + HOUR), ...readThenWrite(SP2, day10 + HOUR)],
  ];
  const route = (batch: NormalizedEvent[]) => batch.flatMap((e) => router.route(e, e.time + MIN));
  return { history: hours.map(route), dayTen: dayTen.map(route) };
}

async function drive(detector: Detector, batches: StreamEvent[][]): Promise<Alert[]> {
  const alerts: Alert[] = [];
  for (const batch of batches) {
    alerts.push(...(await detector.process(batch)));
    await detector.flush();
  }
  return alerts;
}

const now = () => T0 + 11 * DAY;
let azurite: AzuriteInstance;
let tables = 0;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** Per kind of state, a new empty store, and a way to open it again as a restarted instance would. */
const stores: [string, () => { store: StateStore; reopen: () => StateStore }][] = [
  [
    'memory',
    () => {
      const store = new InMemoryStateStore();
      return { store, reopen: () => store };
    },
  ],
  [
    'Azure Tables (Azurite)',
    () => {
      const table = `age${++tables}`;
      const open = () => new TableStateStore({ connectionString: azurite.connectionString, table });
      // A new client on the same table: the restarted instance shares nothing in memory with the first.
      return { store: open(), reopen: open };
    },
  ],
];

describe('learning follows the principal, not the rule key', () => {
  for (const [name, makeStore] of stores) {
    it(`a long-known identity's first write into another subscription alerts; a new identity's does not (${name} state, uninterrupted and across a restore)`, async () => {
      const { history, dayTen } = tenDays();
      const uninterrupted = await drive(new Detector([readWrite], { store: makeStore().store, now }), [...history, ...dayTen]);
      expect(uninterrupted.map((a) => [a.RuleId, a.PrincipalId])).toEqual([['cross-subscription-read-write-sequence', SP]]);
      expect(uninterrupted[0].Title).toContain(`then wrote to subscription ${SUB_B}`);

      // Stopped after nine and a half days and restored from the store by a new instance.
      const { store, reopen } = makeStore();
      const cut = 9 * 24 + 12;
      await drive(new Detector([readWrite], { store, now }), history.slice(0, cut));
      const restored = await drive(new Detector([readWrite], { store: reopen(), now }), [...history.slice(cut), ...dayTen]);
      expect(restored.map((a) => a.AlertId)).toEqual(uninterrupted.map((a) => a.AlertId));
    });
  }

  it("with learningFrom: 'key' the rule learns per key again: the long-known identity's first write raises nothing", async () => {
    const { history, dayTen } = tenDays();
    const def = readWrite.definition as unknown as { steps: { read: object; write: { firstSeen: object } } };
    const steps = { ...def.steps, write: { ...def.steps.write, firstSeen: { ...def.steps.write.firstSeen, learningFrom: 'key' } } };
    const perKey = defineRule({ ...readWrite.definition, id: 'per-key-read-write', steps } as unknown as Parameters<typeof defineRule>[0]);
    expect(await drive(new Detector([perKey], { now }), [...history, ...dayTen])).toEqual([]);
  });
});

describe('seeding detection state from history, then handing over to the live stream', () => {
  const events = (batches: StreamEvent[][]) => batches.map((b) => b.map((se) => se.event));
  const live = (batches: NormalizedEvent[][]) => {
    const router = new PartitionRouter(4); // the keyed hub numbers its own events from 0
    return batches.map((b) => b.flatMap((e) => router.route(e, e.time + MIN)));
  };

  for (const [name, makeStore] of stores) {
    it(`nine days seeded, the stream from day nine on: the alerts of an uninterrupted run, each once (${name} state)`, async () => {
      const { history, dayTen } = tenDays();
      const uninterrupted = await drive(new Detector([readWrite], { now }), [...history, ...dayTen]);
      expect(uninterrupted).toHaveLength(1);

      const { store, reopen } = makeStore();
      const cut = T0 + 9 * DAY;
      const seeder = new Detector([readWrite], { store, now, seedUntil: cut });
      // History as a backtest reads it: everything the workspace holds, up to now; the seed keeps what is before the cut.
      expect(await drive(seeder, [...history, ...dayTen])).toEqual([]);
      expect(seeder.stats().events).toBe(9 * 24 * 3);
      // Seeding again changes nothing: what an earlier seed applied is skipped.
      const again = new Detector([readWrite], { store: reopen(), now, seedUntil: cut });
      expect(await drive(again, history)).toEqual([]);
      expect(again.stats().events).toBe(0);

      // The live stream starts six hours before the cut: those events were seeded and are not counted again.
      const detector = new Detector([readWrite], { store: reopen(), now });
      const streamed = await drive(detector, live(events([...history.slice(9 * 24 - 6), ...dayTen])));
      expect(streamed.map((a) => a.AlertId)).toEqual(uninterrupted.map((a) => a.AlertId));
      expect(detector.stats().seededSkipped).toBe(6 * 3);

      // The store now holds live state: seeding it again is refused.
      await expect(drive(new Detector([readWrite], { store: reopen(), now, seedUntil: cut }), history.slice(0, 1))).rejects.toThrow(
        /already holds state written by the live stream/,
      );
    });
  }
});
