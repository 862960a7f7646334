/**
 * One copy of each value that repeats across what keys keep, by its text: a sequence's candidate
 * events name the same principal, resource, operation and user agent event after event, each
 * parsed from its own record as a string of its own. Looked up here, every candidate holding a
 * value holds the one copy.
 *
 * Bounded, since anyone who can write to the hubs can send any number of distinct values: two
 * generations of at most `maxEntries` each. A value found in the older generation moves to the
 * newer one; when the newer is full, the older is dropped and the newer takes its place. So the
 * table holds at most 2 × maxEntries entries, a flood of new values only pushes older ones out,
 * and a value dropped here stays with whatever holds it (it is shared no more, nothing else).
 */
export class Interner<T> {
  private current = new Map<string, T>();
  private previous = new Map<string, T>();

  constructor(readonly maxEntries: number) {}

  /** Entries held (a value moved to the newer generation may be counted in both until the older is dropped). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** The value kept for `key`, else `make(key)`'s, kept from now. */
  get(key: string, make: (key: string) => T): T {
    const v = this.current.get(key);
    if (v !== undefined) return v;
    return this.keep(key, this.previous.get(key) ?? make(key));
  }

  /** The value kept for `key`, if any. */
  find(key: string): T | undefined {
    const v = this.current.get(key);
    if (v !== undefined) return v;
    const old = this.previous.get(key);
    return old === undefined ? undefined : this.keep(key, old);
  }

  /** Keep `v` for `key` (not kept yet); returns it. */
  add(key: string, v: T): T {
    return this.keep(key, v);
  }

  private keep(key: string, v: T): T {
    if (this.current.size >= this.maxEntries) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, v);
    return v;
  }
}
