import { describe, expect, it } from 'vitest';
import readWrite from '../../detections/cross-subscription-read-write-sequence.js';
import { defineRule } from '../../src/engine/index.js';
import type { NormalizedEvent } from '../../src/model/index.js';
import { DAY, ev, HOUR, MIN, requestBurst, run, SP, SP2, stream, SUB_A, SUB_B } from './helpers.js';

const newIp = defineRule({
  id: 'test-new-ip',
  version: '1',
  title: 'sign-in from a new IP',
  description: 'test rule',
  severity: 'Medium',
  tactics: ['InitialAccess'],
  techniques: ['T1078.004'],
  sources: ['signin'],
  kind: 'firstSeen',
  value: 'ip',
  horizon: '30d',
  learning: '1d',
});

const burst = requestBurst('test-burst', {});

const quiet = defineRule({
  id: 'test-no-learning',
  version: '1',
  title: 'any sign-in',
  description: 'test rule',
  severity: 'Low',
  tactics: ['InitialAccess'],
  techniques: ['T1078'],
  sources: ['signin'],
  kind: 'match',
});

const signin = (at: number, ip: string, principalId = SP) =>
  ev(at, { source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN ACTIVITY', ip, principalId });
const aiCalls = (at: number, count: number, principalId = SP) =>
  Array.from({ length: count }, (_, i) => ev(at + i * 1000, { source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE', principalId }));

describe('visible learning: keys still learning and alerts held back, per rule', () => {
  it('firstSeen: a new principal’s new values are held back and counted; once it has been watched a day, they alert', async () => {
    const events = [
      signin(0, '10.0.0.1'),
      signin(2 * HOUR, '10.0.0.2'), // SP learning: held
      signin(2 * DAY, '10.0.0.3'), // SP watched two days: alerts
      signin(2 * DAY + HOUR, '10.0.0.9', SP2), // SP2's first hour: held
      signin(2 * DAY + 2 * HOUR, '10.0.0.8', SP2), // held
    ];
    const { alerts, detector } = await run([newIp, quiet], [stream(events)]);
    expect(alerts.filter((a) => a.RuleId === 'test-new-ip').map((a) => a.PrincipalId)).toEqual([SP]);
    // A rule that does not learn is not listed. The first value of each principal is held too: after the learning period a known principal's first IP would alert.
    expect(detector.stats().learning).toEqual({ 'test-new-ip': { keysLearning: 1, heldWhileLearning: 4 } });
  });

  it("anomaly: a bucket that would alert but for the key's warm-up is counted once; the warm key is not learning", async () => {
    const events: NormalizedEvent[] = [
      ...aiCalls(0, 40),
      ...aiCalls(HOUR, 2),
      ...aiCalls(2 * HOUR, 2),
      ...aiCalls(3 * HOUR, 2),
      ...aiCalls(4 * HOUR, 2),
      ...aiCalls(5 * HOUR, 2),
    ];
    events.push(...aiCalls(5 * HOUR + 10 * MIN, 30, SP2));
    events.sort((a, b) => a.time - b.time);
    const { alerts, detector } = await run([burst], [stream(events)]);
    expect(alerts).toEqual([]);
    // SP's first hour (40 calls) and SP2's first, in hour 5 (30), would have alerted; SP has warmed up since, SP2 has not.
    expect(detector.stats().learning).toEqual({ 'test-burst': { keysLearning: 1, heldWhileLearning: 2 } });
  });

  it("sequence: a new identity's read-then-write is held back and counted where a long-known identity's alerts", async () => {
    const blob = (sub: string) => `/subscriptions/${sub}/resourcegroups/rg/providers/microsoft.storage/storageaccounts/st${sub.slice(0, 4)}`;
    const readThenWrite = (principalId: string, at: number) => [
      ev(at, { principalId, source: 'storage', category: 'StorageRead', operation: 'GETBLOB', resourceId: blob(SUB_A), subscriptionId: SUB_A }),
      ev(at + 10 * MIN, { principalId, source: 'storage', category: 'StorageWrite', operation: 'PUTBLOB', resourceId: blob(SUB_B), subscriptionId: SUB_B }),
    ];
    const history = Array.from({ length: 10 }, (_, d) => signin(d * DAY, '20.1.2.3'));
    const { alerts, detector } = await run(
      [readWrite],
      [stream([...history, signin(10 * DAY, '20.1.2.3', SP2), ...readThenWrite(SP, 10 * DAY + HOUR), ...readThenWrite(SP2, 10 * DAY + HOUR)])],
    );
    expect(alerts.map((a) => a.PrincipalId)).toEqual([SP]);
    expect(detector.stats().learning).toEqual({ 'cross-subscription-read-write-sequence': { keysLearning: 1, heldWhileLearning: 1 } });
  });
});
