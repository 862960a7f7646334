import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HOST_EVENT_HUB_OPTIONS } from '../../src/host/functions.js';

const hostJson = JSON.parse(readFileSync(fileURLToPath(new URL('../../host.json', import.meta.url)), 'utf8')) as {
  extensions: { eventHubs: { maxEventBatchSize: number; prefetchCount: number; batchCheckpointFrequency: number; initialOffsetOptions: { type: string } } };
};

describe('host.json', () => {
  it('gives the Function App the batches `warden run` reads', () => {
    const { maxEventBatchSize, prefetchCount, initialOffsetOptions } = hostJson.extensions.eventHubs;
    expect({ maxEventBatchSize, prefetchCount, initialOffset: initialOffsetOptions.type }).toEqual(HOST_EVENT_HUB_OPTIONS);
  });

  it('checkpoints after every batch: detect writes its state per batch there, since the extension also checkpoints without calling it', () => {
    // With a frequency over 1 the Event Hubs extension checkpoints on shutdown and after 10 idle
    // minutes without invoking the function: past batches whose state detect had not written yet,
    // which a restart would then never replay (docs/delivery.md). Fewer writes are `warden run`'s only.
    expect(hostJson.extensions.eventHubs.batchCheckpointFrequency).toBe(1);
  });
});
