/**
 * The delivery audit: proof that sent rows landed. The Logs Ingestion API answers 204 once it has
 * the rows, also when the DCR then drops them or nulls their columns (a column the table lacks, a
 * value of the wrong type), so "sent" is not "in Sentinel". The audit reads the AlertIds it sent
 * back from WardenAlerts_CL after a grace period for ingestion latency; what is missing is
 * reported (health `degraded`, with the AlertIds) and sent again, up to a number of resends: a
 * transient loss heals, a row the DCR refuses every time ends as `lost` for an operator to see.
 */
import { LogsQueryResultStatus, type LogsQueryClient } from '@azure/monitor-query-logs';
import type { SentAlert, TableAlertOutbox } from './outbox.js';
import { WardenError } from '../common/errors.js';

/** A workspace the audit can ask which of some AlertIds it holds. */
export interface AlertWorkspace {
  /** The AlertIds among `alertIds` that WardenAlerts_CL has rows for, with TimeGenerated in [from, to). */
  landed(alertIds: readonly string[], from: Date, to: Date): Promise<Set<string>>;
}

/** The workspace refused the audit query (no access, no such workspace or table): the message says what to fix. */
export class AuditQueryError extends WardenError {
  override name = 'AuditQueryError';
  readonly userFixable = true;
}

/** AlertIds per query: keeps the query text far below the API's limits. */
const IDS_PER_QUERY = 200;

/** WardenAlerts_CL through the Log Analytics query API (the app's identity needs Log Analytics Reader on the workspace). */
export class LogAnalyticsAlertWorkspace implements AlertWorkspace {
  constructor(
    private readonly client: Pick<LogsQueryClient, 'queryWorkspace'>,
    private readonly workspaceId: string,
    private readonly table = 'WardenAlerts_CL',
  ) {}

  async landed(alertIds: readonly string[], from: Date, to: Date): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < alertIds.length; i += IDS_PER_QUERY) {
      const ids = alertIds
        .slice(i, i + IDS_PER_QUERY)
        .map((id) => JSON.stringify(id))
        .join(', ');
      const query = `${this.table} | where AlertId in (${ids}) | distinct AlertId`;
      let result;
      try {
        result = await this.client.queryWorkspace(this.workspaceId, query, { startTime: from, endTime: to });
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        const hint = status === 401 || status === 403 ? ": give the Function App's identity Log Analytics Reader on the workspace" : '';
        throw new AuditQueryError(
          `reading WardenAlerts_CL of workspace ${this.workspaceId} failed (${status ?? 'no answer'}: ${(err as Error).message.split('\n')[0]})${hint}`,
        );
      }
      const tables = result.status === LogsQueryResultStatus.Success ? result.tables : result.partialTables;
      for (const table of tables) {
        const at = table.columnDescriptors.findIndex((c) => c.name === 'AlertId');
        for (const row of table.rows) found.add(String(row[at] as string)); // AlertId is a string column
      }
    }
    return found;
  }
}

export interface AuditOptions {
  /** How long after a send a row may still be on its way (WARDEN_AUDIT_GRACE). Default 10 minutes. */
  graceMs?: number;
  /** Times a missing row is sent again before it counts as lost (WARDEN_AUDIT_RESENDS). Default 2. */
  maxResends?: number;
  /** Rows checked per run at most. Default 2000. */
  maxRows?: number;
  now?: () => number;
}

export interface AuditReport {
  /** When the audit ran (ISO). */
  at: string;
  /** Sent rows past the grace period that were looked for. */
  checked: number;
  landed: number;
  /** AlertIds sent but not found: the reason for `degraded`. */
  missing: string[];
  /** Of those, the ones sent again now. */
  resent: string[];
  /** Of those, the ones out of resends: they stay in the outbox with status lost. */
  lost: string[];
  /** Rows lost so far, this run's included. */
  lostTotal: number;
}

export const DEFAULT_AUDIT_GRACE_MS = 10 * 60_000;
export const DEFAULT_AUDIT_RESENDS = 2;
/**
 * A row's TimeGenerated is its alert's, which can lie long before the send (an outage); the query
 * reaches two days before the oldest, so a row the workspace stamped differently is still found.
 */
const INGESTION_TIME_SLACK_MS = 2 * 24 * 3600_000;

/** One audit run: look for what was sent a grace period ago or earlier, mark it landed, resend or give up on the rest. */
export async function auditDelivery(
  outbox: Pick<TableAlertOutbox, 'sentBefore' | 'markLanded' | 'markMissing' | 'count'>,
  workspace: AlertWorkspace,
  options: AuditOptions = {},
): Promise<AuditReport> {
  const now = (options.now ?? Date.now)();
  const rows = await outbox.sentBefore(new Date(now - (options.graceMs ?? DEFAULT_AUDIT_GRACE_MS)), options.maxRows ?? 2000);
  const report: AuditReport = { at: new Date(now).toISOString(), checked: rows.length, landed: 0, missing: [], resent: [], lost: [], lostTotal: 0 };
  if (rows.length) {
    let earliest = now;
    for (const r of rows) earliest = Math.min(earliest, Date.parse(r.timeGenerated) || now);
    const found = await workspace.landed(
      rows.map((r) => r.alertId),
      new Date(earliest - INGESTION_TIME_SLACK_MS),
      new Date(now + 60_000),
    );
    const landed: SentAlert[] = [];
    const missing: SentAlert[] = [];
    for (const row of rows) (found.has(row.alertId) ? landed : missing).push(row);
    await outbox.markLanded(landed);
    const { resent, lost } = await outbox.markMissing(missing, options.maxResends ?? DEFAULT_AUDIT_RESENDS);
    Object.assign(report, { landed: landed.length, missing: missing.map((r) => r.alertId), resent, lost });
  }
  report.lostTotal = await outbox.count('lost');
  return report;
}
