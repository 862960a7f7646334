import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import { FIRST_PARTY_CLIENT_IDS, type Alert } from '../../src/model/index.js';

const SUB = 'e7513b8c-2688-46e5-adc0-b529bcb1555f';
const TENANT = '0ca32b81-8aa9-4437-bdd7-afbd85443eae';
const AZURE_CLI = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';
const GRACE = 'bdee79f1-7859-4b3a-9a9b-34f5b93987f3';
const account = (name: string) => `/subscriptions/${SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/${name}`;

let minute = 0;
/** One storage key listing, as the activity log streams it, by whoever `claims` says. */
function listKeys(name: string, claims: Record<string, unknown>): Record<string, unknown> {
  const at = Date.parse('2025-05-12T08:00:00Z') + minute++ * 60_000;
  return {
    time: new Date(at).toISOString(),
    resourceId: account(name).toUpperCase(),
    operationName: 'MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION',
    category: 'Administrative',
    resultType: 'Success',
    callerIpAddress: `203.0.113.${minute}`,
    correlationId: `8f292595-a68d-4c05-aeaa-f4a9307a2b${String(minute).padStart(2, '0')}`,
    identity: { authorization: { scope: account(name), action: 'Microsoft.Storage/storageAccounts/listKeys/action' }, claims },
    tenantId: TENANT,
  };
}

/** Unidentified callers (no claims, a display name only, the CLI's app id only) interleaved with named users, two of them through the Azure CLI. */
const records = [
  listKeys('stalpha', { name: 'Build Agent' }),
  listKeys('stbravo', {}),
  listKeys('stalpha', {}),
  listKeys('stcharlie', { appid: AZURE_CLI, upn: 'megan.bowen@contoso.com', name: 'Megan Bowen', tid: TENANT }),
  listKeys('stcharlie', { appid: AZURE_CLI, upn: 'alex.wilber@contoso.com', name: 'Alex Wilber', tid: TENANT }),
  listKeys('stdelta', { appid: AZURE_CLI, tid: TENANT }),
  listKeys('stbravo', { oid: GRACE, upn: 'grace.tanaka@contoso.com', appid: AZURE_CLI, tid: TENANT }),
  listKeys('stdelta', { name: 'Megan Bowen' }),
];

const dir = mkdtempSync(join(tmpdir(), 'warden-attribution-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('who acted: alerts name the principal whose events raised them, never a shared stand-in', () => {
  it('keys a user who came through a Microsoft client by the UPN, and callers no record identifies by the resource, never by the client app', () => {
    const events = ingestBody(JSON.stringify({ records }), {}).events.map((e) => e.event);
    expect(events.map((e) => [e.principalId, e.principalType, e.principalName])).toEqual([
      [`unknown:${account('stalpha').toLowerCase()}`, 'unknown', 'Build Agent'],
      [`unknown:${account('stbravo').toLowerCase()}`, 'unknown', undefined],
      [`unknown:${account('stalpha').toLowerCase()}`, 'unknown', undefined],
      ['megan.bowen@contoso.com', 'user', 'megan.bowen@contoso.com'],
      ['alex.wilber@contoso.com', 'user', 'alex.wilber@contoso.com'],
      [`unknown:${account('stdelta').toLowerCase()}`, 'unknown', undefined],
      [GRACE, 'user', 'grace.tanaka@contoso.com'],
      [`unknown:${account('stdelta').toLowerCase()}`, 'unknown', 'Megan Bowen'],
    ]);
    // The client is kept as the app the user came through.
    expect(events[3].appId).toBe(AZURE_CLI);
    expect(FIRST_PARTY_CLIENT_IDS).toContain(AZURE_CLI);
  });

  it('in warden replay, no alert names (PrincipalName, Account entity) anyone but the principal of its own events', async () => {
    const capture = join(dir, 'interleaved.json');
    writeFileSync(capture, JSON.stringify({ records }));
    const out = join(dir, 'alerts.jsonl');
    const run = await main(['replay', capture, '--rules', 'storage-key-listing', '--out', out], { stdout: () => {}, stderr: () => {}, progress: false });
    expect(run).toBe(0);
    const alerts = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Alert);
    const named = (a: Alert) => [a.PrincipalId, a.PrincipalName ?? null, a.Entities.find((e) => e.Type === 'account')?.DisplayName ?? null];
    expect(alerts.map(named).sort()).toEqual(
      [
        [GRACE, 'grace.tanaka@contoso.com', 'grace.tanaka@contoso.com'],
        ['alex.wilber@contoso.com', 'alex.wilber@contoso.com', 'alex.wilber@contoso.com'],
        ['megan.bowen@contoso.com', 'megan.bowen@contoso.com', 'megan.bowen@contoso.com'],
        [`unknown:${account('stalpha').toLowerCase()}`, 'Build Agent', 'Build Agent'],
        [`unknown:${account('stbravo').toLowerCase()}`, null, null],
        [`unknown:${account('stdelta').toLowerCase()}`, null, null],
      ].sort(),
    );
  });
});
