import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decimal, eventId, parseTime, recordId, stripPort } from '../../src/ingest/util.js';
import { callerIp } from '../../src/ingest/sources/resource-log.js';
import type { NormalizedEvent } from '../../src/model/index.js';

/** 2007-01-09T09:41:00Z: the instant every line of Elastic's time-format corner cases writes, in its own way. */
const AT = Date.UTC(2007, 0, 9, 9, 41, 0);

/** Each corner case and what it must read as (fractions beyond milliseconds are cut, not rounded). */
const CORNER_CASES: Array<[string, number]> = [
  ['01/09/2007 09:41:00', AT],
  ['1/9/2007 09:41:00', AT],
  ['01/09/2007 09:41:00 AM', AT],
  ['1/9/2007 9:41:00 AM', AT],
  ['1/9/2007 10:41:00 AM +01:00', AT],
  ['2007-01-09T09:41:00', AT],
  ['2007-01-09T09:41:00.22Z', AT + 220],
  ['2007-01-09T09:41:00.6816663Z', AT + 681],
  ['2007-01-09T09:41:00.535404056Z', AT + 535],
  ['2007-01-09T09:41:00.992099+00:00', AT + 992],
  ['2007-01-09T11:41:00+02:00', AT],
];

/** Runs `check` with the process in another time zone: a time without a zone must still read as UTC. */
function inTimeZone(zone: string, check: () => void): void {
  const saved = process.env.TZ;
  process.env.TZ = zone;
  try {
    check();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

describe('parseTime', () => {
  it('reads US dates, AM/PM, offsets and 7 or 9 fractional digits as the right instant, in any local time zone', () => {
    for (const zone of ['UTC', 'Asia/Kolkata', 'America/Los_Angeles']) {
      inTimeZone(zone, () => {
        for (const [text, ms] of CORNER_CASES) expect(parseTime(text), `${text} in ${zone}`).toBe(ms);
        expect(parseTime('12/12/2025 12:03:58 AM'), zone).toBe(Date.UTC(2025, 11, 12, 0, 3, 58));
        expect(parseTime('12/12/2025 12:03:58 PM'), zone).toBe(Date.UTC(2025, 11, 12, 12, 3, 58));
        expect(parseTime('2025/09/16 13:11:22.6543210'), zone).toBe(Date.UTC(2025, 8, 16, 13, 11, 22, 654));
        expect(parseTime('01/09/2007'), zone).toBe(Date.UTC(2007, 0, 9));
        expect(parseTime('2007-01-09 09:41:00'), zone).toBe(AT);
      });
    }
  });

  it('reads ISO 8601 with any fraction (0–9 digits, cut to ms) and zone (Z, none, ±hh:mm) as the instant written', () => {
    const time = fc.record({
      local: fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }),
      fractionDigits: fc.integer({ min: 0, max: 9 }),
      moreDigits: fc.stringMatching(/^\d{6}$/),
      zone: fc.constantFrom('Z', '', 'offset'),
      offsetMinutes: fc.integer({ min: -12 * 60, max: 14 * 60 }),
    });
    fc.assert(
      fc.property(time, ({ local, fractionDigits, moreDigits, zone, offsetMinutes }) => {
        const iso = new Date(local).toISOString();
        const digits = (iso.slice(20, 23) + moreDigits).slice(0, fractionDigits);
        const offset = zone === 'offset' ? offsetMinutes : 0;
        const abs = Math.abs(offset);
        const suffix =
          zone === 'offset' ? `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}` : zone;
        const text = `${iso.slice(0, 19)}${digits ? `.${digits}` : ''}${suffix}`;
        const instant = local - (local % 1000) + Number(digits.slice(0, 3).padEnd(3, '0')) - offset * 60_000;
        expect(parseTime(text), text).toBe(instant > 0 ? instant : undefined);
      }),
      { numRuns: 5_000 },
    );
  });

  it('reads the RFC 1123 time Autoscale records carry', () => {
    expect(parseTime('Fri, 21 Jul 2017 01:00:51 GMT')).toBe(Date.UTC(2017, 6, 21, 1, 0, 51));
  });

  it('reads epoch seconds and milliseconds, and rejects what is not a time', () => {
    expect(parseTime(1168335660)).toBe(AT);
    expect(parseTime(AT + 5)).toBe(AT + 5);
    for (const bad of ['yesterday', '', '5', '-5', '2025-13-45T99:99:99Z', 1e21, -5, 0, null, {}]) expect(parseTime(bad), JSON.stringify(bad)).toBeUndefined();
  });
});

describe('recordId', () => {
  it('is 32 hex digits, the same for the same parts and different when any part differs', () => {
    const id = recordId('activity', 'administrative', 'X/Y/ACTION', AT, 'corr', 'success', undefined, 'p1', '/subscriptions/s');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(recordId('activity', 'administrative', 'X/Y/ACTION', AT, 'corr', 'success', undefined, 'p1', '/subscriptions/s')).toBe(id);
    expect(recordId('activity', 'administrative', 'X/Y/ACTION', AT + 1, 'corr', 'success', undefined, 'p1', '/subscriptions/s')).not.toBe(id);
    expect(recordId('activity', 'administrative', 'X/Y/ACTION', AT, 'corr', 'start', undefined, 'p1', '/subscriptions/s')).not.toBe(id);
  });

  it('cannot be fooled by moving text from one part to the next, or by a part that contains a separator', () => {
    expect(recordId('ab', 'c')).not.toBe(recordId('a', 'bc'));
    expect(recordId('a|b', 'c')).not.toBe(recordId('a', 'b|c'));
    expect(recordId('1:a', '')).not.toBe(recordId('', '1:a'));
    expect(recordId('x', undefined)).not.toBe(recordId(undefined, 'x'));
  });

  it("an event id is recordId over the event's identifying fields then its source's extras, as docs/sources.md lists them", () => {
    const e: NormalizedEvent = {
      id: '',
      time: AT,
      source: 'storage',
      category: 'StorageRead',
      operation: 'GETBLOB',
      result: 'success',
      principalId: 'p1',
      principalType: 'user',
      resourceId: '/subscriptions/s/providers/microsoft.storage/storageaccounts/a',
      correlationId: 'corr',
      details: { statusCode: 200, container: 'c' },
    };
    const parts = [
      'storage',
      'storageread',
      'GETBLOB',
      AT,
      'corr',
      'success',
      200,
      'p1',
      '/subscriptions/s/providers/microsoft.storage/storageaccounts/a',
    ] as const;
    expect(eventId(e, ['c', 'x/y'])).toBe(recordId(...parts, 'c', 'x/y'));
    expect(eventId(e)).toBe(recordId(...parts));
    expect(eventId({ ...e, correlationId: undefined, details: {} }, [undefined])).toBe(
      recordId('storage', 'storageread', 'GETBLOB', AT, undefined, 'success', undefined, 'p1', parts[8], undefined),
    );
  });
});

describe('decimal', () => {
  it('writes a number as String does', () => {
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex').slice(0, 32);
    for (const n of [
      0,
      1,
      -1,
      1.5,
      9_999_999,
      10_000_000,
      19_999_999,
      20_000_000,
      1_748_854_800_123,
      Number.MAX_SAFE_INTEGER,
      9_007_199_249_999_999,
      9_007_199_250_000_000,
      1_748_854_809_999_999,
      2 ** 53 + 2,
      1e21,
      NaN,
      -1e12,
    ])
      expect(decimal(n), String(n)).toBe(String(n));
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeInteger(), fc.integer({ min: 1e12, max: 2e12 }), fc.double()), (n) => decimal(n) === String(n)),
      { numRuns: 20_000 },
    );
    // And so the id's text: a time is hashed as its length, a colon and its digits.
    expect(recordId(1_748_854_800_123)).toBe(sha1('13:1748854800123'));
  });
});

describe('callerIp', () => {
  // What callerIp keeps, as it was first written: node:net's isIP, or an address masked with * or X.
  const reference = (v: string): string | undefined => {
    const ip = stripPort(v);
    return ip && (isIP(ip) !== 0 || /^[0-9a-f.:]*[.:](\*+|X+)$/i.test(ip)) ? ip : undefined;
  };

  it('keeps what isIP takes and masked addresses, and drops the rest, whatever the text', () => {
    for (const v of [
      '1.2.3.4',
      '1.2.3.4:443',
      '01.2.3.4',
      '255.255.255.255',
      '256.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '0.0.0.0',
      '81.2.69.***',
      '87.174.239.XXX',
      'fe80::1%eth0x',
      '::1',
      '[::1]:443',
      '<Redacted>',
      '1.2.3.04',
    ])
      expect(callerIp(v), v).toBe(reference(v));
    const text = fc.string({ unit: fc.constantFrom(...'0123456789.:*Xx%abcdef[] '), maxLength: 24 });
    fc.assert(
      fc.property(text, (v) => callerIp(v) === reference(v)),
      { numRuns: 20_000 },
    );
  });
});
