/**
 * Alerts to Microsoft Sentinel through the Azure Monitor Logs Ingestion API: each Alert is one row
 * of WardenAlerts_CL (DCR stream `Custom-WardenAlerts`), exactly the Alert contract.
 *
 * Delivery is at least once: an alert is marked sent only after the service accepted it, so a
 * crash between the two sends it again. AlertId is the deduplication key on the Sentinel side: the
 * NRT analytics rule groups rows by AlertId (infra/main.json), so a second copy of a row joins the
 * incident the first one opened; queries over WardenAlerts_CL should `summarize arg_max(TimeGenerated, *) by AlertId`.
 */
import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import type { HttpHeaders, PipelinePolicy } from '@azure/core-rest-pipeline';
import { LogsIngestionClient, isAggregateLogsUploadError, type LogsIngestionClientOptions } from '@azure/monitor-ingestion';
import type { Alert } from '../model/index.js';
import { errorText, type AlertOutbox } from './outbox.js';
import type { SendBudget } from './pacing.js';

export const DEFAULT_STREAM_NAME = 'Custom-WardenAlerts';

export interface SendResult {
  /** AlertIds the service accepted. */
  sent: string[];
  /** Alerts not accepted, each with why (one line, no secrets). */
  failed: Array<{ alertId: string; error: string }>;
  /** Alerts the service refused as too large, each alone in its call: sending them again cannot succeed. */
  refused?: Array<{ alertId: string; error: string }>;
  /** The longest wait the service asked for (Retry-After of a final 429/503), for the outbox to honour. */
  retryAfterMs?: number;
}

/** Where alerts go: Sentinel here; tests and `warden replay` may use others. Never throws for a failed send. */
export interface AlertSink {
  send(alerts: readonly Alert[]): Promise<SendResult>;
}

export interface SentinelSinkOptions {
  /** The DCR's logs ingestion endpoint or a data collection endpoint (app setting SENTINEL_DCR_ENDPOINT). */
  endpoint: string;
  /** The DCR's immutable id, `dcr-…` (SENTINEL_DCR_IMMUTABLE_ID). */
  ruleId: string;
  /** The DCR stream (SENTINEL_STREAM_NAME). Default `Custom-WardenAlerts`. */
  streamName?: string;
  /** Default DefaultAzureCredential: the Function App's managed identity in Azure (role Monitoring Metrics Publisher on the DCR). */
  credential?: TokenCredential;
  /** Passed to LogsIngestionClient: `retryOptions`, `tlsOptions` (a test server's CA), `audience` for sovereign clouds. */
  clientOptions?: LogsIngestionClientOptions;
  /** Parallel uploads when a send is split into several 1 MB calls. Default the SDK's (5). */
  maxConcurrency?: number;
  /**
   * The longest Retry-After the client sleeps on inside one send. Longer waits end the send at
   * once with the alerts failed and `retryAfterMs` set, so the outbox waits instead of the
   * deliver function. Default 30 s.
   */
  maxRetryAfterMs?: number;
  /**
   * The longest one send may take, retries and their waits included (SENTINEL_UPLOAD_TIMEOUT):
   * a service that never answers must not hold the detect batch until the function times out.
   * What is not accepted by then fails and stays in the outbox. Default DEFAULT_UPLOAD_TIMEOUT_MS.
   */
  uploadTimeoutMs?: number;
}

/** How long one send may take by default: two of the longest Retry-After waits the client sleeps on. */
export const DEFAULT_UPLOAD_TIMEOUT_MS = 60_000;

const RETRY_AFTER_HEADERS = ['retry-after-ms', 'x-ms-retry-after-ms', 'retry-after'];
/** Where a Retry-After too long to sleep on is kept, out of the SDK retry policy's sight. */
const DEFERRED_RETRY_AFTER = 'x-warden-retry-after-ms';

/**
 * The SDK sleeps on every Retry-After, however long, up to its retry count. This policy sits
 * between the retry policy and the wire and hides waits over `maxMs` from it.
 */
function retryAfterLimit(maxMs: number): PipelinePolicy {
  return {
    name: 'wardenRetryAfterLimit',
    async sendRequest(request, next) {
      const response = await next(request);
      if (response.status === 429 || response.status === 503) {
        const ms = requestedWaitMs(response.headers);
        if (ms !== undefined && ms > maxMs) {
          for (const name of RETRY_AFTER_HEADERS) response.headers.delete(name);
          response.headers.set(DEFERRED_RETRY_AFTER, String(ms));
        }
      }
      return response;
    },
  };
}

/**
 * The Logs Ingestion client splits a send into calls of at most 1 MB, gzips each, and retries
 * throttling (429 with Retry-After) and server errors itself (`clientOptions.retryOptions`); what
 * still fails comes back in `failed`, by AlertId.
 */
export class SentinelSink implements AlertSink {
  readonly client: LogsIngestionClient;
  private readonly ruleId: string;
  private readonly streamName: string;
  private readonly maxConcurrency?: number;
  readonly uploadTimeoutMs: number;

  constructor(options: SentinelSinkOptions) {
    this.client = new LogsIngestionClient(options.endpoint, options.credential ?? new DefaultAzureCredential(), options.clientOptions);
    this.client.pipeline.addPolicy(retryAfterLimit(options.maxRetryAfterMs ?? 30_000), { afterPhase: 'Retry' });
    this.ruleId = options.ruleId;
    this.streamName = options.streamName ?? DEFAULT_STREAM_NAME;
    this.maxConcurrency = options.maxConcurrency;
    this.uploadTimeoutMs = options.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS;
  }

  async send(alerts: readonly Alert[]): Promise<SendResult> {
    if (!alerts.length) return { sent: [], failed: [] };
    const abortSignal = AbortSignal.timeout(this.uploadTimeoutMs);
    try {
      await this.client.upload(this.ruleId, this.streamName, alerts as unknown as Record<string, unknown>[], {
        abortSignal,
        ...(this.maxConcurrency ? { maxConcurrency: this.maxConcurrency } : {}),
      });
      return { sent: alerts.map((a) => a.AlertId), failed: [] };
    } catch (err) {
      if (!isAggregateLogsUploadError(err)) {
        const error = this.describe(err, abortSignal);
        return { sent: [], failed: alerts.map((a) => ({ alertId: a.AlertId, error })) };
      }
      // The SDK hands back the very row objects of each failed call.
      const failedRows = new Map<unknown, { error: string; tooLarge: boolean }>();
      let retryAfterMs: number | undefined;
      for (const failure of err.errors) {
        const cause = failure.cause as RestErrorLike;
        const error = this.describe(cause, abortSignal);
        // Alone in its call and still too large: no later send of it can succeed. (The client makes calls under 1 MB, so a call of several rows is not refused for size.)
        const tooLarge = cause.statusCode === 413 && failure.failedLogs.length === 1;
        for (const row of failure.failedLogs) failedRows.set(row, { error, tooLarge });
        const headers = cause.response?.headers;
        const wait = headers && requestedWaitMs(headers);
        if (wait !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, wait);
      }
      const result: SendResult = { sent: [], failed: [] };
      for (const alert of alerts) {
        const failed = failedRows.get(alert);
        if (failed === undefined) result.sent.push(alert.AlertId);
        else if (failed.tooLarge) (result.refused ??= []).push({ alertId: alert.AlertId, error: failed.error });
        else result.failed.push({ alertId: alert.AlertId, error: failed.error });
      }
      if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
      return result;
    }
  }

  private describe(err: unknown, abortSignal: AbortSignal): string {
    if (abortSignal.aborted) {
      return errorText(`no answer within ${this.uploadTimeoutMs / 1000} s (SENTINEL_UPLOAD_TIMEOUT): the send was given up and the alerts wait in the outbox`);
    }
    return describeUploadError(err);
  }
}

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
  response?: { headers?: Pick<HttpHeaders, 'get'> };
}

/** One line an operator can act on: status, service error code, message; no tokens or signatures. */
function describeUploadError(err: unknown): string {
  const e = (err ?? {}) as RestErrorLike;
  const status = [e.statusCode, e.code].filter(Boolean).join(' ');
  const text = status ? `${status}: ${e.message ?? ''}` : (e.message ?? String(err));
  if (e.statusCode === 413)
    return errorText(`${text} (one alert is over the Logs Ingestion API's 1 MB per call: it is set aside in the outbox, status refused)`);
  if (e.statusCode === 401 || e.statusCode === 403) return errorText(`${text} (give the Function App's identity Monitoring Metrics Publisher on the DCR)`);
  return errorText(text);
}

/** The wait a throttled or unavailable service asked for, in ms: retry-after-ms, or Retry-After in seconds or as a date. */
function requestedWaitMs(headers: Pick<HttpHeaders, 'get'>): number | undefined {
  for (const name of [DEFERRED_RETRY_AFTER, 'retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = headers.get(name);
    if (value && Number.isFinite(Number(value))) return Number(value);
  }
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (Number.isFinite(Number(value))) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export interface DeliveryReport {
  /** Alerts accepted by the sink in this run. */
  sent: number;
  /** Send attempts that failed in this run (the alerts stay in the outbox). */
  failed: number;
  /** Alerts still waiting after the run. */
  backlog: number;
  /** The last failure's error, for the health endpoint. */
  lastError?: string;
  /** How long the service asked to wait, when it throttled. */
  retryAfterMs?: number;
  /** Alerts due but left for a later rule run: this window's budget was spent. */
  paced?: number;
  /** Alerts the service refused as too large: set aside in the outbox (status refused), never sent again. */
  refused?: number;
}

export interface DeliverOptions {
  /** Alerts per send. Default 500. */
  maxBatch?: number;
  /** Sends per run at most, so one timer run stays short. Default 20. */
  maxBatches?: number;
  /** Rows the Sentinel rule can take per run, shared by every sender (src/delivery/pacing.ts). Default: no pacing. */
  budget?: SendBudget;
}

/** Mark a send's alerts sent or failed (grouped by error, with the service's Retry-After) and add it to the report. */
export async function recordSendResult(outbox: AlertOutbox, result: SendResult, report: DeliveryReport): Promise<void> {
  await outbox.markSent(result.sent);
  report.sent += result.sent.length;
  const byError = new Map<string, string[]>();
  for (const { alertId, error } of result.failed) {
    const ids = byError.get(error);
    if (ids) ids.push(alertId);
    else byError.set(error, [alertId]);
  }
  for (const [error, ids] of byError) await outbox.markFailed(ids, error, result.retryAfterMs);
  report.failed += result.failed.length;
  if (result.failed.length) {
    report.lastError = result.failed[result.failed.length - 1].error;
    if (result.retryAfterMs !== undefined) report.retryAfterMs = result.retryAfterMs;
  }
  const refused = result.refused ?? [];
  for (const { alertId, error } of refused) await outbox.markRefused(alertId, error);
  if (refused.length) {
    report.refused = (report.refused ?? 0) + refused.length;
    report.lastError = refused[refused.length - 1].error;
  }
}

/**
 * Send what the outbox holds, oldest first, and mark each alert sent or failed: the `deliver`
 * timer function's work. Stops at the first failed send (the service is unwell: the failed alerts
 * wait for their backoff or Retry-After), when nothing is due, or when the rule run's budget is
 * spent (the rest go in the next window, so every alert keeps an incident of its own).
 */
export async function deliverPending(outbox: AlertOutbox, sink: AlertSink, options: DeliverOptions = {}): Promise<DeliveryReport> {
  const maxBatch = options.maxBatch ?? 500;
  const maxBatches = options.maxBatches ?? 20;
  const report: DeliveryReport = { sent: 0, failed: 0, backlog: 0 };
  for (let batch = 0; batch < maxBatches; batch++) {
    const pending = await outbox.pending(maxBatch);
    if (!pending.length) break;
    const granted = options.budget ? await options.budget.claim(pending.length) : pending.length;
    if (granted < pending.length) report.paced = pending.length - granted;
    if (!granted) break;
    const result = await sink.send(pending.slice(0, granted).map((p) => p.alert));
    await recordSendResult(outbox, result, report);
    if (result.failed.length || report.paced) break;
    if (pending.length < maxBatch) break;
  }
  report.backlog = await outbox.backlog();
  return report;
}
