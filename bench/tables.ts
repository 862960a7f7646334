import { Detector, type Rule } from '../src/engine/index.js';
import type { NormalizedEvent, StreamEvent } from '../src/model/index.js';
import { startAzurite } from '../src/dev/azurite.js';
import { TRANSACTION_ENTITIES } from '../src/state/table-entities.js';
import { TableStateStore } from '../src/state/tables.js';
import { BATCH, PARTITIONS } from './stages.js';
import { PartitionRouter } from '../src/eventhubs/partitioning.js';

export interface TableCost {
  batches: number;
  eventsPerBatch: number;
  entitiesPerBatch: number;
  transactionsPerBatch: number;
  /** The fewest transactions per batch that can hold its entities (Tables takes at most 100 per transaction). */
  fewestTransactionsPerBatch: number;
  /** Milliseconds of `flush` (the state write) per batch. */
  msPerBatch: number;
}

/** Batches written to Azurite: enough for a stable mean, few enough to keep the bench short. */
const MAX_BATCHES = 150;
/** The first batch of each partition creates its table and entities: not what a running instance pays. */
const WARM_BATCHES = PARTITIONS;

/**
 * What Table state costs per batch, on Azurite: events are routed by principal and delivered in
 * batches of 100 from one keyed partition at a time, as the detect function receives them; after
 * each batch the partition's changed state is flushed to a TableStateStore.
 */
export async function tableCost(events: readonly NormalizedEvent[], rules: readonly Rule[]): Promise<TableCost> {
  const azurite = await startAzurite();
  try {
    const store = new TableStateStore({ connectionString: azurite.connectionString });
    const detector = new Detector(rules, { store });
    const router = new PartitionRouter(PARTITIONS);
    const queues = Array.from({ length: PARTITIONS }, () => [] as StreamEvent[]);
    let batches = 0;
    let measuredEvents = 0;
    let entities = 0;
    let transactions = 0;
    let fewest = 0;
    let ms = 0;
    for (const e of events) {
      if (batches >= MAX_BATCHES + WARM_BATCHES) break;
      // The workload's events have no target principal: one copy each.
      const [se] = router.route(e, Date.now());
      const queue = queues[Number(se.partitionId)];
      queue.push(se);
      if (queue.length < BATCH) continue;
      await detector.process(queue);
      const t0 = performance.now();
      const written = await detector.flush([se.partitionId]);
      if (batches++ >= WARM_BATCHES) {
        ms += performance.now() - t0;
        measuredEvents += queue.length;
        entities += written.entities;
        transactions += written.transactions;
        fewest += Math.ceil(written.entities / TRANSACTION_ENTITIES);
      }
      queue.length = 0;
    }
    const measured = Math.max(1, batches - WARM_BATCHES);
    return {
      batches: measured,
      eventsPerBatch: measuredEvents / measured,
      entitiesPerBatch: entities / measured,
      transactionsPerBatch: transactions / measured,
      fewestTransactionsPerBatch: fewest / measured,
      msPerBatch: ms / measured,
    };
  } finally {
    await azurite.stop();
  }
}
