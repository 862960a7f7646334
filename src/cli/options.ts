/** Options commands share: which rules run, with which tunables, over how many partitions, and where output goes. */
import { constants } from 'node:fs';
import { access, open, readFile, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  Detector,
  inventoryFromEnv,
  mergeTunableOverrides,
  parseTunableOverrides,
  tunableOverridesFromEnv,
  type DetectorOptions,
  type Rule,
  type TunableOverrides,
} from '../engine/index.js';
import { UsageError } from './errors.js';

/** `parseArgs` with a command's usage error: the mistake in one line, and where the help is. */
export function parseCommandArgs<const T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    // Node's messages run on with advice about '--'; the first sentence is the mistake.
    throw new UsageError(`${(err as Error).message.split('. ')[0]}: see 'warden ${command} --help'`);
  }
}

/** `--rules a,b`: those rules of `all`, in the order given; every rule when not given. */
export function selectRules(all: readonly Rule[], wanted: string | undefined): Rule[] {
  if (wanted === undefined) return [...all];
  const ids = wanted
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!ids.length) throw new UsageError('--rules needs one or more rule ids, separated by commas');
  const byId = new Map(all.map((r) => [r.id, r]));
  const unknown = ids.filter((id) => !byId.has(id));
  if (unknown.length) throw new UsageError(`no rule ${unknown.map((u) => `'${u}'`).join(', ')} in detections/: 'warden rules list' shows the ids`);
  return [...new Set(ids)].map((id) => byId.get(id)!);
}

/**
 * Tunable overrides for the rules that run: `--tunables FILE`, then WARDEN_TUNABLES_FILE and
 * WARDEN_TUNABLES on top. A deployer's file covers every rule in detections/ (`all`); `--rules`
 * narrows what runs, not what the file may name, so entries for rules not running are dropped,
 * and an entry for a rule that does not exist is refused (a typo must not fall back silently).
 */
export async function tunablesFor(all: readonly Rule[], running: readonly Rule[], file: string | undefined): Promise<TunableOverrides> {
  let overrides: TunableOverrides | undefined;
  const env = tunableOverridesFromEnv();
  if (file === undefined) overrides = env;
  else {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read --tunables ${file}: ${err.code ?? err.message}`);
    });
    overrides = mergeTunableOverrides(parseTunableOverrides(text, `--tunables ${file}`), env);
  }
  const unknown = Object.keys(overrides ?? {}).filter((id) => !all.some((r) => r.id === id));
  if (unknown.length) throw new UsageError(`tunables are set for rule '${unknown[0]}', which is not in detections/: fix the rule id or remove the entry`);
  return Object.fromEntries(Object.entries(overrides ?? {}).filter(([id]) => running.some((r) => r.id === id)));
}

/** The detector a command runs, with WARDEN_INVENTORY; a bad tunable or inventory file is the user's to fix (one line, exit 2). */
export function commandDetector(rules: readonly Rule[], options: Omit<DetectorOptions, 'inventory'>): Detector {
  return new Detector(rules, { ...options, inventory: inventoryFromEnv() });
}

/** `--partitions N`: keyed partitions principals are routed over, as the keyed hub has. */
export function parsePartitions(text: string | undefined, fallback = 4): number {
  const partitions = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024)
    throw new UsageError(`--partitions must be a whole number from 1 to 1024, got '${text}'`);
  return partitions;
}

function cannotWrite(flag: string, path: string, err: NodeJS.ErrnoException): UsageError {
  const why =
    err.code === 'ENOENT'
      ? 'no such folder'
      : err.code === 'EISDIR'
        ? 'it is a folder'
        : err.code === 'EACCES'
          ? 'permission denied'
          : (err.code ?? err.message);
  return new UsageError(`cannot write ${flag} ${path}: ${why}`);
}

/** Fail before a long run, not after it, when an output written at the end cannot be. */
export async function checkOutput(flag: string, path: string | undefined): Promise<void> {
  if (path === undefined) return;
  if (!path) throw new UsageError(`${flag} needs a file name`);
  if (
    await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    )
  )
    throw cannotWrite(flag, path, Object.assign(new Error(), { code: 'EISDIR' }));
  await access(dirname(path), constants.W_OK).catch((err: NodeJS.ErrnoException) => {
    throw cannotWrite(flag, path, err);
  });
}

/** Write an output made at the end of a run (alerts, report). */
export async function writeOutput(flag: string, path: string, text: string): Promise<void> {
  await writeFile(path, text).catch((err: NodeJS.ErrnoException) => {
    throw cannotWrite(flag, path, err);
  });
}

/** Open an output written as a run goes (events, dead letters, alerts of a long replay). */
export async function openOutput(flag: string, path: string | undefined): Promise<FileHandle | undefined> {
  if (path === undefined) return undefined;
  if (!path) throw new UsageError(`${flag} needs a file name`);
  return open(path, 'w').catch((err: NodeJS.ErrnoException) => {
    throw cannotWrite(flag, path, err);
  });
}
