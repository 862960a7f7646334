import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { loadRules, type DetectorStats } from '../../engine/index.js';
import { detectInCaptures } from '../../replay/replay.js';
import { listCaptureFiles } from '../../ingest/files.js';
import { unreadTableWarning } from '../../ingest/sources/index.js';
import { IngestTotals, type IngestSummary } from '../../ingest/pipeline.js';
import type { Alert } from '../../model/index.js';
import { renderReport, reportRules, SeriesCollector } from '../../report/index.js';
import type { StorageConnection } from '../../state/azure-storage.js';
import { startAzurite } from '../../dev/azurite.js';
import { TableStateStore } from '../../state/tables.js';
import type { StateStore, StateWriteStats } from '../../state/types.js';
import { alertTable, countsText, heldLine } from '../alert-table.js';
import { UsageError } from '../errors.js';
import type { Command, CommandIO } from '../io.js';
import { checkOutput, commandDetector, openOutput, parseCommandArgs, parsePartitions, selectRules, tunablesFor, writeOutput } from '../options.js';

const USAGE = `usage: warden replay <files or folders...> [options]

Reads captured Azure Monitor logs (.json, .ndjson/.jsonl/.log/.txt, Event Hubs Capture .avro,
Log Analytics exports: query results, row arrays, portal CSV; any of them .gz) through the production path: decode and normalize every record, route events
by principal into keyed partitions, evaluate the rules in detections/. Each body is one batch.
Prints the alerts as a table, then what was read.

output:
  --out FILE           write the alerts as JSON lines (the Alert contract, one per line)
  --events FILE        write the normalized events as JSON lines
  --dead-letter FILE   write the records that could not be normalized as JSON lines
  --report FILE        write the tuning report: one self-contained HTML file
  --json               end the output with one JSON summary line

input:
  --table NAME         the Log Analytics table of rows that have no Type column (a portal CSV
                       without $table, a JSON array of rows)

rules:
  --rules ID,...       only these rules (default: every rule in detections/)
  --tunables FILE      tunable overrides (JSON, as WARDEN_TUNABLES_FILE); WARDEN_TUNABLES_FILE
                       and WARDEN_TUNABLES apply on top
  --partitions N       keyed partitions principals are routed over, as the keyed hub (default 4)
  --state memory|table where detection state lives (default memory). table: Azure Tables in the
                       account of WARDEN_STORAGE_ACCOUNT (signed in as DefaultAzureCredential) or
                       WARDEN_STORAGE_CONNECTION_STRING (Azurite), else an Azurite started for the
                       run; a table of the run's own, deleted after it
  -h, --help           show this help`;

function parse(argv: string[]) {
  return parseCommandArgs('replay', {
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      events: { type: 'string' },
      'dead-letter': { type: 'string' },
      report: { type: 'string' },
      rules: { type: 'string' },
      tunables: { type: 'string' },
      partitions: { type: 'string' },
      state: { type: 'string' },
      table: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

interface ReplayState {
  store?: StateStore;
  /** In words, for the summary. */
  description: string;
  close(): Promise<void>;
}

/** The storage account a deployment configures (the names the Function App reads). */
function configuredStorage(env: NodeJS.ProcessEnv): { connection: StorageConnection; description: string } | undefined {
  const account = env.WARDEN_STORAGE_ACCOUNT?.trim();
  if (account) return { connection: { accountName: account }, description: `account ${account}` };
  const connectionString = env.WARDEN_STORAGE_CONNECTION_STRING?.trim();
  if (connectionString) return { connection: { connectionString }, description: 'WARDEN_STORAGE_CONNECTION_STRING' };
  return undefined;
}

/**
 * Memory: state stays in the detector. Table: the production TableStateStore, in a table of this
 * run's own, so a replay never touches the state a deployment keeps (`wardenstate`) and a second
 * replay does not see the first one's sequence numbers as already applied.
 */
async function openState(kind: 'memory' | 'table', env: NodeJS.ProcessEnv): Promise<ReplayState> {
  if (kind === 'memory') return { description: 'memory', close: async () => {} };
  const table = `wardenreplay${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const configured = configuredStorage(env);
  if (configured) {
    const store = new TableStateStore({ ...configured.connection, table });
    return {
      store,
      description: `Azure Tables (${configured.description}, table ${table}, deleted after the run)`,
      close: () => store.client.deleteTable(),
    };
  }
  const azurite = await startAzurite();
  return {
    store: new TableStateStore({ connectionString: azurite.connectionString, table }),
    description: 'Azure Tables (Azurite started for the run: no WARDEN_STORAGE_ACCOUNT or WARDEN_STORAGE_CONNECTION_STRING is set)',
    close: () => azurite.stop(),
  };
}

/** At most one progress line a second, and only where progress is wanted. */
function progress(io: CommandIO, fileCount: number) {
  let last = Date.now();
  return (filesDone: number, records: number, alerts: number) => {
    if (!io.progress || Date.now() - last < 1000) return;
    last = Date.now();
    io.stderr(`replay: ${filesDone}/${fileCount} files, ${records} records, ${alerts} alerts`);
  };
}

/** What `warden replay --json` ends with: the ingest counts, then what the rules made of the events. */
export interface ReplaySummary extends IngestSummary {
  alerts: number;
  /** Events older than their partition's watermark minus the allowed lateness (see docs/rules.md). */
  late: number;
  /** Every rule that ran, with its alert count (0 included). */
  alertsByRule: Record<string, number>;
  suppressed: number;
  duplicatesSkipped: number;
  ruleErrors: Record<string, number>;
  partitions: number;
  state: 'memory' | 'table';
  stateWrites: StateWriteStats;
  /** Per rule with a learning period: alerts it could not raise because the key was still learning, and keys still learning at the end. */
  learning: DetectorStats['learning'];
}

function summarize(ingest: IngestSummary, stats: DetectorStats, ruleIds: string[], partitions: number, state: ReplaySummary['state']): ReplaySummary {
  const alertsByRule: Record<string, number> = {};
  for (const id of [...ruleIds].sort()) alertsByRule[id] = stats.alertsByRule[id] ?? 0;
  return {
    ...ingest,
    alerts: stats.alerts,
    late: stats.late,
    alertsByRule,
    suppressed: stats.suppressed,
    duplicatesSkipped: stats.duplicatesSkipped,
    ruleErrors: stats.ruleErrors,
    partitions,
    state,
    stateWrites: stats.stateWrites,
    learning: stats.learning,
  };
}

function humanSummary(s: ReplaySummary, alerts: readonly Alert[], fileCount: number, ignored: string[], state: string): string[] {
  const bySeverity: Record<string, number> = {};
  for (const a of alerts) bySeverity[a.Severity] = (bySeverity[a.Severity] ?? 0) + 1;
  const fired = Object.fromEntries(Object.entries(s.alertsByRule).filter(([, n]) => n > 0));
  return [
    `files          ${fileCount}${ignored.length ? ` (ignored ${ignored.length} not in a capture format)` : ''}`,
    `records        ${s.records}`,
    `events         ${s.events}`,
    `skipped        ${s.skipped}`,
    `dead-lettered  ${s.deadLettered}`,
    `alerts         ${s.alerts}${s.alerts ? ` (${countsText(bySeverity)})` : ''}`,
    `late events    ${s.late}`,
    `by source: ${countsText(s.bySource)}`,
    `skipped by category: ${countsText(s.skippedByCategory)}`,
    `alerts by rule: ${countsText(fired)}`,
    ...heldLine(s.learning),
    `rules: ${Object.keys(s.alertsByRule).length}; partitions: ${s.partitions}; state: ${state}`,
    ...(Object.keys(s.ruleErrors).length ? [`rule errors: ${countsText(s.ruleErrors)}`] : []),
  ];
}

export const run: Command = async (argv, io) => {
  const { values, positionals } = parse(argv);
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (!positionals.length) throw new UsageError("give one or more capture files or folders: see 'warden replay --help'");
  const partitions = parsePartitions(values.partitions);
  const tableWarning = values.table === undefined ? undefined : unreadTableWarning(values.table);
  if (tableWarning) io.stderr(`warden replay: ${tableWarning}`);
  const stateKind = values.state ?? 'memory';
  if (stateKind !== 'memory' && stateKind !== 'table') throw new UsageError(`--state must be memory or table, got '${stateKind}'`);

  const found = await listCaptureFiles(positionals);
  await checkOutput('--report', values.report);
  const all = (await loadRules()).map((l) => l.rule);
  const rules = selectRules(all, values.rules);
  const tunables = await tunablesFor(all, rules, values.tunables);
  const series = values.report !== undefined ? new SeriesCollector() : undefined;

  const totals = new IngestTotals();
  const alerts: Alert[] = [];
  const report = progress(io, found.files.length);
  const outputs: FileHandle[] = [];
  const output = async (flag: string, path: string | undefined) => {
    const handle = await openOutput(flag, path);
    if (handle) outputs.push(handle);
    return handle;
  };
  let state: ReplayState | undefined;
  let stats: DetectorStats;
  try {
    const alertsOut = await output('--out', values.out);
    const eventsOut = await output('--events', values.events);
    const deadOut = await output('--dead-letter', values['dead-letter']);
    state = await openState(stateKind, process.env);
    const detector = commandDetector(rules, { store: state.store, tunables, observe: series?.observe });
    for await (const { result, fileIndex, fileDone, alerts: raised } of detectInCaptures(found.files, detector, { partitions, table: values.table })) {
      totals.add(result);
      for (const a of raised) alerts.push(a);
      if (alertsOut && raised.length) await alertsOut.write(raised.map((a) => `${JSON.stringify(a)}\n`).join(''));
      if (eventsOut && result.events.length) await eventsOut.write(result.events.map((e) => `${JSON.stringify(e.event)}\n`).join(''));
      if (deadOut && result.deadLetters.length) await deadOut.write(result.deadLetters.map((d) => `${JSON.stringify(d)}\n`).join(''));
      report(fileDone ? fileIndex + 1 : fileIndex, totals.records, alerts.length);
    }
    stats = detector.stats();
  } finally {
    await Promise.all(outputs.map((h) => h.close()));
    await state?.close().catch((err: Error) => io.stderr(`warden replay: could not clean up the replay's state: ${err.message}`));
  }

  const ingest = totals.summary();
  const summary = summarize(
    ingest,
    stats,
    rules.map((r) => r.id),
    partitions,
    stateKind,
  );
  if (values.report !== undefined) {
    const html = renderReport(alerts, series!, {
      title: 'Warden replay report',
      source: `replay of ${positionals.join(', ')}`,
      rules: reportRules(rules),
      learning: stats.learning,
      counts: { rows: ingest.records, events: ingest.events, deadLettered: ingest.deadLettered, skipped: ingest.skipped },
    });
    await writeOutput('--report', values.report, html);
  }

  for (const line of alerts.length ? alertTable(alerts) : ['no alerts']) io.stdout(line);
  io.stdout('');
  for (const line of humanSummary(summary, alerts, found.files.length, found.ignored, state.description)) io.stdout(line);
  if (values.json) io.stdout(JSON.stringify(summary));
  return 0;
};
