/**
 * Event ids recently applied on each keyed partition. The keyed hub can carry an event twice under
 * two sequence numbers: an ingest batch that failed after part of its publish (or whose instance
 * died before its checkpoint) is published again in full. Detect's per-partition sequence mark
 * cannot tell those apart, so it drops an id already seen at another sequence number. The same id
 * at the same sequence number is a redelivery, which the detector's mark handles (and a retry of a
 * failed batch must reach it again). Held in memory, bounded per partition.
 */
export class RecentEventIds {
  private readonly partitions = new Map<string, { bySequence: Map<string, number>; ring: string[]; next: number }>();

  constructor(private readonly perPartition = 50_000) {}

  /** Whether this event id was seen on the partition at another sequence number; remembers it otherwise. */
  isRepeat(partitionId: string, eventId: string, sequenceNumber: number): boolean {
    let p = this.partitions.get(partitionId);
    if (!p) {
      p = { bySequence: new Map(), ring: [], next: 0 };
      this.partitions.set(partitionId, p);
    }
    const seen = p.bySequence.get(eventId);
    if (seen !== undefined) return seen !== sequenceNumber;
    if (p.ring.length < this.perPartition) p.ring.push(eventId);
    else {
      p.bySequence.delete(p.ring[p.next]);
      p.ring[p.next] = eventId;
      p.next = (p.next + 1) % this.perPartition;
    }
    p.bySequence.set(eventId, sequenceNumber);
    return false;
  }

  /** Forget a partition (its lease moved to another instance). */
  release(partitionId: string): void {
    this.partitions.delete(partitionId);
  }
}
