/**
 * Where detection state lives between batches. Keys of one keyed-hub partition live together
 * (one Azure Tables partition per hub partition) so a batch's dirty state is written in few
 * transactions. Values are opaque strings (the engine's compact JSON per key).
 */
export interface StateStore {
  /** Every entry of one partition: what an instance reads when it takes the partition over. */
  load(partitionId: string): Promise<Map<string, string>>;
  /**
   * Upsert dirty entries and delete pruned ones; called once per batch. Upserts are stored in the
   * map's order: when they take several transactions, each commits before the next is sent, so a
   * later entry (the partition's sequence number) is never stored without the earlier ones.
   */
  write(partitionId: string, upserts: ReadonlyMap<string, string>, deletes: Iterable<string>): Promise<StateWriteStats>;
  /** The longest entry (key and value, in characters) the store can hold; a writer keeps to it or the write fails every time. */
  readonly maxEntryChars?: number;
}

export interface StateWriteStats {
  entities: number;
  transactions: number;
}
