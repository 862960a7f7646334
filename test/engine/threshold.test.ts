import { describe, expect, it } from 'vitest';
import { defineRule, tunable } from '../../src/engine/index.js';
import { batches, ev, keysListed, MIN, run, SP2, stream, T0 } from './helpers.js';

const listKeys = keysListed(tunable(3, 'Key listings within the window'));

const distinctIps = defineRule({
  id: 'test-distinct',
  version: '1',
  title: 'many IPs',
  description: 'test rule',
  severity: 'Low',
  tactics: ['InitialAccess'],
  techniques: ['T1078'],
  sources: ['signin'],
  kind: 'threshold',
  window: '10m',
  threshold: 3,
  distinct: 'ip',
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

const bytesRead = defineRule({
  id: 'test-sum',
  version: '1',
  title: 'many bytes read',
  description: 'test rule',
  severity: 'Medium',
  tactics: ['Exfiltration'],
  techniques: ['T1530'],
  sources: ['storage'],
  kind: 'threshold',
  window: '10m',
  threshold: tunable(1_000_000_000, 'Bytes within the window'),
  sum: (e) => e.details.bytes,
});

const rejected = defineRule({
  id: 'test-share',
  version: '1',
  title: 'rejected calls',
  description: 'test rule',
  severity: 'Low',
  tactics: ['DefenseEvasion'],
  techniques: ['T1562'],
  sources: ['ai'],
  kind: 'threshold',
  window: '10m',
  threshold: 5,
  shareOf: (e) => e.details.statusCode === 400,
  minShare: tunable(0.5, 'Least share'),
});

describe('threshold over a summed measure', () => {
  const read = (at: number, bytes?: number) =>
    ev(at, { source: 'storage', category: 'StorageRead', operation: 'GETBLOB', details: bytes === undefined ? {} : { bytes } });

  it('alerts when the bytes within the window reach the threshold, however few the events', async () => {
    const { alerts } = await run([bytesRead], [stream([read(0, 400e6), read(MIN), read(4 * MIN, 700e6)])]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].EventCount).toBe(2); // the read without a size is not summed
    expect(alerts[0].Evidence).toMatchObject({ kind: 'threshold', total: 1.1e9, threshold: 1e9, count: 2 });
  });

  it('does not alert when the same bytes are spread over more than the window', async () => {
    const { alerts } = await run([bytesRead], [stream([read(0, 600e6), read(20 * MIN, 600e6), read(40 * MIN, 600e6)])]);
    expect(alerts).toEqual([]);
  });

  it('many small reads add up; after an alert the next one needs a new total', async () => {
    const events = Array.from({ length: 40 }, (_, i) => read(i * 10 * 1000, 50e6)); // 2 GB in 6.5 minutes
    const { alerts } = await run([bytesRead], batches(stream(events), 3));
    expect(alerts).toHaveLength(2);
    expect(alerts.every((a) => (a.Evidence.total as number) >= 1e9)).toBe(true);
  });

  it('refuses a summed rule with a distinct count too, and a count threshold that is not whole', () => {
    expect(() => defineRule({ ...bytesRead.definition, id: 'x', distinct: 'ip' } as never)).toThrow(/one of distinct, sum and shareOf/);
    expect(() => defineRule({ ...listKeys.definition, id: 'y', threshold: 2.5 } as never)).toThrow(/whole number/);
  });
});

describe("threshold over a share of the key's events", () => {
  const call = (at: number, statusCode: number) =>
    ev(at, { source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE', details: { statusCode } });

  it('alerts when the matching events reach the threshold and at least the share of all calls', async () => {
    const events = [200, 400, 400, 200, 400, 400, 400].map((s, i) => call(i * MIN, s));
    const { alerts } = await run([rejected], [stream(events)]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].Evidence).toMatchObject({ matching: 5, count: 7, share: 0.714, minShare: 0.5 });
    expect(alerts[0].EventCount).toBe(7);
  });

  it("does not alert when the same rejections are a small share of a busy caller's calls", async () => {
    const events = Array.from({ length: 60 }, (_, i) => call(i * 5000, i % 10 === 0 ? 400 : 200)); // 6 of 60 in 5 minutes
    const { alerts } = await run([rejected], [stream(events)]);
    expect(alerts).toEqual([]);
  });

  it('refuses shareOf without minShare', () => {
    expect(() => defineRule({ ...rejected.definition, id: 'z', minShare: undefined } as never)).toThrow(/shareOf and minShare together/);
  });
});
