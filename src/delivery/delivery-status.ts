import type { TableClient } from '@azure/data-tables';
import { once, tableClientFor, type TableLocation } from '../state/azure-storage.js';
import { errorText } from './outbox.js';
import type { AuditReport } from './audit.js';
import type { DeliveryReport } from './sentinel.js';

export const DEFAULT_STATUS_TABLE = 'wardenstatus';

/** The last attempt to send alerts to Sentinel, as the health endpoint reports it (any instance may have made it). */
export interface LastDelivery extends Omit<DeliveryReport, 'backlog'> {
  /** When the attempt ended (ISO). */
  at: string;
  /** `detect` (the alerts of a batch, sent at once) or `deliver` (the timer sending what the outbox holds). */
  by: 'detect' | 'deliver';
}

/** AlertIds a stored audit report lists at most: enough to act on, small enough for one entity. */
const MAX_LISTED_IDS = 200;

/** Table entities holding the last delivery and the last audit, so the health endpoint sees them from any instance. */
export class TableDeliveryStatus {
  readonly client: TableClient;
  private readonly ensureTable: () => Promise<void>;

  constructor(location: TableLocation) {
    this.client = tableClientFor(location, DEFAULT_STATUS_TABLE);
    this.ensureTable = once(() => this.client.createTable());
  }

  async record(report: Omit<DeliveryReport, 'backlog'>, by: LastDelivery['by'], at = new Date()): Promise<LastDelivery> {
    const { sent, failed, lastError, retryAfterMs } = report;
    const last: LastDelivery = { sent, failed, at: at.toISOString(), by };
    if (lastError !== undefined) last.lastError = lastError;
    if (retryAfterMs !== undefined) last.retryAfterMs = retryAfterMs;
    if (last.lastError !== undefined) last.lastError = errorText(last.lastError);
    await this.ensureTable();
    await this.client.upsertEntity({ partitionKey: 'delivery', rowKey: 'last', json: JSON.stringify(last) }, 'Replace');
    return last;
  }

  /**
   * Note that the deliver timer ran: a running app does every minute, with or without alerts, so
   * `warden seed` can tell a running app from a stopped one (the entity's Timestamp is the time).
   */
  async noteTimerRun(): Promise<void> {
    await this.ensureTable();
    await this.client.upsertEntity({ partitionKey: 'delivery', rowKey: 'timer' }, 'Replace');
  }

  /** When the deliver timer last ran (the service's time), or undefined when it never did. */
  async lastTimerRun(): Promise<number | undefined> {
    try {
      const entity = await this.client.getEntity('delivery', 'timer');
      return Date.parse(String(entity.timestamp));
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      // No table yet is an app that never ran.
      if (status === 404) return undefined;
      throw err;
    }
  }

  /** The last run, or undefined when none was recorded yet. */
  read(): Promise<LastDelivery | undefined> {
    return this.readJson<LastDelivery>('last');
  }

  /** Keep the last audit; its AlertId lists are cut to the first 200 (the counts stay whole). */
  async recordAudit(report: AuditReport): Promise<AuditReport> {
    const cut = (ids: string[]) => ids.slice(0, MAX_LISTED_IDS);
    const stored = { ...report, missingCount: report.missing.length, missing: cut(report.missing), resent: cut(report.resent), lost: cut(report.lost) };
    await this.ensureTable();
    await this.client.upsertEntity({ partitionKey: 'delivery', rowKey: 'audit', json: JSON.stringify(stored) }, 'Replace');
    return stored;
  }

  readAudit(): Promise<(AuditReport & { missingCount?: number }) | undefined> {
    return this.readJson('audit');
  }

  private async readJson<T>(rowKey: string): Promise<T | undefined> {
    try {
      const entity = await this.client.getEntity<{ json: string }>('delivery', rowKey);
      return JSON.parse(entity.json) as T;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }
}
