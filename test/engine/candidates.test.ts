import { describe, expect, it } from 'vitest';
import { Interner } from '../../src/engine/intern.js';
import { candidateStrings } from '../../src/engine/kinds/sequence.js';
import type { NormalizedEvent } from '../../src/model/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';
import { MIN, SP, SUB_A, SUB_B, T0, blob, ev, readThenWriteElsewhere, run, stream } from './helpers.js';

const KEY = `test-sequence-cross-sub:sequence|${SP}`;

/**
 * The key's state as the build before candidate rows wrote it (commit 9495823, this rule, two
 * reads a minute apart): each candidate `[time, mask, {trimmed event}]`, the SAS signature
 * already redacted.
 */
const OLD_STATE =
  '{"p":"0","q":1,"c":[[1740787200000,1,{"id":"read-1","time":1740787200000,"source":"storage","category":"StorageRead","operation":"GETBLOB","result":"success","principalId":"11111111-1111-4111-8111-111111111111","principalType":"servicePrincipal","principalName":"sp-backup","details":{"authType":"OAuth","account":"sta","container":"data","blob":"a.csv","statusCode":200,"bytes":1024,"uri":"https://sta.blob.core.windows.net/data/a.csv?sv=2022&sig=REDACTED"},"ip":"203.0.113.7","subscriptionId":"aaaaaaaa-0000-4000-8000-000000000001","resourceId":"/subscriptions/aaaaaaaa-0000-4000-8000-000000000001/resourcegroups/rg/providers/microsoft.storage/storageaccounts/sta","resourceType":"microsoft.storage/storageaccounts","correlationId":"c-read-1"}],[1740787260000,1,{"id":"read-2","time":1740787260000,"source":"storage","category":"StorageRead","operation":"GETBLOB","result":"success","principalId":"11111111-1111-4111-8111-111111111111","principalType":"servicePrincipal","principalName":"sp-backup","details":{"authType":"SAS","account":"sta","container":"data","blob":"b.csv","statusCode":206,"bytes":2048},"ip":"203.0.113.7","subscriptionId":"aaaaaaaa-0000-4000-8000-000000000001","resourceId":"/subscriptions/aaaaaaaa-0000-4000-8000-000000000001/resourcegroups/rg/providers/microsoft.storage/storageaccounts/sta","resourceType":"microsoft.storage/storageaccounts","correlationId":"c-read-2"}]]}';
const OLD_MARK = '{"w":1740787260000,"q":1,"f":1740787200000}';

/** Events numbered after the `applied` the stored partition mark says were applied. */
function after(applied: number, events: NormalizedEvent[]) {
  const router = new PartitionRouter(1);
  router.routeAll(
    Array.from({ length: applied }, () => ev(0)),
    T0,
  );
  return stream(events, router);
}

async function storeHolding(state: string): Promise<InMemoryStateStore> {
  const store = new InMemoryStateStore();
  await store.write(
    '0',
    new Map([
      [KEY, state],
      ['~partition', OLD_MARK],
    ]),
    [],
  );
  return store;
}

describe('sequence candidates kept as rows', () => {
  it('restores state an older build wrote (candidates as whole events): the next write completes with its events as evidence, then stores rows', async () => {
    expect(T0).toBe(1740787200000);
    const store = await storeHolding(OLD_STATE);
    const old = JSON.parse(OLD_STATE) as { c: [number, number, Record<string, unknown>][] };
    const write = blob(2 * MIN, 'PUTBLOB', SUB_B, 'out.csv');
    const { alerts, detector } = await run([readThenWriteElsewhere], [after(2, [write])], { store });
    expect(detector.stats().corruptState).toBe(0);
    expect(alerts).toHaveLength(1);
    // The nearest read, byte for byte as the older build kept it (its time as evidence shows times).
    const [read, written] = alerts[0].Evidence.events as Record<string, unknown>[];
    expect(JSON.stringify(read)).toBe(JSON.stringify({ ...old.c[1][2], time: new Date(T0 + MIN).toISOString() }));
    expect(written.id).toBe(write.id);

    // Written back as rows; the other read is still there and still completes a sequence.
    const stored = JSON.parse((await store.load('0')).get(KEY)!) as { t: number; c: unknown[]; h: unknown[]; v: unknown[] };
    expect(stored.t).toBe(T0);
    expect(stored.c.slice(0, 4)).toEqual([0, 1, 0, 'read-1']);
    expect(stored.v).toContain('/subscriptions/aaaaaaaa-0000-4000-8000-000000000001/resourcegroups/rg/providers/microsoft.storage/storageaccounts/sta');
    const again = await run([readThenWriteElsewhere], [after(3, [blob(3 * MIN, 'PUTBLOB', SUB_B, 'out2.csv')])], { store });
    expect(again.alerts).toHaveLength(1);
    expect(JSON.stringify((again.alerts[0].Evidence.events as unknown[])[0])).toBe(JSON.stringify({ ...old.c[0][2], time: new Date(T0).toISOString() }));
  });

  it('a candidate list it cannot read is counted as corrupt state and dropped, not a crash: the batch goes on and the key is deleted', async () => {
    for (const bad of [
      // A shape it does not list.
      '{"p":"0","q":1,"t":1740787200000,"c":[0,1,5,"x"],"h":[],"v":[]}',
      // A value it does not list.
      '{"p":"0","q":1,"t":1740787200000,"c":[0,1,0,"x",7],"h":[["id","time","source"]],"v":["storage"]}',
      // A row cut short.
      '{"p":"0","q":1,"t":1740787200000,"c":[0,1,0,"x"],"h":[["id","time","source"]],"v":["storage"]}',
      // Rows with no time to count from.
      '{"p":"0","q":1,"c":[0,1,0,"x",0],"h":[["id","time","source"]],"v":["storage"]}',
      // Neither rows nor whole events.
      '{"p":"0","q":1,"c":[[1740787200000,1,"{\\"id\\":\\"x\\"}"]]}',
      '{"p":"0","q":1,"c":{"0":1}}',
    ]) {
      const store = await storeHolding(bad);
      const { alerts, detector } = await run(
        [readThenWriteElsewhere],
        [after(2, [blob(2 * MIN, 'GETBLOB', SUB_A, 'a.csv'), blob(3 * MIN, 'PUTBLOB', SUB_B, 'b.csv')])],
        {
          store,
        },
      );
      expect(detector.stats().corruptState, bad).toBe(1);
      // The batch's own events still make their sequence.
      expect(alerts, bad).toHaveLength(1);
    }
  });

  it('a flood of distinct values (blob names an attacker makes up) keeps the shared table bounded, even when every other one repeats', async () => {
    const max = candidateStrings.maxEntries;
    // Half the reads name one blob, so the place counts as shared and every name is looked up;
    // the other half, two new strings each (the name and its URI): more than the table's two generations hold.
    const events = Array.from({ length: 2 * (max + 1000) }, (_, i) => blob(i, 'GETBLOB', SUB_A, i % 2 ? `x/${i}.bin` : 'same.bin'));
    const { detector } = await run([readThenWriteElsewhere], [stream(events)]);
    expect(detector.stats().capEvictions['test-sequence-cross-sub']).toBe(events.length - 20);
    expect(candidateStrings.size).toBeGreaterThan(max);
    expect(candidateStrings.size).toBeLessThanOrEqual(2 * max);
  }, 300_000);
});

describe('Interner', () => {
  it('hands out the first copy of a value while it is remembered', () => {
    const table = new Interner<{ v: string }>(4);
    const first = { v: 'a' };
    expect(table.get('a', () => first)).toBe(first);
    expect(table.get('a', () => ({ v: 'a' }))).toBe(first);
  });

  it('holds at most two generations: a value not looked up while the table filled twice is released; one in use stays', () => {
    const table = new Interner<{ v: string }>(4);
    const cold = { v: 'cold' };
    const hot = { v: 'hot' };
    table.get('cold', () => cold);
    table.get('hot', () => hot);
    for (let i = 0; i < 100; i++) {
      table.get(`flood-${i}`, (v) => ({ v }));
      // Looked up again now and then, as a resource every candidate names is.
      if (i % 3 === 0) expect(table.get('hot', () => ({ v: 'hot' }))).toBe(hot);
      expect(table.size).toBeLessThanOrEqual(8);
    }
    const fresh = { v: 'cold' };
    expect(table.get('cold', () => fresh)).toBe(fresh);
  });
});
