import type { RecordLocation } from '../model/index.js';
import { readCaptureFile, type ReadOptions } from './files.js';
import { ingestBody, unreadableBody, type IngestOptions, type IngestResult } from './pipeline.js';

/** One body of a replay, normalized, with how far the replay has got. */
export interface ReplayedBody {
  file: string;
  /** 0-based index of `file` in the list being replayed. */
  fileIndex: number;
  location: RecordLocation;
  result: IngestResult;
  /** The last body of its file. */
  fileDone: boolean;
}

/**
 * Decode and normalize capture files body by body, file by file: the stage a replay builds on
 * (rule evaluation consumes the events of each body as they come). Nothing is kept between bodies.
 */
export async function* replayFiles(files: string[], options: IngestOptions & ReadOptions = {}): AsyncGenerator<ReplayedBody> {
  for (let fileIndex = 0; fileIndex < files.length; fileIndex++) {
    const file = files[fileIndex];
    let pending: ReplayedBody | undefined;
    for await (const { body, location, unreadable } of readCaptureFile(file, options)) {
      if (pending) yield pending;
      // An Event Hubs Capture file says when each body reached the hub: times are bounded by that, not by the read time.
      const enqueued = location.enqueuedTime === undefined ? NaN : Date.parse(location.enqueuedTime);
      const result = unreadable
        ? unreadableBody(unreadable, location, body)
        : ingestBody(body, location, Number.isNaN(enqueued) ? options : { ...options, times: { ...options.times, arrivedAt: enqueued } });
      pending = { file, fileIndex, location, result, fileDone: false };
    }
    if (pending) yield { ...pending, fileDone: true };
  }
}
