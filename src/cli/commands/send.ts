import { DefaultAzureCredential } from '@azure/identity';
import { sendCaptures, type CaptureSendSummary } from '../../eventhubs/capture-sender.js';
import type { RecordLocation } from '../../model/index.js';
import { UsageError } from '../errors.js';
import type { Command, CommandIO } from '../io.js';
import { parseCommandArgs } from '../options.js';
import { EventHubConnection } from '../../eventhubs/connection.js';

const USAGE = `usage: warden send <files or folders...> --hub NAME [options]

Sends captured Azure Monitor logs (what 'warden replay' reads: .json, .ndjson/.jsonl/.log/.txt,
Log Analytics query output, Event Hubs Capture .avro, any of them .gz) to an Event Hub as Azure
Monitor's diagnostic settings stream them: {"records":[...]} bodies of up to 100 records, one
body per event, no partition key (the service spreads them round-robin over the partitions).

connection (one of):
  --namespace FQDN          the namespace, e.g. warden-ehns.servicebus.windows.net, signed in as
                            DefaultAzureCredential (role Azure Event Hubs Data Sender); default
                            EventHubConnection__fullyQualifiedNamespace
  --connection-string CS    the local emulator or test broker only (UseDevelopmentEmulator=true);
                            default WARDEN_EVENTHUB_CONNECTION_STRING

options:
  --hub NAME                the Event Hub to send to (required)
  --rate N                  records per second, paced over the run (default: as fast as the hub takes them)
  --time-shift              move every event time by one offset so the latest becomes now
                            (time, TimeGenerated and a sign-in's createdDateTime; format kept)
  --json                    end the output with one JSON summary line
  -h, --help                show this help`;

function parse(argv: string[]) {
  return parseCommandArgs('send', {
    args: argv,
    allowPositionals: true,
    options: {
      hub: { type: 'string' },
      namespace: { type: 'string' },
      'connection-string': { type: 'string' },
      rate: { type: 'string' },
      'time-shift': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Flags win over the environment; a namespace (an identity) wins over a connection string. */
function connectionFrom(namespaceFlag: string | undefined, connectionStringFlag: string | undefined, env: NodeJS.ProcessEnv): EventHubConnection {
  if (namespaceFlag !== undefined && connectionStringFlag !== undefined) throw new UsageError('give --namespace or --connection-string, not both');
  const namespace = namespaceFlag ?? (connectionStringFlag === undefined ? env.EventHubConnection__fullyQualifiedNamespace?.trim() : undefined);
  if (namespace) return { fullyQualifiedNamespace: namespace, credential: new DefaultAzureCredential() };
  const connectionString = connectionStringFlag ?? env.WARDEN_EVENTHUB_CONNECTION_STRING?.trim();
  if (connectionString) return { connectionString };
  throw new UsageError(
    'no Event Hubs namespace: give --namespace NAME.servicebus.windows.net (or set EventHubConnection__fullyQualifiedNamespace); for the local emulator, --connection-string or WARDEN_EVENTHUB_CONNECTION_STRING',
  );
}

function parseRate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const rate = Number(text);
  if (!text.trim() || !Number.isFinite(rate) || rate <= 0) throw new UsageError(`--rate must be a positive number of records per second, got '${text}'`);
  return rate;
}

function where(location: RecordLocation): string {
  return [location.file, location.line, location.index === undefined ? undefined : `record ${location.index}`].filter((p) => p !== undefined).join(':');
}

/** What could not be sent: the first few on stderr, then only counted. */
function skippedReporter(io: CommandIO) {
  const SHOWN = 5;
  let n = 0;
  return (reason: string, location: RecordLocation) => {
    if (++n <= SHOWN) io.stderr(`send: skipped ${where(location)}: ${reason}`);
    else if (n === SHOWN + 1) io.stderr('send: more skipped; the summary counts them');
  };
}

/** '+547d 09:40:23': days are what a user compares with the capture's age. */
function shiftText(ms: number): string {
  const seconds = Math.abs(ms) / 1000;
  const clock = [Math.floor(seconds / 3600) % 24, Math.floor(seconds / 60) % 60, seconds % 60].map((n) => String(n).padStart(2, '0')).join(':');
  return `${ms < 0 ? '-' : '+'}${Math.floor(seconds / 86_400)}d ${clock}`;
}

function humanSummary(s: CaptureSendSummary): string[] {
  return [
    `sent ${s.records} records in ${s.events} events to hub '${s.hub}' (${s.partitions} partitions) in ${s.seconds.toFixed(1)} s`,
    `files ${s.files}${s.ignoredFiles ? ` (ignored ${s.ignoredFiles} not in a capture format)` : ''}; skipped ${s.skipped}`,
    ...(s.timeShiftMs !== undefined ? [`event times moved ${shiftText(s.timeShiftMs)}: the latest is now`] : []),
  ];
}

export const run: Command = async (argv, io) => {
  const { values, positionals } = parse(argv);
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (!positionals.length) throw new UsageError("give one or more capture files or folders: see 'warden send --help'");
  if (!values.hub?.trim()) throw new UsageError("--hub NAME is required: the Event Hub to send to (see 'warden send --help')");
  const recordsPerSecond = parseRate(values.rate);
  const connection = connectionFrom(values.namespace, values['connection-string'], process.env);

  let lastProgress = Date.now();
  const summary = await sendCaptures(positionals, {
    eventHubName: values.hub.trim(),
    connection,
    recordsPerSecond,
    shiftLatestTo: values['time-shift'] ? Date.now() : undefined,
    onSkipped: skippedReporter(io),
    onProgress: (p) => {
      if (!io.progress || Date.now() - lastProgress < 1000) return;
      lastProgress = Date.now();
      io.stderr(`send: file ${p.file}/${p.files}, ${p.records} records, ${p.events} events`);
    },
  });
  for (const line of humanSummary(summary)) io.stdout(line);
  if (values.json) io.stdout(JSON.stringify(summary));
  return 0;
};
