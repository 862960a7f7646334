import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineRule, InventoryError, inventoryFromEnv, parseInventory, ResourceInventory } from '../../src/engine/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import { ev, MIN, run, SP, SP2, stream, SUB_A, SUB_B } from './helpers.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';

const STORAGE = 'microsoft.storage/storageaccounts';
const account = (sub: string, name: string) => `/subscriptions/${sub}/resourcegroups/rg/providers/${STORAGE}/${name}`;

/** A copy into `dest` (in SUB_B) from `source`, as the storage normalizer gives it. */
const copy = (at: number, source: string, extra: Record<string, string> = {}) =>
  ev(at, {
    source: 'storage',
    category: 'StorageWrite',
    operation: 'COPYBLOB',
    subscriptionId: SUB_B,
    resourceId: account(SUB_B, 'stdest'),
    resourceType: STORAGE,
    details: { account: 'stdest', sourceAccount: source, ...extra },
  });

/** A rule that asks the context where a copy's source lives, and says so in its evidence and title. */
const crossCopy = defineRule({
  id: 'cross-copy',
  version: '1',
  description: 'd',
  severity: 'High',
  tactics: ['Exfiltration'],
  techniques: ['T1537'],
  sources: ['storage'],
  operations: ['COPYBLOB'],
  where: (e, _t, context) => context.inventory.find(STORAGE, String(e.details.sourceAccount))?.subscriptionId !== e.subscriptionId,
  evidence: ({ events, context }) => ({
    sourceSubscriptionId: context.inventory.find(STORAGE, String(events[0].details.sourceAccount))?.subscriptionId ?? null,
    // A detail no normalizer writes: this test's events carry it.
    note: `via ${String((events[0].details as Record<string, unknown>).viaUrl)}`,
    accessKey: 'should never show',
  }),
  title: ({ evidence }) => `copy from ${evidence.sourceSubscriptionId ?? 'outside'} (${evidence.note})`,
  kind: 'match',
});

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('rule context: resource inventory', () => {
  it('learns where accounts live from the events it sees, across partitions, and rules read it', async () => {
    const router = new PartitionRouter(4);
    // Another principal reads the source account first (another partition, most likely); then SP copies from it.
    const read = ev(0, {
      principalId: SP2,
      source: 'storage',
      category: 'StorageRead',
      operation: 'GETBLOB',
      subscriptionId: SUB_A,
      resourceId: account(SUB_A, 'stsource'),
      details: {},
    });
    const sameSub = ev(MIN, {
      principalId: SP2,
      source: 'storage',
      category: 'StorageRead',
      operation: 'GETBLOB',
      subscriptionId: SUB_B,
      resourceId: account(SUB_B, 'stneighbour'),
      details: {},
    });
    const { alerts, detector } = await run(
      [crossCopy],
      [stream([read, sameSub, copy(2 * MIN, 'stsource'), copy(3 * MIN, 'stneighbour'), copy(4 * MIN, 'stunknown')], router)],
    );
    expect(alerts.map((a) => a.Title)).toEqual([`copy from ${SUB_A} (via undefined)`, 'copy from outside (via undefined)']);
    expect(detector.inventory.find(STORAGE, 'STSOURCE')).toEqual({ id: account(SUB_A, 'stsource'), name: 'stsource', type: STORAGE, subscriptionId: SUB_A });
    // Sub-resources (role assignments, diagnostic settings) are not resources a name can be looked up by.
    const nested = new ResourceInventory();
    nested.observe(ev(0, { resourceId: `${account(SUB_A, 'x')}/providers/microsoft.insights/diagnosticsettings/to-warden` }));
    expect(nested.size).toBe(0);
  });

  it('takes an inventory file (Azure Resource Graph export) for accounts the logs never show', async () => {
    const inventory = new ResourceInventory(
      parseInventory(
        JSON.stringify([{ name: 'stPartner', type: 'Microsoft.Storage/storageAccounts', subscriptionId: SUB_B, id: account(SUB_B, 'stpartner') }]),
        'test',
      ),
    );
    const { alerts } = await run([crossCopy], [stream([copy(0, 'stpartner'), copy(MIN, 'stother')])], { inventory });
    expect(alerts.map((a) => a.Title)).toEqual(['copy from outside (via undefined)']);
  });

  it('reads WARDEN_INVENTORY (array or `az graph query` output) and names the problem in a bad file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-inventory-'));
    dirs.push(dir);
    const file = join(dir, 'inventory.json');
    writeFileSync(
      file,
      JSON.stringify({
        count: 1,
        data: [
          {
            name: 'kv1',
            type: 'microsoft.keyvault/vaults',
            subscriptionId: SUB_A,
            id: `/subscriptions/${SUB_A}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1`,
          },
        ],
      }),
    );
    expect(inventoryFromEnv({ WARDEN_INVENTORY: file }).find('microsoft.keyvault/vaults', 'kv1')?.subscriptionId).toBe(SUB_A);
    expect(inventoryFromEnv({}).size).toBe(0);
    expect(() => inventoryFromEnv({ WARDEN_INVENTORY: join(dir, 'missing.json') })).toThrow(
      /^WARDEN_INVENTORY \(.*missing\.json\): cannot read .* \(ENOENT\): fix the path or unset it$/,
    );
    expect(() => parseInventory('[{"name":"a","type":"t"}]', 'inv.json')).toThrow(InventoryError);
    expect(() => parseInventory('[{"name":"a","type":"t"}]', 'inv.json')).toThrow(/^inv\.json: resource \[0\] needs "id", "type", "name" and "subscriptionId"/);
    expect(() => parseInventory('{"rows": []}', 'inv.json')).toThrow(/expected a JSON array of resources, or \{"data": \[\.\.\.\]\}/);
  });
});

describe('rule evidence and principal names', () => {
  it('adds the rule’s evidence (secrets redacted) before the kind’s, and the title sees it', async () => {
    const sas = 'https://stsource.blob.core.windows.net/c/b?sv=2023-11-03&sig=abcdefghijklmnop%3D';
    const { alerts } = await run([crossCopy], [stream([copy(0, 'stelsewhere', { viaUrl: sas })])]);
    const evidence = alerts[0].Evidence;
    expect(evidence).toMatchObject({ kind: 'match', sourceSubscriptionId: null, accessKey: '[REDACTED]', operation: 'COPYBLOB' });
    expect(evidence.note).toMatch(/sig=(\[REDACTED\]|REDACTED)/);
    expect(JSON.stringify(alerts[0])).not.toContain('abcdefghijklmnop');
    expect(alerts[0].Title).toContain('sig=');
    expect(alerts[0].Title).not.toContain('abcdefghijklmnop');
  });

  it('after a restart, names principals and places resources as before: what was learned is kept with the partition state', async () => {
    const store = new InMemoryStateStore();
    const signin = ev(0, {
      source: 'signin',
      category: 'ServicePrincipalSignInLogs',
      operation: 'SIGN-IN ACTIVITY',
      principalName: 'sp-etl-pipeline',
      details: {},
    });
    const read = ev(MIN, {
      source: 'storage',
      category: 'StorageRead',
      operation: 'GETBLOB',
      subscriptionId: SUB_B,
      resourceId: account(SUB_B, 'stneighbour'),
      details: {},
    });
    const router = new PartitionRouter(1);
    await run([crossCopy], [stream([signin, read], router)], { store });
    // A new instance takes the partition over: a copy from the neighbour (same subscription) is not
    // cross-subscription, and a copy from an unknown account names the principal.
    const { alerts, detector } = await run([crossCopy], [stream([copy(2 * MIN, 'stneighbour'), copy(3 * MIN, 'stunknown')], router)], { store });
    expect(alerts.map((a) => [a.Title, a.PrincipalName])).toEqual([['copy from outside (via undefined)', 'sp-etl-pipeline']]);
    expect(detector.stats().corruptState).toBe(0);
  });

  it('names a principal its logs give only by id, from a name seen in an earlier event', async () => {
    const signin = ev(0, {
      source: 'signin',
      category: 'ServicePrincipalSignInLogs',
      operation: 'SIGN-IN ACTIVITY',
      principalName: 'sp-etl-pipeline',
      details: {},
    });
    const { alerts } = await run([crossCopy], [stream([signin, copy(MIN, 'stunknown')])]);
    expect(alerts[0].PrincipalName).toBe('sp-etl-pipeline');
    expect(alerts[0].Entities.find((e) => e.Type === 'account')).toMatchObject({ Name: 'sp-etl-pipeline', AadUserId: SP });
  });
});
