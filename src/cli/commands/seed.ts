import { Backtest } from '../../backtest/run.js';
import { loadRules } from '../../engine/index.js';
import { InMemoryStateStore } from '../../state/memory.js';
import { TableStateStore } from '../../state/tables.js';
import type { StateStore } from '../../state/types.js';
import { UsageError } from '../errors.js';
import type { Command } from '../io.js';
import { commandDetector, parseCommandArgs, parsePartitions, tunablesFor } from '../options.js';
import { applyHistory, HISTORY_OPTIONS, planHistory, ruleDayTable } from './backtest.js';

const USAGE = `usage: warden seed (--workspace ID (--since 30d | --from ISO [--to ISO]) | --export FILE|DIR)
                   (--account NAME | --connection-string AZURITE | --dry-run) [options]

Builds the detection state from the workspace's history before Warden goes live, so first-seen,
anomaly and sequence rules do not wait out their learning periods: the history is read as
'warden backtest' reads it and applied by the same detector into the deployment's state table
(<prefix>state). Baselines, first-seen values, principal ages and names and resource locations are
filled; alerts found on the way are reported, not sent.

Hand-over: every partition seeded records the cut-over time (--until); the live stream skips its
events before the cut, since history applied them. Seeding again skips what was seeded already.
A partition the live stream has written to is refused: seed before the first start, or stop the
app and delete its state table to seed again.

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
  const table = `${values.prefix ?? 'warden'}state`;
  let store: StateStore;
  if (values['connection-string'] !== undefined) store = new TableStateStore({ connectionString: values['connection-string'], table });
  else if (values.account !== undefined) store = new TableStateStore({ accountName: values.account, table });
  else store = new InMemoryStateStore();

  const rules = (await loadRules()).map((l) => l.rule);
  const detector = commandDetector(rules, { store, seedUntil: until, tunables: await tunablesFor(rules, rules, values.tunables) });
  const backtest = new Backtest(detector, { partitions: parsePartitions(values.partitions), range: plan.exports.length ? plan.range : undefined });
  const { source } = await applyHistory(values, plan, backtest, io);
  const summary = backtest.summary();
  const stats = detector.stats();
  for (const line of ruleDayTable(summary)) io.stdout(line);
  io.stdout('');
  io.stdout(
    `${values['dry-run'] ? 'would seed' : 'seeded'} ${stats.events} events up to ${new Date(until).toISOString()} into ${stats.partitions} partitions of ${values['dry-run'] ? 'memory' : `table ${table}`} (${stats.seededSkipped} skipped: at or after the cut-over, or seeded before); ${source}`,
  );
  io.stdout(`${summary.alerts} alerts found in the history: reported here, not sent`);
  if (values.json) io.stdout(JSON.stringify({ ...summary, seeded: stats.events, seededSkipped: stats.seededSkipped, until: new Date(until).toISOString() }));
  return 0;
};
