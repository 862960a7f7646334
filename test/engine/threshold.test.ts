import { describe, expect, it } from 'vitest';
import { defineRule, tunable } from '../../src/engine/index.js';
import { MIN, SP2, T0, batches, ev, run, stream } from './helpers.js';

const listKeys = defineRule({
  id: 'test-threshold', version: '1', title: 'keys listed repeatedly', description: 'test rule',
  severity: 'Medium', tactics: ['CredentialAccess'], techniques: ['T1552'], sources: ['activity'],
  kind: 'threshold', window: '10m', threshold: tunable(3, 'Key listings within the window'),
});

const distinctIps = defineRule({
  id: 'test-distinct', version: '1', title: 'many IPs', description: 'test rule',
  severity: 'Low', tactics: ['InitialAccess'], techniques: ['T1078'], sources: ['signin'],
  kind: 'threshold', window: '10m', threshold: 3, distinct: 'ip',
});

describe('threshold', () => {
  it('alerts when N events fall within the window, first and last exactly one window apart', async () => {
    const { alerts } = await run([listKeys], [stream([ev(0), ev(5 * MIN), ev(10 * MIN)])]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].EventCount).toBe(3);
    expect(alerts[0].FirstEventTime).toBe(new Date(T0).toISOString());
    expect(alerts[0].LastEventTime).toBe(new Date(T0 + 10 * MIN).toISOString());
    expect(alerts[0].Evidence).toMatchObject({ kind: 'threshold', count: 3, threshold: 3, window: '10m' });
    expect((alerts[0].Evidence.events as unknown[]).length).toBe(3);
  });

  it('does not alert when the N events span one millisecond more than the window', async () => {
    const { alerts } = await run([listKeys], [stream([ev(0), ev(5 * MIN), ev(10 * MIN + 1)])]);
    expect(alerts).toEqual([]);
  });

  it('slides: old events leave the window, later ones can still make N', async () => {
    const { alerts } = await run([listKeys], [stream([ev(0), ev(8 * MIN), ev(15 * MIN), ev(17 * MIN)])]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].FirstEventTime).toBe(new Date(T0 + 8 * MIN).toISOString());
  });

  it('consumes the events of an alert: the next alert needs N new events', async () => {
    const events = [0, 1, 2, 3, 4, 5, 6].map((m) => ev(m * MIN));
    const { alerts } = await run([listKeys], [stream(events)]);
    expect(alerts).toHaveLength(2);
  });

  it('counts per key: two principals with two events each raise nothing', async () => {
    const { alerts } = await run([listKeys], [stream([ev(0), ev(MIN, { principalId: SP2 }), ev(2 * MIN), ev(3 * MIN, { principalId: SP2 })])]);
    expect(alerts).toEqual([]);
  });

  it('counts an out-of-order event within the allowed lateness in its own window', async () => {
    // Watermark 12m; the event at 9m is 3 minutes behind it (lateness 5m): on time.
    const { alerts, detector } = await run([listKeys], [stream([ev(0), ev(12 * MIN), ev(9 * MIN), ev(2 * MIN)])]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].FirstEventTime).toBe(new Date(T0).toISOString());
    expect(alerts[0].LastEventTime).toBe(new Date(T0 + 9 * MIN).toISOString());
    expect(detector.stats().late).toBe(1); // the 2m event was 10 minutes behind
  });

  it('counts an event later than the allowed lateness as late, and still applies it while its window is kept', async () => {
    const { alerts, detector } = await run([listKeys], [stream([ev(0), ev(2 * MIN), ev(12 * MIN), ev(5 * MIN)])]);
    expect(detector.stats().late).toBe(1);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].LastEventTime).toBe(new Date(T0 + 5 * MIN).toISOString());
  });

  it('counts a late event whose window was already pruned, without alerting on partial counts', async () => {
    const { alerts, detector } = await run([listKeys], [stream([ev(0), ev(2 * MIN), ev(30 * MIN), ev(4 * MIN)])]);
    expect(detector.stats().late).toBe(1);
    expect(alerts).toEqual([]);
  });

  it('takes the allowed lateness a deployment configures: a wider one keeps a later event on time', async () => {
    // The 2m event is 10 minutes behind the watermark: late with the default 5m, on time with 15m.
    const events = () => stream([ev(0), ev(12 * MIN), ev(9 * MIN), ev(2 * MIN)]);
    const wide = await run([listKeys], [events()], { allowedLatenessMs: 15 * MIN });
    expect(wide.detector.stats().late).toBe(0);
    const none = await run([listKeys], [events()], { allowedLatenessMs: 0 });
    expect(none.detector.stats().late).toBe(2);
  });

  it('works across batches: the window state survives flushes', async () => {
    const { alerts } = await run([listKeys], batches(stream([ev(0), ev(3 * MIN), ev(6 * MIN)]), 1));
    expect(alerts).toHaveLength(1);
  });

  it('a distinct count ignores repeats of the same value', async () => {
    const signin = (at: number, ip: string) => ev(at, { source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN ACTIVITY', ip });
    const repeats = await run([distinctIps], [stream([signin(0, '1.1.1.1'), signin(MIN, '1.1.1.1'), signin(2 * MIN, '2.2.2.2'), signin(3 * MIN, '2.2.2.2')])]);
    expect(repeats.alerts).toEqual([]);
    const three = await run([distinctIps], [stream([signin(0, '1.1.1.1'), signin(MIN, '1.1.1.1'), signin(2 * MIN, '2.2.2.2'), signin(3 * MIN, '3.3.3.3')])]);
    expect(three.alerts).toHaveLength(1);
    expect(three.alerts[0].Evidence).toMatchObject({ distinct: 'ip', values: ['1.1.1.1', '2.2.2.2', '3.3.3.3'] });
    expect(three.alerts[0].IpAddresses.sort()).toEqual(['1.1.1.1', '2.2.2.2', '3.3.3.3']);
  });

  it('takes a deployer override of the threshold tunable', async () => {
    const events = () => stream([ev(0), ev(MIN), ev(2 * MIN)]);
    expect((await run([listKeys], [events()], { tunables: { 'test-threshold': { threshold: 4 } } })).alerts).toEqual([]);
    expect((await run([listKeys], [events()], { tunables: { 'test-threshold': { threshold: 2 } } })).alerts).toHaveLength(1);
  });
});
