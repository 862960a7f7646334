import { describe, expect, it } from 'vitest';
import { Detector, defineRule, type Rule } from '../../src/engine/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import type { NormalizedEvent, StreamEvent } from '../../src/model/index.js';
import { PartitionRouter, keyedRoutes, routeToPartition } from '../../src/eventhubs/partitioning.js';
import { KeyedEventFormatError, parseKeyedEvent } from '../../src/eventhubs/keyed-hub.js';
import { DAY, HOUR, MIN, T0, drive, ev } from './helpers.js';

const PARTITIONS = 4;
/** Principal ids that land on the partition asked for (of PARTITIONS). */
function principalOn(partition: number, not: readonly string[] = []): string {
  for (let i = 0; ; i++) {
    const id = `0000${i.toString(16).padStart(4, '0')}-0000-4000-8000-000000000000`;
    if (routeToPartition(id, PARTITIONS) === partition && !not.includes(id)) return id;
  }
}
const TARGET = principalOn(0);
const ADMIN = principalOn(1);
const NEIGHBOUR = principalOn(0, [TARGET]);
const KEY = 'd747da7e-e11b-4af2-aede-0487c44067af';

const credentialAdded = (at: number, actor: string, target = TARGET, keyId = KEY): NormalizedEvent =>
  ev(at, {
    source: 'directory',
    category: 'AuditLogs',
    operation: 'ADD SERVICE PRINCIPAL CREDENTIALS',
    principalId: actor,
    principalType: 'user',
    targetPrincipalId: target,
    subscriptionId: undefined,
    resourceId: undefined,
    details: { targetId: target, targetType: 'ServicePrincipal', addedKeyIds: keyId, addedKeyTypes: 'Password' },
  });
const signin = (at: number, ip: string, keyId?: string, principalAppId?: string, principalId = TARGET): NormalizedEvent =>
  ev(at, {
    source: 'signin',
    category: 'ServicePrincipalSignInLogs',
    operation: 'SIGN-IN ACTIVITY',
    principalId,
    ip,
    subscriptionId: undefined,
    resourceId: undefined,
    ...(principalAppId ? { appId: principalAppId, principalAppId } : {}),
    details: keyId ? { credentialKeyId: keyId } : {},
  });
/** A secret added to an application object: the entry names the application's object id and its app id, not the service principal. */
const addedToApplication = (at: number, actor: string, appId: string, keyId = KEY): NormalizedEvent =>
  ev(at, {
    source: 'directory',
    category: 'AuditLogs',
    operation: 'UPDATE APPLICATION – CERTIFICATES AND SECRETS MANAGEMENT',
    principalId: actor,
    principalType: 'user',
    targetPrincipalId: appId,
    subscriptionId: undefined,
    resourceId: undefined,
    details: { targetId: 'aaaa0000-0000-4000-8000-00000000a991', targetType: 'Application', targetAppId: appId, addedKeyIds: keyId, addedKeyTypes: 'Password' },
  });

const addedThenUsed = defineRule({
  id: 'test-credential-added-then-used',
  version: '1',
  title: 'credential added, then used from a new IP',
  description: 'test rule',
  severity: 'High',
  tactics: ['Persistence'],
  techniques: ['T1098.001'],
  sources: ['directory', 'signin'],
  keyBy: 'target',
  kind: 'sequence',
  within: '7d',
  steps: {
    added: { sources: ['directory'], where: (e) => e.source === 'directory' && e.details.addedKeyIds !== undefined },
    used: {
      sources: ['signin'],
      where: (e) => e.result === 'success',
      firstSeen: { value: 'ip', horizon: '30d', learning: '1h' },
      relate: (e, { added }) => e.source === 'signin' && added.source === 'directory' && added.details.addedKeyIds === e.details.credentialKeyId,
    },
  },
});

/** Two credential changes to one principal within the window alert: one change must not count as two. */
const changesToTarget = defineRule({
  id: 'test-changes-to-target',
  version: '1',
  title: 'two changes to one principal',
  description: 'test rule',
  severity: 'Low',
  tactics: ['Persistence'],
  techniques: ['T1098.001'],
  sources: ['directory'],
  keyBy: 'target',
  kind: 'threshold',
  threshold: 2,
  window: '1h',
});

/** The same count by the actor: sees an event's actor copy, never its target copy. */
const changesByActor = defineRule({
  id: 'test-changes-by-actor',
  version: '1',
  title: 'two changes by one actor',
  description: 'test rule',
  severity: 'Low',
  tactics: ['Persistence'],
  techniques: ['T1098.001'],
  sources: ['directory'],
  kind: 'threshold',
  threshold: 2,
  window: '1h',
});

/** Sign-ins counted by their actor: sees a sign-in's actor copy, never its app copy. */
const signinsByActor = defineRule({
  id: 'test-signins-by-actor',
  version: '1',
  title: 'three sign-ins by one actor',
  description: 'test rule',
  severity: 'Low',
  tactics: ['InitialAccess'],
  techniques: ['T1078.004'],
  sources: ['signin'],
  kind: 'threshold',
  threshold: 3,
  window: '1h',
});

const RULES: Rule[] = [addedThenUsed, changesToTarget, changesByActor, signinsByActor];
const detector = (store?: InMemoryStateStore) => new Detector(RULES, { store, now: () => T0 + 30 * DAY });

/**
 * History, change and use in three batches, with a restart after the change: a new instance from
 * the store, given the batch in hand at the crash again, then the use, raises the one alert an
 * uninterrupted run raises (same AlertId), and nothing when every batch is delivered again.
 */
async function expectOneAlertAcrossARestore(list: StreamEvent[][]): Promise<void> {
  const store = new InMemoryStateStore();
  expect(await drive(detector(store), list.slice(0, 2))).toEqual([]);
  const restored = detector(store);
  expect(await drive(restored, [list[1]])).toEqual([]);
  const alerts = await drive(restored, list.slice(2));
  expect(alerts.map((a) => a.RuleId)).toEqual(['test-credential-added-then-used']);
  expect(await drive(restored, list)).toEqual([]);
  expect(alerts.map((a) => a.AlertId)).toEqual((await drive(detector(), list)).map((a) => a.AlertId));
}

describe('routing an event with a target principal', () => {
  it('sends it to the actor and, marked, to the target; one copy for both when they share a partition; one as before without a target', () => {
    const copies = (e: NormalizedEvent) => {
      const out: Array<[number, string | undefined]> = [];
      keyedRoutes(e, PARTITIONS, (partition, routedFor) => out.push([partition, routedFor]));
      return out;
    };
    expect(copies(credentialAdded(0, ADMIN))).toEqual([
      [1, undefined],
      [0, 'target'],
    ]);
    expect(copies(credentialAdded(0, NEIGHBOUR))).toEqual([[0, 'both']]);
    // A pipeline adding a certificate to itself.
    expect(copies(credentialAdded(0, TARGET))).toEqual([[0, 'both']]);
    expect(copies(signin(0, '192.0.2.1'))).toEqual([[0, undefined]]);

    const router = new PartitionRouter(PARTITIONS);
    const routed = router.routeAll([credentialAdded(0, ADMIN), signin(MIN, '192.0.2.1')], T0);
    expect(routed.map(({ partitionId, sequenceNumber, routedFor }) => ({ partitionId, sequenceNumber, routedFor }))).toEqual([
      { partitionId: '1', sequenceNumber: 0, routedFor: undefined },
      { partitionId: '0', sequenceNumber: 0, routedFor: 'target' },
      { partitionId: '0', sequenceNumber: 1, routedFor: undefined },
    ]);
  });

  it('carries the mark through the keyed hub message, and refuses a mark it does not know', () => {
    const message = { event: credentialAdded(0, ADMIN), arrivedAt: T0, origin: { source: 'signin/0', sequenceNumber: 4, index: 0 } };
    expect(parseKeyedEvent(JSON.stringify({ ...message, routedFor: 'target' })).routedFor).toBe('target');
    expect(parseKeyedEvent(JSON.stringify(message)).routedFor).toBeUndefined();
    expect(() => parseKeyedEvent(JSON.stringify({ ...message, routedFor: 'everyone' }))).toThrow(KeyedEventFormatError);
    for (const routedFor of ['app', 'actor+app'] as const) expect(parseKeyedEvent(JSON.stringify({ ...message, routedFor })).routedFor).toBe(routedFor);
  });
});

// An application's app id on partition 2, its service principal (TARGET) on 0, the admin on 1; another app on the service principal's partition.
const APP = principalOn(2);
const APP_BESIDE = principalOn(0, [TARGET, NEIGHBOUR]);

describe('a credential added to an application object meets its service principal on the app id', () => {
  const copies = (e: NormalizedEvent) => {
    const out: Array<[number, string | undefined]> = [];
    keyedRoutes(e, PARTITIONS, (partition, routedFor) => out.push([partition, routedFor]));
    return out;
  };

  it("routes the entry to the app id's partition and a service principal's sign-in there too; one copy when they share a partition; nothing more for others", () => {
    expect(copies(addedToApplication(0, ADMIN, APP))).toEqual([
      [1, undefined],
      [2, 'target'],
    ]);
    expect(copies(signin(0, '192.0.2.1', KEY, APP))).toEqual([
      [0, undefined],
      [2, 'app'],
    ]);
    expect(copies(signin(0, '192.0.2.1', KEY, APP_BESIDE))).toEqual([[0, 'actor+app']]);
    // A sign-in without an app key (a user's, a managed identity's): one copy, as before.
    expect(copies(signin(0, '192.0.2.1', KEY))).toEqual([[0, undefined]]);
  });

  it('a secret added to the application in one batch and used hours later from a new IP: one alert, naming the service principal', async () => {
    for (const appId of [APP, APP_BESIDE]) {
      const router = new PartitionRouter(PARTITIONS);
      const d = detector();
      const history = router.routeAll([signin(0, '198.51.100.7', 'old-key', appId), signin(2 * HOUR, '198.51.100.7', 'old-key', appId)], T0);
      const added = router.routeAll([addedToApplication(3 * HOUR, ADMIN, appId)], T0 + 3 * HOUR);
      const used = router.routeAll([signin(7 * HOUR, '203.0.113.66', KEY, appId)], T0 + 7 * HOUR);
      const alerts = await drive(d, [history, added, used]);
      expect(alerts.map((a) => [a.RuleId, a.PrincipalId])).toEqual([['test-credential-added-then-used', TARGET]]);
      expect(alerts[0].Evidence.steps).toMatchObject([{ step: 'added' }, { step: 'used', ip: '203.0.113.66' }]);
      // Four events; the entry's target copy, and each sign-in's app copy unless it shares the actor's partition.
      expect(d.stats()).toMatchObject({ events: 4, targetCopies: appId === APP ? 4 : 1 });
    }
  });

  it('used from a known IP, or another key from a new IP, raises nothing', async () => {
    const router = new PartitionRouter(PARTITIONS);
    const batches = [
      router.routeAll([signin(0, '198.51.100.7', 'old-key', APP), signin(2 * HOUR, '198.51.100.7', 'old-key', APP)], T0),
      router.routeAll([addedToApplication(3 * HOUR, ADMIN, APP)], T0),
      router.routeAll([signin(5 * HOUR, '198.51.100.7', KEY, APP), signin(6 * HOUR, '203.0.113.66', 'another-key', APP)], T0),
    ];
    expect(await drive(detector(), batches)).toEqual([]);
  });

  it('a rule keyed on the actor counts each sign-in once, whether its app copy is apart or shares its copy', async () => {
    for (const appId of [APP, APP_BESIDE]) {
      const router = new PartitionRouter(PARTITIONS);
      const two = router.routeAll([signin(0, '198.51.100.7', 'old-key', appId), signin(MIN, '198.51.100.7', 'old-key', appId)], T0);
      expect(await drive(detector(), [two])).toEqual([]);
      const three = router.routeAll(
        [signin(0, '198.51.100.7', 'old-key', appId), signin(MIN, '198.51.100.7', 'old-key', appId), signin(2 * MIN, '198.51.100.7', 'old-key', appId)],
        T0,
      );
      expect((await drive(detector(), [three])).map((a) => [a.RuleId, a.Evidence.count])).toEqual([['test-signins-by-actor', 3]]);
    }
  });

  it('restored from stored state and given the batches again: the same one alert, nothing counted twice', async () => {
    const router = new PartitionRouter(PARTITIONS);
    const list: StreamEvent[][] = [
      router.routeAll([signin(0, '198.51.100.7', 'old-key', APP), signin(2 * HOUR, '198.51.100.7', 'old-key', APP)], T0),
      router.routeAll([addedToApplication(3 * HOUR, ADMIN, APP)], T0),
      router.routeAll([signin(7 * HOUR, '203.0.113.66', KEY, APP)], T0),
    ];
    await expectOneAlertAcrossARestore(list);
  });
});

describe('rules keyed on the target', () => {
  it('a credential added in one batch and used hours later from a new IP, in another partition: one alert, about the target', async () => {
    const router = new PartitionRouter(PARTITIONS);
    const d = detector();
    const history = router.routeAll([signin(0, '198.51.100.7'), signin(2 * HOUR, '198.51.100.7')], T0);
    const added = router.routeAll([credentialAdded(3 * HOUR, ADMIN)], T0 + 3 * HOUR);
    const used = router.routeAll([signin(7 * HOUR, '203.0.113.66', KEY)], T0 + 7 * HOUR);
    const alerts = await drive(d, [history, added, used]);
    expect(alerts.map((a) => [a.RuleId, a.PrincipalId])).toEqual([['test-credential-added-then-used', TARGET]]);
    expect(alerts[0].Evidence.steps).toMatchObject([{ step: 'added' }, { step: 'used', ip: '203.0.113.66' }]);
    // The admin's partition applied the actor copy, the target's the target copy.
    expect(d.stats()).toMatchObject({ events: 4, targetCopies: 1 });
  });

  it('used from a known IP, or another credential from a new IP, raises nothing', async () => {
    const router = new PartitionRouter(PARTITIONS);
    const batches = [
      router.routeAll([signin(0, '198.51.100.7'), signin(2 * HOUR, '198.51.100.7')], T0),
      router.routeAll([credentialAdded(3 * HOUR, ADMIN)], T0),
      router.routeAll([signin(5 * HOUR, '198.51.100.7', KEY), signin(6 * HOUR, '203.0.113.66', 'another-key')], T0),
    ];
    expect(await drive(detector(), batches)).toEqual([]);
  });

  it('counts each event once per key: for its target by the target copy, for its actor by the actor copy', async () => {
    for (const actor of [ADMIN, NEIGHBOUR]) {
      const router = new PartitionRouter(PARTITIONS);
      // One change: neither count reaches two, whether the copies are apart or one serves both.
      expect(await drive(detector(), [router.routeAll([credentialAdded(0, actor)], T0)])).toEqual([]);
    }
    const router = new PartitionRouter(PARTITIONS);
    const other = principalOn(2);
    const alerts = await drive(detector(), [
      router.routeAll([credentialAdded(0, ADMIN), credentialAdded(MIN, other, principalOn(3)), credentialAdded(2 * MIN, NEIGHBOUR)], T0),
    ]);
    // The target got two changes (from two actors); no actor made two.
    expect(alerts.map((a) => `${a.RuleId} ${a.Evidence.count as number}`)).toEqual(['test-changes-to-target 2']);
  });

  it('restored from stored state and given the batches again: the same one alert, nothing counted twice', async () => {
    const router = new PartitionRouter(PARTITIONS);
    const list: StreamEvent[][] = [
      router.routeAll([signin(0, '198.51.100.7'), signin(2 * HOUR, '198.51.100.7')], T0),
      router.routeAll([credentialAdded(3 * HOUR, ADMIN)], T0),
      router.routeAll([signin(7 * HOUR, '203.0.113.66', KEY)], T0),
    ];
    await expectOneAlertAcrossARestore(list);
  });

  it("refuses keyBy 'target' with groupBy, and a keyBy it does not know", () => {
    const base = {
      version: '1',
      title: 't',
      description: 'd',
      severity: 'Low',
      tactics: ['Persistence'],
      techniques: ['T1098'],
      sources: ['directory'],
      kind: 'match',
    } as const;
    expect(() => defineRule({ ...base, id: 'grouped', keyBy: 'target', groupBy: (e) => e.principalId })).toThrow(/field 'keyBy': .*remove 'groupBy'/);
    expect(() => defineRule({ ...base, id: 'unknown', keyBy: 'resource' as 'target' })).toThrow(/field 'keyBy': "resource" is not one of actor, target/);
  });
});
