/** How far an event time may run ahead of its arrival, and the most one event may move a partition's watermark: senders' clocks drift by seconds, forged times by years. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;
