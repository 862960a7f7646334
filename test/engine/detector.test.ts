import { describe, expect, it } from 'vitest';
import { Detector, defineRule, type Rule } from '../../src/engine/index.js';
import { PARTITION_META_KEY } from '../../src/engine/evaluator.js';
import type { Alert, NormalizedEvent } from '../../src/model/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import type { StateStore } from '../../src/state/types.js';
import { DAY, HOUR, MIN, SP, SP2, SUB_A, T0, batches, drive, ev, run, stream } from './helpers.js';
import { PartitionRouter, fnv1a, routeToPartition } from '../../src/eventhubs/partitioning.js';

const common = { version: '1', description: 'test rule', severity: 'Medium', tactics: ['CredentialAccess'], techniques: ['T1552'] } as const;

const listKeys = defineRule({
  ...common,
  id: 'test-match',
  title: 'keys listed',
  sources: ['activity'],
  operations: ['MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION'],
  kind: 'match',
  suppress: '1h',
});
const twoListings = defineRule({ ...common, id: 'test-two', title: 'two listings', sources: ['activity'], kind: 'threshold', window: '10m', threshold: 2 });

/** A rule of every kind, over a synthetic stream: the restore and pruning tests run them all. */
const allKinds: Rule[] = [
  listKeys,
  defineRule({ ...common, id: 'mix-threshold', title: 't', sources: ['ai'], kind: 'threshold', window: '10m', threshold: 4, suppress: '30m' }),
  defineRule({
    ...common,
    id: 'mix-anomaly',
    title: 'a',
    sources: ['ai'],
    kind: 'anomaly',
    bucket: '1h',
    warmup: 6,
    minCount: 5,
    factor: 3,
    zScore: 2,
    forgetAfter: '2d',
  }),
  defineRule({ ...common, id: 'mix-first-seen', title: 'f', sources: ['signin'], kind: 'firstSeen', value: 'ip', horizon: '1d', learning: '2h' }),
  defineRule({
    ...common,
    id: 'mix-sequence',
    title: 's',
    sources: ['signin', 'keyvault'],
    kind: 'sequence',
    within: '30m',
    steps: {
      signin: { name: 'new ip', sources: ['signin'], firstSeen: { value: 'ip', horizon: '1d', learning: '1h' } },
      secret: { sources: ['keyvault'] },
    },
  }),
];

/** Deterministic pseudo-random stream: `principals` principals over `days`, a mix of sources. */
function synthetic(principals: number, days: number, perDay: number, seed = 7): NormalizedEvent[] {
  let s = seed;
  const rnd = () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
  const out: NormalizedEvent[] = [];
  let t = 0;
  const total = days * perDay;
  for (let i = 0; i < total; i++) {
    // Mostly in order, sometimes a few minutes back, now and then much later than allowed.
    t += Math.floor((DAY / perDay) * rnd() * 2);
    const r = rnd();
    const at = r < 0.05 ? t - Math.floor(rnd() * 4 * MIN) : r < 0.06 ? t - 2 * HOUR : t;
    const principalId = `00000000-0000-4000-8000-${String(Math.floor(rnd() * principals)).padStart(12, '0')}`;
    const kind = rnd();
    const ip = `10.0.${Math.floor(rnd() * 3)}.${Math.floor(rnd() * 8)}`;
    if (kind < 0.01) {
      // A burst: what threshold and anomaly rules are for.
      for (let b = 0; b < 12; b++)
        out.push(ev(t + b * 5000, { principalId, source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE', ip }));
    } else if (kind < 0.4) out.push(ev(Math.max(0, at), { principalId, source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE', ip }));
    else if (kind < 0.7)
      out.push(ev(Math.max(0, at), { principalId, source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN ACTIVITY', ip }));
    else if (kind < 0.9) out.push(ev(Math.max(0, at), { principalId, source: 'keyvault', category: 'AuditEvent', operation: 'SECRETGET' }));
    else out.push(ev(Math.max(0, at), { principalId }));
  }
  return out;
}

const now = () => T0 + 90 * DAY;

/**
 * Fails the n-th write call (1-based), as a Tables outage during a flush would: with `keysStored`,
 * after the keys were stored but not the partition's mark (a write whose last transaction failed).
 */
class FailingStore implements StateStore {
  calls = 0;
  constructor(
    private readonly inner: InMemoryStateStore,
    private readonly failAt: number,
    private readonly keysStored = false,
  ) {}
  load(partitionId: string) {
    return this.inner.load(partitionId);
  }
  async write(partitionId: string, upserts: ReadonlyMap<string, string>, deletes: Iterable<string>) {
    if (++this.calls === this.failAt) {
      if (this.keysStored) await this.inner.write(partitionId, new Map([...upserts].filter(([key]) => key !== PARTITION_META_KEY)), deletes);
      throw new Error('simulated store outage');
    }
    return this.inner.write(partitionId, upserts, deletes);
  }
}

describe('Detector', () => {
  it('applies an event delivered twice (same partition and sequence number) once', async () => {
    const [a] = stream([ev(0)]);
    const { alerts, detector } = await run([twoListings], [[a], [a], [a]]);
    expect(alerts).toEqual([]);
    expect(detector.stats()).toMatchObject({ events: 1, duplicatesSkipped: 2 });
  });

  it('suppresses repeats per rule and key for the suppression period of event time, then alerts again', async () => {
    const { alerts, detector } = await run([listKeys], [stream([ev(0), ev(30 * MIN), ev(59 * MIN), ev(0, { principalId: SP2 }), ev(61 * MIN), ev(90 * MIN)])]);
    expect(alerts.map((a) => [a.PrincipalId, a.FirstEventTime])).toEqual([
      [SP, new Date(T0).toISOString()],
      [SP2, new Date(T0).toISOString()],
      [SP, new Date(T0 + 61 * MIN).toISOString()],
    ]);
    expect(detector.stats().suppressed).toBe(3);
  });

  it('gives the same AlertIds on every replay, whatever the batch sizes and the wall clock', async () => {
    const events = synthetic(20, 3, 400);
    const first = await run(allKinds, batches(stream(events, new PartitionRouter(4)), 50));
    const second = await run(allKinds, batches(stream(events, new PartitionRouter(4)), 7), { now: () => T0 + 400 * DAY });
    expect(first.alerts.length).toBeGreaterThan(10);
    expect(second.alerts.map((a) => a.AlertId)).toEqual(first.alerts.map((a) => a.AlertId));
    expect(new Set(first.alerts.map((a) => a.AlertId)).size).toBe(first.alerts.length);
    expect(Object.keys(first.detector.stats().alertsByRule).sort()).toEqual(allKinds.map((r) => r.id).sort());
  });

  it('restored from the store mid-stream, continues with exactly the alerts of an uninterrupted run; a redelivered batch adds none', async () => {
    const list = batches(stream(synthetic(20, 3, 400), new PartitionRouter(4)), 40);
    const uninterrupted = await drive(new Detector(allKinds, { store: new InMemoryStateStore(), now }), list);

    const store = new InMemoryStateStore();
    const half = Math.floor(list.length / 2);
    const before = await drive(new Detector(allKinds, { store, now }), list.slice(0, half));
    const restored = new Detector(allKinds, { store, now });
    const redelivered = await drive(restored, [list[half - 1]]);
    const after = await drive(restored, list.slice(half));
    const again = await drive(restored, [list[list.length - 1]]);

    expect(redelivered).toEqual([]);
    expect(again).toEqual([]);
    expect(restored.stats().duplicatesSkipped).toBe(list[half - 1].length + list[list.length - 1].length);
    expect([...before, ...after]).toEqual(uninterrupted);
  });

  it('writes changed state once per partition a batch touched, and nothing when nothing changed', async () => {
    const store = new InMemoryStateStore();
    const detector = new Detector(allKinds, { store, now });
    const list = batches(stream(synthetic(20, 2, 400), new PartitionRouter(4)), 100);
    for (const batch of list) {
      const before = store.writeCalls;
      await detector.process(batch);
      await detector.flush();
      expect(store.writeCalls - before).toBe(new Set(batch.map((e) => e.partitionId)).size);
    }
    const before = store.writeCalls;
    await detector.process(list[list.length - 1]); // redelivered: nothing new to write
    await detector.flush();
    expect(store.writeCalls).toBe(before);
  });

  it('after a flush that failed half way (keys or partition mark), the redelivered batch gives the uninterrupted alerts', async () => {
    const list = batches(stream(synthetic(10, 2, 300), new PartitionRouter(1)), 30);
    const uninterrupted = await drive(new Detector(allKinds, { now }), list);
    // One partition: each flush is one write, the keys then the partition's mark. Fail each in turn, before anything or after the keys.
    for (const [failAt, keysStored] of [1, 2, 3, 4, 5, 6, 7, 8].flatMap(
      (n) =>
        [
          [n, false],
          [n, true],
        ] as const,
    )) {
      const inner = new InMemoryStateStore();
      const failing = new FailingStore(inner, failAt, keysStored);
      const crashed = new Detector(allKinds, { store: failing, now });
      const alerts: Alert[] = [];
      let done = 0;
      for (const batch of list) {
        alerts.push(...(await crashed.process(batch)));
        if (
          !(await crashed.flush().then(
            () => true,
            () => false,
          ))
        )
          break;
        done++;
      }
      // The host retries from the last checkpoint: the batch whose flush failed comes again.
      const restarted = new Detector(allKinds, { store: inner, now });
      const again = await drive(restarted, list.slice(done));
      // Alerts of the failed batch may be raised again, with the same AlertIds (the outbox keeps one).
      const unique = [...new Map([...alerts, ...again].map((a) => [a.AlertId, a])).values()];
      expect(unique, `failing write ${failAt}${keysStored ? ' after the keys' : ''}`).toEqual(uninterrupted);
    }
  });

  it('keeps what a failed flush took: the next flush writes it, and the store ends as an uninterrupted run leaves it', async () => {
    // `warden run` keeps a partition in memory when its state write fails (memory holds batches the
    // store does not) and writes again before its checkpoint: nothing the failed write held may be lost.
    const list = batches(stream(synthetic(10, 2, 300), new PartitionRouter(1)), 30);
    const reference = new InMemoryStateStore();
    const uninterrupted = new Detector(allKinds, { store: reference, now });
    for (const batch of list) {
      await uninterrupted.process(batch);
      await uninterrupted.flush();
    }
    for (const [failAt, keysStored] of [1, 2, 3, 5, 8].flatMap((n) => [[n, false] as const, [n, true] as const])) {
      const inner = new InMemoryStateStore();
      const detector = new Detector(allKinds, { store: new FailingStore(inner, failAt, keysStored), now });
      let failures = 0;
      for (const batch of list) {
        await detector.process(batch);
        await detector.flush().catch(() => failures++);
      }
      expect(failures).toBe(1);
      expect(await inner.load('0'), `failing write ${failAt}${keysStored ? ' after the keys' : ''}`).toEqual(await reference.load('0'));
    }
  });

  it('remembers that a batch emptied a key even when the partition mark was not written', async () => {
    const fourListings = defineRule({ ...common, id: 'test-four', title: 'four', sources: ['activity'], kind: 'threshold', window: '10m', threshold: 4 });
    const [b1, b2, b3] = batches(stream([0, 1, 2, 3, 4, 5].map((m) => ev(m * MIN))), 2);
    const inner = new InMemoryStateStore();
    // Batch 2's write stores the keys, then fails before the partition's mark.
    const crashed = new Detector([fourListings], { store: new FailingStore(inner, 2, true), now });
    const first = await drive(crashed, [b1]);
    const fired = await crashed.process(b2);
    await expect(crashed.flush()).rejects.toThrow('simulated store outage');
    expect([...first, ...fired]).toHaveLength(1); // four listings: the window fired and was consumed
    const restarted = new Detector([fourListings], { store: inner, now });
    // b2 again: its events were applied (the key says so) and must not refill the consumed window.
    expect(await drive(restarted, [b2, b3])).toEqual([]);
  });

  it('prunes expired windows, silent baselines and old first-seen values: state stays bounded', async () => {
    // 2000 principals, each active on about one day of sixty.
    const events: NormalizedEvent[] = [];
    for (let p = 0; p < 2000; p++) {
      const day = Math.floor((p / 2000) * 60);
      const principalId = `00000000-0000-4000-8000-${String(p).padStart(12, '0')}`;
      for (let i = 0; i < 6; i++) {
        const at = day * DAY + (p % 20) * HOUR + i * MIN;
        events.push(
          ev(at, {
            principalId,
            source: i % 2 ? 'signin' : 'ai',
            category: 'x',
            operation: i % 2 ? 'SIGN-IN ACTIVITY' : 'CHATCOMPLETIONS_CREATE',
            ip: `10.1.0.${i}`,
          }),
        );
      }
    }
    events.sort((a, b) => a.time - b.time);
    const store = new InMemoryStateStore();
    const { detector } = await run(allKinds, batches(stream(events, new PartitionRouter(2)), 200), { store });
    const { keys } = detector.stats();
    // Without pruning each principal would keep state for four rules (about 8000 keys); with it,
    // only the principals active within the rules' horizons (a day or two: about 70) are kept.
    expect(keys).toBeLessThan(500);
    // Besides, each principal's age (one entry) stays for 30 days after its last event, the rest is deleted.
    const last = events[events.length - 1].time;
    const recent = new Set(events.filter((e) => e.time >= last - 31 * DAY).map((e) => e.principalId)).size;
    expect(store.size()).toBeLessThan(500 + 2 + recent);
  });

  it('builds the Alert contract: entities, lists, latency, and evidence without secrets', async () => {
    const event = ev(0, {
      principalName: 'alice@contoso.com',
      principalType: 'user',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      appId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
      ip: '81.2.69.***',
      correlationId: 'c-1',
      details: {
        uri: 'https://st.blob.core.windows.net/c/b?sv=2022&sig=abcDEF123',
        accessToken: 'eyJhbGciOi.eyJzdWIiOiIx.sig',
        keyName: 'key1',
        totalTokens: 42,
      },
    });
    const detector = new Detector([listKeys], { now: () => T0 + 1234 });
    const [alert] = await detector.process([{ event, arrivedAt: T0 + 1000, partitionId: '0', sequenceNumber: 1 }]);
    expect(alert.DetectionLatencyMs).toBe(234);
    expect(alert).toMatchObject({
      RuleId: 'test-match',
      RuleVersion: '1',
      PrincipalName: 'alice@contoso.com',
      SubscriptionIds: [SUB_A],
      IpAddresses: ['81.2.69.***'],
      EventCount: 1,
    });
    expect(alert.AlertId).toMatch(/^[0-9a-f]{32}$/);
    expect(alert.Entities).toEqual([
      {
        Type: 'account',
        IsDomainJoined: false,
        AadUserId: SP,
        Name: 'alice',
        UPNSuffix: 'contoso.com',
        DisplayName: 'alice@contoso.com',
        AadTenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      },
      { Type: 'cloud-application', AppId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46' },
      { Type: 'azure-resource', ResourceId: event.resourceId },
    ]);
    const text = JSON.stringify(alert.Evidence);
    expect(text).not.toContain('abcDEF123');
    expect(text).not.toContain('eyJzdWIiOiIx');
    expect(text).toContain('key1');
    expect(text).toContain('"totalTokens":42');
    expect(alert.Evidence.correlationIds).toEqual(['c-1']);
  });

  it('writes no secrets to the store: evidence kept in state is trimmed before it is written', async () => {
    const store = new InMemoryStateStore();
    const secret = ev(0, { details: { uri: 'https://st.blob.core.windows.net/c/b?sv=2022&sig=abcDEF123', token: 'opaque' } });
    const { detector } = await run([twoListings], [stream([secret])], { store });
    expect(detector.stats().keys).toBe(1);
    const stored = [...(await store.load('0')).values()].join('\n');
    expect(stored).toContain('sig=REDACTED');
    expect(stored).not.toContain('abcDEF123');
    expect(stored).not.toContain('opaque');
  });

  it('shows a rule only the sources and operations it subscribes to', async () => {
    const seen: string[] = [];
    const watcher = defineRule({
      ...common,
      id: 'test-index',
      title: 'w',
      sources: ['activity'],
      operations: ['MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION'],
      where: (e) => (seen.push(e.id), false),
      kind: 'match',
    });
    await run(
      [watcher],
      [stream([ev(0), ev(1, { operation: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE' }), ev(2, { source: 'signin', operation: 'SIGN-IN ACTIVITY' })])],
    );
    expect(seen).toHaveLength(1);
  });

  it('a rule that throws is counted and shown; the batch and the other rules go on', async () => {
    const broken = defineRule({
      ...common,
      id: 'test-broken',
      title: 'b',
      sources: ['activity'],
      where: (e) => ((e.details as Record<string, unknown>).missing as string).length > 0,
      kind: 'match',
    });
    const { alerts, detector } = await run([broken, listKeys], [stream([ev(0)])]);
    expect(alerts.map((a) => a.RuleId)).toEqual(['test-match']);
    expect(detector.stats().ruleErrors).toEqual({ 'test-broken': 1 });
    expect(detector.stats().ruleErrorSamples[0]).toMatch(/^test-broken: .*undefined/);
  });

  it('routes a principal to the same partition everywhere (FNV-1a)', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    expect(routeToPartition(SP, 4)).toBe(fnv1a(SP) % 4);
    const router = new PartitionRouter(4);
    const [a] = router.route(ev(0), T0);
    const [b] = router.route(ev(1), T0);
    expect([a.partitionId, b.partitionId, b.sequenceNumber - a.sequenceNumber]).toEqual([String(fnv1a(SP) % 4), String(fnv1a(SP) % 4), 1]);
  });
});
