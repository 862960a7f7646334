/**
 * What ingest refuses to trust, whatever the record says. Event times: a log cannot be stamped
 * after it reached Event Hubs (give or take the sender's clock), and on the live stream it cannot
 * be older than the hub keeps anything. A record outside these bounds is dead-lettered (counted),
 * so one forged time cannot move a partition's watermark for good.
 */

import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../common/clock.js';

/** How far an event time may lag its arrival on the live stream: Azure Monitor delivers within hours, Event Hubs keeps at most 7 days (Standard). */
export const DEFAULT_MAX_EVENT_AGE_MS = 7 * 24 * 3_600_000;

export interface EventTimeBounds {
  /** When the body reached Warden (raw hub enqueued time; the read time in a replay). */
  arrivedAt: number;
  /** How far a time may run ahead of `arrivedAt` (default DEFAULT_MAX_CLOCK_SKEW_MS). */
  maxClockSkewMs?: number;
  /** Only on the live stream: replay and backtest read old captures on purpose. */
  maxAgeMs?: number;
}

/** Why an event time cannot be real, or undefined when it can. Allocates only for a time it refuses. */
export function eventTimeProblem(time: number, bounds: EventTimeBounds): string | undefined {
  if (time < 0) return `event time ${time} is before 1970`;
  const skew = bounds.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  if (time > bounds.arrivedAt + skew) {
    return `event time ${iso(time)} is more than ${minutes(skew)} after it arrived (${iso(bounds.arrivedAt)}): a clock that wrong, or a forged time, would move the partition's watermark (WARDEN_MAX_CLOCK_SKEW)`;
  }
  if (bounds.maxAgeMs !== undefined && time < bounds.arrivedAt - bounds.maxAgeMs) {
    return `event time ${iso(time)} is more than ${minutes(bounds.maxAgeMs)} before it arrived (${iso(bounds.arrivedAt)}) (WARDEN_MAX_EVENT_AGE)`;
  }
  return undefined;
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}
