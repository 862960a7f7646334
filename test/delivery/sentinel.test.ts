import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SentinelSink, type SentinelSinkOptions } from '../../src/delivery/sentinel.js';
import { startLogsIngestionServer, MAX_BODY_BYTES, type LogsIngestionTestServer } from '../support/logs-ingestion-server.js';
import { makeAlert } from './alerts.js';

let server: LogsIngestionTestServer;

beforeEach(async () => {
  server = await startLogsIngestionServer();
});
afterEach(async () => {
  await server?.close();
});

/** The real LogsIngestionClient, trusting the server's certificate, with quick retries. */
function sink(overrides: Partial<SentinelSinkOptions> = {}, maxRetries = 2): SentinelSink {
  return new SentinelSink({
    endpoint: server.endpoint,
    ruleId: server.ruleId,
    credential: server.credential,
    clientOptions: { tlsOptions: { ca: server.ca }, retryOptions: { maxRetries, retryDelayInMs: 20, maxRetryDelayInMs: 100 } },
    ...overrides,
  });
}

const asRows = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('SentinelSink against the Logs Ingestion test server', () => {
  it('uploads exactly the Alert rows, gzipped, with a bearer token for Azure Monitor', async () => {
    const alerts = [makeAlert(1), makeAlert(2), makeAlert(3)];
    const result = await sink().send(alerts);
    expect(result).toEqual({ sent: alerts.map((a) => a.AlertId), failed: [] });
    expect(server.rows()).toEqual(asRows(alerts));
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ status: 204, gzip: true, apiVersion: '2023-01-01', stream: 'Custom-WardenAlerts', rows: 3 });
    expect(server.requests[0].bytes).toBeLessThan(server.requests[0].uncompressedBytes);
    expect(server.tokenScopes).toContain('https://monitor.azure.com/.default');
  });

  it('does not talk to a server whose certificate it was not told to trust', async () => {
    const result = await sink({ clientOptions: { retryOptions: { maxRetries: 0 } } }).send([makeAlert(1)]);
    expect(result.sent).toEqual([]);
    expect(result.failed[0].error).toMatch(/certificate/i);
    expect(server.requests).toHaveLength(0);
  });

  it('reports a rejected token as failed, with what to fix and no token in the text', async () => {
    const wrong = { getToken: () => Promise.resolve({ token: 'not-the-token', expiresOnTimestamp: Date.now() + 60_000 }) };
    const result = await sink({ credential: wrong }).send([makeAlert(1), makeAlert(2)]);
    expect(result.sent).toEqual([]);
    expect(result.failed.map((f) => f.alertId)).toEqual([makeAlert(1).AlertId, makeAlert(2).AlertId]);
    expect(result.failed[0].error).toMatch(/^401 InvalidToken: .*Monitoring Metrics Publisher/);
    expect(result.failed[0].error).not.toContain('not-the-token');
    expect(server.rows()).toEqual([]);
  });

  it('waits as Retry-After says when throttled, then delivers', async () => {
    server.throttleNext(2, 1);
    const started = Date.now();
    const result = await sink().send([makeAlert(1)]);
    expect(result.failed).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(server.requests.map((r) => r.status)).toEqual([429, 429, 204]);
    expect(server.rows()).toHaveLength(1);
  });

  it("hands back the service's Retry-After when throttling outlasts the retries", async () => {
    server.throttleNext(5, 7);
    const alerts = [makeAlert(1), makeAlert(2)];
    const result = await sink({}, 0).send(alerts);
    expect(result.sent).toEqual([]);
    expect(result.failed).toHaveLength(2);
    expect(result.failed[0].error).toMatch(/^429 TooManyRequests/);
    expect(result.retryAfterMs).toBe(7000);
  });

  it('does not sleep on a Retry-After longer than its limit: the alerts come back failed with the wait', async () => {
    server.throttleNext(1, 45);
    const started = Date.now();
    const result = await sink({ maxRetryAfterMs: 10_000 }).send([makeAlert(1)]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result).toMatchObject({ sent: [], retryAfterMs: 45_000 });
    expect(server.requests).toHaveLength(1);
  });

  it('splits more than 1 MB of alerts into calls under the limit; every row arrives once', async () => {
    const alerts = Array.from({ length: 300 }, (_, i) => makeAlert(i, { evidenceChars: 10_000 }));
    const result = await sink().send(alerts);
    expect(result.failed).toEqual([]);
    expect(result.sent).toHaveLength(300);
    expect(server.requests.length).toBeGreaterThanOrEqual(3);
    for (const r of server.requests) {
      expect(r.status).toBe(204);
      expect(r.uncompressedBytes).toBeLessThanOrEqual(MAX_BODY_BYTES);
    }
    const ids = server.rows().map((r) => r.AlertId);
    expect(new Set(ids).size).toBe(300);
    expect(ids.sort()).toEqual(alerts.map((a) => a.AlertId).sort());
  });

  it('refuses only the alert that is over 1 MB on its own (no send of it can succeed); the others are delivered', async () => {
    const huge = makeAlert(99, { evidenceChars: 1_100_000 });
    const alerts = [makeAlert(1), huge, makeAlert(2)];
    const result = await sink().send(alerts);
    expect(result.sent.sort()).toEqual([makeAlert(1).AlertId, makeAlert(2).AlertId].sort());
    expect(result.failed).toEqual([]);
    expect(result.refused).toEqual([{ alertId: huge.AlertId, error: expect.stringMatching(/^413 ContentLengthLimitExceeded: .*set aside in the outbox/) }]);
    expect(
      server
        .rows()
        .map((r) => r.AlertId)
        .sort(),
    ).toEqual(result.sent.sort());
  });

  it('reports every alert failed, with the status, when the service keeps failing', async () => {
    server.failNext(3, 500);
    const result = await sink().send([makeAlert(1)]);
    expect(result.failed).toEqual([{ alertId: makeAlert(1).AlertId, error: expect.stringMatching(/^500 InjectedFailure/) }]);
    expect(result.retryAfterMs).toBeUndefined();
    expect(server.requests).toHaveLength(3);
  });
});
