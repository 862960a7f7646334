/**
 * Delivery under faults, against the Logs Ingestion stand-in and the outbox on Azurite: a service
 * that never answers, one that throttles while detect is sending, a row of 1.2 MB UTF-8, and a row
 * the service refuses as too large.
 */
import { describe, expect, it } from 'vitest';
import { defineRule } from '../../src/engine/index.js';
import { deliverPending } from '../../src/delivery/sentinel.js';
import { MAX_ROW_BYTES } from '../../src/delivery/outbox.js';
import type { Warden } from '../../src/host/warden.js';
import { deliveryStandIns } from '../support/delivery-stand-ins.js';
import { startLogsIngestionServer, type LogsIngestionTestServer } from '../support/logs-ingestion-server.js';
import { waitFor } from '../support/wait.js';
import { makeAlert } from '../delivery/alerts.js';
import { appOnAzurite, batchContext, keyedActivity } from './app.js';

const START = Date.UTC(2025, 5, 1, 13, 0, 0);
const stands = deliveryStandIns('hostiledelivery', START);

/** An alert for every activity event it sees. */
const EVERY_EVENT = defineRule({
  id: 'test-every-event',
  version: '1',
  title: 'an activity event',
  description: 'test rule',
  severity: 'Low',
  tactics: ['Discovery'],
  techniques: ['T1526'],
  sources: ['activity'],
  kind: 'match',
});

/** Keyed-hub messages of `count` activity events, each raising one alert. */
const keyedEvents = (count: number) => Array.from({ length: count }, (_, n) => keyedActivity(n, START - 60_000 + n));

/** The app on Azurite, sending to `server`, on a clock the test moves. */
function appSendingTo(server: LogsIngestionTestServer, clock: { now: number }, env: Record<string, string> = {}): Promise<Warden> {
  return appOnAzurite(
    stands.azurite,
    { SENTINEL_DCR_ENDPOINT: server.endpoint, SENTINEL_DCR_IMMUTABLE_ID: server.ruleId, ...env },
    { credential: server.credential, sentinelClientOptions: { tlsOptions: { ca: server.ca } }, now: () => clock.now, rules: [EVERY_EVENT] },
  );
}

const timerContext = (log: string[] = []) => batchContext('', 0, 0, log);

describe('delivery under faults', () => {
  it('a service that never answers holds detect no longer than SENTINEL_UPLOAD_TIMEOUT; the alerts wait in the outbox', async () => {
    const clock = { now: START };
    const app = await appSendingTo(stands.server, clock, { SENTINEL_UPLOAD_TIMEOUT: '2s' });
    try {
      stands.server.silent(true);
      const result = await app.detect(keyedEvents(3), batchContext('0', 3, 0));
      expect(result.alerts).toHaveLength(3);
      expect(result.delivered).toMatchObject({ sent: 0, failed: 3 });
      expect(await app.outbox.backlog()).toBe(3);
      expect((await app.health()).lastDelivery).toMatchObject({
        failed: 3,
        lastError: expect.stringMatching(/no answer within 2 s \(SENTINEL_UPLOAD_TIMEOUT\)/),
      });
    } finally {
      await app.close();
    }
  }, 60_000);

  it('a throttled send is not sent again by the deliver timer while detect still sends it: 3 alerts, 3 rows', async () => {
    const clock = { now: START };
    const app = await appSendingTo(stands.server, clock);
    try {
      // The client sleeps on the Retry-After and tries again, all within detect's send.
      stands.server.throttleNext(1, 2);
      const detecting = app.detect(keyedEvents(3), batchContext('0', 3, 0));
      await waitFor('the throttled call', () => stands.server.requests.length >= 1, 30_000);
      // The deliver timer runs meanwhile, as late in detect's send as a send may run.
      clock.now += app.settings.sentinel.uploadTimeoutMs - 1000;
      const timer = await app.deliver(timerContext());
      expect(timer.sent).toBe(0);
      await expect(detecting).resolves.toMatchObject({ delivered: { sent: 3, failed: 0 } });
      clock.now += 3_600_000;
      await app.deliver(timerContext());
      expect(stands.server.rows().map((r) => r.AlertId)).toHaveLength(3);
      expect(new Set(stands.server.rows().map((r) => r.AlertId)).size).toBe(3);
    } finally {
      await app.close();
    }
  }, 60_000);

  it('an alert of 1.2 MB of UTF-8 (400 000 characters of ✓) is sent once with its Evidence cut, not retried forever', async () => {
    const { outbox, sink, clock } = stands.setup();
    const alert = { ...makeAlert(1), Evidence: { note: '✓'.repeat(400_000) } };
    expect(Buffer.byteLength(JSON.stringify(alert))).toBeGreaterThan(MAX_ROW_BYTES);
    expect(await outbox.add([alert])).toMatchObject({ added: 1, evidenceTrimmed: 1 });
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 1, failed: 0, backlog: 0 });
    clock.now += 3_600_000;
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 0, failed: 0, backlog: 0 });
    expect(stands.server.rows()).toEqual([expect.objectContaining({ AlertId: alert.AlertId, Evidence: { trimmed: expect.stringMatching(/bytes\)/) } })]);
  });

  it('a row the service refuses as too large is set aside, named in the deliver log and counted in health, and never sent again', async () => {
    // A service whose limit is below the client's 1 MB calls: a 100 KB alert is refused alone in its call.
    const strict = await startLogsIngestionServer({ maxBodyBytes: 64 * 1024 });
    const clock = { now: START };
    const app = await appSendingTo(strict, clock);
    try {
      const big = makeAlert(1, { evidenceChars: 100_000 });
      await app.outbox.add([big]);
      const log: string[] = [];
      expect(await app.deliver(timerContext(log))).toMatchObject({ sent: 0, failed: 0, refused: 1, backlog: 0 });
      expect(log.join('\n')).toMatch(/1 refused as too large \(set aside in the outbox\).*413 ContentLengthLimitExceeded/);
      const health = await app.health();
      expect(health.status).toBe('degraded');
      expect(health.outbox).toMatchObject({ backlog: 0, refused: 1 });
      const calls = strict.requests.length;
      clock.now += 3_600_000;
      await app.outbox.add([makeAlert(2)]);
      expect(await app.deliver(timerContext())).toMatchObject({ sent: 1, failed: 0, backlog: 0 });
      expect(strict.requests.length).toBe(calls + 1);
      expect(strict.rows().map((r) => r.AlertId)).toEqual([makeAlert(2).AlertId]);
    } finally {
      await app.close();
      await strict.close();
    }
  });
});
