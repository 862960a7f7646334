import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import type { Alert } from '../model/index.js';

import { once, tableClientFor, type TableLocation } from '../state/azure-storage.js';
import { ENTITY_TEXT_CHARS, joinText, keyOf, keyedEntity, submitTransactions, tableKey, textEntity } from '../state/table-entities.js';
import { redactSecrets } from '../common/redact.js';

export const DEFAULT_OUTBOX_TABLE = 'wardenoutbox';

/** Every alert lives in one Table partition, so adds and status changes batch into transactions. */
const PARTITION = 'alert';
/** The property holding the alert's JSON (`a`, then `a1`, `a2`… when long). */
const PAYLOAD = 'a';
/** Failed sends wait 5 s, 10 s, 20 s … up to 15 minutes before the next attempt, unless the service said how long. */
const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 15 * 60_000;
const ERROR_CHARS = 500;

/** An alert waiting to be sent, with what the outbox knows of earlier attempts. */
export interface PendingAlert {
  alert: Alert;
  attempts: number;
  lastError?: string;
  lastAttemptAt?: string;
}

export interface AddResult {
  /** Alerts stored now. */
  added: number;
  /**
   * AlertIds already in the outbox (a batch handled again after a crash raises its alerts again):
   * not stored twice, and not to be sent again by the caller (the outbox sends them if they are still pending).
   */
  duplicates: string[];
  /** Alerts too large for one entity, stored with their Evidence replaced by a note saying so. */
  evidenceTrimmed: number;
}

/** What the deliver loop needs from an outbox (tests and `warden run` may use another). */
export interface AddOptions {
  /**
   * Keep the alerts from `pending` for this long: the caller sends them itself right away, and the
   * deliver timer should take them only if that send does not mark them sent (no double send).
   */
  holdMs?: number;
}

export interface AlertOutbox {
  add(alerts: readonly Alert[], options?: AddOptions): Promise<AddResult>;
  pending(limit: number): Promise<PendingAlert[]>;
  markSent(alertIds: readonly string[]): Promise<void>;
  markFailed(alertIds: readonly string[], error: string, retryAfterMs?: number): Promise<void>;
  /** Set an alert aside that the service refused as too large: kept with the reason, never sent again. */
  markRefused(alertId: string, error: string): Promise<void>;
  backlog(): Promise<number>;
}

export interface TableOutboxOptions {
  /** Clock for attempt times and backoff (tests). Default Date.now. */
  now?: () => number;
}

/**
 * pending → sent (the service answered 2xx; the alert JSON is kept) → landed (the audit found the
 * row in the workspace; the JSON is dropped). A sent row the audit does not find goes back to
 * pending to be sent again, or to lost once it was resent as often as allowed. A pending row the
 * service refuses as too large is refused: kept with the reason, never sent again.
 */
type Status = 'pending' | 'sent' | 'landed' | 'lost' | 'refused';

/** A row the service accepted and the audit has not yet found in the workspace. */
export interface SentAlert {
  alertId: string;
  /** The alert's TimeGenerated: the row's TimeGenerated in the workspace. */
  timeGenerated: string;
  sentAt: string;
  /** Times the audit sent it again already. */
  resends: number;
}

/** Error text as stored and reported: one line, bounded, no SAS signatures or bearer tokens. */
export function errorText(error: string): string {
  const text = redactSecrets(error).replace(/\s+/g, ' ').trim();
  return text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS - 1)}…` : text;
}

/**
 * The most UTF-8 bytes of one row's JSON: the Logs Ingestion client puts a row this large alone in
 * a call, and the service takes 1 MiB per call.
 */
export const MAX_ROW_BYTES = 1_000_000;

/**
 * The alert as stored: its JSON, or with Evidence replaced when the whole would not fit one
 * entity (UTF-16 characters, as Tables counts) or one Sentinel row (UTF-8 bytes, as the service
 * counts: 400 000 characters of '✓' are 1.2 MB, a row the service refused on every retry).
 */
function storedJson(alert: Alert): { json: string; trimmed: boolean } {
  const json = JSON.stringify(alert);
  // A UTF-16 unit is at most 3 UTF-8 bytes: short JSON needs no count.
  const fits = json.length + alert.AlertId.length <= ENTITY_TEXT_CHARS && (json.length * 3 <= MAX_ROW_BYTES || Buffer.byteLength(json) <= MAX_ROW_BYTES);
  if (fits) return { json, trimmed: false };
  const evidence = JSON.stringify(alert.Evidence);
  const note = `Evidence was ${evidence.length} characters (${Buffer.byteLength(evidence)} bytes), over what the outbox stores (${ENTITY_TEXT_CHARS} characters) or one Sentinel row may be (${MAX_ROW_BYTES} bytes); replay the events for the full evidence`;
  return { json: JSON.stringify({ ...alert, Evidence: { trimmed: note } }), trimmed: true };
}

/**
 * The alert outbox in Azure Tables: an alert is written here before the batch that raised it
 * returns, then sent to Sentinel by `deliverPending` and marked sent. One entity per AlertId
 * (RowKey), so adding is insert-if-absent: a redelivered batch adds nothing twice, and an alert
 * already sent is not sent again while its row is kept (see `purgeSent`). The row keeps the Alert
 * JSON exactly as raised, which is exactly the row sent to Sentinel.
 */
export class TableAlertOutbox implements AlertOutbox {
  readonly client: TableClient;
  private readonly ensureTable: () => Promise<void>;
  private readonly now: () => number;
  /** Attempts of the alerts the last `pending` call returned, so marking them needs no extra reads. */
  private readonly attempts = new Map<string, number>();

  constructor(location: TableLocation, options: TableOutboxOptions = {}) {
    this.client = tableClientFor(location, DEFAULT_OUTBOX_TABLE);
    this.ensureTable = once(() => this.client.createTable());
    this.now = options.now ?? Date.now;
  }

  async add(alerts: readonly Alert[], options: AddOptions = {}): Promise<AddResult> {
    const byId = new Map<string, Alert>();
    for (const alert of alerts) byId.set(alert.AlertId, alert);
    const now = this.now();
    const addedAt = new Date(now).toISOString();
    const hold = options.holdMs ? { NextAttemptAt: new Date(now + options.holdMs).toISOString() } : {};
    let evidenceTrimmed = 0;
    const actions: TransactionAction[] = [];
    const idOf = new Map<TransactionAction, string>();
    for (const [id, alert] of byId) {
      const { json, trimmed } = storedJson(alert);
      if (trimmed) evidenceTrimmed++;
      const action: TransactionAction = [
        'create',
        textEntity(PARTITION, id, PAYLOAD, json, {
          Status: 'pending' satisfies Status,
          TimeGenerated: alert.TimeGenerated,
          AddedAt: addedAt,
          Attempts: 0,
          ...hold,
        }),
      ];
      actions.push(action);
      idOf.set(action, id);
    }
    if (!actions.length) return { added: 0, duplicates: [], evidenceTrimmed };
    await this.ensureTable();
    const { entities, skipped } = await submitTransactions(this.client, actions, (action, status) => action[0] === 'create' && status === 409);
    return { added: entities, duplicates: skipped.map((action) => idOf.get(action)!), evidenceTrimmed };
  }

  /**
   * Up to `limit` alerts due for sending, oldest first (TimeGenerated, then when added). An alert
   * whose last attempt failed is due again after its backoff or the service's Retry-After.
   */
  async pending(limit: number): Promise<PendingAlert[]> {
    await this.ensureTable();
    const now = new Date(this.now()).toISOString();
    const due: Array<{ entity: TableEntityResult<Record<string, unknown>>; id: string; time: number; added: number }> = [];
    for await (const entity of this.client.listEntities({ queryOptions: { filter: this.statusFilter('pending') } })) {
      const next = entity.NextAttemptAt;
      if (typeof next === 'string' && next > now) continue;
      due.push({ entity, id: keyOf(entity), time: timeOf(entity.TimeGenerated), added: timeOf(entity.AddedAt) });
    }
    due.sort((a, b) => a.time - b.time || a.added - b.added || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.attempts.clear();
    const out: PendingAlert[] = [];
    const unreadable: string[] = [];
    for (const { entity, id } of due) {
      if (out.length === limit) break;
      const attempts = typeof entity.Attempts === 'number' ? entity.Attempts : 0;
      this.attempts.set(id, attempts);
      let alert: Alert;
      try {
        alert = JSON.parse(joinText(entity, PAYLOAD) ?? '') as Alert;
      } catch {
        unreadable.push(id);
        continue;
      }
      out.push({
        alert,
        attempts,
        ...(typeof entity.LastError === 'string' ? { lastError: entity.LastError } : {}),
        ...(typeof entity.LastAttemptAt === 'string' ? { lastAttemptAt: entity.LastAttemptAt } : {}),
      });
    }
    // A row whose JSON does not parse was damaged outside Warden: it stays, marked, never silently dropped.
    if (unreadable.length) await this.markFailed(unreadable, 'the stored alert is not valid JSON: inspect the outbox row', BACKOFF_MAX_MS);
    return out;
  }

  /** Sent rows keep the alert until the audit finds them in the workspace (it may have to send them again). */
  async markSent(alertIds: readonly string[]): Promise<void> {
    if (!alertIds.length) return;
    const at = new Date(this.now()).toISOString();
    const actions: TransactionAction[] = [];
    for (const id of new Set(alertIds)) {
      const attempts = this.attempts.get(id);
      this.attempts.delete(id);
      actions.push([
        'upsert',
        keyedEntity(PARTITION, id, {
          Status: 'sent' satisfies Status,
          SentAt: at,
          LastAttemptAt: at,
          ...(attempts === undefined ? {} : { Attempts: attempts + 1 }),
        }),
        'Merge',
      ]);
    }
    await this.ensureTable();
    await submitTransactions(this.client, actions);
  }

  /** Up to `limit` rows sent before `before` that the audit has not found yet, oldest sent first. */
  async sentBefore(before: Date, limit: number): Promise<SentAlert[]> {
    await this.ensureTable();
    const filter = `${this.statusFilter('sent')} and ${odata`SentAt lt ${before.toISOString()}`}`;
    const out: SentAlert[] = [];
    for await (const e of this.client.listEntities({ queryOptions: { filter, select: ['RowKey', 'k', 'TimeGenerated', 'SentAt', 'Resends'] } })) {
      out.push({ alertId: keyOf(e), timeGenerated: String(e.TimeGenerated), sentAt: String(e.SentAt), resends: typeof e.Resends === 'number' ? e.Resends : 0 });
    }
    return out.sort((a, b) => a.sentAt.localeCompare(b.sentAt)).slice(0, limit);
  }

  /** The audit found these rows in the workspace: drop the alert, keep the key (insert-if-absent still holds). */
  async markLanded(rows: readonly SentAlert[]): Promise<void> {
    if (!rows.length) return;
    const at = new Date(this.now()).toISOString();
    await this.ensureTable();
    await submitTransactions(
      this.client,
      rows.map((row): TransactionAction => [
        'upsert',
        keyedEntity(PARTITION, row.alertId, {
          Status: 'landed' satisfies Status,
          SentAt: row.sentAt,
          LandedAt: at,
          Resends: row.resends,
        }),
        'Replace',
      ]),
    );
  }

  /**
   * The audit did not find these rows after its grace period: each goes back to pending (sent
   * again at once, counted in Resends) while it has resends left, else to lost, alert kept.
   */
  async markMissing(rows: readonly SentAlert[], maxResends: number): Promise<{ resent: string[]; lost: string[] }> {
    const at = new Date(this.now()).toISOString();
    const resent: string[] = [];
    const lost: string[] = [];
    const actions: TransactionAction[] = rows.map((row) => {
      const again = row.resends < maxResends;
      (again ? resent : lost).push(row.alertId);
      return [
        'update',
        {
          partitionKey: PARTITION,
          rowKey: tableKey(row.alertId),
          ...(again
            ? { Status: 'pending' satisfies Status, Resends: row.resends + 1, Attempts: 0, NextAttemptAt: at }
            : { Status: 'lost' satisfies Status, LostAt: at }),
        },
        'Merge',
      ];
    });
    await this.ensureTable();
    await submitTransactions(this.client, actions, (_action, status) => status === 404);
    return { resent, lost };
  }

  /** Rows in one state (`lost`: sent but never found, resends used up). */
  async count(status: Status): Promise<number> {
    await this.ensureTable();
    let n = 0;
    for await (const page of this.client.listEntities({ queryOptions: { filter: this.statusFilter(status), select: ['RowKey'] } }).byPage()) {
      n += page.length;
    }
    return n;
  }

  /**
   * Record a failed attempt: attempts + 1, the error (one line, no secrets), and when to try
   * again (`retryAfterMs` when the service said, else exponential backoff). Ids not in the
   * outbox are ignored.
   */
  async markFailed(alertIds: readonly string[], error: string, retryAfterMs?: number): Promise<void> {
    if (!alertIds.length) return;
    await this.ensureTable();
    const nowMs = this.now();
    const at = new Date(nowMs).toISOString();
    const lastError = errorText(error);
    const actions: TransactionAction[] = [];
    for (const id of new Set(alertIds)) {
      const attempts = this.attempts.get(id) ?? (await this.storedAttempts(id));
      if (attempts === undefined) continue;
      const wait = Math.max(retryAfterMs ?? 0, Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempts));
      this.attempts.set(id, attempts + 1);
      actions.push([
        'update',
        {
          partitionKey: PARTITION,
          rowKey: tableKey(id),
          Attempts: attempts + 1,
          LastError: lastError,
          LastAttemptAt: at,
          NextAttemptAt: new Date(nowMs + wait).toISOString(),
        },
        'Merge',
      ]);
    }
    await submitTransactions(this.client, actions, (action, status) => action[0] === 'update' && status === 404);
  }

  async markRefused(alertId: string, error: string): Promise<void> {
    const at = new Date(this.now()).toISOString();
    this.attempts.delete(alertId);
    await this.ensureTable();
    await submitTransactions(
      this.client,
      [
        [
          'update',
          { partitionKey: PARTITION, rowKey: tableKey(alertId), Status: 'refused' satisfies Status, LastError: errorText(error), LastAttemptAt: at },
          'Merge',
        ],
      ],
      (_action, status) => status === 404,
    );
  }

  /** Alerts not yet sent, due or waiting for their next attempt. */
  backlog(): Promise<number> {
    return this.count('pending');
  }

  /**
   * Forget alerts sent (or found by the audit) before `before`. Until then, a redelivered batch
   * that raises one of them again adds nothing; after, it would be sent again (Sentinel groups
   * rows by AlertId).
   */
  async purgeSent(before: Date): Promise<number> {
    await this.ensureTable();
    const filter = `(${this.statusFilter('sent')} or ${this.statusFilter('landed')}) and ${odata`SentAt lt ${before.toISOString()}`}`;
    const actions: TransactionAction[] = [];
    for await (const entity of this.client.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })) {
      actions.push(['delete', { partitionKey: PARTITION, rowKey: entity.rowKey ?? '' }]);
    }
    const { entities } = await submitTransactions(this.client, actions, (action, status) => action[0] === 'delete' && status === 404);
    return entities;
  }

  private statusFilter(status: Status): string {
    return odata`PartitionKey eq ${PARTITION} and Status eq ${status}`;
  }

  private async storedAttempts(id: string): Promise<number | undefined> {
    try {
      const entity = await this.client.getEntity(PARTITION, tableKey(id), { queryOptions: { select: ['Attempts', 'Status'] } });
      return entity.Status === 'pending' && typeof entity.Attempts === 'number' ? entity.Attempts : undefined;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }
}

/** Epoch ms of a stored ISO time; rows without one sort last. */
function timeOf(value: unknown): number {
  const t = typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isNaN(t) ? Number.MAX_SAFE_INTEGER : t;
}
