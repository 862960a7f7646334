import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { DeadLetterSchema, NormalizedEventSchema } from '../../src/model/index.js';
import { captureAvro } from './capture-files.js';

const repo = join(import.meta.dirname, '..', '..');

/** A Key Vault SecretGet by a user, shaped like the example in the Key Vault logging docs. */
const secretGet = {
  time: '2025-03-01T10:00:00.1234567Z',
  resourceId: '/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1',
  operationName: 'SecretGet',
  category: 'AuditEvent',
  resultType: 'Success',
  resultSignature: 'OK',
  durationMs: '12',
  callerIpAddress: '203.0.113.7',
  correlationId: '11111111-2222-3333-4444-555555555555',
  identity: {
    claim: {
      'http://schemas.microsoft.com/identity/claims/objectidentifier': 'd9da5048-2737-4770-bd64-0123456789ab',
      appid: '00001111-aaaa-2222-bbbb-3333cccc4444',
    },
  },
  properties: {
    id: 'https://kv1.vault.azure.net/secrets/db-password/0123',
    requestUri: 'https://kv1.vault.azure.net/secrets/db-password?api-version=7.4',
    httpStatusCode: 200,
  },
};
const functionLog = { category: 'FunctionAppLogs', time: '2025-03-01T10:00:01Z', operationName: 'Microsoft.Web/sites/functions/log' };

function capturingIO(progress = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress };
  return { io, out, err };
}

let dir: string;
let outDir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-replay-'));
  outDir = await mkdtemp(join(tmpdir(), 'warden-replay-out-'));
  await writeFile(join(dir, 'a.json'), JSON.stringify({ records: [secretGet, functionLog, functionLog, { message: 'not a log record' }] }));
  await writeFile(join(dir, 'b.ndjson'), `${JSON.stringify(functionLog)}\n{"category": "AuditEvent", "time": \n`);
  await writeFile(
    join(dir, 'c.avro'),
    await captureAvro([
      { sequenceNumber: 5, offset: '100', enqueuedTimeUtc: '3/1/2025 10:00:02 AM', body: Buffer.from(JSON.stringify({ records: [functionLog] })) },
    ]),
  );
  await writeFile(join(dir, 'README.md'), '# not a capture');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outDir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('warden replay (in process)', () => {
  it('decodes and normalizes a folder, writes events and dead letters as JSON lines, and ends with one JSON summary line', async () => {
    const { io, out, err } = capturingIO();
    const events = join(outDir, 'events.jsonl');
    const dead = join(outDir, 'dead.jsonl');
    const code = await main(['replay', dir, '--events', events, '--dead-letter', dead, '--json'], io);
    expect(err).toEqual([]);
    expect(code).toBe(0);

    const summary = JSON.parse(out[out.length - 1]);
    expect(summary).toMatchObject({
      records: 7,
      events: 1,
      deadLettered: 2,
      skipped: 4,
      bySource: { keyvault: 1 },
      skippedByCategory: { FunctionAppLogs: 4 },
      alerts: 0,
      late: 0,
    });
    expect(out.slice(0, -1).join('\n')).toMatch(/records\s+7\n.*events\s+1\n.*skipped\s+4\n.*dead-lettered\s+2/s);
    expect(out.join('\n')).toContain('ignored 1 not in a capture format');
    expect(out.join('\n')).toContain('skipped by category: FunctionAppLogs 4');

    const eventLines = (await readFile(events, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(eventLines).toHaveLength(1);
    const event = NormalizedEventSchema.parse(eventLines[0]);
    expect(event).toMatchObject({ source: 'keyvault', operation: 'SECRETGET', principalId: 'd9da5048-2737-4770-bd64-0123456789ab', ip: '203.0.113.7' });

    const deadLines = (await readFile(dead, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => DeadLetterSchema.parse(JSON.parse(l)));
    expect(deadLines.map((d) => [d.reason.replace(/:.*/, ''), d.location])).toEqual([
      ['no category', { file: join(dir, 'a.json'), index: 3 }],
      ['invalid JSON on line 2', { file: join(dir, 'b.ndjson'), line: 2 }],
    ]);
  });

  it('prints only the human summary without --json', async () => {
    const { io, out } = capturingIO();
    expect(await main(['replay', join(dir, 'a.json')], io)).toBe(0);
    expect(out.some((l) => l.startsWith('{'))).toBe(false);
    expect(out.join('\n')).toContain('by source: keyvault 1');
  });

  it.each([
    [[], /^warden replay: give one or more capture files or folders/],
    [['--bogus', 'x'], /^warden replay: Unknown option '--bogus'/],
    [['/no/such/capture'], /^warden replay: cannot read \/no\/such\/capture: no such file or folder$/],
    [
      [join(repo, 'package.json'), '--events', '/no/such/folder/out.jsonl'],
      /^warden replay: cannot write --events \/no\/such\/folder\/out.jsonl: no such folder$/,
    ],
  ])('exits 2 with one line on stderr for %j', async (args, message) => {
    const { io, out, err } = capturingIO();
    expect(await main(['replay', ...args], io)).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
    expect(out).toEqual([]);
  });

  it('shows progress on stderr at most once a second, and only when progress is wanted', async () => {
    const quiet = capturingIO(false);
    await main(['replay', dir], quiet.io);
    expect(quiet.err).toEqual([]);

    // Make every clock reading a second and a half later than the last: each body may report.
    let now = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => (now += 1500));
    const loud = capturingIO(true);
    await main(['replay', dir], loud.io);
    expect(loud.err.length).toBeGreaterThan(0);
    expect(loud.err.every((l) => /^replay: \d+\/3 files, \d+ records, \d+ alerts$/.test(l))).toBe(true);
    expect(loud.err[loud.err.length - 1]).toBe('replay: 3/3 files, 7 records, 0 alerts');

    vi.restoreAllMocks();
    const fast = capturingIO(true);
    await main(['replay', dir], fast.io);
    expect(fast.err).toEqual([]);
  });
});
