import { execFile, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * `warden` as a separate process, for the few tests where the process boundary itself is the
 * point (exit code, signals, a closed pipe, credentials from the environment). Everything else runs
 * commands in process through `main(argv, io)`. Node with tsx's loader, not `npx tsx`: no npm
 * start-up or npm warnings on stderr. Generous timeouts: a loaded 2-core machine starts it slowly.
 */
export const REPO = join(import.meta.dirname, '..', '..');
export const WARDEN = [process.execPath, '--import', 'tsx', 'src/cli/main.ts'];
const TIMEOUT_MS = 120_000;

/** Runs `warden …` to the end; blocks this process, so nothing it serves can answer meanwhile. */
export function spawnWarden(args: string[], env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  return spawnSync(WARDEN[0], [...WARDEN.slice(1), ...args], { cwd: REPO, encoding: 'utf8', env, timeout: TIMEOUT_MS });
}

/** Runs `warden …` while this process keeps serving (test servers the child talks to); rejects on a non-zero exit. */
export function execWarden(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(WARDEN[0], [...WARDEN.slice(1), ...args], { cwd: REPO, encoding: 'utf8', env, timeout: TIMEOUT_MS });
}
