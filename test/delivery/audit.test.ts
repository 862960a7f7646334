/**
 * The delivery audit against the stand-ins: the Logs Ingestion test server answers 204 and drops
 * rows as a DCR does, the Log Analytics test server serves WardenAlerts_CL from the rows that were
 * kept, and the audit reads it back through the real LogsQueryClient.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogsQueryClient } from '@azure/monitor-query-logs';
import { deliverPending } from '../../src/delivery/sentinel.js';
import { AuditQueryError, LogAnalyticsAlertWorkspace, auditDelivery } from '../../src/delivery/audit.js';
import { deliveryStandIns } from '../support/delivery-stand-ins.js';
import { startLogAnalyticsServer, type LogAnalyticsTestServer } from '../support/log-analytics-server.js';
import { wardenAlertsTable } from '../support/log-analytics-rows.js';
import { makeAlert } from './alerts.js';

const GRACE_MS = 10 * 60_000;

const stands = deliveryStandIns('audit', Date.UTC(2025, 5, 1, 13, 0, 0));
let workspace: LogAnalyticsTestServer;

beforeEach(async () => {
  workspace = await startLogAnalyticsServer({ tables: () => [wardenAlertsTable(stands.server.rows())] });
});
afterEach(async () => {
  await workspace?.close();
});

function setup() {
  const { clock, outbox, sink } = stands.setup();
  const client = new LogsQueryClient(workspace.credential, { endpoint: workspace.endpoint, tlsOptions: { ca: workspace.ca }, retryOptions: { maxRetries: 0 } });
  const alertWorkspace = new LogAnalyticsAlertWorkspace(client, workspace.workspaceId);
  const audit = (maxResends = 2) => auditDelivery(outbox, alertWorkspace, { graceMs: GRACE_MS, maxResends, now: () => clock.now });
  return { clock, outbox, sink, audit };
}

describe('auditDelivery', () => {
  it('finds exactly the rows the DCR dropped after a 204, sends them again, and then finds them landed', async () => {
    const { clock, outbox, sink, audit } = setup();
    const alerts = Array.from({ length: 40 }, (_, i) => makeAlert(i));
    const dropped = new Set(alerts.filter((_, i) => i % 2 === 1).map((a) => a.AlertId));
    stands.server.dropRows((row) => dropped.has(row.AlertId as string));
    await outbox.add(alerts);
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 40, failed: 0, backlog: 0 });
    expect(stands.server.dropped).toHaveLength(20);
    stands.server.dropRows(undefined);

    // Within the grace period nothing is judged: the rows may still be on their way.
    clock.now += 60_000;
    expect(await audit()).toMatchObject({ checked: 0, missing: [] });

    clock.now += GRACE_MS;
    const first = await audit();
    expect(first).toMatchObject({ checked: 40, landed: 20, lost: [], lostTotal: 0 });
    expect([...first.missing].sort()).toEqual([...dropped].sort());
    expect([...first.resent].sort()).toEqual([...dropped].sort());
    expect(workspace.requests.at(-1)?.query).toMatch(/^WardenAlerts_CL \| where AlertId in \("a0+",/);

    // The resend: due at once, and this time the rows stay.
    expect(await deliverPending(outbox, sink)).toEqual({ sent: 20, failed: 0, backlog: 0 });
    clock.now += GRACE_MS + 60_000;
    expect(await audit()).toMatchObject({ checked: 20, landed: 20, missing: [], resent: [], lost: [] });
    // Every alert is in the table once; nothing is left to audit.
    const ids = stands.server.rows().map((r) => r.AlertId as string);
    expect(ids.sort()).toEqual(alerts.map((a) => a.AlertId).sort());
    expect(await audit()).toMatchObject({ checked: 0 });
  });

  it('gives a row up as lost once it was resent as often as allowed, and keeps counting it', async () => {
    const { clock, outbox, sink, audit } = setup();
    const alert = makeAlert(7);
    stands.server.dropRows(() => true); // a DCR that refuses the row every time: not transient
    await outbox.add([alert, makeAlert(8)]);
    await deliverPending(outbox, sink);
    clock.now += GRACE_MS + 1;
    expect(await audit(1)).toMatchObject({ checked: 2, resent: [alert.AlertId, makeAlert(8).AlertId], lost: [] });
    await deliverPending(outbox, sink);
    clock.now += GRACE_MS + 1;
    expect(await audit(1)).toMatchObject({ checked: 2, landed: 0, resent: [], lost: [alert.AlertId, makeAlert(8).AlertId], lostTotal: 2 });
    // Lost rows are not sent again, and the count stays for health.
    expect(await deliverPending(outbox, sink)).toMatchObject({ sent: 0 });
    clock.now += GRACE_MS + 1;
    expect(await audit(1)).toMatchObject({ checked: 0, lostTotal: 2 });
    expect(stands.server.dropped).toHaveLength(4);
  });

  it('says what to fix when the workspace refuses the query', async () => {
    const { clock, outbox, sink, audit } = setup();
    await outbox.add([makeAlert(1)]);
    await deliverPending(outbox, sink);
    clock.now += GRACE_MS + 1;
    workspace.failNext(1, 403);
    await expect(audit()).rejects.toThrow(AuditQueryError);
    workspace.failNext(1, 403);
    await expect(audit()).rejects.toThrow(/403.*Log Analytics Reader on the workspace/);
  });
});
