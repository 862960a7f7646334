import { formatDuration, parseDuration } from '../engine/index.js';
import { WardenError } from '../common/errors.js';

/** A user's backtest setting that cannot work (bad time, empty range): the CLI shows it as a usage error. */
export class BacktestOptionError extends WardenError {
  override name = 'BacktestOptionError';
  readonly userFixable = true;
}

/** Event time from `from` (inclusive) to `to` (exclusive), epoch ms. */
export interface TimeRange {
  from: number;
  to: number;
}

export interface RangeInput {
  /** How far back from `to` (or now): '7d', '12h'. */
  since?: string;
  /** ISO 8601 start. */
  from?: string;
  /** ISO 8601 end (default now). */
  to?: string;
}

/** A time the user typed: ISO 8601 starting with a date; without an offset it is UTC, as in Log Analytics. */
function isoTime(flag: string, text: string): number {
  const s = text.trim();
  const zoned = s.length === 10 || /(Z|[+-]\d{2}:?\d{2})$/i.test(s);
  const t = /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(zoned ? s : `${s}Z`) : NaN;
  if (!Number.isFinite(t)) throw new BacktestOptionError(`${flag} '${text}' is not an ISO 8601 time: write e.g. 2025-06-01 or 2025-06-01T09:00:00Z`);
  return t;
}

/** The history a backtest reads, from `--since` or `--from`/`--to`; undefined when none was given. */
export function resolveRange(input: RangeInput, now: number): TimeRange | undefined {
  if (input.since !== undefined && input.from !== undefined) throw new BacktestOptionError('give --since or --from, not both');
  const to = input.to === undefined ? now : isoTime('--to', input.to);
  let from: number;
  if (input.since !== undefined) {
    const span = parseDuration(input.since);
    if (span === undefined) throw new BacktestOptionError(`--since '${input.since}' is not a duration: write e.g. 7d, 12h or 90m`);
    from = to - span;
  } else if (input.from !== undefined) {
    from = isoTime('--from', input.from);
  } else {
    if (input.to !== undefined) throw new BacktestOptionError('--to needs --from or --since');
    return undefined;
  }
  if (from >= to) throw new BacktestOptionError(`the range is empty: ${new Date(from).toISOString()} is not before ${new Date(to).toISOString()}`);
  return { from, to };
}

/**
 * The range cut at multiples of `sliceMs` (UTC), oldest first: slices stay aligned to whole hours
 * or days whatever the range, so reruns ask the same queries.
 */
export function timeSlices(range: TimeRange, sliceMs: number): TimeRange[] {
  if (!(sliceMs > 0)) throw new RangeError(`slice must be > 0 ms, got ${sliceMs}`);
  const out: TimeRange[] = [];
  let from = range.from;
  while (from < range.to) {
    const to = Math.min((Math.floor(from / sliceMs) + 1) * sliceMs, range.to);
    out.push({ from, to });
    from = to;
  }
  return out;
}

/** The two halves of a range (each at least 1 ms), to ask again when a result was cut. */
export function halves(range: TimeRange): [TimeRange, TimeRange] {
  if (range.to - range.from < 2) throw new RangeError('a range shorter than 2 ms cannot be halved');
  const mid = range.from + Math.floor((range.to - range.from) / 2);
  return [
    { from: range.from, to: mid },
    { from: mid, to: range.to },
  ];
}

/** `2025-06-02T09:00:00Z..10:00:00Z`-style text for messages. */
export function rangeText(range: TimeRange): string {
  return `${new Date(range.from).toISOString()}..${new Date(range.to).toISOString()} (${formatDuration(range.to - range.from)})`;
}
