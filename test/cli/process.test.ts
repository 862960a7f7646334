import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, spawnWarden, WARDEN } from '../support/cli.js';

/**
 * `warden` as the shell runs it, one test per command, where only the process boundary can show the
 * behaviour: the exit code, what reaches stdout and stderr, a reader that goes away. Every other
 * path of these commands, error paths included, runs in process (test/ingest/replay-cli.test.ts,
 * test/cli/demo.test.ts); `send`, `run` and `backtest --workspace` have theirs beside their
 * stand-ins (test/eventhubs/send.test.ts, test/cli/run.test.ts, test/backtest/backtest-cli.test.ts).
 */
const dir = mkdtempSync(join(tmpdir(), 'warden-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('warden replay (as a process)', () => {
  it('exits 0 with only the alerts and the JSON summary on stdout, nothing on stderr', () => {
    const secretGet = {
      time: '2025-03-01T10:00:00.1234567Z',
      category: 'AuditEvent',
      operationName: 'SecretGet',
      resultType: 'Success',
      resourceId: '/SUBSCRIPTIONS/AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1',
      identity: { claim: { 'http://schemas.microsoft.com/identity/claims/objectidentifier': 'd9da5048-2737-4770-bd64-0123456789ab' } },
    };
    const functionLog = { category: 'FunctionAppLogs', time: '2025-03-01T10:00:01Z', operationName: 'Microsoft.Web/sites/functions/log' };
    writeFileSync(join(dir, 'capture.ndjson'), `${JSON.stringify(secretGet)}\n${JSON.stringify(functionLog)}\nnot json\n`);
    const r = spawnWarden(['replay', join(dir, 'capture.ndjson'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(JSON.parse(lines[lines.length - 1])).toMatchObject({ records: 3, events: 1, skipped: 1, deadLettered: 1 });
  });
});

describe('warden demo (as a process)', () => {
  it('stops quietly when the reader of its output goes away (npm start | head -n 1)', () => {
    // The first line comes before the replay, the rest after it: head has exited by then.
    const warden = WARDEN.map((a) => `'${a}'`).join(' ');
    const r = spawnSync('sh', ['-c', `${warden} demo | head -n 1`], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toMatch(/^demo: one hour of a tenant's Azure logs .*\n$/);
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('demo: '))).toEqual([]);
  });
});
