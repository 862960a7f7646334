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
  /** Milliseconds of `process` (the rules, in memory) per batch. */
  processMsPerBatch: number;
}

export interface TableCostOptions {
  /** Write a partition's state after every this many of its batches, as `warden run` does (WARDEN_CHECKPOINT_BATCHES). Default 1. */
  writeEvery?: number;
  /** Batches measured (default 150). */
  batches?: number;
  /** An Azurite already running, and the table to write (default: start one, table `wardenstate`). */
  azurite?: { connectionString: string; table: string };
}

/** Batches written to Azurite: enough for a stable mean, few enough to keep the bench short. */
const MAX_BATCHES = 150;
/** The first batch of each partition creates its table and entities: not what a running instance pays. */
const WARM_BATCHES = PARTITIONS;

/**
 * What Table state costs per batch, on Azurite: events are routed by principal and delivered in
 * batches of 100 from one keyed partition at a time, as the detect function receives them; after
 * each batch (or each `writeEvery` batches of the partition) its changed state is flushed to a TableStateStore.
 */
export async function tableCost(events: readonly NormalizedEvent[], rules: readonly Rule[], options: TableCostOptions = {}): Promise<TableCost> {
  const writeEvery = options.writeEvery ?? 1;
  const azurite = options.azurite ? undefined : await startAzurite();
  try {
    const store = new TableStateStore(options.azurite ?? { connectionString: azurite!.connectionString });
    const detector = new Detector(rules, { store });
    const router = new PartitionRouter(PARTITIONS);
    const queues = Array.from({ length: PARTITIONS }, () => [] as StreamEvent[]);
    let batches = 0;
    let measuredEvents = 0;
    let entities = 0;
    let transactions = 0;
    let fewest = 0;
    let ms = 0;
    let processMs = 0;
    const handled = new Array<number>(PARTITIONS).fill(0);
    for (const e of events) {
      if (batches >= (options.batches ?? MAX_BATCHES) + WARM_BATCHES) break;
      // The workload's events have no target principal: one copy each.
      const [se] = router.route(e, Date.now());
      const queue = queues[Number(se.partitionId)];
      queue.push(se);
      if (queue.length < BATCH) continue;
      const p0 = performance.now();
      await detector.process(queue);
      const t0 = performance.now();
      const written = ++handled[Number(se.partitionId)] % writeEvery === 0 ? await detector.flush([se.partitionId]) : { entities: 0, transactions: 0 };
      if (batches++ >= WARM_BATCHES) {
        ms += performance.now() - t0;
        processMs += t0 - p0;
        measuredEvents += queue.length;
        entities += written.entities;
        transactions += written.transactions;
        fewest += Math.ceil(written.entities / TRANSACTION_ENTITIES);
      }
      queue.length = 0;
    }
    // What is left unwritten when writes are further apart is written as `warden run` does when it stops.
    if (writeEvery > 1) {
      const t0 = performance.now();
      const written = await detector.flush();
      ms += performance.now() - t0;
      entities += written.entities;
      transactions += written.transactions;
      fewest += Math.ceil(written.entities / TRANSACTION_ENTITIES);
    }
    const measured = Math.max(1, batches - WARM_BATCHES);
    return {
      batches: measured,
      eventsPerBatch: measuredEvents / measured,
      entitiesPerBatch: entities / measured,
      transactionsPerBatch: transactions / measured,
      fewestTransactionsPerBatch: fewest / measured,
      msPerBatch: ms / measured,
      processMsPerBatch: processMs / measured,
    };
  } finally {
    await azurite?.stop();
  }
}
