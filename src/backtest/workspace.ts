import { LogsQueryResultStatus, type LogsQueryClient, type LogsQueryResult, type LogsTable } from '@azure/monitor-query-logs';
import { ingestBody, type IngestResult } from '../ingest/pipeline.js';
import { halves, rangeText, timeSlices, type TimeRange } from './range.js';
import { sliceQuery, type TablePlan } from './tables.js';
import { WardenError } from '../common/errors.js';

/**
 * A query the workspace refused or could not answer. The message says what to fix; refusals
 * (no token, no access, no such workspace) are the user's to fix, failures of the service or
 * the network are not.
 */
export class BacktestQueryError extends WardenError {
  override name = 'BacktestQueryError';
  constructor(
    message: string,
    readonly userFixable: boolean,
  ) {
    super(message);
  }
}

/** Rows of one table over one range, as the query API returned them. */
export interface SliceRows {
  table: string;
  range: TimeRange;
  tables: LogsTable[];
}

/** A slice answered only in part (an error other than a cut, or cut even at the smallest size): its rows are kept and the problem reported. */
export interface PartialSlice {
  table: string;
  from: string;
  to: string;
  problem: string;
}

export interface ReaderStats {
  /** Requests made (retries included). */
  queries: number;
  /** 429 answers waited out. */
  throttled: number;
  /** Slices asked again in halves because the answer was cut at the row or size limit. */
  splits: number;
  partialSlices: PartialSlice[];
  /** Tables the workspace does not have (no such logs were ever sent there): read as empty. */
  missingTables: string[];
}

export interface ReaderOptions {
  /** A partial slice is halved until it is shorter than this (default 1 s); then its partial rows are kept. */
  minSliceMs?: number;
  /** 429 answers waited out per query before giving up (default 8; the SDK's own retries come first). */
  maxThrottleRetries?: number;
  /** Wait when a 429 names no Retry-After (default 5 s). */
  defaultRetryAfterMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

type QueryClient = Pick<LogsQueryClient, 'queryWorkspace'>;

/** The parts of the SDK's HTTP pipeline the reader hooks into (LogsQueryClient exposes `pipeline`). */
interface HookablePipeline {
  addPolicy(policy: {
    name: string;
    sendRequest(
      request: { body?: unknown },
      next: (request: { body?: unknown }) => Promise<{ status: number; bodyAsText?: string | null }>,
    ): Promise<{ status: number; bodyAsText?: string | null }>;
  }): void;
}

const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** The query API's answer when a result passed its row or size limit (E_QUERY_RESULT_SET_TOO_LARGE). */
const RESULT_CUT = /E_QUERY_RESULT_SET_TOO_LARGE|result set has exceeded|truncat/i;
/** That answer's message in a response body's JSON text. */
const RESULT_CUT_MESSAGE = /"message"\s*:\s*"((?:[^"\\]|\\.)*E_QUERY_RESULT_SET_TOO_LARGE(?:[^"\\]|\\.)*)"/;
const MISSING_TABLE = /Failed to resolve table or column expression named '([^']+)'/i;

/**
 * Reads table slices from a Log Analytics workspace with the query API, within its limits: a result
 * cut at ~500k rows or ~64 MB (a PartialError) is asked again in halves until it fits, keeping the
 * rows of a slice that cannot be split further; 429 answers are waited out as Retry-After says.
 */
export class WorkspaceReader {
  readonly stats: ReaderStats = { queries: 0, throttled: 0, splits: 0, partialSlices: [], missingTables: [] };
  private readonly minSliceMs: number;
  private readonly maxThrottleRetries: number;
  private readonly defaultRetryAfterMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Why the service cut a query's result, by query text: the SDK drops the inner error that says so. */
  private readonly cuts = new Map<string, string>();

  constructor(
    private readonly client: QueryClient,
    readonly workspaceId: string,
    options: ReaderOptions = {},
  ) {
    this.minSliceMs = options.minSliceMs ?? 1000;
    this.maxThrottleRetries = options.maxThrottleRetries ?? 8;
    this.defaultRetryAfterMs = options.defaultRetryAfterMs ?? 5000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    (client as { pipeline?: HookablePipeline }).pipeline?.addPolicy({
      name: 'wardenResultCut',
      sendRequest: async (request, next) => {
        const response = await next(request);
        // The error object trails the rows, so the end of the body is enough to look at.
        const cut = response.status === 200 ? RESULT_CUT_MESSAGE.exec(response.bodyAsText?.slice(-16_384) ?? '') : null;
        if (cut) {
          const query = queryOf(request.body);
          if (query !== undefined) this.cuts.set(query, cut[1].replace(/\\(.)/g, '$1'));
        }
        return response;
      },
    });
  }

  /** The rows of one table in [from, to), in pieces oldest first; none when the workspace lacks the table. */
  async read(plan: TablePlan, range: TimeRange): Promise<SliceRows[]> {
    if (this.stats.missingTables.includes(plan.table)) return [];
    const query = sliceQuery(plan, range);
    const result = await this.query(plan, range, query);
    const cut = this.cuts.get(query);
    this.cuts.delete(query);
    if (!result) return [];
    if (result.status === LogsQueryResultStatus.Success) return [{ table: plan.table, range, tables: result.tables }];
    const problem = cut ?? innermostMessage(result.partialError) ?? 'partial result';
    // Only a cut result gets smaller by asking for less; any other partial error would just repeat.
    if (RESULT_CUT.test(problem) && range.to - range.from >= 2 * this.minSliceMs) {
      this.stats.splits++;
      const [first, second] = halves(range);
      return [...(await this.read(plan, first)), ...(await this.read(plan, second))];
    }
    this.stats.partialSlices.push({
      table: plan.table,
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      problem,
    });
    return [{ table: plan.table, range, tables: result.partialTables }];
  }

  /** One request, with 429s waited out; undefined when the table does not exist in the workspace. */
  private async query(plan: TablePlan, range: TimeRange, query: string): Promise<LogsQueryResult | undefined> {
    for (let attempt = 0; ; attempt++) {
      this.stats.queries++;
      try {
        return await this.client.queryWorkspace(this.workspaceId, query, { startTime: new Date(range.from), endTime: new Date(range.to) });
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status === 429 && attempt < this.maxThrottleRetries) {
          this.stats.throttled++;
          await this.sleep(retryAfterMs(err) ?? this.defaultRetryAfterMs);
          continue;
        }
        if (status === 400 && missingTable(err) === plan.table.toLowerCase()) {
          this.stats.missingTables.push(plan.table);
          return undefined;
        }
        throw queryError(err, plan, range, this.workspaceId);
      }
    }
  }
}

/** Per slice of `sliceMs`, oldest first: every table's rows of the slice, decoded and normalized (table shape). */
export async function* readWorkspace(
  reader: WorkspaceReader,
  plans: readonly TablePlan[],
  range: TimeRange,
  sliceMs: number,
): AsyncGenerator<{ range: TimeRange; results: IngestResult[] }> {
  for (const slice of timeSlices(range, sliceMs)) {
    // The tables of one slice are asked together; slices one after another, so memory holds one slice.
    const pieces = await Promise.all(plans.map((plan) => reader.read(plan, slice)));
    const results: IngestResult[] = [];
    for (const piece of pieces.flat()) {
      for (const t of piece.tables) {
        const body = { tables: [{ name: t.name, columns: t.columnDescriptors, rows: t.rows }] };
        results.push(ingestBody(body, { file: `${reader.workspaceId}/${piece.table} ${rangeText(piece.range)}` }, { table: piece.table }));
      }
    }
    yield { range: slice, results };
  }
}

/** Retry-After (seconds or an HTTP date) or retry-after-ms of a 429, capped. */
function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { response?: { headers?: { get(name: string): string | undefined } } }).response?.headers;
  const ms = Number(headers?.get('retry-after-ms') ?? headers?.get('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, MAX_RETRY_AFTER_MS);
  const text = headers?.get('retry-after');
  if (!text) return undefined;
  const seconds = Number(text);
  const wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(text) - Date.now();
  return Number.isFinite(wait) ? Math.min(Math.max(wait, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/** The KQL text of a query request's JSON body. */
function queryOf(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const query = (JSON.parse(body) as { query?: unknown }).query;
    return typeof query === 'string' ? query : undefined;
  } catch {
    return undefined;
  }
}

/** The table a 400 says does not exist (lower-case), if that is what it says. */
function missingTable(err: unknown): string | undefined {
  const text = `${(err as Error).message} ${safeJson((err as { details?: unknown }).details)}`;
  return MISSING_TABLE.exec(text)?.[1].toLowerCase();
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

/** The most specific `message` in a service error (they nest: error → details/innererror → innererror). */
export function innermostMessage(error: unknown): string | undefined {
  let found: string | undefined;
  const walk = (v: unknown, depth: number) => {
    if (!v || typeof v !== 'object' || depth > 8) return;
    const o = v as Record<string, unknown>;
    if (typeof o.message === 'string' && o.message) found = o.message;
    for (const key of ['details', 'innererror', 'innerError', 'error']) {
      const child = o[key];
      if (Array.isArray(child)) child.forEach((c) => walk(c, depth + 1));
      else walk(child, depth + 1);
    }
  };
  walk(error, 0);
  return found;
}

function queryError(err: unknown, plan: TablePlan, range: TimeRange, workspaceId: string): Error {
  const e = err as Error & { statusCode?: number; code?: string; details?: unknown };
  if (e.name === 'CredentialUnavailableError' || e.name === 'AuthenticationError' || e.name === 'AggregateAuthenticationError') {
    const first = e.message.split('\n')[0];
    return new BacktestQueryError(
      `cannot get a token for Log Analytics (${first}): sign in with 'az login', or run with a managed identity or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET set`,
      true,
    );
  }
  const detail = innermostMessage(e.details) ?? e.message;
  switch (e.statusCode) {
    case 401:
    case 403:
      return new BacktestQueryError(
        `workspace ${workspaceId} refused the query (${e.statusCode}: ${detail}): the identity running the backtest needs the Log Analytics Reader role on it`,
        true,
      );
    case 404:
      return new BacktestQueryError(
        `workspace ${workspaceId} was not found (${detail}): use the workspace ID (Log Analytics workspace → Overview), and --endpoint for a sovereign cloud`,
        true,
      );
    case undefined:
      if (e.name === 'RestError')
        return new BacktestQueryError(`cannot reach the Log Analytics query endpoint: ${e.message}; check --endpoint and the network`, false);
      return e;
    default:
      return new BacktestQueryError(`query of ${plan.table} over ${rangeText(range)} failed (${e.statusCode}${e.code ? ` ${e.code}` : ''}: ${detail})`, false);
  }
}
