import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadRules } from '../../engine/index.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../../common/clock.js';
import { detectInCaptures } from '../../replay/replay.js';
import { IngestTotals } from '../../ingest/pipeline.js';
import type { Alert } from '../../model/index.js';
import { InMemoryStateStore } from '../../state/memory.js';
import { alertTable, countsText } from '../alert-table.js';
import { UsageError } from '../errors.js';
import type { Command } from '../io.js';
import { commandDetector, parseCommandArgs, parsePartitions, tunablesFor, writeOutput } from '../options.js';

const DEMO_DIR = fileURLToPath(new URL('../../../demo/', import.meta.url));
const CAPTURE = `${DEMO_DIR}tenant-hour.ndjson.gz`;
const MANIFEST = `${DEMO_DIR}manifest.json`;
/** The demo's deployer settings: learning periods that fit one hour, the platform's key rotation allow-listed. */
const TUNABLES = `${DEMO_DIR}tunables.json`;

/** As the app runs: a time too far ahead of the partition's moves its clock only with others (the demo's hour has no quiet gaps). */
export const DEMO_DETECTOR = { maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS } as const;

const USAGE = `usage: warden demo [options]        (npm start)

Replays demo/tenant-hour.ndjson.gz — one synthetic hour of a tenant's activity, sign-in, AI,
Key Vault and storage logs, in which a service principal's credential is stolen — through the
same pipeline as 'warden replay' with every rule in detections/, and prints the alerts.
Tunables: demo/tunables.json, then WARDEN_TUNABLES_FILE / WARDEN_TUNABLES on top.

options:
  --partitions N   keyed partitions the principals are routed over (default 4)
  --out FILE       also write the alerts as JSON lines
  --json           end the output with one JSON summary line
  -h, --help       show this help`;

interface Manifest {
  recordCount: number;
  attacker: { name: string; steps: { step: string; time: string }[] };
  /** The second, independent chain (a stolen API key). */
  keyChain?: { harvester: { name: string }; key: { name: string }; network: string; steps: { step: string; time: string }[] };
  /** The third chain (a credential planted on a service principal). */
  credentialChain?: { adder: { name: string }; target: { name: string }; steps: { step: string; time: string }[] };
}

function parse(argv: string[]) {
  return parseCommandArgs('demo', {
    args: argv,
    options: { partitions: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  }).values;
}

export const run: Command = async (argv, io) => {
  const values = parse(argv);
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const partitions = parsePartitions(values.partitions);
  if (values.out === '') throw new UsageError('--out needs a file name');

  const started = performance.now();
  const manifest = JSON.parse(await readFile(MANIFEST, 'utf8')) as Manifest;
  const rules = (await loadRules()).map((l) => l.rule);
  const detector = commandDetector(rules, { store: new InMemoryStateStore(), tunables: await tunablesFor(rules, rules, TUNABLES), ...DEMO_DETECTOR });

  const stolenAt = manifest.attacker.steps[0]?.time.slice(11, 16);
  io.stdout(
    `demo: one hour of a tenant's Azure logs (${manifest.recordCount} records); ${manifest.attacker.name}'s credential is used by an attacker from ${stolenAt} UTC`,
  );
  const chain = manifest.keyChain;
  if (chain)
    io.stdout(
      `demo: and ${chain.harvester.name}'s credential lists an AI project's secrets at ${chain.steps[0]?.time.slice(11, 16)} UTC; the ${chain.key.name} found there is used from ${chain.network}`,
    );
  const planted = manifest.credentialChain;
  if (planted)
    io.stdout(
      `demo: and ${planted.adder.name} adds a client secret to ${planted.target.name}'s app registration at ${planted.steps[0]?.time.slice(11, 16)} UTC; the secret signs it in from elsewhere and maps the directory through Graph`,
    );
  io.stdout(
    `rules: ${rules.length} from detections/, tunables from demo/tunables.json (learning periods fit one hour; the platform's key rotation is allow-listed)`,
  );

  const totals = new IngestTotals();
  const alerts: Alert[] = [];
  let lastProgress = started;
  const progress = (force: boolean) => {
    if (!io.progress || (!force && performance.now() - lastProgress < 1000)) return;
    lastProgress = performance.now();
    io.stderr(`demo: ${totals.records}/${manifest.recordCount} records, ${alerts.length} alerts`);
  };
  for await (const body of detectInCaptures([CAPTURE], detector, { partitions })) {
    totals.add(body.result);
    for (const a of body.alerts) alerts.push(a);
    progress(false);
  }
  progress(true);
  const durationMs = Math.round(performance.now() - started);

  if (values.out) await writeOutput('--out', values.out, alerts.map((a) => `${JSON.stringify(a)}\n`).join(''));

  io.stdout('');
  for (const line of alertTable(alerts)) io.stdout(line);
  io.stdout('');
  const stats = detector.stats();
  const summary = totals.summary();
  const bySeverity: Record<string, number> = {};
  for (const a of alerts) bySeverity[a.Severity] = (bySeverity[a.Severity] ?? 0) + 1;
  io.stdout(
    `${alerts.length} alerts (${countsText(bySeverity)}) from ${summary.records} records, ${stats.events} events, ${rules.length} rules, ${partitions} partitions in ${(durationMs / 1000).toFixed(2)}s; ` +
      `${summary.deadLettered} dead-lettered${Object.keys(stats.ruleErrors).length ? `; rule errors: ${countsText(stats.ruleErrors)}` : ''}`,
  );
  if (values.json) {
    io.stdout(
      JSON.stringify({
        records: summary.records,
        events: stats.events,
        deadLettered: summary.deadLettered,
        rules: rules.length,
        partitions,
        alerts: alerts.length,
        alertsByRule: stats.alertsByRule,
        alertsBySeverity: bySeverity,
        suppressed: stats.suppressed,
        ruleErrors: stats.ruleErrors,
        durationMs,
      }),
    );
  }
  return 0;
};
