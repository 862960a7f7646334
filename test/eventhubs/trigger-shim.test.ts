import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { hostDateTime, parseHostDateTime } from '../../src/host/eventhubs-trigger.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { blobCheckpointStore, seenSequenceNumbers, startTriggerShim, type TriggerShim } from '../support/trigger-shim.js';
import { waitFor } from '../support/wait.js';

let azurite: AzuriteInstance;
let broker: EventHubsBroker;
const running: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = [];

beforeAll(async () => {
  [azurite, broker] = await Promise.all([
    startAzurite(),
    startEventHubsBroker({
      hubs: {
        metadata: { partitions: 2 },
        binary: { partitions: 1 },
        retries: { partitions: 1 },
        restart: { partitions: 3 },
        crash: { partitions: 2 },
        policy: { partitions: 1 },
        idle: { partitions: 1 },
      },
    }),
  ]);
});
afterEach(async () => {
  while (running.length) {
    const thing = running.pop()!;
    await ('stop' in thing ? thing.stop() : thing.close());
  }
});
afterAll(async () => {
  await Promise.all([broker?.stop(), azurite?.stop()]);
});

function producer(hub: string): EventHubProducerClient {
  const client = new EventHubProducerClient(broker.connectionString(hub));
  running.push(client);
  return client;
}

function shim(options: Parameters<typeof startTriggerShim>[0]): TriggerShim {
  const started = startTriggerShim(options);
  running.push(started);
  return started;
}

const eventCount = (s: TriggerShim) => s.invocations.reduce((n, i) => n + i.messages.length, 0);

describe('Event Hubs trigger shim (cardinality many) over the broker, checkpoints on Azurite', () => {
  it('hands the handler message values and the triggerMetadata the Functions host sends', async () => {
    const send = producer('metadata');
    await send.sendBatch(
      [
        { body: { records: [{ operationName: 'MICROSOFT.KEYVAULT/VAULTS/SECRETS/READ' }] }, properties: { TenantId: 't-1', nested: { Inner: 1 } } },
        { body: 'plain text' },
        { body: Buffer.from('not json {') },
      ],
      { partitionKey: 'sp-1' },
    );
    const partitionId = broker.partitionForKey('metadata', 'sp-1');
    const stored = broker.partitionEvents('metadata', partitionId);

    const s = shim({ broker, hub: 'metadata', checkpointStore: await blobCheckpointStore(azurite, 'metadata'), functionName: 'ingest' });
    await waitFor('three events handled', () => eventCount(s) === 3);
    expect(s.errors).toEqual([]);
    // The SDK may split what was sent together over several reads, so join the invocations.
    const messages = s.invocations.flatMap((i) => i.messages);
    const joined = (key: string) => s.invocations.flatMap((i) => i.context.triggerMetadata![key] as unknown[]);
    // dataType 'string': UTF-8 text, JSON-parsed by the worker when it parses.
    expect(messages).toEqual([{ records: [{ operationName: 'MICROSOFT.KEYVAULT/VAULTS/SECRETS/READ' }] }, 'plain text', 'not json {']);
    for (const { context } of s.invocations) {
      expect(context.functionName).toBe('ingest');
      expect(context.triggerMetadata!.partitionContext).toEqual({
        isCheckpointingAfterInvocation: true,
        fullyQualifiedNamespace: broker.fullyQualifiedNamespace,
        eventHubName: 'metadata',
        consumerGroup: '$Default',
        partitionId,
      });
      expect(context.triggerMetadata!.sys).toMatchObject({ methodName: 'ingest' });
      expect(context.retryContext).toBeUndefined();
      expect(context.options.trigger).toMatchObject({ type: 'eventHubTrigger', cardinality: 'many', dataType: 'string', eventHubName: 'metadata' });
    }
    expect(joined('sequenceNumberArray')).toEqual(stored.map((e) => e.sequenceNumber));
    expect(joined('offsetArray')).toEqual(stored.map((e) => e.offset));
    expect(joined('partitionKeyArray')).toEqual(['sp-1', 'sp-1', 'sp-1']);
    // Json.NET writes the host's DateTime without a zone: readers must treat it as UTC.
    const times = joined('enqueuedTimeUtcArray') as string[];
    expect(times.every((t) => !t.endsWith('Z'))).toBe(true);
    expect(times.map((t) => Date.parse(`${t}Z`))).toEqual(stored.map((e) => e.enqueuedTime.getTime()));
    // The worker camel-cases every key, user property names included.
    expect(joined('propertiesArray')).toEqual([{ tenantId: 't-1', nested: { inner: 1 } }, {}, {}]);
    expect(joined('systemPropertiesArray')[0]).toMatchObject({
      sequenceNumber: stored[0].sequenceNumber,
      offset: Number(stored[0].offset),
      partitionKey: 'sp-1',
      enqueuedTimeUtc: times[0],
      'x-opt-sequence-number': stored[0].sequenceNumber,
      'x-opt-offset': stored[0].offset,
      'x-opt-partition-key': 'sp-1',
    });
  });

  it('delivers Buffers for dataType binary and never more than maxEventBatchSize events per call', async () => {
    const send = producer('binary');
    await send.sendBatch(Array.from({ length: 23 }, (_, i) => ({ body: Buffer.from(`line ${i}`) })));
    const s = shim({ broker, hub: 'binary', checkpointStore: await blobCheckpointStore(azurite, 'binary'), dataType: 'binary', maxEventBatchSize: 5 });
    await waitFor('23 events handled', () => eventCount(s) === 23);
    expect(Math.max(...s.invocations.map((i) => i.messages.length))).toBeLessThanOrEqual(5);
    const all = s.invocations.flatMap((i) => i.messages);
    expect(all.every((m) => Buffer.isBuffer(m))).toBe(true);
    expect(all.map((m) => (m as Buffer).toString())).toEqual(Array.from({ length: 23 }, (_, i) => `line ${i}`));
    expect(seenSequenceNumbers(s, '0')).toEqual(Array.from({ length: 23 }, (_, i) => i));
  });

  it('retries a throwing handler per the exponential backoff policy, then checkpoints the batch anyway', async () => {
    const store = await blobCheckpointStore(azurite, 'retries');
    const send = producer('retries');
    await send.sendBatch([{ body: { n: 0 } }]);
    const callTimes: number[] = [];
    const s = shim({
      broker,
      hub: 'retries',
      checkpointStore: store,
      maxEventBatchSize: 2,
      retry: { strategy: 'exponentialBackoff', maxRetryCount: 2, minimumInterval: 100, maximumInterval: { seconds: 1 } },
      handler: (messages) => {
        callTimes.push(Date.now());
        if ((messages[0] as { n: number }).n === 0) throw new Error('Tables unavailable');
      },
    });
    await waitFor('the failing batch settled', () => s.settled.length === 1, 8000);
    expect(s.settled[0]).toMatchObject({ attempts: 3, outcome: 'failed', checkpointed: true, firstSequenceNumber: 0, lastSequenceNumber: 0 });
    expect(s.invocations.map((i) => i.context.retryContext)).toEqual([
      { retryCount: 0, maxRetryCount: 2 },
      { retryCount: 1, maxRetryCount: 2, exception: expect.objectContaining({ message: 'Tables unavailable' }) },
      { retryCount: 2, maxRetryCount: 2, exception: expect.objectContaining({ message: 'Tables unavailable' }) },
    ]);
    expect(new Set(s.invocations.map((i) => i.context.invocationId)).size).toBe(3);
    // Host backoff: the minimum first, then min + 2^(n-1)·min·[0.8, 1.2).
    expect(callTimes[1] - callTimes[0]).toBeGreaterThanOrEqual(95);
    expect(callTimes[2] - callTimes[1]).toBeGreaterThanOrEqual(175);
    const checkpoints = await store.listCheckpoints(broker.fullyQualifiedNamespace, 'retries', '$Default');
    expect(checkpoints).toEqual([expect.objectContaining({ partitionId: '0', sequenceNumber: 0 })]);

    // The partition is not stalled by the failed batch.
    await send.sendBatch([{ body: { n: 1 } }]);
    await waitFor('the next batch settled', () => s.settled.length === 2);
    expect(s.settled[1]).toMatchObject({ attempts: 1, outcome: 'succeeded', checkpointed: true, firstSequenceNumber: 1 });
  });

  it('a stopped and restarted trigger resumes from its checkpoints: every event exactly once', async () => {
    const store = await blobCheckpointStore(azurite, 'restart');
    const send = producer('restart');
    const sendKeyed = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await send.sendBatch([{ body: { i } }], { partitionKey: `principal-${i % 7}` });
    };
    await sendKeyed(0, 30);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = shim({
      broker,
      hub: 'restart',
      checkpointStore: store,
      maxEventBatchSize: 4,
      // The third batch is in hand when stop() is called: it must finish and be checkpointed.
      handler: async () => {
        if (first.invocations.length === 3) await gate;
      },
    });
    await waitFor('a batch in hand', () => first.invocations.length >= 3);
    const stopping = first.stop();
    await new Promise((r) => setTimeout(r, 100));
    release();
    await stopping;
    const blocked = first.invocations[2].context.triggerMetadata!;
    const inHand = first.settled.find(
      (b) =>
        b.partitionId === (blocked.partitionContext as { partitionId: string }).partitionId &&
        b.firstSequenceNumber === (blocked.sequenceNumberArray as number[])[0],
    );
    expect(inHand).toMatchObject({ outcome: 'succeeded', checkpointed: true });

    await sendKeyed(30, 45);
    const second = shim({ broker, hub: 'restart', checkpointStore: store, maxEventBatchSize: 4 });
    await waitFor('all 45 events handled across both runs', () => eventCount(first) + eventCount(second) >= 45, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    for (const id of broker.partitionIds('restart')) {
      const all = [...seenSequenceNumbers(first, id), ...seenSequenceNumbers(second, id)];
      expect(all).toEqual(broker.partitionEvents('restart', id).map((e) => e.sequenceNumber));
    }
  });

  it('with a checkpoint policy, checkpoints every N batches once its hook succeeded (retried as the batch would be), and when stopping', async () => {
    const store = await blobCheckpointStore(azurite, 'policy');
    const send = producer('policy');
    const hooks: string[] = [];
    let failNext = false;
    const checkpointed = async () => (await store.listCheckpoints(broker.fullyQualifiedNamespace, 'policy', '$Default'))[0]?.sequenceNumber;
    const s = shim({
      broker,
      hub: 'policy',
      checkpointStore: store,
      maxEventBatchSize: 1,
      retry: { strategy: 'fixedDelay', delayInterval: 50, maxRetryCount: -1 },
      checkpoint: {
        batches: 3,
        everyMs: 3_600_000,
        // eslint-disable-next-line @typescript-eslint/require-await -- the hook is async, as detect's state write is
        beforeCheckpoint: async (partitionId) => {
          hooks.push(`${partitionId} after ${s.invocations.length}`);
          if (failNext) {
            failNext = false;
            throw new Error('Tables unavailable');
          }
        },
      },
    });
    for (let i = 0; i < 5; i++) await send.sendBatch([{ body: { i } }]);
    await waitFor('five batches settled', () => s.settled.length === 5, 10_000);
    expect(s.settled.map((b) => b.checkpointed)).toEqual([false, false, true, false, false]);
    expect(await checkpointed()).toBe(2);
    // The sixth batch's hook fails once: retried without calling the handler again, then checkpointed.
    failNext = true;
    await send.sendBatch([{ body: { i: 5 } }]);
    await waitFor('the sixth batch settled', () => s.settled.length === 6, 10_000);
    expect(s.settled[5]).toMatchObject({ outcome: 'succeeded', checkpointed: true, attempts: 2 });
    expect(s.invocations).toHaveLength(6);
    expect(hooks).toEqual(['0 after 3', '0 after 6', '0 after 6']);
    expect(await checkpointed()).toBe(5);
    // The seventh waits for the next checkpoint: stopping takes it, after the hook.
    await send.sendBatch([{ body: { i: 6 } }]);
    await waitFor('the seventh batch settled', () => s.settled.length === 7, 10_000);
    expect(s.settled[6].checkpointed).toBe(false);
    await s.stop();
    expect(hooks).toEqual(['0 after 3', '0 after 6', '0 after 6', '0 after 7']);
    expect(await checkpointed()).toBe(6);
  });

  it('with a checkpoint policy, an idle partition is checkpointed once its time passed, at an empty read', async () => {
    const store = await blobCheckpointStore(azurite, 'idle');
    const hooks: string[] = [];
    shim({
      broker,
      hub: 'idle',
      checkpointStore: store,
      checkpoint: {
        batches: 1000,
        everyMs: 200,
        // eslint-disable-next-line @typescript-eslint/require-await -- the hook is async, as detect's state write is
        beforeCheckpoint: async (partitionId) => {
          hooks.push(partitionId);
        },
      },
    });
    await producer('idle').sendBatch([{ body: { i: 0 } }]);
    const checkpoint = await waitFor(
      'the idle checkpoint',
      async () => (await store.listCheckpoints(broker.fullyQualifiedNamespace, 'idle', '$Default'))[0],
      30_000,
      100,
    );
    expect(checkpoint.sequenceNumber).toBe(0);
    expect(hooks).toEqual(['0']);
  });

  it('after a kill, only the batches in hand come again', async () => {
    const store = await blobCheckpointStore(azurite, 'crash');
    const send = producer('crash');
    const sendTo = async (from: number, to: number) => {
      for (const partitionId of ['0', '1']) {
        await send.sendBatch(
          Array.from({ length: to - from }, (_, k) => ({ body: { partitionId, i: from + k } })),
          { partitionId },
        );
      }
    };
    await sendTo(0, 20);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let blocked: number[] = [];
    const first = shim({
      broker,
      hub: 'crash',
      checkpointStore: store,
      maxEventBatchSize: 5,
      // Partition 0's batch holding event 10 is in hand at the kill.
      handler: async (messages, context) => {
        if ((messages as Array<{ partitionId: string; i: number }>).some((m) => m.partitionId === '0' && m.i === 10)) {
          blocked = context.triggerMetadata!.sequenceNumberArray as number[];
          await gate;
        }
      },
    });
    // Partition 1 is left to finish first, so the kill finds it fully checkpointed and idle (how far it
    // got by the kill was otherwise a race, and a partition with nothing left never shows the second run reading).
    await waitFor(
      'the blocking batch in hand and partition 1 checkpointed to its end',
      () => blocked.length > 0 && first.settled.some((b) => b.partitionId === '1' && b.lastSequenceNumber === 19 && b.checkpointed),
      10_000,
    );
    const killing = first.kill();
    release();
    await killing;
    const checkpointedThrough = new Map(
      (await store.listCheckpoints(broker.fullyQualifiedNamespace, 'crash', '$Default')).map((c) => [c.partitionId, c.sequenceNumber]),
    );
    // Batches on a partition run one after another, each checkpointed before the next starts.
    expect(checkpointedThrough.get('0')).toBe(blocked[0] - 1);
    expect(checkpointedThrough.get('1')).toBe(19);

    // Events sent after the kill show the second run owning and reading every partition.
    await sendTo(20, 25);
    const second = shim({ broker, hub: 'crash', checkpointStore: store, maxEventBatchSize: 5 });
    await waitFor('both partitions read to the end by the second run', () => ['0', '1'].every((id) => seenSequenceNumbers(second, id).at(-1) === 24), 12_000);
    for (const id of ['0', '1']) {
      const through = checkpointedThrough.get(id)!;
      // The second run starts right after the last checkpoint and reads to the end, without gaps.
      expect(seenSequenceNumbers(second, id)).toEqual(Array.from({ length: 24 - through }, (_, k) => through + 1 + k));
    }
    // Redelivered = handled before the kill but never checkpointed: the batch in hand on partition 0, nothing on partition 1.
    expect(seenSequenceNumbers(first, '0').filter((seq) => seq > checkpointedThrough.get('0')!)).toEqual(blocked);
  });
});

describe('hostDateTime', () => {
  it('writes a DateTime the way Json.NET does for the host: no zone, no trailing zeros', () => {
    expect(hostDateTime(Date.UTC(2025, 5, 7, 14, 46, 55, 145))).toBe('2025-06-07T14:46:55.145');
    expect(hostDateTime(Date.UTC(2025, 5, 7, 14, 46, 55, 120))).toBe('2025-06-07T14:46:55.12');
    expect(hostDateTime(Date.UTC(2025, 5, 7, 14, 46, 55, 0))).toBe('2025-06-07T14:46:55');
  });

  it('reads back as UTC (parseHostDateTime), and times with a zone as written', () => {
    for (const ms of [Date.UTC(2025, 5, 7, 14, 46, 55, 145), Date.UTC(2025, 5, 7, 14, 46, 55, 120), Date.UTC(2025, 5, 7, 14, 46, 55, 0)]) {
      expect(parseHostDateTime(hostDateTime(ms))).toBe(ms);
    }
    expect(parseHostDateTime('2025-06-07T16:46:55+02:00')).toBe(Date.UTC(2025, 5, 7, 14, 46, 55));
    expect(parseHostDateTime('not a time')).toBeUndefined();
    expect(parseHostDateTime(undefined)).toBeUndefined();
  });
});
