/** A partition's event-time clock as it is stored with the partition (field names kept short: it is written every batch). */
export interface WatermarkState {
  /** The watermark: the newest event time trusted on the partition. */
  w: number;
  /** Events in a row stamped more than the allowed skew past `w`, and the earliest of their times. */
  r?: number;
  m?: number;
}

/**
 * Events in a row, all past the watermark by more than the allowed skew, that move it (to the
 * earliest of them): a partition quiet for an hour resumes after a few events, while a forged
 * time among real ones (a year 9999, a day ahead) never moves it.
 */
export const AHEAD_RUN = 3;

/**
 * Move the watermark for an event at `time`; true when the event is too far ahead to move it
 * alone. The partition's first event sets it. Allocates nothing.
 */
export function advanceWatermark(state: WatermarkState, time: number, maxClockSkewMs: number): boolean {
  if (state.w === 0 || time <= state.w + maxClockSkewMs) {
    if (time > state.w) state.w = time;
    if (state.r !== undefined) state.r = state.m = undefined;
    return false;
  }
  const run = (state.r ?? 0) + 1;
  const earliest = state.m === undefined || time < state.m ? time : state.m;
  if (run >= AHEAD_RUN) {
    state.w = earliest;
    state.r = state.m = undefined;
  } else {
    state.r = run;
    state.m = earliest;
  }
  return true;
}
