import { type Detector, type DetectorStats } from '../engine/index.js';
import { byEventTime, counts, IngestTotals, type IngestResult, type IngestSummary } from '../ingest/pipeline.js';
import { replayFiles } from '../ingest/replay.js';
import type { Alert, NormalizedEvent } from '../model/index.js';
import type { TimeRange } from './range.js';
import { PartitionRouter } from '../eventhubs/partitioning.js';

/** What `warden backtest --json` ends with. */
export interface BacktestSummary extends IngestSummary {
  /** Rows (or records) read: the same number as `records`, named as a backtest reads them. */
  rows: number;
  alerts: number;
  byRule: Record<string, number>;
  /** Per UTC day of the alert's last event: alerts per rule. */
  byDay: Record<string, Record<string, number>>;
  /** Events outside the asked range (exports only: a workspace query returns only the range). */
  outsideRange: number;
  /** Events a rule threw on, per rule (the event still reached the other rules). */
  ruleErrors: Record<string, number>;
  /** Per rule with a learning period: alerts it could not raise because the key was still learning, and keys still learning at the end. */
  learning: DetectorStats['learning'];
}

export interface BacktestOptions {
  /** Logical keyed partitions, as replay routes principals (default 4; any number gives the same alerts). */
  partitions?: number;
  /** Arrival time given to each batch (default Date.now). */
  now?: () => number;
  /** Keep only events in this range (exports, whose files may hold more). */
  range?: TimeRange;
}

/**
 * Rules over history: each batch of bodies (one time slice of every table, or a whole export) is
 * merged into event-time order and applied through the production detector, routed by principal
 * as the keyed hub does, with state flushed after every batch as a Functions batch would.
 */
export class Backtest {
  readonly alerts: Alert[] = [];
  private readonly totals = new IngestTotals();
  private readonly router: PartitionRouter;
  private readonly now: () => number;
  private outsideRange = 0;

  constructor(
    readonly detector: Detector,
    private readonly options: BacktestOptions = {},
  ) {
    this.router = new PartitionRouter(options.partitions ?? 4);
    this.now = options.now ?? Date.now;
  }

  /** Apply one batch of normalized bodies; returns the alerts it raised. */
  async apply(results: readonly IngestResult[]): Promise<Alert[]> {
    const range = this.options.range;
    const events: NormalizedEvent[] = [];
    for (const result of results) {
      this.totals.add(result);
      for (const { event } of result.events) {
        if (range && (event.time < range.from || event.time >= range.to)) this.outsideRange++;
        else events.push(event);
      }
    }
    events.sort(byEventTime);
    const arrivedAt = this.now();
    const alerts = await this.detector.process(this.router.routeAll(events, arrivedAt));
    await this.detector.flush();
    for (const a of alerts) this.alerts.push(a);
    return alerts;
  }

  summary(): BacktestSummary {
    const ingest = this.totals.summary();
    const byRule = counts();
    for (const rule of this.detector.rules) byRule[rule.id] = 0;
    const byDay: Record<string, Record<string, number>> = {};
    for (const a of this.alerts) {
      byRule[a.RuleId] = (byRule[a.RuleId] ?? 0) + 1;
      const day = (byDay[a.LastEventTime.slice(0, 10)] ??= counts());
      day[a.RuleId] = (day[a.RuleId] ?? 0) + 1;
    }
    const days: Record<string, Record<string, number>> = {};
    for (const d of Object.keys(byDay).sort()) days[d] = sortedCounts(byDay[d]);
    const stats = this.detector.stats();
    return {
      ...ingest,
      rows: ingest.records,
      alerts: this.alerts.length,
      byRule,
      byDay: days,
      outsideRange: this.outsideRange,
      ruleErrors: stats.ruleErrors,
      learning: stats.learning,
    };
  }
}

function sortedCounts(c: Record<string, number>): Record<string, number> {
  const out = counts();
  for (const k of Object.keys(c).sort()) out[k] = c[k];
  return out;
}

/**
 * A local export read as one batch: the JSON a query returns (`{"tables":[…]}`), or a JSON array
 * of row objects (the table from each row's `Type` column, else `table`). Files and folders as
 * replay reads them.
 */
export async function readExport(files: string[], table?: string): Promise<IngestResult[]> {
  const results: IngestResult[] = [];
  for await (const body of replayFiles(files, { table, rows: true })) results.push(body.result);
  return results;
}
