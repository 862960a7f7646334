import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableAlertOutbox } from '../../src/delivery/outbox.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { tableKey } from '../../src/state/table-entities.js';
import { makeAlert } from './alerts.js';

let azurite: AzuriteInstance;
let tables = 0;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** An outbox on a table of its own, with a clock the test moves. */
function outbox(start = Date.UTC(2025, 5, 1, 13, 0, 0)) {
  const clock = { now: start };
  const box = new TableAlertOutbox({ connectionString: azurite.connectionString, table: `outbox${++tables}` }, { now: () => clock.now });
  return { box, clock };
}

async function rowCount(box: TableAlertOutbox): Promise<number> {
  let n = 0;
  for await (const _ of box.client.listEntities()) n++;
  return n;
}

describe('TableAlertOutbox on Azurite', () => {
  it('adds an alert once: a redelivered batch adds nothing twice', async () => {
    const { box } = outbox();
    const batch = Array.from({ length: 130 }, (_, i) => makeAlert(i));
    expect(await box.add(batch)).toEqual({ added: 130, duplicates: [], evidenceTrimmed: 0 });
    // Redelivery: the same batch, then one overlapping it, with a duplicate inside the call. The
    // caller learns which were there already (detect sends only the others at once).
    const again = await box.add(batch);
    expect({ ...again, duplicates: [...again.duplicates].sort() }).toEqual({ added: 0, duplicates: batch.map((a) => a.AlertId).sort(), evidenceTrimmed: 0 });
    const overlap = [makeAlert(5), makeAlert(200), makeAlert(201), makeAlert(200)];
    expect(await box.add(overlap)).toEqual({ added: 2, duplicates: [makeAlert(5).AlertId], evidenceTrimmed: 0 });
    expect(await rowCount(box)).toBe(132);
    expect(await box.backlog()).toBe(132);
  });

  it('gives pending alerts oldest first, up to the limit, exactly as added', async () => {
    const { box } = outbox();
    await box.add([makeAlert(30), makeAlert(10)]);
    await box.add([makeAlert(20), makeAlert(5)]);
    const pending = await box.pending(3);
    expect(pending.map((p) => p.alert)).toEqual([makeAlert(5), makeAlert(10), makeAlert(20)]);
    expect(pending.every((p) => p.attempts === 0 && p.lastError === undefined)).toBe(true);
    expect((await box.pending(10)).map((p) => p.alert.AlertId)).toEqual([5, 10, 20, 30].map((n) => makeAlert(n).AlertId));
  });

  it('orders alerts raised in the same instant by when they were added', async () => {
    const { box, clock } = outbox();
    const same = '2025-06-01T12:00:00.000Z';
    const later = makeAlert(1, { timeGenerated: same });
    const earlier = makeAlert(2, { timeGenerated: same });
    await box.add([earlier]);
    clock.now += 1000;
    await box.add([later]);
    expect((await box.pending(10)).map((p) => p.alert.AlertId)).toEqual([earlier.AlertId, later.AlertId]);
  });

  it('marks alerts sent: no longer pending, out of the backlog, and not re-added by a redelivery', async () => {
    const { box } = outbox();
    const alerts = [makeAlert(1), makeAlert(2), makeAlert(3)];
    await box.add(alerts);
    await box.pending(10);
    await box.markSent([alerts[0].AlertId, alerts[2].AlertId]);
    expect((await box.pending(10)).map((p) => p.alert.AlertId)).toEqual([alerts[1].AlertId]);
    expect(await box.backlog()).toBe(1);
    expect(await box.add(alerts)).toMatchObject({ added: 0, duplicates: expect.arrayContaining(alerts.map((a) => a.AlertId)) });
    expect(await box.backlog()).toBe(1);
    const sent = await box.client.getEntity('alert', tableKey(alerts[0].AlertId));
    expect(sent).toMatchObject({ Status: 'sent', Attempts: 1 });
    // Kept until the audit finds the row in the workspace: it may have to be sent again.
    expect(JSON.parse(String(sent.a))).toEqual(alerts[0]);
  });

  it('drops the alert once the audit found its row, resends or loses the missing ones', async () => {
    const { box, clock } = outbox();
    const alerts = [makeAlert(1), makeAlert(2), makeAlert(3)];
    await box.add(alerts);
    await box.pending(10);
    await box.markSent(alerts.map((a) => a.AlertId));
    clock.now += 60_000;
    const sent = await box.sentBefore(new Date(clock.now), 10);
    expect(sent.map((s) => s.alertId)).toEqual(alerts.map((a) => a.AlertId));
    await box.markLanded([sent[0]]);
    expect(await box.markMissing([sent[1]], 1)).toEqual({ resent: [alerts[1].AlertId], lost: [] });
    expect(await box.markMissing([{ ...sent[2], resends: 1 }], 1)).toEqual({ resent: [], lost: [alerts[2].AlertId] });
    const landed = await box.client.getEntity('alert', tableKey(alerts[0].AlertId));
    expect(landed).toMatchObject({ Status: 'landed' });
    expect(landed.a).toBeUndefined();
    expect((await box.pending(10)).map((p) => p.alert)).toEqual([alerts[1]]);
    expect(await box.count('lost')).toBe(1);
    expect(await box.sentBefore(new Date(clock.now), 10)).toEqual([]);
  });

  it('records failed attempts (count, redacted error, time) and holds the alert back until its backoff or Retry-After', async () => {
    const { box, clock } = outbox();
    const [a, b] = [makeAlert(1), makeAlert(2)];
    await box.add([a, b]);
    await box.pending(10);
    await box.markFailed(
      [a.AlertId],
      'upload to https://x.blob.core.windows.net/c?sv=1&sig=SECRETSIG failed; header Authorization: Bearer eyJ0eXAi.SECRET.TOKEN',
    );
    await box.markFailed([b.AlertId], '429 TooManyRequests', 60_000);
    expect(await box.pending(10)).toEqual([]);
    expect(await box.backlog()).toBe(2);

    clock.now += 5_001; // a's first backoff is 5 s; b asked for 60 s
    const [again] = await box.pending(10);
    expect(again.alert).toEqual(a);
    expect(again.attempts).toBe(1);
    expect(again.lastAttemptAt).toBe(new Date(clock.now - 5_001).toISOString());
    expect(again.lastError).toContain('sig=REDACTED');
    expect(again.lastError).toContain('Bearer REDACTED');
    expect(again.lastError).not.toMatch(/SECRET/);

    await box.markFailed([a.AlertId], 'still down');
    clock.now += 9_000; // the second backoff is 10 s
    expect(await box.pending(10)).toEqual([]);
    clock.now += 60_000;
    expect((await box.pending(10)).map((p) => [p.alert.AlertId, p.attempts])).toEqual([
      [a.AlertId, 2],
      [b.AlertId, 1],
    ]);
  });

  it('counts attempts from the stored row when marking alerts it did not just hand out', async () => {
    const { box, clock } = outbox();
    await box.add([makeAlert(1)]);
    await box.markFailed([makeAlert(1).AlertId, 'not-in-the-outbox'], 'boom');
    await box.markFailed([makeAlert(1).AlertId], 'boom again');
    clock.now += 60_000;
    const [p] = await box.pending(10);
    expect(p).toMatchObject({ attempts: 2, lastError: 'boom again' });
    expect(await rowCount(box)).toBe(1);
  });

  it('stores large alerts across properties unchanged, and trims the Evidence of one too large for an entity', async () => {
    const { box } = outbox();
    const large = makeAlert(1, { evidenceChars: 200_000 });
    const huge = makeAlert(2, { evidenceChars: 600_000 });
    expect(await box.add([large, huge])).toEqual({ added: 2, duplicates: [], evidenceTrimmed: 1 });
    const [first, second] = await box.pending(10);
    expect(first.alert).toEqual(large);
    expect(second.alert).toEqual({ ...huge, Evidence: { trimmed: expect.stringMatching(/^Evidence was 600\d+ characters/) } });
  });

  it('keeps a row whose stored JSON was damaged, marked failed, without blocking the others', async () => {
    const { box } = outbox();
    await box.add([makeAlert(1), makeAlert(2)]);
    await box.client.updateEntity({ partitionKey: 'alert', rowKey: tableKey(makeAlert(1).AlertId), a: '{"broken' }, 'Merge');
    expect((await box.pending(10)).map((p) => p.alert.AlertId)).toEqual([makeAlert(2).AlertId]);
    expect(await box.backlog()).toBe(2);
    const damaged = await box.client.getEntity('alert', tableKey(makeAlert(1).AlertId));
    expect(damaged.LastError).toMatch(/not valid JSON/);
  });

  it('purges sent rows older than a date, leaving pending ones', async () => {
    const { box, clock } = outbox();
    await box.add([makeAlert(1), makeAlert(2), makeAlert(3)]);
    await box.markSent([makeAlert(1).AlertId]);
    clock.now += 3600_000;
    await box.markSent([makeAlert(2).AlertId]);
    expect(await box.purgeSent(new Date(clock.now - 60_000))).toBe(1);
    expect(await rowCount(box)).toBe(2);
    // After the purge a redelivery could add the alert again: that is the retention's trade-off.
    expect(await box.add([makeAlert(1)])).toMatchObject({ added: 1 });
  });
});
