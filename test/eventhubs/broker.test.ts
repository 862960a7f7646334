import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  earliestEventPosition,
  latestEventPosition,
  type EventPosition,
  type ReceivedEventData,
  type Subscription,
} from '@azure/event-hubs';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { waitFor } from '../support/wait.js';

const HUB = 'warden-events';
const fastRetry = { maxRetries: 8, retryDelayInMs: 100, maxRetryDelayInMs: 400, timeoutInMs: 5000 };

let broker: EventHubsBroker;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  broker = await startEventHubsBroker({ hubs: { [HUB]: { partitions: 4 }, raw: { partitions: 2 } } });
});
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});
afterAll(async () => {
  await broker.stop();
});

function producer(hub = HUB): EventHubProducerClient {
  const client = new EventHubProducerClient(broker.connectionString(hub), { retryOptions: fastRetry });
  closers.push(() => client.close());
  return client;
}

function consumer(hub = HUB): EventHubConsumerClient {
  const client = new EventHubConsumerClient('$Default', broker.connectionString(hub), { retryOptions: fastRetry });
  closers.push(() => client.close());
  return client;
}

/** Subscribe to one partition and collect what arrives. */
function read(client: EventHubConsumerClient, partitionId: string, startPosition: EventPosition, ownerLevel?: number) {
  const events: ReceivedEventData[] = [];
  const errors: Error[] = [];
  const subscription: Subscription = client.subscribe(
    partitionId,
    {
      processEvents: (batch) => {
        events.push(...batch);
        return Promise.resolve();
      },
      processError: (err) => {
        errors.push(err);
        return Promise.resolve();
      },
    },
    { startPosition, maxWaitTimeInSeconds: 1, maxBatchSize: 50, ...(ownerLevel !== undefined ? { ownerLevel } : {}) },
  );
  closers.push(() => subscription.close());
  return { events, errors, subscription };
}

const text = (body: unknown) => (Buffer.isBuffer(body) ? body.toString('utf8') : body);

describe('Event Hubs test broker with the real SDK', () => {
  it('answers hub and partition properties the way the SDK parses them', async () => {
    const client = producer('raw');
    const hub = await client.getEventHubProperties();
    expect(hub.name).toBe('raw');
    expect(hub.partitionIds).toEqual(['0', '1']);
    expect(hub.createdOn.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await client.getPartitionIds()).toEqual(['0', '1']);

    const empty = await client.getPartitionProperties('1');
    expect(empty).toMatchObject({ eventHubName: 'raw', partitionId: '1', isEmpty: true, lastEnqueuedSequenceNumber: -1 });

    await client.sendBatch([{ body: 'a' }, { body: 'b' }], { partitionId: '1' });
    const filled = await client.getPartitionProperties('1');
    const stored = broker.partitionEvents('raw', '1');
    expect(filled).toMatchObject({
      isEmpty: false,
      beginningSequenceNumber: 0,
      lastEnqueuedSequenceNumber: 1,
      lastEnqueuedOffset: stored[1].offset,
    });
    expect(filled.lastEnqueuedOnUtc.getTime()).toBe(stored[1].enqueuedTime.getTime());
  });

  it('stores single events and createBatch batches, routing by partition id, partition key or round robin', async () => {
    const client = producer();
    await client.sendBatch([{ body: { n: 1 }, properties: { source: 'activity' } }], { partitionId: '3' });
    const last3 = broker.partitionEvents(HUB, '3').at(-1)!;
    expect(JSON.parse(text(last3.body) as string)).toEqual({ n: 1 });
    expect(last3.properties).toEqual({ source: 'activity' });

    // Same key, separate sends and batch kinds: always the partition the service's hash picks.
    const key = 'sp:5c3d1f3e-0000-4000-8000-000000000001';
    const keyed = await client.createBatch({ partitionKey: key });
    for (let i = 0; i < 5; i++) expect(keyed.tryAdd({ body: { i } })).toBe(true);
    await client.sendBatch(keyed);
    await client.sendBatch([{ body: { i: 5 } }], { partitionKey: key });
    const home = broker.partitionForKey(HUB, key);
    const onHome = broker.partitionEvents(HUB, home).filter((e) => e.partitionKey === key);
    expect(onHome.map((e) => JSON.parse(text(e.body) as string).i)).toEqual([0, 1, 2, 3, 4, 5]);

    // Keys spread: 40 principals land on more than one partition, each consistently.
    for (let p = 0; p < 40; p++) await client.sendBatch([{ body: { p } }], { partitionKey: `principal-${p}` });
    const homes = new Set<string>();
    for (let p = 0; p < 40; p++) {
      const id = broker.partitionForKey(HUB, `principal-${p}`);
      homes.add(id);
      expect(broker.partitionEvents(HUB, id).some((e) => e.partitionKey === `principal-${p}`)).toBe(true);
    }
    expect(homes.size).toBeGreaterThan(1);

    // No key, no partition: a batch stays whole on one partition; successive batches rotate.
    const unkeyedBefore = broker.partitionIds(HUB).map((id) => broker.partitionEvents(HUB, id).length);
    for (let b = 0; b < 4; b++) {
      const batch = await client.createBatch();
      batch.tryAdd({ body: `u${b}-0` });
      batch.tryAdd({ body: `u${b}-1` });
      await client.sendBatch(batch);
    }
    const grew = broker.partitionIds(HUB).map((id, i) => broker.partitionEvents(HUB, id).length - unkeyedBefore[i]);
    expect(grew).toEqual([2, 2, 2, 2]);
  });

  it('delivers from earliest with the sequence number, offset, enqueued time, key and properties the broker stored', async () => {
    const client = producer('raw');
    await client.sendBatch([{ body: { k: 1 }, properties: { rule: 'r1' } }, { body: 'plain' }], { partitionKey: 'alice' });
    const partitionId = broker.partitionForKey('raw', 'alice');
    const stored = broker.partitionEvents('raw', partitionId);

    const { events, errors } = read(consumer('raw'), partitionId, earliestEventPosition);
    await waitFor('all stored events', () => events.length >= stored.length);
    expect(errors).toEqual([]);
    expect(events.map((e) => ({ seq: e.sequenceNumber, offset: e.offset, at: e.enqueuedTimeUtc.getTime(), key: e.partitionKey ?? undefined }))).toEqual(
      stored.map((e) => ({ seq: e.sequenceNumber, offset: e.offset, at: e.enqueuedTime.getTime(), key: e.partitionKey })),
    );
    const mine = events.slice(-2);
    expect(mine[0].body).toEqual({ k: 1 });
    expect(mine[0].properties).toEqual({ rule: 'r1' });
    expect(mine[1].body).toBe('plain');
    expect(mine[1].partitionKey).toBe('alice');
  });

  it('starts from a sequence number inclusively or exclusively, from an enqueued time, and from latest', async () => {
    const client = producer();
    const partitionId = '1';
    const base = broker.partitionEvents(HUB, partitionId).length;
    await client.sendBatch(
      [0, 1, 2, 3, 4].map((n) => ({ body: { n } })),
      { partitionId },
    );
    await new Promise((r) => setTimeout(r, 15));
    await client.sendBatch([{ body: { n: 5 } }], { partitionId });
    const firstBatchTime = broker.partitionEvents(HUB, partitionId)[base + 4].enqueuedTime;

    // One client allows one subscriber per partition, so each reader has its own client.
    const inclusive = read(consumer(), partitionId, { sequenceNumber: base + 2, isInclusive: true });
    const exclusive = read(consumer(), partitionId, { sequenceNumber: base + 2 });
    const afterTime = read(consumer(), partitionId, { enqueuedOn: firstBatchTime });
    await waitFor('inclusive reader', () => inclusive.events.length >= 4);
    await waitFor('exclusive reader', () => exclusive.events.length >= 3);
    await waitFor('time reader', () => afterTime.events.length >= 1);
    expect(inclusive.events.map((e) => e.body)).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]);
    expect(exclusive.events.map((e) => e.body)).toEqual([{ n: 3 }, { n: 4 }, { n: 5 }]);
    expect(afterTime.events.map((e) => e.body)).toEqual([{ n: 5 }]);

    const latest = read(consumer(), partitionId, latestEventPosition);
    await waitFor('latest reader attached', () => broker.openReceivers(HUB, partitionId) >= 4);
    await client.sendBatch([{ body: { n: 6 } }], { partitionId });
    await waitFor('event sent after subscribing', () => latest.events.length >= 1);
    expect(latest.events.map((e) => e.body)).toEqual([{ n: 6 }]);
  });

  it('the SDK reconnects after the broker closes its connections, nothing lost or duplicated', async () => {
    // SDK defaults on purpose: a service-side close must not need tuned timeouts to recover quickly.
    const client = new EventHubProducerClient(broker.connectionString('raw'));
    closers.push(() => client.close());
    const reader = new EventHubConsumerClient('$Default', broker.connectionString('raw'));
    closers.push(() => reader.close());
    const { events } = read(reader, '0', latestEventPosition);
    await waitFor('reader attached', () => broker.openReceivers('raw', '0') >= 1);
    await client.sendBatch([{ body: { n: 1 } }, { body: { n: 2 } }], { partitionId: '0' });
    await waitFor('first events', () => events.length >= 2);

    const connectionsBefore = broker.stats.connectionsAccepted;
    broker.dropConnections();
    await client.sendBatch([{ body: { n: 3 } }], { partitionId: '0' });
    await waitFor('events after the drop', () => events.length >= 3, 5000);
    await new Promise((r) => setTimeout(r, 200));
    expect(events.map((e) => e.body)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(broker.stats.connectionsAccepted).toBeGreaterThan(connectionsBefore);
  });

  it('the SDK also recovers from reset sockets, after its operation timeout', async () => {
    const client = new EventHubProducerClient(broker.connectionString('raw'), { retryOptions: { ...fastRetry, timeoutInMs: 1500 } });
    closers.push(() => client.close());
    const reader = new EventHubConsumerClient('$Default', broker.connectionString('raw'), { retryOptions: { ...fastRetry, timeoutInMs: 1500 } });
    closers.push(() => reader.close());
    const { events } = read(reader, '1', latestEventPosition);
    await waitFor('reader attached', () => broker.openReceivers('raw', '1') >= 1);
    await client.sendBatch([{ body: { n: 1 } }], { partitionId: '1' });
    await waitFor('first event', () => events.length >= 1);

    broker.dropConnections({ abrupt: true });
    await client.sendBatch([{ body: { n: 2 } }], { partitionId: '1' });
    await waitFor('event after the reset', () => events.length >= 2, 8000);
    await new Promise((r) => setTimeout(r, 200));
    expect(events.map((e) => e.body)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('refused sends are retried by the SDK until the broker accepts them, exactly once', async () => {
    const client = producer('raw');
    await client.getPartitionIds(); // connect first, so the refusal window covers the send itself
    const before = broker.partitionEvents('raw', '1').length;
    const refusedBefore = broker.stats.sendsRefused;
    broker.refuseSends(600);
    const started = Date.now();
    const batch = await client.createBatch({ partitionId: '1' });
    for (let i = 0; i < 3; i++) batch.tryAdd({ body: { i } });
    await client.sendBatch(batch);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(broker.stats.sendsRefused).toBeGreaterThan(refusedBefore);
    const added = broker.partitionEvents('raw', '1').slice(before);
    expect(added.map((e) => JSON.parse(text(e.body) as string))).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
  });

  it('gives up with a retryable server-busy error when sends stay refused', async () => {
    const client = new EventHubProducerClient(broker.connectionString('raw'), { retryOptions: { maxRetries: 1, retryDelayInMs: 50 } });
    closers.push(() => client.close());
    broker.refuseSends();
    try {
      // SDK v6 quirk: after more than one attempt it throws an AggregateError of every attempt's error.
      const error = await client.sendBatch([{ body: 'x' }], { partitionId: '0' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AggregateError);
      const attempts = (error as AggregateError).errors as Array<{ code?: string; retryable?: boolean }>;
      expect(attempts.length).toBe(2);
      for (const attempt of attempts) expect(attempt).toMatchObject({ code: 'ServerBusyError', retryable: true });
    } finally {
      broker.acceptSends();
    }
  });

  it('a receiver with a higher owner level takes a partition over from a lower one', async () => {
    const first = read(consumer('raw'), '1', latestEventPosition, 1);
    await waitFor('first owner attached', () => broker.openReceivers('raw', '1') === 1);
    const second = read(consumer('raw'), '1', latestEventPosition, 2);
    await waitFor('first owner told it lost the partition', () => first.errors.some((e) => (e as { code?: string }).code === 'ReceiverDisconnectedError'));
    await waitFor('second owner alone on the partition', () => broker.openReceivers('raw', '1') === 1 && second.errors.length === 0);
    await producer('raw').sendBatch([{ body: 'after takeover' }], { partitionId: '1' });
    await waitFor('second owner reads', () => second.events.length === 1);
    expect(first.events).toEqual([]);
  });

  it('refuses unknown hubs with not-found errors the SDK reports', async () => {
    const other = new EventHubProducerClient(broker.connectionString(HUB).replace(`EntityPath=${HUB}`, 'EntityPath=nope'), { retryOptions: { maxRetries: 0 } });
    closers.push(() => other.close());
    await expect(other.getEventHubProperties()).rejects.toMatchObject({ code: 'MessagingEntityNotFoundError' });
    await expect(other.sendBatch([{ body: 1 }])).rejects.toMatchObject({ code: 'MessagingEntityNotFoundError' });
    expect(() => broker.connectionString('nope')).toThrow(/no hub "nope"/);
  });
});
