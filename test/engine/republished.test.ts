import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/engine/index.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import type { StreamEvent } from '../../src/model/index.js';
import { DAY, ev, keysListed, MIN, T0 } from './helpers.js';

const listKeys = keysListed(4);

/** Keyed events as ingest publishes them: positions on the keyed partition, and where each was read. */
function keyed(minutes: number[], firstKeyedSequence: number, rawSequence: number, source = 'warden-activity/0'): StreamEvent[] {
  return minutes.map((m, index) => ({
    event: ev(m * MIN, { id: `raw-${rawSequence}-${index}` }),
    arrivedAt: T0,
    partitionId: '0',
    sequenceNumber: firstKeyedSequence + index,
    origin: { source, sequenceNumber: rawSequence, index },
  }));
}

const detector = (store?: InMemoryStateStore) => new Detector([listKeys], { store, now: () => T0 + DAY });

describe('an ingest batch published twice', () => {
  it('counts the copies once: three events and their three copies stay under a threshold of four', async () => {
    const d = detector();
    const alerts = [...(await d.process(keyed([0, 1, 2], 0, 5))), ...(await d.process(keyed([0, 1, 2], 3, 5)))];
    expect(alerts).toEqual([]);
    expect(d.stats()).toMatchObject({ events: 3, republishedSkipped: 3 });
    // A fourth, new event (a later raw event of the same origin) makes the threshold.
    expect(await d.process(keyed([3], 6, 6))).toHaveLength(1);
  });

  it('after a partial publish, the part that never arrived counts when the batch comes again', async () => {
    const d = detector();
    // The crash came after the first two of four events reached this partition.
    await d.process(keyed([0, 1], 0, 5));
    const again = await d.process(keyed([0, 1, 2, 3], 2, 5));
    expect(again).toHaveLength(1);
    expect(again[0].EventCount).toBe(4);
    expect(d.stats()).toMatchObject({ events: 4, republishedSkipped: 2 });
  });

  it('remembers what it applied across a restart: a new instance reading the state skips the copies', async () => {
    const store = new InMemoryStateStore();
    const before = detector(store);
    await before.process(keyed([0, 1, 2], 0, 5));
    await before.flush();
    const after = detector(store);
    expect(await after.process(keyed([0, 1, 2], 3, 5))).toEqual([]);
    expect(after.stats()).toMatchObject({ events: 0, republishedSkipped: 3 });
  });

  it('keeps origins apart: the same positions from another raw partition are new events', async () => {
    const d = detector();
    await d.process(keyed([0, 1], 0, 5, 'warden-activity/0'));
    expect(await d.process(keyed([2, 3], 2, 5, 'warden-activity/1'))).toHaveLength(1);
    expect(d.stats().republishedSkipped).toBe(0);
  });
});
