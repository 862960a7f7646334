import { DefaultAzureCredential } from '@azure/identity';
import { LogsQueryClient } from '@azure/monitor-query-logs';
import { resolveRange, type TimeRange } from '../../backtest/range.js';
import { Backtest, readExport, type BacktestSummary } from '../../backtest/run.js';
import { planTables } from '../../backtest/tables.js';
import { readWorkspace, WorkspaceReader, type ReaderStats } from '../../backtest/workspace.js';
import { loadRules, parseDuration } from '../../engine/index.js';
import { listCaptureFiles } from '../../ingest/files.js';
import { unreadTableWarning } from '../../ingest/sources/index.js';
import type { DeadLetter } from '../../model/index.js';
import { renderReport, reportRules, SeriesCollector } from '../../report/index.js';
import { textTable } from '../alert-table.js';
import { UsageError } from '../errors.js';
import type { Command, CommandIO } from '../io.js';
import { checkOutput, commandDetector, parseCommandArgs, selectRules, tunablesFor, writeOutput } from '../options.js';
import { heldLine } from '../alert-table.js';

const USAGE = `usage: warden backtest --workspace ID (--since 7d | --from ISO [--to ISO]) [options]
       warden backtest --export FILE|DIR [--table NAME] [options]

Runs the detection rules over history: Log Analytics rows read back from a workspace with the
query API, or a local export of query results. Only the tables the rules' sources live in are
read; rows are normalized as Log Analytics rows, merged across tables into event-time order and
evaluated by the same detector as replay and production. Prints alerts per rule per day.
Signs in as DefaultAzureCredential (az login, a managed identity, or AZURE_TENANT_ID/
AZURE_CLIENT_ID/AZURE_CLIENT_SECRET); the identity needs Log Analytics Reader on the workspace.

history:
  --workspace ID       the Log Analytics workspace ID (a GUID: workspace → Overview)
  --since DURATION     this long before --to or now (7d, 12h)
  --from ISO, --to ISO the range (UTC when no offset is given; --to defaults to now)
  --endpoint URL       query endpoint for sovereign clouds (default https://api.loganalytics.io;
                       https://api.loganalytics.us, https://api.loganalytics.azure.cn)
  --slice DURATION     query the range in slices this long (default 6h); a slice cut at the
                       query API's row or size limit is asked again in halves
  --export FILE|DIR    read query results saved as JSON ({"tables":[...]}, as the API returns
                       them) or a JSON array of rows, instead of a workspace (repeatable)
  --table NAME         the table of exported rows that have no Type column

rules:
  --rules ID,...       only these rules (default: every rule in detections/)
  --tunables FILE      tunable overrides (JSON, as WARDEN_TUNABLES_FILE); WARDEN_TUNABLES_FILE
                       and WARDEN_TUNABLES apply on top

output:
  --out FILE           write the alerts as JSON lines
  --report FILE        write the tuning report: one self-contained HTML file
  --dead-letter FILE   write rows that could not be normalized as JSON lines
  --json               end the output with one JSON summary line
  -h, --help           show this help`;

const DEFAULT_SLICE = '6h';
const WORKSPACE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The options that say which history to read, shared with `warden seed`. */
export const HISTORY_OPTIONS = {
  workspace: { type: 'string' },
  since: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  endpoint: { type: 'string' },
  slice: { type: 'string' },
  export: { type: 'string', multiple: true },
  table: { type: 'string' },
} as const;

function parse(argv: string[]) {
  return parseCommandArgs('backtest', {
    args: argv,
    options: {
      ...HISTORY_OPTIONS,
      rules: { type: 'string' },
      tunables: { type: 'string' },
      out: { type: 'string' },
      report: { type: 'string' },
      'dead-letter': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

/** The query API base URL (`…/v1`) and the token audience of an endpoint the user gave. */
function queryEndpoint(text: string): { endpoint: string; scope: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--endpoint '${text}' is not a URL: write e.g. https://api.loganalytics.us`);
  }
  if (url.protocol !== 'https:') throw new UsageError(`--endpoint must be an https URL, got '${text}'`);
  const path = url.pathname.replace(/\/+$/, '');
  return { endpoint: `${url.origin}${path.endsWith('/v1') ? path : `${path}/v1`}`, scope: `${url.origin}/.default` };
}

/** Alerts per rule (rows) and UTC day (columns), every rule listed, with totals. */
export function ruleDayTable(summary: BacktestSummary): string[] {
  const days = Object.keys(summary.byDay);
  const rules = Object.keys(summary.byRule).sort();
  const rows = rules.map((r) => [r, ...days.map((d) => String(summary.byDay[d][r] ?? 0)), String(summary.byRule[r])]);
  rows.push(['total', ...days.map((d) => String(Object.values(summary.byDay[d]).reduce((a, b) => a + b, 0))), String(summary.alerts)]);
  return textTable([['RULE', ...days, 'TOTAL'], ...rows], (column) => column > 0);
}

function progress(io: CommandIO) {
  let last = Date.now();
  return (text: () => string) => {
    if (!io.progress || Date.now() - last < 1000) return;
    last = Date.now();
    io.stderr(`backtest: ${text()}`);
  };
}

function notesOf(stats: ReaderStats | undefined): string[] {
  if (!stats) return [];
  return [
    ...stats.missingTables.map((t) => `table ${t} does not exist in the workspace: read as empty`),
    ...stats.partialSlices.map((p) => `${p.table} ${p.from}..${p.to} answered in part (${p.problem}): its rows were used, some may be missing`),
  ];
}

/** The history options as given on the command line. */
export interface HistoryValues {
  workspace?: string;
  since?: string;
  from?: string;
  to?: string;
  endpoint?: string;
  slice?: string;
  export?: string[];
  table?: string;
}

/** Which history to read, checked before anything is read. */
export interface HistoryPlan {
  exports: string[];
  range?: TimeRange;
  sliceMs: number;
  endpoint?: { endpoint: string; scope: string };
}

export function planHistory(values: HistoryValues, command: string, io: CommandIO): HistoryPlan {
  const exports = values.export ?? [];
  if (values.workspace !== undefined && exports.length) throw new UsageError('give --workspace or --export, not both');
  if (values.workspace === undefined && !exports.length)
    throw new UsageError(`give --workspace ID (with --since or --from) or --export FILE: see 'warden ${command} --help'`);
  if (values.workspace !== undefined && !WORKSPACE_ID.test(values.workspace)) {
    throw new UsageError(`--workspace takes the workspace ID, a GUID (Log Analytics workspace → Overview → Workspace ID), got '${values.workspace}'`);
  }
  if (values.table !== undefined && !exports.length) throw new UsageError('--table names the table of exported rows: use it with --export');
  const tableWarning = values.table === undefined ? undefined : unreadTableWarning(values.table);
  if (tableWarning) io.stderr(`warden ${command}: ${tableWarning}`);
  const range: TimeRange | undefined = resolveRange(values, Date.now());
  if (values.workspace !== undefined && !range) throw new UsageError('give the history to read: --since 7d, or --from 2025-06-01 [--to 2025-06-08]');
  const sliceMs = parseDuration(values.slice ?? DEFAULT_SLICE);
  if (sliceMs === undefined || sliceMs < 60_000) throw new UsageError(`--slice must be a duration of at least 1m (e.g. 1h, 6h, 1d), got '${values.slice}'`);
  const endpoint = values.endpoint === undefined ? undefined : queryEndpoint(values.endpoint);
  return { exports, range, sliceMs, endpoint };
}

/**
 * Read the history into `backtest` (a workspace slice by slice, or an export at once); returns what
 * was read, in words, and the workspace reader (for its query counts and notes).
 */
export async function applyHistory(
  values: HistoryValues,
  plan: HistoryPlan,
  backtest: Backtest,
  io: CommandIO,
  deadLetters?: DeadLetter[],
): Promise<{ source: string; reader?: WorkspaceReader }> {
  const { exports, range, sliceMs, endpoint } = plan;
  const detector = backtest.detector;
  const report = progress(io);
  let reader: WorkspaceReader | undefined;
  let source: string;
  if (values.workspace !== undefined) {
    const sources = new Set(detector.rules.flatMap((r) => r.subscriptions.map((s) => s.source)));
    const plans = planTables(sources);
    const client = new LogsQueryClient(
      new DefaultAzureCredential(),
      endpoint ? { endpoint: endpoint.endpoint, credentials: { scopes: [endpoint.scope] } } : {},
    );
    reader = new WorkspaceReader(client, values.workspace);
    source = `workspace ${values.workspace} (${plans.map((p) => p.table).join(', ')})`;
    for await (const slice of readWorkspace(reader, plans, range!, sliceMs)) {
      await backtest.apply(slice.results);
      if (deadLetters) for (const r of slice.results) for (const d of r.deadLetters) deadLetters.push(d);
      const s = backtest.summary();
      report(
        () => `read to ${new Date(slice.range.to).toISOString()}: ${s.rows} rows, ${s.events} events, ${s.alerts} alerts, ${reader!.stats.queries} queries`,
      );
    }
  } else {
    const { files } = await listCaptureFiles(exports);
    source = `export ${exports.join(', ')}`;
    const results = await readExport(files, values.table);
    await backtest.apply(results);
    if (deadLetters) for (const r of results) for (const d of r.deadLetters) deadLetters.push(d);
  }

  return { source, reader };
}

export const run: Command = async (argv, io) => {
  const values = parse(argv);
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const plan = planHistory(values, 'backtest', io);
  const { exports, range } = plan;
  for (const [flag, path] of [
    ['--out', values.out],
    ['--report', values.report],
    ['--dead-letter', values['dead-letter']],
  ] as const)
    await checkOutput(flag, path);

  const all = (await loadRules()).map((l) => l.rule);
  const rules = selectRules(all, values.rules);
  const series = values.report !== undefined ? new SeriesCollector() : undefined;
  const detector = commandDetector(rules, { tunables: await tunablesFor(all, rules, values.tunables), observe: series?.observe });
  const backtest = new Backtest(detector, { range: exports.length ? range : undefined });
  const deadLetters: DeadLetter[] = [];
  const keepDead = values['dead-letter'] !== undefined;
  const { source, reader } = await applyHistory(values, plan, backtest, io, keepDead ? deadLetters : undefined);

  const summary = backtest.summary();
  const alerts = backtest.alerts;
  const notes = notesOf(reader?.stats);
  if (values.out !== undefined) await writeOutput('--out', values.out, alerts.map((a) => `${JSON.stringify(a)}\n`).join(''));
  if (values['dead-letter'] !== undefined) await writeOutput('--dead-letter', values['dead-letter'], deadLetters.map((d) => `${JSON.stringify(d)}\n`).join(''));
  if (values.report !== undefined) {
    const html = renderReport(alerts, series!, {
      source,
      range,
      rules: reportRules(rules),
      learning: summary.learning,
      notes,
      counts: { rows: summary.rows, events: summary.events, deadLettered: summary.deadLettered, skipped: summary.skipped },
    });
    await writeOutput('--report', values.report, html);
  }

  for (const line of ruleDayTable(summary)) io.stdout(line);
  io.stdout('');
  io.stdout(
    `${summary.alerts} alerts from ${summary.rows} rows, ${summary.events} events (${summary.deadLettered} dead-lettered, ${summary.skipped} skipped${summary.outsideRange ? `, ${summary.outsideRange} outside the range` : ''}); ${rules.length} rules; ${source}`,
  );
  for (const line of heldLine(summary.learning)) io.stdout(line);
  if (reader) io.stdout(`queries: ${reader.stats.queries} (${reader.stats.splits} slices halved at the API's limits, ${reader.stats.throttled} throttled)`);
  for (const note of notes) io.stdout(`note: ${note}`);
  const errors = Object.entries(summary.ruleErrors);
  if (errors.length) io.stdout(`rule errors: ${errors.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  if (values.json)
    io.stdout(
      JSON.stringify({
        ...summary,
        ...(reader
          ? {
              queries: reader.stats.queries,
              throttled: reader.stats.throttled,
              splits: reader.stats.splits,
              partialSlices: reader.stats.partialSlices,
              missingTables: reader.stats.missingTables,
            }
          : {}),
      }),
    );
  return 0;
};
