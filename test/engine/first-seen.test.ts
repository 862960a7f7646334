import { describe, expect, it } from 'vitest';
import { defineRule } from '../../src/engine/index.js';
import { DAY, HOUR, SP, SP2, T0, ev, run, stream } from './helpers.js';

const newIp = defineRule({
  id: 'test-first-seen',
  version: '1',
  title: (c) => `sign-in from new IP ${String(c.evidence.value)}`,
  description: 'test rule',
  severity: 'Medium',
  tactics: ['InitialAccess'],
  techniques: ['T1078.004'],
  sources: ['signin'],
  kind: 'firstSeen',
  value: 'ip',
  horizon: '7d',
  learning: '1d',
});

const signin = (at: number, ip: string, principalId?: string) =>
  ev(at, { source: 'signin', category: 'ServicePrincipalSignInLogs', operation: 'SIGN-IN ACTIVITY', ip, ...(principalId ? { principalId } : {}) });

describe('firstSeen', () => {
  it('learns during the learning period, then alerts on a value never seen for the key', async () => {
    const { alerts } = await run(
      [newIp],
      [
        stream([
          signin(0, '10.0.0.1'),
          signin(12 * HOUR, '10.0.0.2'), // learning: nothing
          signin(2 * DAY, '10.0.0.1'), // known
          signin(2 * DAY + HOUR, '203.0.113.7'), // new
          signin(2 * DAY + 2 * HOUR, '203.0.113.7'), // known now
        ]),
      ],
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0].Title).toBe('sign-in from new IP 203.0.113.7');
    expect(alerts[0].IpAddresses).toEqual(['203.0.113.7']);
    expect(alerts[0].Evidence).toMatchObject({ kind: 'firstSeen', field: 'ip', value: '203.0.113.7', knownValues: 2, horizon: '7d', learning: '1d' });
    expect(alerts[0].Entities).toContainEqual({ Type: 'ip', Address: '203.0.113.7' });
  });

  it('the learning period is per key: a principal first seen later learns on its own', async () => {
    const { alerts } = await run(
      [newIp],
      [
        stream([
          signin(0, '10.0.0.1'),
          signin(3 * DAY, '10.0.0.9', SP2), // SP2's first day: learning
          signin(3 * DAY + HOUR, '10.0.0.8', SP2),
          signin(5 * DAY, '10.0.0.7', SP2), // SP2 learned: new
        ]),
      ],
    );
    expect(alerts.map((a) => [a.PrincipalId, a.IpAddresses[0]])).toEqual([[SP2, '10.0.0.7']]);
  });

  it('forgets a value after the horizon: seen again later, it is new again', async () => {
    const daily = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => signin(d * DAY, '10.0.0.2'));
    const { alerts } = await run([newIp], [stream([signin(0, '10.0.0.1'), ...daily, signin(9 * DAY + HOUR, '10.0.0.1')])]);
    // 10.0.0.2 at day 1 is new (learning ended); 10.0.0.1 last seen at day 0 has expired by day 9.
    expect(alerts.map((a) => a.IpAddresses[0])).toEqual(['10.0.0.2', '10.0.0.1']);
  });

  it("with learningFrom: 'key', a key silent longer than the horizon is forgotten and learns again", async () => {
    const perKey = defineRule({ ...newIp.definition, id: 'test-first-seen-per-key', learningFrom: 'key' } as Parameters<typeof defineRule>[0]);
    const { alerts, detector } = await run([perKey], [stream([signin(0, '10.0.0.1'), signin(2 * DAY, '10.0.0.2'), signin(20 * DAY, '10.0.0.3')])]);
    expect(alerts.map((a) => a.IpAddresses[0])).toEqual(['10.0.0.2']);
    expect(alerts[0].Evidence).toMatchObject({ learningFrom: 'key' });
    expect(detector.stats().keys).toBe(1);
  });

  it('by default learning follows the principal: its values expire with the horizon, but a principal seen within 30 days is not learning again', async () => {
    const { alerts } = await run(
      [newIp],
      [
        stream([
          signin(0, '10.0.0.1'),
          signin(2 * DAY, '10.0.0.2'),
          signin(20 * DAY, '10.0.0.3'), // values forgotten, the principal is not: new
          signin(60 * DAY, '10.0.0.4'), // silent 40 days: forgotten too, learning again
          signin(60 * DAY + HOUR, '10.0.0.5'),
        ]),
      ],
    );
    expect(alerts.map((a) => a.IpAddresses[0])).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(alerts[1].Evidence).toMatchObject({ learningFrom: 'principal', learningSince: new Date(T0).toISOString() });
  });

  it("a principal known on another source is past its learning on the rule's first event", async () => {
    const { alerts } = await run(
      [newIp],
      [
        stream([
          ev(0, { source: 'ai', category: 'RequestResponse', operation: 'CHATCOMPLETIONS_CREATE' }), // watched from here
          signin(2 * DAY, '10.0.0.1'), // the rule's first event for the key: new, the principal is two days known
          signin(2 * DAY, '10.0.0.1', SP2), // SP2 first seen now: learning
        ]),
      ],
    );
    expect(alerts.map((a) => [a.PrincipalId, a.IpAddresses[0]])).toEqual([[SP, '10.0.0.1']]);
  });

  it('applies a late event: a new value arriving late still alerts, an old one refreshes what is known', async () => {
    const { alerts, detector } = await run(
      [newIp],
      [
        stream([
          signin(0, '10.0.0.1'),
          signin(3 * DAY, '10.0.0.1'),
          signin(2 * DAY, '198.51.100.4'), // a day late, new
        ]),
      ],
    );
    expect(detector.stats().late).toBe(1);
    expect(alerts.map((a) => a.IpAddresses[0])).toEqual(['198.51.100.4']);
  });
});

/** A rule judging two facts of each AI call (its network and its model), its key's use counted up to 3, High when the key was hardly used. */
const keyUse = defineRule({
  id: 'test-first-seen-facts',
  version: '1',
  title: (c) => `new: ${(c.evidence.newValues ?? []).join(', ')}`,
  description: 'test rule',
  severity: 'Medium',
  severityOf: ({ evidence }) => (evidence.quiet ? 'High' : 'Medium'),
  tactics: ['InitialAccess'],
  techniques: ['T1078.004'],
  sources: ['ai'],
  kind: 'firstSeen',
  value: (e) => [`network ${e.ip ?? '?'}`, `model ${e.details.model ?? '?'}`],
  horizon: '7d',
  learning: '1d',
  quietBelow: 3,
  suppress: '1h',
});

const call = (at: number, ip: string, model: string) =>
  ev(at, {
    source: 'ai',
    category: 'RequestResponse',
    operation: 'CHATCOMPLETIONS_CREATE',
    ip,
    details: { model },
    principalId: 'key:oai1',
    principalType: 'key',
  });

describe('firstSeen with several values, quietBelow and alwaysNew', () => {
  it('judges each value on its own: a known network on a new model alerts, and a call new on both counts is one alert naming both', async () => {
    const { alerts } = await run(
      [keyUse],
      [
        stream([
          call(0, '10.0.0.1', 'gpt-4o'),
          call(2 * DAY, '10.0.0.1', 'o1'), // model new, network known
          call(3 * DAY, '10.0.0.1', 'o1'), // both known
          call(4 * DAY, '203.0.113.7', 'gpt-4o-mini'), // both new: one alert
        ]),
      ],
    );
    expect(alerts.map((a) => a.Title)).toEqual(['new: model o1', 'new: network 203.0.113.7, model gpt-4o-mini']);
    expect(alerts[1].Evidence).toMatchObject({ value: 'network 203.0.113.7', newValues: ['network 203.0.113.7', 'model gpt-4o-mini'], knownValues: 3 });
  });

  it('says whether the key was hardly used before (quietBelow), and severityOf sets the alert severity from it', async () => {
    const quiet = await run([keyUse], [stream([call(0, '10.0.0.1', 'gpt-4o'), call(2 * DAY, '10.0.0.1', 'o1')])]);
    expect(quiet.alerts.map((a) => [a.Severity, a.Evidence.eventsBefore, a.Evidence.quiet])).toEqual([['High', 1, true]]);
    const busy = Array.from({ length: 5 }, (_, i) => call(i * HOUR, '10.0.0.1', 'gpt-4o'));
    const known = await run([keyUse], [stream([...busy, call(2 * DAY, '10.0.0.1', 'o1')])]);
    // Counted up to quietBelow (3), not further.
    expect(known.alerts.map((a) => [a.Severity, a.Evidence.eventsBefore, a.Evidence.quiet])).toEqual([['Medium', 3, false]]);
  });

  it('alwaysNew events alert every time, while learning and on a known value, suppression aside', async () => {
    const guardrail = defineRule({
      ...keyUse.definition,
      id: 'test-first-seen-always',
      sources: ['activity'],
      value: 'resourceId',
      alwaysNew: (e) => e.operation.endsWith('/DELETE'),
      quietBelow: undefined,
      severityOf: undefined,
    } as Parameters<typeof defineRule>[0]);
    const del = (at: number) => ev(at, { operation: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/DELETE' });
    const { alerts } = await run([guardrail], [stream([del(0), del(10 * 60_000), del(2 * HOUR), ev(3 * HOUR), del(2 * DAY)])]);
    // 0: learning, alerts all the same; +10 min: suppressed; +2 h: alerts on a known value; a write (+3 h) learned; day 2 alerts.
    expect(alerts.map((a) => a.FirstEventTime)).toEqual([0, 2 * HOUR, 2 * DAY].map((t) => new Date(T0 + t).toISOString()));
  });

  it('a severityOf that returns no severity is a rule error: counted, no alert', async () => {
    const broken = defineRule({ ...keyUse.definition, id: 'test-first-seen-bad-severity', severityOf: () => 'Critical' } as unknown as Parameters<
      typeof defineRule
    >[0]);
    const { alerts, detector } = await run([broken], [stream([call(0, '10.0.0.1', 'gpt-4o'), call(2 * DAY, '10.0.0.1', 'o1')])]);
    expect(alerts).toEqual([]);
    expect(detector.stats().ruleErrorSamples[0]).toMatch(/severityOf.*"Critical".*Informational, Low, Medium, High/);
  });
});
