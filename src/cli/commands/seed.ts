import { Backtest } from '../../backtest/run.js';
import { TableDeliveryStatus } from '../../delivery/delivery-status.js';
import { formatDuration, loadRules, parseDuration, PARTITION_META_KEY, readPartitionMark } from '../../engine/index.js';
import type { StorageConnection } from '../../state/azure-storage.js';
import { InMemoryStateStore } from '../../state/memory.js';
import { TableStateStore } from '../../state/tables.js';
import type { StateStore } from '../../state/types.js';
import { heldLine } from '../alert-table.js';
import { SeedWhileAppRunsError, UsageError } from '../errors.js';
import type { Command, CommandIO } from '../io.js';
import { commandDetector, parseCommandArgs, parsePartitions, tunablesFor } from '../options.js';
import { applyHistory, HISTORY_OPTIONS, planHistory, ruleDayTable } from './backtest.js';

/** How long after the app's last write (or deliver run) it counts as stopped, by default. */
const DEFAULT_STALE_AFTER = '10m';

const USAGE = `usage: warden seed (--workspace ID (--since 30d | --from ISO [--to ISO]) | --export FILE|DIR)
                   (--account NAME | --connection-string AZURITE | --dry-run) [options]

Builds the detection state from the workspace's history before Warden goes live, so first-seen,
anomaly and sequence rules do not wait out their learning periods: the history is read as
'warden backtest' reads it and applied by the same detector into the deployment's state table
(<prefix>state). Baselines, first-seen values, principal ages and names and resource locations are
filled; alerts found on the way are reported, not sent.

Hand-over: every partition seeded records the cut-over time (--until); the live stream skips its
events before the cut, since history applied them. Seeding again skips what was seeded already.

While the app runs, seeding is refused: the app writes its partitions' state as it reads (after
every batch; warden run at least every WARDEN_CHECKPOINT_EVERY) and notes each run of its deliver
timer (every minute) in <prefix>status, and either within --stale-after means it runs. Stop it first; the partitions it wrote are then rebuilt from history
up to the cut-over, which must be after the newest event they hold.

history: as 'warden backtest --help' (--workspace, --since, --from, --to, --endpoint, --slice,
         --export, --table)

state:
  --account NAME            the deployment's storage account (signs in as DefaultAzureCredential;
                            needs Storage Table Data Contributor)
  --connection-string TEXT  a local Azurite account instead
  --prefix TEXT             the deployment's WARDEN_STORAGE_PREFIX (default warden)
  --dry-run                 keep the state in memory: report what seeding would find
  --partitions N            the keyed hub's partition count (default 4): state is kept per partition
  --until ISO               the cut-over (default --to, or now): later events are left to the stream
  --tunables FILE           the deployment's tunable overrides (as WARDEN_TUNABLES_FILE)
  --stale-after DUR         how long since the app's last write it counts as stopped (default ${DEFAULT_STALE_AFTER})
  --force                   seed even though the app looks like it runs (you know it is stopped)
  --json                    end the output with one JSON summary line
  -h, --help                show this help`;

export const run: Command = async (argv, io) => {
  const values = parseCommandArgs('seed', {
    args: argv,
    options: {
      ...HISTORY_OPTIONS,
      account: { type: 'string' },
      'connection-string': { type: 'string' },
      prefix: { type: 'string' },
      'dry-run': { type: 'boolean' },
      partitions: { type: 'string' },
      until: { type: 'string' },
      tunables: { type: 'string' },
      'stale-after': { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const plan = planHistory(values, 'seed', io);
  const targets = [values.account, values['connection-string'], values['dry-run'] ? true : undefined].filter((v) => v !== undefined);
  if (targets.length !== 1) throw new UsageError("give one of --account NAME (the deployment's storage account), --connection-string (Azurite) or --dry-run");
  const until = values.until !== undefined ? Date.parse(values.until) : (plan.range?.to ?? Date.now());
  if (!Number.isFinite(until)) throw new UsageError(`--until must be a time (ISO 8601, e.g. 2025-06-08T00:00:00Z), got '${values.until}'`);
  const staleAfter = values['stale-after'] ?? DEFAULT_STALE_AFTER;
  const staleAfterMs = parseDuration(staleAfter);
  if (staleAfterMs === undefined) throw new UsageError(`--stale-after must be a duration (e.g. 10m), got '${staleAfter}'`);
  const partitions = parsePartitions(values.partitions);
  const prefix = values.prefix ?? 'warden';
  const table = `${prefix}state`;
  const connection: StorageConnection | undefined =
    values['connection-string'] !== undefined
      ? { connectionString: values['connection-string'] }
      : values.account !== undefined
        ? { accountName: values.account }
        : undefined;
  let store: StateStore = new InMemoryStateStore();
  if (connection) {
    const tableStore = new TableStateStore({ ...connection, table });
    const status = new TableDeliveryStatus({ ...connection, table: `${prefix}status` });
    await takeOverFromApp(tableStore, status, { partitions, until, staleAfterMs, force: values.force ?? false }, io);
    store = tableStore;
  }

  const rules = (await loadRules()).map((l) => l.rule);
  const detector = commandDetector(rules, { store, seedUntil: until, tunables: await tunablesFor(rules, rules, values.tunables) });
  const backtest = new Backtest(detector, { partitions, range: plan.exports.length ? plan.range : undefined });
  const { source } = await applyHistory(values, plan, backtest, io);
  const summary = backtest.summary();
  const stats = detector.stats();
  for (const line of ruleDayTable(summary)) io.stdout(line);
  io.stdout('');
  io.stdout(
    `${values['dry-run'] ? 'would seed' : 'seeded'} ${stats.events} events up to ${new Date(until).toISOString()} into ${stats.partitions} partitions of ${values['dry-run'] ? 'memory' : `table ${table}`} (${stats.seededSkipped} skipped: at or after the cut-over, or seeded before); ${source}`,
  );
  io.stdout(`${summary.alerts} alerts found in the history: reported here, not sent`);
  for (const line of heldLine(summary.learning)) io.stdout(line);
  if (values.json) io.stdout(JSON.stringify({ ...summary, seeded: stats.events, seededSkipped: stats.seededSkipped, until: new Date(until).toISOString() }));
  return 0;
};

/**
 * Before seeding a state table: refuse while the app runs, and clear the partitions a stopped app
 * wrote so history rebuilds them. The app is running when a partition's state was written by the
 * live stream (its sequence number is a live one) or its deliver timer ran within `staleAfterMs`,
 * by the service's clock: a running app writes the state after every batch it detects, and the
 * timer runs every minute even when no event comes.
 */
async function takeOverFromApp(
  store: TableStateStore,
  status: TableDeliveryStatus,
  o: { partitions: number; until: number; staleAfterMs: number; force: boolean },
  io: CommandIO,
): Promise<void> {
  const ids = Array.from({ length: o.partitions }, (_, i) => String(i));
  const [entries, timerRun] = await Promise.all([Promise.all(ids.map((id) => store.entry(id, PARTITION_META_KEY))), status.lastTimerRun()]);
  const live = ids.flatMap((id, i) => {
    const entry = entries[i];
    const mark = entry && readPartitionMark(entry.value);
    return entry && mark?.live ? [{ id, writtenAt: entry.writtenAt, watermark: mark.watermark }] : [];
  });
  const now = Date.now();
  const ago = (t: number) => {
    const seconds = Math.max(0, Math.round((now - t) / 1000));
    return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
  };
  const signs: string[] = [];
  const newestWrite = live.reduce<(typeof live)[number] | undefined>((a, p) => (!a || p.writtenAt > a.writtenAt ? p : a), undefined);
  if (newestWrite && now - newestWrite.writtenAt < o.staleAfterMs)
    signs.push(`partition ${newestWrite.id}'s state was written by the live stream ${ago(newestWrite.writtenAt)}`);
  if (timerRun !== undefined && now - timerRun < o.staleAfterMs) signs.push(`its deliver timer ran ${ago(timerRun)}`);
  if (signs.length) {
    if (!o.force) throw new SeedWhileAppRunsError(signs.join(' and '), formatDuration(o.staleAfterMs));
    io.stderr(`warden seed: --force: seeding although ${signs.join(' and ')}`);
  }
  if (!live.length) return;
  const late = live.find((p) => p.watermark >= o.until);
  if (late)
    throw new UsageError(
      `--until ${new Date(o.until).toISOString()} is not after ${new Date(late.watermark).toISOString()}, the newest event the app applied on partition ${late.id}: rebuilt from history up to the cut-over, the partition would lose what the app applied after it. Give a later --until (default now)`,
    );
  for (const p of live) await store.clear(p.id);
  io.stdout(
    `rebuilding partition${live.length === 1 ? '' : 's'} ${live.map((p) => p.id).join(', ')} from history: the app had written ${live.length === 1 ? 'it' : 'them'} (last ${ago(newestWrite!.writtenAt)}); that state is replaced`,
  );
}
