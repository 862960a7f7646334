/**
 * What Warden's Azure Tables stores (state, alert outbox) share: keys made legal for Tables,
 * long strings split over several properties, and writes grouped into entity-group transactions.
 * Limits: https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model
 */
import { createHash } from 'node:crypto';
import type { TableClient, TableEntity, TransactionAction } from '@azure/data-tables';
import { WardenError } from '../common/errors.js';

/** A string property holds at most 64 KiB of UTF-16: 32 Ki characters. */
export const PROPERTY_CHARS = 32 * 1024;
/**
 * Key plus stored text per entity: an entity holds at most 1 MiB, counted as UTF-16, with every
 * property's name and overhead; this leaves room for them.
 */
export const ENTITY_TEXT_CHARS = 480_000;
/** A transaction holds at most 100 entities of one partition. */
export const TRANSACTION_ENTITIES = 100;
/** A transaction's body is at most 4 MiB; this leaves room for the multipart framing. */
const TRANSACTION_BYTES = 4 * 1024 * 1024 - 256 * 1024;
/** Keys up to 1 KiB; as UTF-16 that is 512 characters. Longer keys are stored by hash. */
const ROW_KEY_CHARS = 512;

/** The property holding the original key of an entity whose RowKey is a hash (keys over 512 characters). */
export const KEY_PROPERTY = 'k';

/** A key or value too large for one Azure Tables entity. */
export class TableEntryTooLargeError extends WardenError {
  override name = 'TableEntryTooLargeError';
  readonly userFixable = false;
}

// Characters Tables forbids in keys, `%` (the escape itself), a leading `~` (hashed keys start with
// it) and lone surrogates (they do not survive the service's UTF-8 and UTF-16 conversions).
// eslint-disable-next-line no-control-regex -- control characters are exactly what Tables forbids
const KEY_UNSAFE = /[%/\\#?\u0000-\u001f\u007f-\u009f]|^~|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const KEY_ESCAPE = /%(u[0-9A-F]{4}|[0-9A-F]{2})/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : `%u${code.toString(16).toUpperCase()}`;
}

/**
 * A PartitionKey or RowKey for any string: readable where the string is legal (`ai-key-listing|sp1`
 * stays as it is), percent-escaped where it is not, and `~` + SHA-256 when the escaped key is over
 * 1 KiB (the entity then carries the key in `k`). The same string always gives the same key.
 */
export function tableKey(key: string): string {
  const escaped = key.replace(KEY_UNSAFE, escapeChar);
  if (escaped.length <= ROW_KEY_CHARS) return escaped;
  return `~${createHash('sha256').update(key).digest('base64url')}`;
}

/** The string a key was made from (`k` when the key is a hash). */
export function keyOf(entity: { rowKey?: string; [KEY_PROPERTY]?: unknown }): string {
  const stored = entity[KEY_PROPERTY];
  if (typeof stored === 'string') return stored;
  return (entity.rowKey ?? '').replace(KEY_ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex[0] === 'u' ? hex.slice(1) : hex, 16)));
}

/** Entity properties `prefix`, `prefix1`, `prefix2`…: `text` cut into property-sized parts. */
export function splitText(text: string, prefix: string, into: Record<string, unknown>): void {
  let part = 0;
  for (let start = 0; start < text.length || part === 0; part++) {
    let end = Math.min(start + PROPERTY_CHARS, text.length);
    // Never cut a surrogate pair: half a character cannot be stored.
    if (end < text.length && /[\ud800-\udbff]/.test(text[end - 1])) end--;
    into[part ? `${prefix}${part}` : prefix] = text.slice(start, end);
    start = end;
  }
}

/** The text splitText stored, or undefined when the entity has none. */
export function joinText(entity: Record<string, unknown>, prefix: string): string | undefined {
  const first = entity[prefix];
  if (typeof first !== 'string') return undefined;
  let text = first;
  for (let part = 1; ; part++) {
    const next = entity[`${prefix}${part}`];
    if (typeof next !== 'string') return text;
    text += next;
  }
}

/** An entity for `key` in a partition: RowKey from `tableKey`, and the key itself in `k` when the RowKey is its hash. */
export function keyedEntity(partitionKey: string, key: string, properties: Record<string, unknown> = {}): TableEntity {
  const rowKey = tableKey(key);
  const entity: TableEntity = { partitionKey, rowKey, ...properties };
  if (rowKey[0] === '~') entity[KEY_PROPERTY] = key;
  return entity;
}

/** An entity with its key and text (split by splitText under `prefix`), checked against the entity size limit. */
export function textEntity(partitionKey: string, key: string, prefix: string, text: string, properties: Record<string, unknown> = {}): TableEntity {
  if (key.length + text.length > ENTITY_TEXT_CHARS) {
    throw new TableEntryTooLargeError(
      `the entry for key "${key.slice(0, 80)}${key.length > 80 ? '…' : ''}" is ${key.length + text.length} characters; ` +
        `one Azure Tables entity holds at most ${ENTITY_TEXT_CHARS} (1 MiB): keep what is stored under one key smaller`,
    );
  }
  const entity = keyedEntity(partitionKey, key, properties);
  splitText(text, prefix, entity);
  return entity;
}

/** Upper bound of an action's share of a transaction body: JSON escaping at most doubles UTF-8 text. */
function actionBytes(action: TransactionAction): number {
  let bytes = 512;
  for (const value of Object.values(action[1])) if (typeof value === 'string') bytes += 2 * Buffer.byteLength(value);
  return bytes;
}

/** Actions grouped into transactions within Tables' limits (100 entities, 4 MiB). All must share a PartitionKey. */
export function transactionsOf(actions: readonly TransactionAction[]): TransactionAction[][] {
  const groups: TransactionAction[][] = [];
  let group: TransactionAction[] = [];
  let bytes = 0;
  for (const action of actions) {
    const size = actionBytes(action);
    if (group.length && (group.length === TRANSACTION_ENTITIES || bytes + size > TRANSACTION_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(action);
    bytes += size;
  }
  if (group.length) groups.push(group);
  return groups;
}

export interface TransactionStats {
  /** Actions applied. */
  entities: number;
  /** Transactions committed. */
  transactions: number;
  /** Actions left out because the service said they need not happen (see `skippable`). */
  skipped: TransactionAction[];
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Transactions of one write in flight at once: they touch different entities, so order does not matter. */
const PARALLEL_TRANSACTIONS = 4;

/**
 * Submit actions as transactions, a few at a time; the last transaction only once all the others
 * have committed, so a write whose last action records progress (detection state's partition mark)
 * never stores it ahead of the rest. A transaction is all or nothing: when one
 * action fails with a status `skippable` accepts (a delete of an entity already gone: 404; a create
 * of one already there: 409), nothing was applied, so that action is left out and the rest
 * submitted again. The service names the failed action by its index at the start of the error
 * message (`1:The specified resource does not exist.`). Other errors, transient ones included,
 * propagate; transactions already committed stay committed.
 */
export async function submitTransactions(
  client: TableClient,
  actions: readonly TransactionAction[],
  skippable: (action: TransactionAction, status: number) => boolean = () => false,
): Promise<TransactionStats> {
  const stats: TransactionStats = { entities: 0, transactions: 0, skipped: [] };
  const groups = transactionsOf(actions);
  const last = groups.pop();
  const submitGroups = async () => {
    for (let group = groups.shift(); group; group = groups.shift()) {
      while (group.length) {
        try {
          await client.submitTransaction(group);
          stats.entities += group.length;
          stats.transactions++;
          break;
        } catch (err) {
          const status = statusOf(err);
          const index = Number(/^(\d+):/.exec((err as Error)?.message ?? '')?.[1] ?? NaN);
          const failed = group[index];
          if (status === undefined || !failed || !skippable(failed, status)) throw err;
          stats.skipped.push(failed);
          group = group.filter((_, i) => i !== index);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_TRANSACTIONS, groups.length) }, submitGroups));
  if (last) {
    groups.push(last);
    await submitGroups();
  }
  return stats;
}
