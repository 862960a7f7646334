import type { StateStore, StateWriteStats } from './types.js';

/**
 * StateStore in process memory: replay, rule tests, and restore tests. Entries are kept as the
 * strings written, so what a restored detector reads is exactly what the Tables store would hold.
 */
export class InMemoryStateStore implements StateStore {
  private readonly partitions = new Map<string, Map<string, string>>();
  private writes = 0;

  // eslint-disable-next-line @typescript-eslint/require-await -- StateStore is a promise interface; this store answers at once
  async load(partitionId: string): Promise<Map<string, string>> {
    return new Map(this.partitions.get(partitionId));
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- StateStore is a promise interface; this store answers at once
  async write(partitionId: string, upserts: ReadonlyMap<string, string>, deletes: Iterable<string>): Promise<StateWriteStats> {
    let entries = this.partitions.get(partitionId);
    if (!entries) this.partitions.set(partitionId, (entries = new Map<string, string>()));
    let n = 0;
    for (const [key, value] of upserts) {
      entries.set(key, value);
      n++;
    }
    // Deleting an entry that is not there is not an error: a key may be pruned before it was ever written.
    for (const key of deletes) {
      entries.delete(key);
      n++;
    }
    this.writes++;
    return { entities: n, transactions: n ? 1 : 0 };
  }

  /** Entries held for a partition (tests check state stays bounded). */
  size(partitionId?: string): number {
    if (partitionId !== undefined) return this.partitions.get(partitionId)?.size ?? 0;
    let n = 0;
    for (const entries of this.partitions.values()) n += entries.size;
    return n;
  }

  /** Number of write calls so far (tests check state is written once per batch). */
  get writeCalls(): number {
    return this.writes;
  }
}
