import { describe, expect, it } from 'vitest';
import { defineRule } from '../../src/engine/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import type { NormalizedEvent } from '../../src/model/index.js';
import { DAY, MIN, SP, SP2, SUB_A, SUB_B, T0, blob, ev, readThenWriteElsewhere, run, stream } from './helpers.js';
import { PartitionRouter, routeToPartition } from '../../src/eventhubs/partitioning.js';

const newIpThenSecret = defineRule({
  id: 'test-sequence-new-ip',
  version: '1',
  title: 'new IP then secret read',
  description: 'test rule',
  severity: 'High',
  tactics: ['InitialAccess', 'CredentialAccess'],
  techniques: ['T1078.004', 'T1555'],
  sources: ['signin', 'keyvault', 'activity'],
  kind: 'sequence',
  within: '1h',
  steps: {
    signin: {
      name: 'sign-in from a new IP',
      sources: ['signin'],
      where: (e) => e.result === 'success',
      firstSeen: { value: 'ip', horizon: '30d', learning: '1d' },
    },
    access: {
      name: 'secret read or key listing',
      sources: ['keyvault', 'activity'],
      where: (e) => e.operation === 'SECRETGET' || e.operation.endsWith('/LISTKEYS/ACTION'),
    },
  },
});

const signin = (at: number, ip: string) => ev(at, { source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN ACTIVITY', ip });
const secret = (at: number) => ev(at, { source: 'keyvault', category: 'AuditEvent', operation: 'SECRETGET', details: { secretName: 'db-password' } });

const D2 = 2 * DAY;

/** A sequence key's candidates as stored: one after the other, each `time − t, mask, shape, values…`; a shape says how many values (its fields but time, its record's keys). */
interface StoredCandidates {
  t: number;
  c: unknown[];
  h: (string | string[])[][];
}

function candidateTimes(state: StoredCandidates): number[] {
  const times: number[] = [];
  for (let i = 0; i < state.c.length;) {
    times.push(state.t + (state.c[i] as number));
    const shape = state.h[state.c[i + 2] as number];
    i += 3 + shape.reduce((n, f) => n + (typeof f === 'string' ? (f === 'time' ? 0 : 1) : f.length - 1), 0);
  }
  return times;
}

describe('sequence', () => {
  it('sign-in from an IP never seen for the principal, then a secret read within the hour', async () => {
    const { alerts } = await run(
      [newIpThenSecret],
      [
        stream([
          signin(0, '10.0.0.1'), // learning
          signin(D2, '10.0.0.1'),
          secret(D2 + 5 * MIN), // known IP: nothing
          signin(D2 + 2 * MIN * 60, '203.0.113.9'),
          secret(D2 + 2 * MIN * 60 + 30 * MIN),
        ]),
      ],
    );
    expect(alerts).toHaveLength(1);
    const steps = alerts[0].Evidence.steps as { step: string; ip?: string; operation: string }[];
    expect(steps.map((s) => s.step)).toEqual(['sign-in from a new IP', 'secret read or key listing']);
    expect(steps[0].ip).toBe('203.0.113.9');
    expect(alerts[0].EventCount).toBe(2);
    expect(alerts[0].Evidence).toMatchObject({ kind: 'sequence', within: '1h', spanMs: 30 * MIN });
  });

  it('does not complete when the second step comes after the time limit', async () => {
    const { alerts } = await run([newIpThenSecret], [stream([signin(0, '10.0.0.1'), signin(D2, '203.0.113.9'), secret(D2 + 61 * MIN)])]);
    expect(alerts).toEqual([]);
  });

  it('completes when the steps arrive in different batches', async () => {
    const events = stream([signin(0, '10.0.0.1'), signin(D2, '203.0.113.9'), secret(D2 + 20 * MIN)]);
    const { alerts } = await run(
      [newIpThenSecret],
      events.map((e) => [e]),
    );
    expect(alerts).toHaveLength(1);
  });

  it('completes across batches while another partition runs hours ahead: each partition keeps its own event time', async () => {
    const partitions = [2, 3, 4, 5, 6, 7, 8].find((n) => routeToPartition(SP, n) !== routeToPartition(SP2, n))!;
    const router = new PartitionRouter(partitions);
    const ahead = (at: number) => signin(at, '10.9.9.9');
    const other = (e: NormalizedEvent) => ({ ...e, principalId: SP2 });
    // Batch 1: SP learns its IP; SP2 (another partition) is already 5 hours further on.
    // Batch 2: SP signs in from a new IP, and SP2 moves on again. Batch 3: SP reads a secret.
    const list = [
      stream([signin(0, '10.0.0.1'), other(ahead(D2 + 5 * 60 * MIN))], router),
      stream([other(ahead(D2 + 6 * 60 * MIN)), signin(D2, '203.0.113.9')], router),
      stream([secret(D2 + 20 * MIN)], router),
    ];
    const { alerts, detector } = await run([newIpThenSecret], list);
    expect(alerts.map((a) => a.PrincipalId)).toEqual([SP]);
    expect(detector.stats().late).toBe(0);
  });

  it('completes when the later step arrives first (within the allowed lateness)', async () => {
    const { alerts } = await run([newIpThenSecret], [stream([signin(0, '10.0.0.1'), secret(D2 + 3 * MIN), signin(D2, '203.0.113.9')])]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].FirstEventTime < alerts[0].LastEventTime).toBe(true);
  });

  it('keeps a last-step event only while an earlier step could still arrive within the allowed lateness; first steps for the whole time limit', async () => {
    const store = new InMemoryStateStore();
    // A secret read every minute for 30 minutes, no sign-in from a new IP before them; then one.
    const reads = Array.from({ length: 30 }, (_, m) => secret(D2 + m * MIN));
    const { alerts } = await run([newIpThenSecret], [stream([signin(0, '10.0.0.1'), ...reads, signin(D2 + 30 * MIN, '203.0.113.9')])], { store });
    expect(alerts).toEqual([]);
    const [state] = [...(await store.load('0')).values()].map((json) => JSON.parse(json) as StoredCandidates);
    // Reads within the 5-minute lateness of the newest event remain (a late sign-in may precede them), and the new sign-in.
    expect(candidateTimes(state).map((time) => (time - T0 - D2) / MIN)).toEqual([25, 26, 27, 28, 29, 30]);
  });

  it('relates a step to the earlier step: read in subscription X, then write in Y ≠ X', async () => {
    const same = await run([readThenWriteElsewhere], [stream([blob(0, 'GETBLOB', SUB_A), blob(2 * MIN, 'PUTBLOB', SUB_A)])]);
    expect(same.alerts).toEqual([]);
    const cross = await run(
      [readThenWriteElsewhere],
      [stream([blob(0, 'GETBLOB', SUB_A), blob(MIN, 'GETBLOB', SUB_A), blob(2 * MIN, 'PUTBLOB', SUB_A), blob(4 * MIN, 'PUTBLOB', SUB_B)])],
    );
    expect(cross.alerts).toHaveLength(1);
    expect(cross.alerts[0].SubscriptionIds.sort()).toEqual([SUB_A, SUB_B].sort());
    const steps = cross.alerts[0].Evidence.steps as { step: string; subscriptionId: string }[];
    expect(steps.map((s) => [s.step, s.subscriptionId])).toEqual([
      ['read', SUB_A],
      ['write elsewhere', SUB_B],
    ]);
    // The title reads the steps by name.
    expect(cross.alerts[0].Title).toBe(`read in ${SUB_A}, wrote in ${SUB_B}`);
  });

  it('consumes a completed sequence: its events do not complete another', async () => {
    const { alerts } = await run([readThenWriteElsewhere], [stream([blob(0, 'GETBLOB', SUB_A), blob(MIN, 'PUTBLOB', SUB_B), blob(2 * MIN, 'PUTBLOB', SUB_B)])]);
    expect(alerts).toHaveLength(1);
  });
});
