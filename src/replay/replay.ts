import type { Alert } from '../model/index.js';
import { replayFiles, type ReplayedBody } from '../ingest/replay.js';
import { byEventTime } from '../ingest/pipeline.js';
import { type Detector } from '../engine/detector.js';
import { PartitionRouter } from '../eventhubs/partitioning.js';

export interface CaptureDetectionOptions {
  /** Logical keyed partitions (default 4): events are routed by principal as the keyed hub does. */
  partitions?: number;
  /** Log Analytics table the captures were exported from, when known (backtest rows). */
  table?: string;
  /** Arrival time of each body (the replay read time; default Date.now). */
  now?: () => number;
}

export interface DetectedBody extends ReplayedBody {
  /** Alerts raised by this body's events. */
  alerts: Alert[];
}

/**
 * The production path over capture files, in one process: read → decode and normalize
 * (`replayFiles`, the pipeline `warden replay` runs) → route by principal into partitions and
 * number the events there → the detector → state flushed once per body. Each body is one batch,
 * as an Event Hubs delivery is. Used by `warden rules test`, and by replay when it runs rules.
 */
export async function* detectInCaptures(files: string[], detector: Detector, options: CaptureDetectionOptions = {}): AsyncGenerator<DetectedBody> {
  const router = new PartitionRouter(options.partitions ?? 4);
  const now = options.now ?? Date.now;
  for await (const body of replayFiles(files, { table: options.table })) {
    const arrivedAt = now();
    const events = body.result.events.map(({ event }) => event);
    // Rows come in the query's order: applied in event-time order, as a backtest applies them.
    if (body.result.rowEvents) events.sort(byEventTime);
    const alerts = await detector.process(router.routeAll(events, arrivedAt));
    await detector.flush();
    yield { ...body, alerts };
  }
}
