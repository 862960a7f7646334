import { readFile } from 'node:fs/promises';
import { parseDuration } from '../../engine/index.js';
import { startStandaloneHost } from '../../host/standalone.js';
import { loadSettings } from '../../host/settings.js';
import { Warden } from '../../host/warden.js';
import { startTelemetryExport } from '../../telemetry/setup.js';
import { UsageError } from '../errors.js';
import type { Command } from '../io.js';
import { parseCommandArgs } from '../options.js';

const USAGE = `usage: warden run [options]

Runs Warden as a standalone host (Container Apps, AKS, a VM, or locally against real Event
Hubs): the Functions app's ingest, detect, deliver and audit functions, each Event Hubs function with
the Functions trigger's behaviour (batches of up to 100, retry with backoff, checkpoints in a blob
container <prefix>-checkpoints of the Warden storage account). Ingest checkpoints after every
batch; detect writes its state and checkpoints every WARDEN_CHECKPOINT_BATCHES batches (10) or
WARDEN_CHECKPOINT_EVERY (30s), whichever comes first. Settings are the Function App's
(docs/deploy.md), from the environment; sign-in is DefaultAzureCredential.
SIGINT or SIGTERM stops it: the batches in hand finish, detect's state is written, all is
checkpointed, deliver runs once more.

options:
  --settings FILE        read settings from a local.settings.json ("Values"); the environment wins
  --functions NAMES      run only these (comma-separated): ingest (the three ingest functions),
                         ingest-activity, ingest-signin, ingest-resource, detect, deliver,
                         audit (default: all of them)
  --status-every DUR     a status line on stderr this often (default 10s; 0 for none)
  --json                 when stopped, print one JSON line of what was done
  -h, --help             show this help`;

function parse(argv: string[]) {
  return parseCommandArgs('run', {
    args: argv,
    allowPositionals: false,
    options: {
      settings: { type: 'string' },
      functions: { type: 'string' },
      'status-every': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

async function settingsFile(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--settings: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let values: unknown;
  try {
    values = (JSON.parse(text) as { Values?: unknown }).Values;
  } catch (err) {
    throw new UsageError(`--settings: ${path} is not JSON (${(err as Error).message})`);
  }
  if (!values || typeof values !== 'object' || Array.isArray(values))
    throw new UsageError(`--settings: ${path} has no "Values" object, as local.settings.json does`);
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

const INGEST = ['ingest-activity', 'ingest-signin', 'ingest-resource'];

export const run: Command = async (argv, io) => {
  const flags = parse(argv);
  if (flags.help) {
    io.stdout(USAGE);
    return 0;
  }
  const every = flags['status-every'] ?? '10s';
  const statusEveryMs = every === '0' ? 0 : parseDuration(every);
  if (statusEveryMs === undefined) throw new UsageError(`--status-every: '${every}' is not a duration (e.g. 10s, 1m)`);
  const names = flags.functions
    ?.split(',')
    .map((n) => n.trim())
    .filter(Boolean)
    .flatMap((n) => (n === 'ingest' ? INGEST : [n]));
  const env = { ...(flags.settings ? await settingsFile(flags.settings) : {}), ...process.env };

  // The same metrics and traces as the Function App, when APPLICATIONINSIGHTS_CONNECTION_STRING is set.
  const telemetry = await startTelemetryExport(env);
  const warden = await Warden.create(loadSettings(env));
  const host = await startStandaloneHost(warden, {
    functions: names,
    logHandler: (level, ...args) => {
      if (level === 'warning' || level === 'error' || level === 'critical') io.stderr(`${level}: ${args.map(String).join(' ')}`);
    },
  });
  io.stderr(`warden run: ${host.functions.join(', ')} running; SIGINT or SIGTERM stops`);
  const status = statusEveryMs > 0 && io.progress ? setInterval(() => void host.statusLine().then(io.stderr), statusEveryMs) : undefined;
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  if (status) clearInterval(status);
  io.stderr(`warden run: ${signal}: finishing the batches in hand`);
  await host.stop();
  await telemetry?.shutdown();
  io.stderr(await host.statusLine().catch(() => 'warden run: stopped'));
  if (flags.json) io.stdout(JSON.stringify({ signal, ...host.stats() }));
  return 0;
};
