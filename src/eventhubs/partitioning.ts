import type { NormalizedEvent, StreamEvent } from '../model/index.js';

/** FNV-1a 32-bit over the text's UTF-16 code units: the same partition for a principal in replay and production. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The keyed partition (0 … partitions−1) of a principal. */
export function routeToPartition(principalId: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a whole number ≥ 1, got ${partitions}`);
  return fnv1a(principalId) % partitions;
}

/**
 * The in-process keyed bus of replay and rule tests: routes each event to its principal's
 * partition and numbers it there, as the keyed Event Hub would.
 */
export class PartitionRouter {
  private readonly next: number[];

  constructor(readonly partitions: number) {
    routeToPartition('', partitions);
    this.next = new Array<number>(partitions).fill(0);
  }

  route(event: NormalizedEvent, arrivedAt: number): StreamEvent {
    const p = routeToPartition(event.principalId, this.partitions);
    return { event, arrivedAt, partitionId: String(p), sequenceNumber: this.next[p]++ };
  }
}
