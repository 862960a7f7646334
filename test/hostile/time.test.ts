import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertSchema } from '../../src/model/index.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import { Detector } from '../../src/engine/index.js';
import { alertKey, demoBodies, DEMO_CAPTURE, runAsDemo, writeCapture, type DemoRun } from './demo.js';

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const DEMO_TIME = /2025-06-02T\d\d:\d\d:\d\d(\.\d+)?/g;

/** A record of the demo made someone else's (every GUID replaced, so other principals, apps and tenants) and stamped at `time`. */
function stranger(record: Record<string, unknown>, n: number, time: string): Record<string, unknown> {
  let i = 0;
  const text = JSON.stringify(record)
    .replace(GUID, () => `f0f0f0f0-0000-4000-8000-${String(n * 100 + i++).padStart(12, '0')}`)
    .replace(DEMO_TIME, time);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('time that cannot be real is not trusted', () => {
  let dir: string;
  let plain: DemoRun;
  let forged: DemoRun;
  let added = 0;
  let nines = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-hostile-time-'));
    const bodies = await demoBodies();
    // In bodies after the first (a partition's first event sets its clock), records of other
    // identities of every category: some in the year 9999, some a day ahead of the capture.
    let n = 0;
    for (let b = 2; b < bodies.length; b += 3) {
      const records = bodies[b].records;
      // A key listing or a cross-subscription copy raises an alert whoever does it and whenever: a
      // day-ahead one is left out, so any alert more than the demo's would be one the forged times made.
      // At most two day-ahead records a body: three in a row on one partition is what a quiet
      // partition resuming looks like, and moves its clock by design (AHEAD_RUN).
      const strangers = records
        .slice(0, 12)
        .map((r) =>
          ++n % 2
            ? stranger(r, n, '9999-12-31T23:59:59.9999999')
            : n % 6 || /listkey|copy/i.test(String(r.operationName))
              ? undefined
              : stranger(r, n, '2025-06-03T09:30:00.0000000'),
        )
        .filter((r) => r !== undefined);
      // Spread among the body's own records, as a writer to the hub would have them arrive.
      strangers.forEach((r, k) => records.splice(1 + k * 4, 0, r));
      added += strangers.length;
      nines += strangers.filter((r) => JSON.stringify(r).includes('9999-12-31')).length;
    }
    const file = join(dir, 'forged.ndjson.gz');
    await writeCapture(file, bodies);
    [plain, forged] = [await runAsDemo(DEMO_CAPTURE), await runAsDemo(file)];
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("the demo with far-future records of other identities added raises exactly the demo's alerts", () => {
    expect(plain.alerts.length).toBeGreaterThan(5);
    expect(plain.alerts.some((a) => a.Severity === 'High')).toBe(true);
    expect(forged.alerts.map(alertKey).sort()).toEqual(plain.alerts.map(alertKey).sort());
    expect(forged.stats.late).toBe(plain.stats.late);
  });

  it('dead-letters, and counts, the records stamped after they arrived; the rest do not move the clock', () => {
    const ahead = forged.deadLetters.filter((d) => /more than 5 min after it arrived/.test(d.reason));
    expect(ahead.length).toBe(nines);
    expect(ahead[0].raw).toContain('9999-12-31');
    expect(forged.summary.records).toBe(plain.summary.records + added);
    expect(forged.summary.deadLettered).toBe(plain.summary.deadLettered + ahead.length);
    expect(forged.stats.ahead).toBeGreaterThan(0);
  });

  it('refuses on the live stream times older than the hub keeps, and times before 1970 anywhere', () => {
    const arrivedAt = Date.parse('2025-06-02T10:00:00Z');
    const record = {
      time: '2025-05-01T10:00:00Z',
      category: 'AuditEvent',
      operationName: 'SecretGet',
      resourceId: '/SUBSCRIPTIONS/22534AAB-409E-4718-B7BE-29A91840928F/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV',
      identity: { claim: { oid: '23e604d8-e1af-4617-9cf8-ce206c8acdba' } },
      resultType: 'Success',
      properties: { id: 'https://kv.vault.azure.net/secrets/a' },
    };
    expect(ingestBody({ records: [record] }, {}, { times: { arrivedAt } }).events).toHaveLength(1);
    const live = ingestBody({ records: [record] }, {}, { times: { arrivedAt, maxAgeMs: 7 * 86_400_000 } });
    expect(live.events).toHaveLength(0);
    expect(live.deadLetters[0].reason).toMatch(/more than 10080 min before it arrived/);
    const ancient = ingestBody({ records: [{ ...record, time: '1969-12-31T00:00:00Z' }] }, {}, { times: { arrivedAt } });
    expect(ancient.events).toHaveLength(0);
    expect(ancient.deadLetters).toHaveLength(1);
  });

  it('keeps every alert time inside the Alert schema', () => {
    for (const a of forged.alerts) expect(AlertSchema.safeParse(a).success, a.AlertId).toBe(true);
  });

  it("one event too far ahead does not move a partition's clock; a few in a row (a quiet partition resuming) do", async () => {
    const detector = new Detector([], { maxClockSkewMs: 60_000 });
    const at = (time: number, sequenceNumber: number) => ({
      event: {
        id: `e${sequenceNumber}`,
        time,
        source: 'activity' as const,
        category: 'Administrative',
        operation: 'X',
        result: 'success' as const,
        principalId: 'p',
        principalType: 'user' as const,
        details: {},
      },
      arrivedAt: time,
      partitionId: '0',
      sequenceNumber,
    });
    const t = Date.parse('2025-06-02T09:00:00Z');
    await detector.process([at(t, 1), at(Date.parse('9999-12-31T00:00:00Z'), 2), at(t + 1000, 3), at(t + 2000, 4)]);
    expect(detector.stats()).toMatchObject({ late: 0, ahead: 1, events: 4 });
    const hour = 3_600_000;
    await detector.process([at(t + hour, 5), at(t + hour + 1000, 6), at(t + hour + 2000, 7), at(t + 3000, 8)]);
    expect(detector.stats()).toMatchObject({ late: 1, ahead: 4, events: 8 });
  });
});
