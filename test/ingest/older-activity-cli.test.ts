import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Alert } from '../../src/model/index.js';

/** An AzureActivity export from before OperationNameValue existed: the key listing is named only for display. */
const OLDER_EXPORT = fileURLToPath(new URL('./fixtures/azure-activity-older-schema.json', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'warden-older-activity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false });
  return { code, out, err };
}

const readAlerts = (file: string): Alert[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Alert);

function expectKeyListingByAlex(alerts: Alert[]): void {
  expect(alerts.map((a) => a.RuleId)).toEqual(['storage-key-listing']);
  expect(alerts[0]).toMatchObject({ PrincipalId: 'alex.wilber@contoso.com', PrincipalType: 'user', PrincipalName: 'Alex.Wilber@contoso.com' });
  expect(alerts[0].Title).toContain('stfinancedata');
}

describe('an older-schema AzureActivity export raises storage-key-listing for the user who listed the keys', () => {
  it('in warden replay', async () => {
    const out = join(dir, 'replay.jsonl');
    const run = await cli('replay', OLDER_EXPORT, '--out', out, '--json');
    expect(run.err).toEqual([]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out.at(-1)!)).toMatchObject({ records: 4, events: 4, deadLettered: 0 });
    expectKeyListingByAlex(readAlerts(out));
  });

  it('in warden backtest --export', async () => {
    const out = join(dir, 'backtest.jsonl');
    const run = await cli('backtest', '--export', OLDER_EXPORT, '--out', out, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out.at(-1)!)).toMatchObject({ events: 4, deadLettered: 0 });
    expectKeyListingByAlex(readAlerts(out));
  });
});
