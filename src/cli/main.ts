#!/usr/bin/env node
import { WardenError } from '../common/errors.js';
import { UsageError } from './errors.js';
import { processIO, type Command, type CommandIO } from './io.js';

/** Each command lives in src/cli/commands/<name>.ts and exports `run`. Loaded lazily: startup stays fast. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: Command }> }> = {
  replay: { summary: 'replay captured logs through the pipeline and print alerts', load: () => import('./commands/replay.js') },
  rules: { summary: 'list | test | lint | docs | new — work with detection rules', load: () => import('./commands/rules.js') },
  demo: { summary: 'replay the bundled demo capture (npm start)', load: () => import('./commands/demo.js') },
  run: { summary: 'consume Event Hubs as a standalone host (outside Functions)', load: () => import('./commands/run.js') },
  send: { summary: 'send captured logs to an Event Hub as Azure Monitor would', load: () => import('./commands/send.js') },
  backtest: { summary: 'run rules over history from a Log Analytics workspace or export', load: () => import('./commands/backtest.js') },
  seed: { summary: 'build the detection state from the workspace history before going live', load: () => import('./commands/seed.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `usage: warden <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nwarden <command> --help shows a command's options.`;
}

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command '${name}': run 'warden --help' for the list`);
    const mod = await command.load();
    return await mod.run(rest, io);
  } catch (err) {
    // The user's to fix: the message says how, alone on one line. Anything else may be a bug: name it.
    if (err instanceof WardenError && err.userFixable) {
      io.stderr(`warden ${name}: ${err.message}`);
      return 2;
    }
    const e = err as Error;
    io.stderr(`warden ${name}: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`);
    if (process.env.WARDEN_DEBUG) io.stderr(e.stack ?? '');
    return 1;
  }
}

const invokedDirectly = process.argv[1] && /cli[\\/]main\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  // A reader that stops early (`warden … | head`) closes the pipe: stop quietly, as Unix tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
