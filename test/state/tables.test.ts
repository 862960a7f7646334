import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { TableStateStore } from '../../src/state/tables.js';
import { TableEntryTooLargeError, joinText, keyOf, splitText, tableKey } from '../../src/state/table-entities.js';

let azurite: AzuriteInstance;
let tableCount = 0;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** A store on a table of its own, so tests do not see each other's entries. */
function store(): TableStateStore {
  return new TableStateStore({ connectionString: azurite.connectionString, table: `state${++tableCount}` });
}

const ODD_KEYS = [
  'ai-key-listing|sp:3f1c',
  'path/with/slashes',
  'back\\slash',
  'hash#and?question',
  'percent%41not-an-escape',
  '%u0041',
  '~starts-with-tilde',
  'tab\tnew\nline\u0000nul\u007fdel\u0085nel',
  'unicode: Schlüssel ключ 鍵 🔑 👩🏽‍💻',
  'quotes \' and "',
  'lone \ud800 surrogate and \udc00 low',
  'x'.repeat(2048),
  '/'.repeat(300),
  '🔑'.repeat(600),
  '',
];

describe('tableKey', () => {
  it('gives legal, reversible keys of at most 1 KiB for any string', () => {
    for (const key of ODD_KEYS) {
      const rowKey = tableKey(key);
      expect(rowKey.length).toBeLessThanOrEqual(512);
      // eslint-disable-next-line no-control-regex -- Tables forbids control characters in keys
      expect(rowKey).not.toMatch(/[/\\#?\u0000-\u001f\u007f-\u009f]/);
      const entity = rowKey.startsWith('~') ? { rowKey, k: key } : { rowKey };
      expect(keyOf(entity)).toBe(key);
    }
  });

  it('leaves ordinary keys readable', () => {
    expect(tableKey('ai-key-listing|3f1c2a|eastus')).toBe('ai-key-listing|3f1c2a|eastus');
    expect(tableKey('a/b')).toBe('a%2Fb');
  });
});

describe('splitText', () => {
  it('cuts long text into parts of at most 32 Ki characters, each well-formed UTF-16 (no half emoji)', () => {
    const text = 'a' + '🔑'.repeat(40_000);
    const entity: Record<string, unknown> = {};
    splitText(text, 'v', entity);
    const parts = Object.values(entity) as string[];
    expect(Object.keys(entity)).toEqual(['v', 'v1', 'v2']);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(32 * 1024);
      expect(part).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    }
    expect(joinText(entity, 'v')).toBe(text);
  });
});

describe('TableStateStore on Azurite', () => {
  it('round-trips odd keys: slashes, control characters, unicode, 2 KB keys, the empty key', async () => {
    const s = store();
    const upserts = new Map(ODD_KEYS.map((k, i) => [k, `{"n":${i}}`]));
    await s.write('0', upserts, []);
    const loaded = await s.load('0');
    expect(loaded).toEqual(upserts);
  });

  it('writes many keys in transactions of at most 100 entities and reads them all back (over several result pages)', async () => {
    const s = store();
    const upserts = new Map(Array.from({ length: 1057 }, (_, i) => [`rule|principal-${i}`, JSON.stringify({ c: i, w: [i, i + 1] })]));
    const stats = await s.write('3', upserts, []);
    expect(stats).toEqual({ entities: 1057, transactions: 11 });
    expect(await s.load('3')).toEqual(upserts);
  });

  it("stores a write's last entry (the partition's mark) only after every other transaction of the write committed", async () => {
    const client = TableClient.fromConnectionString(azurite.connectionString, `ordered${++tableCount}`, { allowInsecureConnection: true });
    const submit = client.submitTransaction.bind(client);
    // The first of three transactions fails, slowly: the other two would be in flight meanwhile.
    client.submitTransaction = async (actions) => {
      if (actions.some(([, entity]) => entity.rowKey === 'k0')) {
        await new Promise((r) => setTimeout(r, 200));
        throw new Error('simulated outage');
      }
      return submit(actions);
    };
    const s = new TableStateStore({ tableClient: client });
    const upserts = new Map([...Array.from({ length: 249 }, (_, i): [string, string] => [`k${i}`, 'v']), ['mark', 'q=249']]);
    await expect(s.write('0', upserts, ['gone'])).rejects.toThrow('simulated outage');
    const stored = await s.load('0');
    expect(stored.has('k0')).toBe(false);
    expect(stored.has('mark')).toBe(false);
  });

  it('keeps hub partitions apart', async () => {
    const s = store();
    await s.write('0', new Map([['k', 'zero']]), []);
    await s.write('1', new Map([['k', 'one']]), []);
    expect(await s.load('0')).toEqual(new Map([['k', 'zero']]));
    expect(await s.load('1')).toEqual(new Map([['k', 'one']]));
    expect(await s.load('2')).toEqual(new Map());
  });

  it('stores values over 32 Ki characters across properties, and a value that shrinks leaves nothing stale', async () => {
    const s = store();
    // Emoji are surrogate pairs: the 32 Ki cut lands inside one unless the store avoids it.
    const big = 'a' + '🔑'.repeat(70_000) + JSON.stringify({ tail: 'é'.repeat(5000) });
    const exact = 'b'.repeat(32 * 1024);
    await s.write(
      '0',
      new Map([
        ['big', big],
        ['exact', exact],
      ]),
      [],
    );
    expect(await s.load('0')).toEqual(
      new Map([
        ['big', big],
        ['exact', exact],
      ]),
    );

    await s.write('0', new Map([['big', 'small']]), []);
    expect((await s.load('0')).get('big')).toBe('small');
    const raw = await s.client.getEntity('0', 'big');
    expect(Object.keys(raw).filter((p) => /^v\d*$/.test(p))).toEqual(['v']);
  });

  it('refuses an entry over the 1 MiB entity limit before writing anything, naming the key', async () => {
    const s = store();
    const upserts = new Map([
      ['fine', 'x'],
      ['huge', 'y'.repeat(600_000)],
    ]);
    await expect(s.write('0', upserts, [])).rejects.toThrow(TableEntryTooLargeError);
    await expect(s.write('0', upserts, [])).rejects.toThrow(/"huge".*600004 characters/);
    expect(await s.load('0')).toEqual(new Map());
  });

  it('deletes keys, tolerates deleting keys that are not stored, and lets a delete win over an upsert of the same key', async () => {
    const s = store();
    const keys = Array.from({ length: 150 }, (_, i) => `key/${i}`);
    await s.write('0', new Map(keys.map((k) => [k, 'v'])), []);
    // A redelivered batch deletes again: keys already gone (and a never-written one) are not errors.
    const gone = keys.slice(0, 120);
    await s.write('0', new Map(), gone);
    const stats = await s.write(
      '0',
      new Map([
        ['new', 'n'],
        ['key/149', 'upserted and deleted'],
      ]),
      [...gone.slice(0, 3), 'never-written', 'key/149', 'key/148'],
    );
    expect(stats.transactions).toBe(1);
    const loaded = await s.load('0');
    expect([...loaded.keys()].sort()).toEqual([...keys.slice(120, 148), 'new'].sort());
  });

  it('creates its table on first use', async () => {
    const table = `fresh${Date.now()}`;
    const s = new TableStateStore({ connectionString: azurite.connectionString, table });
    expect(await s.load('0')).toEqual(new Map());
    await s.write('0', new Map([['a', '1']]), []);
    const entities = [];
    for await (const e of TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true }).listEntities()) entities.push(e);
    expect(entities.map((e) => [e.partitionKey, e.rowKey, e.v])).toEqual([['0', 'a', '1']]);
  });

  it('reaches an account by name over HTTPS with a token credential (production: managed identity)', () => {
    const credential = { getToken: () => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 60_000 }) };
    const s = new TableStateStore({ accountName: 'wardenprod', credential });
    expect(s.client.url).toBe('https://wardenprod.table.core.windows.net');
    expect(s.client.tableName).toBe('wardenstate');
  });

  it('propagates service errors for the caller to retry', async () => {
    // Nothing listens on port 9: a refused connection, as in a storage outage.
    const down = azurite.connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, 'TableEndpoint=http://127.0.0.1:9');
    const s = new TableStateStore({
      tableClient: TableClient.fromConnectionString(down, 'down', { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } }),
    });
    await expect(s.write('0', new Map([['a', '1']]), [])).rejects.toThrow();
  });
});
