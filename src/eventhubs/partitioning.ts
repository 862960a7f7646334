import type { NormalizedEvent, RoutedFor, StreamEvent } from '../model/index.js';

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
 * Where an event goes on the keyed hub: its principal's partition and, for an event with a target
 * principal (a secret added to a service principal), the target's partition as well, each copy
 * marked with the key it is for. An event without a target whose actor is an application's
 * service principal (`principalAppId`) goes to the app id's partition too, where changes to the
 * application object are keyed. When two keys share a partition, one copy serves both. An event
 * with neither (nearly all) costs one route, as before. `emit` is called once per copy.
 */
export function keyedRoutes(event: NormalizedEvent, partitions: number, emit: (partition: number, routedFor?: RoutedFor) => void): void {
  const actor = routeToPartition(event.principalId, partitions);
  const targetId = event.targetPrincipalId;
  if (targetId !== undefined) {
    const target = routeToPartition(targetId, partitions);
    if (target === actor) return emit(actor, 'both');
    emit(actor);
    return emit(target, 'target');
  }
  const appId = event.principalAppId;
  if (appId === undefined || appId === event.principalId) return emit(actor);
  const app = routeToPartition(appId, partitions);
  if (app === actor) return emit(actor, 'actor+app');
  emit(actor);
  emit(app, 'app');
}

/**
 * The in-process keyed bus of replay and rule tests: routes each event to its principal's
 * partition (and a target's or app's copy to theirs, see keyedRoutes) and numbers it there, as the
 * keyed Event Hub would.
 */
export class PartitionRouter {
  private readonly next: number[];

  constructor(readonly partitions: number) {
    routeToPartition('', partitions);
    this.next = new Array<number>(partitions).fill(0);
  }

  /** The keyed copies of one event (one, or two for an event with a target or app key on another partition), appended to `out`. */
  route(event: NormalizedEvent, arrivedAt: number, out: StreamEvent[] = []): StreamEvent[] {
    keyedRoutes(event, this.partitions, (partition, routedFor) => {
      const se: StreamEvent = { event, arrivedAt, partitionId: String(partition), sequenceNumber: this.next[partition]++ };
      if (routedFor) se.routedFor = routedFor;
      out.push(se);
    });
    return out;
  }

  /** The keyed copies of a batch of events, in order (an event's copies one after the other). */
  routeAll(events: readonly NormalizedEvent[], arrivedAt: number): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const event of events) this.route(event, arrivedAt, out);
    return out;
  }
}
