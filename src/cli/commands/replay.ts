import { open, type FileHandle } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CaptureReadError, listCaptureFiles } from '../../ingest/files.js';
import { IngestTotals, type IngestSummary } from '../../ingest/pipeline.js';
import { replayFiles } from '../../ingest/replay.js';
import { UsageError } from '../errors.js';
import type { Command, CommandIO } from '../io.js';

const USAGE = `usage: warden replay <files or folders...> [options]

Reads captured Azure Monitor logs (.json, .ndjson/.jsonl/.log/.txt, Event Hubs Capture .avro,
any of them .gz) and decodes and normalizes every record.

options:
  --events FILE        write the normalized events as JSON lines
  --dead-letter FILE   write the records that could not be normalized as JSON lines
  --json               end the output with one JSON summary line
  -h, --help           show this help`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        events: { type: 'string' },
        'dead-letter': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // Node's messages run on with advice about '--'; the first sentence is the mistake.
    throw new UsageError(`${(err as Error).message.split('. ')[0]}: see 'warden replay --help'`);
  }
}

async function openOutput(flag: string, path: string | undefined): Promise<FileHandle | undefined> {
  if (path === undefined) return undefined;
  if (!path) throw new UsageError(`${flag} needs a file name`);
  try {
    return await open(path, 'w');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such folder' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot write ${flag} ${path}: ${why}`);
  }
}

/** At most one progress line a second, and only where progress is wanted. */
function progress(io: CommandIO, fileCount: number) {
  let last = Date.now();
  return (filesDone: number, records: number) => {
    if (!io.progress || Date.now() - last < 1000) return;
    last = Date.now();
    io.stderr(`replay: ${filesDone}/${fileCount} files, ${records} records`);
  };
}

function top(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return entries.length ? entries.map(([k, n]) => `${k} ${n}`).join(', ') : 'none';
}

function humanSummary(s: IngestSummary, fileCount: number, ignored: string[]): string[] {
  return [
    `files          ${fileCount}${ignored.length ? ` (ignored ${ignored.length} not in a capture format)` : ''}`,
    `records        ${s.records}`,
    `events         ${s.events}`,
    `skipped        ${s.skipped}`,
    `dead-lettered  ${s.deadLettered}`,
    `by source: ${top(s.bySource)}`,
    `skipped by category: ${top(s.skippedByCategory)}`,
  ];
}

export const run: Command = async (argv, io) => {
  const { values, positionals } = parse(argv);
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (!positionals.length) throw new UsageError("give one or more capture files or folders: see 'warden replay --help'");

  let found;
  try {
    found = await listCaptureFiles(positionals);
  } catch (err) {
    if (err instanceof CaptureReadError) throw new UsageError(err.message);
    throw err;
  }
  const eventsOut = await openOutput('--events', values.events);
  const deadOut = await openOutput('--dead-letter', values['dead-letter']);
  const totals = new IngestTotals();
  const report = progress(io, found.files.length);
  try {
    for await (const { result, fileIndex, fileDone } of replayFiles(found.files)) {
      totals.add(result);
      if (eventsOut && result.events.length) {
        await eventsOut.write(result.events.map((e) => JSON.stringify(e.event)).join('\n') + '\n');
      }
      if (deadOut && result.deadLetters.length) {
        await deadOut.write(result.deadLetters.map((d) => JSON.stringify(d)).join('\n') + '\n');
      }
      report(fileDone ? fileIndex + 1 : fileIndex, totals.records);
    }
  } catch (err) {
    if (err instanceof CaptureReadError) throw new UsageError(err.message);
    throw err;
  } finally {
    await eventsOut?.close();
    await deadOut?.close();
  }

  const summary = totals.summary();
  for (const line of humanSummary(summary, found.files.length, found.ignored)) io.stdout(line);
  if (values.json) io.stdout(JSON.stringify(summary));
  return 0;
};
