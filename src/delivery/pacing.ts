/**
 * Pacing rows to the Sentinel rule's runs. One run of the NRT rule raises at most 30 alerts (a
 * scheduled rule 150) and past that the last alert summarises the rest, so those alerts get no
 * incident of their own. Every instance that sends rows (detect's immediate send, the deliver
 * timer) takes its rows from one budget per window, kept in one Table entity and changed only
 * with its ETag, so the instances together never send more than the budget in a window.
 */
import type { TableClient } from '@azure/data-tables';
import { once, tableClientFor, type TableLocation } from '../state/azure-storage.js';

/**
 * Rows per window by default: half the NRT rule's 30, because the rule counts rows by when the
 * workspace ingested them, and ingestion latency can move one window's rows into the next run.
 */
export const DEFAULT_ROWS_PER_RUN = 15;
/** The NRT rule runs every minute. */
export const DEFAULT_RUN_EVERY_MS = 60_000;

/** How many of the rows a sender has it may send now. */
export interface SendBudget {
  /** Take up to `rows` from the current window's budget; returns how many were granted (0 when it is spent). */
  claim(rows: number): Promise<number>;
}

export interface PacingOptions {
  /** Rows all instances together send per window (SENTINEL_ROWS_PER_RUN). */
  rowsPerRun: number;
  /** The window: how often the rule runs (SENTINEL_RUN_EVERY). */
  runEveryMs: number;
  /** Clock (tests). Default Date.now. */
  now?: () => number;
}

const PARTITION = 'pacing';
const ROW = 'sentinel';
/** Instances racing for the entity retry this often before giving up on the window (they then send nothing now). */
const MAX_CONFLICTS = 20;

/** The shared budget in Azure Tables: one entity, `{ Window, Used }`, reset when a new window starts. */
export class TableSendBudget implements SendBudget {
  readonly client: TableClient;
  private readonly ensureTable: () => Promise<void>;
  private readonly now: () => number;

  constructor(
    location: TableLocation,
    private readonly options: PacingOptions,
  ) {
    this.client = tableClientFor(location, 'wardenstatus');
    this.ensureTable = once(() => this.client.createTable());
    this.now = options.now ?? Date.now;
  }

  async claim(rows: number): Promise<number> {
    if (rows <= 0) return 0;
    await this.ensureTable();
    const cap = this.options.rowsPerRun;
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      const window = Math.floor(this.now() / this.options.runEveryMs);
      const current = await this.read();
      const used = current && current.window === window ? current.used : 0;
      const granted = Math.min(rows, cap - used);
      if (granted <= 0) return 0;
      const entity = { partitionKey: PARTITION, rowKey: ROW, Window: window, Used: used + granted };
      try {
        if (current) await this.client.updateEntity(entity, 'Replace', { etag: current.etag });
        else await this.client.createEntity(entity);
        return granted;
      } catch (err) {
        // Another instance changed the budget first (412) or created it (409): read it again.
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 412 && status !== 409) throw err;
      }
    }
    return 0;
  }

  private async read(): Promise<{ window: number; used: number; etag: string } | undefined> {
    try {
      const e = await this.client.getEntity<{ Window: number; Used: number }>(PARTITION, ROW);
      return { window: Number(e.Window), used: Number(e.Used), etag: e.etag };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }
}
