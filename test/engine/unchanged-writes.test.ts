import { describe, expect, it } from 'vitest';
import { Detector, defineRule, type Rule } from '../../src/engine/index.js';
import type { StreamEvent } from '../../src/model/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import { DAY, HOUR, MIN, SP, T0, drive, ev, stream } from './helpers.js';

/** Keys rewritten since a detector's previous write: a state write without the partition's own mark. */
async function keysWritten(detector: Detector, store: InMemoryStateStore, batch: StreamEvent[]): Promise<string[]> {
  const before = new Map(await store.load('0'));
  await drive(detector, [batch]);
  const after = await store.load('0');
  return [...after].filter(([k, v]) => !k.startsWith('~') && before.get(k) !== v).map(([k]) => k);
}

const common = { version: '1', description: 'test rule', severity: 'Medium', tactics: ['InitialAccess'], techniques: ['T1078.004'] } as const;

const newIp = defineRule({
  ...common,
  id: 'test-new-ip',
  title: (c) => `sign-in from new IP ${String(c.evidence.value)}`,
  sources: ['signin'],
  kind: 'firstSeen',
  value: 'ip',
  horizon: '7d',
  learning: '1d',
});

const listKeys = defineRule({
  ...common,
  id: 'test-list-keys',
  title: () => 'keys listed',
  sources: ['activity'],
  operations: ['MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION'],
  kind: 'match',
  suppress: '1h',
});

const newIpThenKeys = defineRule({
  ...common,
  id: 'test-new-ip-then-keys',
  title: () => 'new IP, then keys listed',
  sources: ['signin', 'activity'],
  kind: 'sequence',
  within: '1h',
  steps: {
    signin: { name: 'sign-in from a new IP', sources: ['signin'], firstSeen: { value: 'ip', horizon: '7d', learning: '1d' } },
    keys: { name: 'keys listed', sources: ['activity'], operations: ['MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION'] },
  },
});

const signin = (at: number, ip: string) => ev(at, { source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN ACTIVITY', ip });
const keyListing = (at: number) => ev(at);

function detectorWith(rules: Rule[]) {
  const store = new InMemoryStateStore();
  return { store, detector: new Detector(rules, { store, now: () => T0 + 30 * DAY }) };
}

describe('keys whose state an event did not change are not rewritten', () => {
  it('firstSeen: a known value seen again is written once per horizon/720 (14 minutes for 7 days), not at every event', async () => {
    const { store, detector } = detectorWith([newIp]);
    const events = [signin(0, '10.0.0.1'), signin(MIN, '10.0.0.1'), signin(10 * MIN, '10.0.0.1'), signin(15 * MIN, '10.0.0.1')];
    const batches = stream(events).map((e) => [e]);
    expect(await keysWritten(detector, store, batches[0])).toEqual([`test-new-ip:firstSeen|${SP}`]);
    expect(await keysWritten(detector, store, batches[1])).toEqual([]);
    expect(await keysWritten(detector, store, batches[2])).toEqual([]);
    // 15 minutes after the stored sighting: past the refresh interval, the last-seen time moves on.
    expect(await keysWritten(detector, store, batches[3])).toEqual([`test-new-ip:firstSeen|${SP}`]);
    const stored = JSON.parse((await store.load('0')).get(`test-new-ip:firstSeen|${SP}`)!) as { f: { v: Record<string, number> } };
    expect(stored.f.v['10.0.0.1']).toBe(T0 + 15 * MIN);
  });

  it('firstSeen with quietBelow: events are counted up to it, then a known value seen again rewrites nothing', async () => {
    const counted = defineRule({ ...newIp.definition, id: 'test-new-ip-counted', quietBelow: 2 } as Parameters<typeof defineRule>[0]);
    const { store, detector } = detectorWith([counted]);
    const batches = stream([0, 1, 2, 3].map((m) => signin(m * MIN, '10.0.0.1'))).map((e) => [e]);
    const key = `test-new-ip-counted:firstSeen|${SP}`;
    expect(await keysWritten(detector, store, batches[0])).toEqual([key]);
    expect(await keysWritten(detector, store, batches[1])).toEqual([key]);
    expect(await keysWritten(detector, store, batches[2])).toEqual([]);
    expect(await keysWritten(detector, store, batches[3])).toEqual([]);
    expect(JSON.parse((await store.load('0')).get(key)!)).toMatchObject({ c: 2 });
  });

  it('firstSeen: a value stays known for the whole horizon after it was last seen, even when that sighting was not written', async () => {
    // 10.0.0.9 is seen every day so the key never expires as a whole; 10.0.0.1 is last seen at minute 10 (not written: within 14 minutes of minute 0).
    const daily = [1, 2, 3, 4, 5, 6, 7].map((d) => signin(d * DAY, '10.0.0.9'));
    const history = () => [signin(0, '10.0.0.1'), signin(0, '10.0.0.9'), signin(10 * MIN, '10.0.0.1'), ...daily];
    const within = detectorWith([newIp]);
    const known = await drive(within.detector, [stream([...history(), signin(7 * DAY + 5 * MIN, '10.0.0.1')])]);
    expect(known).toEqual([]);
    // Past the horizon from its last sighting (and the refresh interval): new again.
    const after = detectorWith([newIp]);
    const renewed = await drive(after.detector, [stream([...history(), signin(7 * DAY + 25 * MIN, '10.0.0.1')])]);
    expect(renewed.map((a) => a.IpAddresses[0])).toEqual(['10.0.0.1']);
  });

  it('match: a repeat held back by suppression does not rewrite the key; the next alert does', async () => {
    const { store, detector } = detectorWith([listKeys]);
    const batches = stream([keyListing(0), keyListing(10 * MIN), keyListing(2 * HOUR)]).map((e) => [e]);
    expect(await keysWritten(detector, store, batches[0])).toHaveLength(1);
    expect(await keysWritten(detector, store, batches[1])).toEqual([]);
    expect(await keysWritten(detector, store, batches[2])).toHaveLength(1);
    expect(detector.stats()).toMatchObject({ alerts: 2, suppressed: 1 });
  });

  it('sequence: a step whose firstSeen value is known, and that starts no candidate, does not rewrite the key', async () => {
    const { store, detector } = detectorWith([newIpThenKeys]);
    const batches = stream([
      signin(0, '10.0.0.1'),
      signin(HOUR, '10.0.0.1'),
      signin(HOUR + MIN, '10.0.0.1'),
      signin(2 * DAY, '203.0.113.7'),
      keyListing(2 * DAY + MIN),
    ]).map((e) => [e]);
    expect(await keysWritten(detector, store, batches[0])).toHaveLength(1);
    expect(await keysWritten(detector, store, batches[1])).toHaveLength(1); // past the refresh interval
    expect(await keysWritten(detector, store, batches[2])).toEqual([]);
    expect(await keysWritten(detector, store, batches[3])).toHaveLength(1); // new IP: a candidate
    const alerts = await drive(detector, [batches[4]]);
    expect(alerts.map((a) => a.RuleId)).toEqual(['test-new-ip-then-keys']);
  });

  it('a detector restored from the store after unwritten events raises what an uninterrupted one raises', async () => {
    const events = [
      signin(0, '10.0.0.1'),
      signin(5 * MIN, '10.0.0.1'),
      keyListing(6 * MIN),
      keyListing(7 * MIN),
      signin(2 * DAY, '10.0.0.1'),
      signin(2 * DAY + MIN, '203.0.113.7'),
      keyListing(2 * DAY + 2 * MIN),
      keyListing(2 * DAY + 3 * MIN),
    ];
    const rules = [newIp, listKeys, newIpThenKeys];
    const whole = detectorWith(rules);
    const expected = await drive(
      whole.detector,
      stream(events).map((e) => [e]),
    );
    const store = new InMemoryStateStore();
    const alerts = [];
    for (const batch of stream(events).map((e) => [e])) {
      // A new instance for every batch: all it knows is what was written.
      alerts.push(...(await drive(new Detector(rules, { store, now: () => T0 + 30 * DAY }), [batch])));
    }
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(alerts).toEqual(expected);
  });
});
