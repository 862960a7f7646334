import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { once, tableClientFor, type TableLocation } from './azure-storage.js';
import { ENTITY_TEXT_CHARS, joinText, keyOf, submitTransactions, tableKey, textEntity } from './table-entities.js';
import type { StateStore, StateWriteStats } from './types.js';

export const DEFAULT_STATE_TABLE = 'wardenstate';

/** The property holding an entry's value (`v`, then `v1`, `v2`… for values over 32 Ki characters). */
const VALUE = 'v';

/**
 * Detection state in Azure Tables: one table, one Table partition per hub partition (PartitionKey =
 * the hub partition id), one entity per state key (RowKey = the key made legal by `tableKey`), the
 * value as text. A batch's writes go in transactions of up to 100 entities of that partition.
 * Errors from the service, transient ones included, propagate: the caller's retry policy owns them.
 */
export class TableStateStore implements StateStore {
  readonly client: TableClient;
  readonly maxEntryChars = ENTITY_TEXT_CHARS;
  private readonly ensureTable: () => Promise<void>;

  constructor(location: TableLocation) {
    this.client = tableClientFor(location, DEFAULT_STATE_TABLE);
    this.ensureTable = once(() => this.client.createTable());
  }

  async load(partitionId: string): Promise<Map<string, string>> {
    await this.ensureTable();
    const entries = new Map<string, string>();
    const filter = odata`PartitionKey eq ${tableKey(partitionId)}`;
    for await (const entity of this.client.listEntities({ queryOptions: { filter } })) {
      entries.set(keyOf(entity), joinText(entity, VALUE) ?? '');
    }
    return entries;
  }

  /**
   * One entry with the time the service last wrote it (the entity's Timestamp), or undefined when
   * there is none: how `warden seed` tells whether a running app writes the partition.
   */
  async entry(partitionId: string, key: string): Promise<{ value: string; writtenAt: number } | undefined> {
    await this.ensureTable();
    try {
      const entity = await this.client.getEntity<Record<string, unknown>>(tableKey(partitionId), tableKey(key));
      return { value: joinText(entity, VALUE) ?? '', writtenAt: Date.parse(String(entity.timestamp)) };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Delete every entry of a partition (a seed rebuilding it from history); returns how many there were. */
  async clear(partitionId: string): Promise<number> {
    await this.ensureTable();
    const partitionKey = tableKey(partitionId);
    const actions: TransactionAction[] = [];
    const filter = odata`PartitionKey eq ${partitionKey}`;
    for await (const entity of this.client.listEntities({ queryOptions: { filter, select: ['RowKey'] } }))
      actions.push(['delete', { partitionKey, rowKey: entity.rowKey! }]);
    if (actions.length) await submitTransactions(this.client, actions, (_, status) => status === 404);
    return actions.length;
  }

  /**
   * Upserts replace the whole entity, so a value that shrank leaves no stale parts behind. A key
   * both upserted and deleted is deleted (as the in-memory store does); deleting a key that is not
   * stored is not an error (a redelivered batch deletes again).
   */
  async write(partitionId: string, upserts: ReadonlyMap<string, string>, deletes: Iterable<string>): Promise<StateWriteStats> {
    const partitionKey = tableKey(partitionId);
    const deleted = new Set(deletes);
    // Deletes first (pruned keys: safe in any order), so the last upsert is the write's last action.
    const actions: TransactionAction[] = [];
    for (const key of deleted) actions.push(['delete', { partitionKey, rowKey: tableKey(key) }]);
    for (const [key, value] of upserts) {
      if (!deleted.has(key)) actions.push(['upsert', textEntity(partitionKey, key, VALUE, value), 'Replace']);
    }
    if (!actions.length) return { entities: 0, transactions: 0 };
    await this.ensureTable();
    const { entities, transactions } = await submitTransactions(this.client, actions, (action, status) => action[0] === 'delete' && status === 404);
    return { entities, transactions };
  }
}
