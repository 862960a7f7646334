/**
 * A small AMQP 1.0 Event Hubs stand-in for tests: the real `@azure/event-hubs` clients connect to it
 * with `UseDevelopmentEmulator=true` connection strings (plain TCP, port taken from the endpoint).
 *
 * It speaks what the SDK needs and nothing more: SASL ANONYMOUS/PLAIN, `$cbs` put-token,
 * `$management` hub and partition reads, sender links to a hub or one partition (batched message
 * format 0x80013700, partition-key routing), receiver links to
 * `HUB/ConsumerGroups/CG/Partitions/N` with selector filters, credit-aware delivery and
 * owner-level (epoch) receivers. Faults for tests: `dropConnections()` and `refuseSends()`.
 */
import { createServer, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import rhea from 'rhea';
import type { Connection, ConnectionOptions, Delivery, EventContext, Message, Receiver, Sender } from 'rhea';

export interface HubConfig {
  partitions: number;
  /** Consumer groups besides `$Default`; when given, receivers for any other group are refused like the service does. */
  consumerGroups?: string[];
}

export interface EventHubsBrokerOptions {
  hubs: Record<string, HubConfig>;
  /** Largest accepted transfer in bytes; the SDK sizes batches from it. Default 1 MiB (Standard tier). */
  maxMessageSize?: number;
}

/** One event as stored in a partition, as a test sees it. */
export interface BrokerEvent {
  /** The body as sent: a Buffer for data sections (what the SDK sends), the value otherwise. */
  body: unknown;
  sequenceNumber: number;
  offset: string;
  enqueuedTime: Date;
  partitionKey?: string;
  properties?: Record<string, unknown>;
}

export interface BrokerStats {
  connectionsAccepted: number;
  /** Transfers refused while `refuseSends` was on. */
  sendsRefused: number;
  /** Transfers accepted into a partition (one per batch). */
  sendsAccepted: number;
  /** Events delivered to receivers, redeliveries included. */
  eventsDelivered: number;
}

export interface EventHubsBroker {
  readonly port: number;
  /** What the SDK reports as `fullyQualifiedNamespace` for this broker (the endpoint host). */
  readonly fullyQualifiedNamespace: string;
  readonly stats: BrokerStats;
  connectionString(hub: string): string;
  partitionIds(hub: string): string[];
  partitionEvents(hub: string, partitionId: string): BrokerEvent[];
  /** Receivers attached to a partition right now (all consumer groups): lets a test start sending only once a reader is there. */
  openReceivers(hub: string, partitionId: string): number;
  /** The partition the service would pick for this partition key. */
  partitionForKey(hub: string, partitionKey: string): string;
  /**
   * Close every client connection. By default the way the service does when it moves or restarts an
   * entity (AMQP close with `amqp:connection:forced`): the SDK reconnects within its retry delay.
   * `abrupt: true` resets the sockets instead, like a network failure: the SDK then waits up to its
   * operation timeout (`retryOptions.timeoutInMs`, 60 s by default) for the dead links before reconnecting.
   */
  dropConnections(options?: { abrupt?: boolean }): void;
  /** Reject incoming event transfers with `com.microsoft:server-busy` (retryable), for `forMs` or until `acceptSends()`; to one hub only when `hub` is given. */
  refuseSends(forMs?: number, hub?: string): void;
  acceptSends(): void;
  stop(): Promise<void>;
}

export class BrokerConfigError extends Error {
  override name = 'BrokerConfigError';
}

const BATCH_FORMAT = 0x80013700;
const EPOCH_PROPERTY = 'com.microsoft:epoch';
const SELECTOR_FILTER = 'apache.org:selector-filter:string';
const SELECTOR = /^amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'$/;

// The service's partition-key hash (Jenkins lookup3), as ported by the SDK for its buffered
// producer. Loaded by file path because the package's exports map hides it; using it means a key
// lands on the same partition here as in Azure.
const sdkDir = dirname(createRequire(import.meta.url).resolve('@azure/event-hubs/package.json'));
const { mapPartitionKeyToId } = (await import(pathToFileURL(join(sdkDir, 'dist/esm/impl/partitionKeyToIdMapper.js')).href)) as {
  mapPartitionKeyToId: (partitionKey: string, partitionCount: number) => number;
};

interface StoredEvent {
  event: BrokerEvent;
  /** Offset as a number, for selector comparisons. */
  position: number;
  /** The delivery, encoded once at enqueue time. */
  payload: Buffer;
}

interface Partition {
  id: string;
  events: StoredEvent[];
  nextOffset: number;
  lastEnqueuedMs: number;
  outlets: Set<Outlet>;
}

interface Hub {
  name: string;
  createdAt: Date;
  partitions: Partition[];
  consumerGroups?: Set<string>;
  roundRobin: number;
}

/** A receiver attached to one partition: our sender link and its read position. */
interface Outlet {
  sender: Sender;
  partition: Partition;
  consumerGroup: string;
  epoch?: number;
  next: number;
}

type AmqpSection = { typecode: number; content: unknown; multiple?: boolean };

function isSection(body: unknown): body is AmqpSection {
  return typeof body === 'object' && body !== null && typeof (body as AmqpSection).typecode === 'number';
}

/** Split an SDK batch envelope into the messages it carries (one data section per encoded message). */
function unbatch(envelope: Message): Message[] {
  const body = envelope.body as unknown;
  if (!isSection(body) || body.typecode !== 0x75) return [envelope];
  const parts = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
  return parts.map(decode);
}

function decode(buffer: Buffer): Message {
  return rhea.message.decode(buffer) as unknown as Message;
}

function bodyOf(message: Message): unknown {
  const body = message.body as unknown;
  return isSection(body) ? body.content : body;
}

export async function startEventHubsBroker(options: EventHubsBrokerOptions): Promise<EventHubsBroker> {
  const maxMessageSize = options.maxMessageSize ?? 1024 * 1024;
  const hubs = new Map<string, Hub>();
  for (const [name, config] of Object.entries(options.hubs)) {
    if (!Number.isInteger(config.partitions) || config.partitions < 1 || config.partitions > 1024) {
      throw new BrokerConfigError(`hub "${name}": partitions must be an integer from 1 to 1024, got ${config.partitions}`);
    }
    hubs.set(name, {
      name,
      createdAt: new Date(),
      partitions: Array.from({ length: config.partitions }, (_, i) => ({
        id: String(i),
        events: [],
        nextOffset: 0,
        lastEnqueuedMs: 0,
        outlets: new Set<Outlet>(),
      })),
      consumerGroups: config.consumerGroups ? new Set(['$Default', ...config.consumerGroups]) : undefined,
      roundRobin: 0,
    });
  }

  const stats: BrokerStats = { connectionsAccepted: 0, sendsRefused: 0, sendsAccepted: 0, eventsDelivered: 0 };
  const sockets = new Set<Socket>();
  const connections = new Set<Connection>();
  const outletsBySender = new Map<Sender, Outlet>();
  const inletTargets = new Map<Receiver, { hub: Hub; partition?: Partition }>();
  /** `true`: every hub refuses sends; a name: that hub only. */
  let refusing: boolean | string = false;
  let refuseTimer: NodeJS.Timeout | undefined;

  const container = rhea.create_container({ id: 'warden-test-eventhubs' });
  container.sasl_server_mechanisms.enable_anonymous();
  container.sasl_server_mechanisms.enable_plain(() => true);
  // Link errors we raise ourselves (refusals) must not surface as unhandled 'error' events.
  container.on('error', () => undefined);

  function hubOrThrow(name: string): Hub {
    const hub = hubs.get(name);
    if (!hub) throw new BrokerConfigError(`no hub "${name}" on this broker; configured: ${[...hubs.keys()].join(', ')}`);
    return hub;
  }

  function partitionOrThrow(hub: string, partitionId: string): Partition {
    const partition = hubOrThrow(hub).partitions.find((p) => p.id === partitionId);
    if (!partition) throw new BrokerConfigError(`hub "${hub}" has no partition "${partitionId}"`);
    return partition;
  }

  function append(partition: Partition, messages: Message[], partitionKey: string | undefined): void {
    // Enqueued times never go backwards within a partition, so time selectors stay consistent.
    const now = Math.max(Date.now(), partition.lastEnqueuedMs);
    partition.lastEnqueuedMs = now;
    for (const message of messages) {
      const sequenceNumber = partition.events.length;
      const position = partition.nextOffset;
      const offset = String(position);
      const key = (message.message_annotations?.['x-opt-partition-key'] as string | undefined) ?? partitionKey;
      const annotations: Record<string, unknown> = {
        ...message.message_annotations,
        'x-opt-sequence-number': rhea.types.wrap_long(sequenceNumber),
        'x-opt-offset': offset,
        'x-opt-enqueued-time': new Date(now),
      };
      if (key !== undefined) annotations['x-opt-partition-key'] = key;
      const payload = rhea.message.encode({ ...message, message_annotations: annotations });
      // Offsets are byte positions in the partition's log, as on the service.
      partition.nextOffset += payload.length;
      partition.events.push({
        position,
        payload,
        event: {
          body: bodyOf(message),
          sequenceNumber,
          offset,
          enqueuedTime: new Date(now),
          ...(key !== undefined ? { partitionKey: key } : {}),
          ...(message.application_properties ? { properties: { ...message.application_properties } } : {}),
        },
      });
    }
    for (const outlet of partition.outlets) pump(outlet);
  }

  function pump(outlet: Outlet): void {
    const { events } = outlet.partition;
    while (outlet.next < events.length && outlet.sender.sendable()) {
      outlet.sender.send(events[outlet.next].payload, undefined, 0);
      outlet.next++;
      stats.eventsDelivered++;
    }
  }

  /** Index of the first event a selector filter admits. */
  function startIndex(partition: Partition, filter: string | undefined): number {
    if (filter === undefined) return 0;
    const match = SELECTOR.exec(filter.trim());
    if (!match) throw new BrokerConfigError(`unsupported selector filter: ${filter}`);
    const [, field, op, raw] = match;
    const inclusive = op === '>=';
    const { events } = partition;
    if (field === 'offset') {
      if (raw === '@latest') return events.length;
      const value = Number(raw);
      if (value < 0) return 0;
      const i = events.findIndex((e) => (inclusive ? e.position >= value : e.position > value));
      return i === -1 ? events.length : i;
    }
    if (field === 'sequence-number') {
      const value = Number(raw);
      return Math.min(Math.max(inclusive ? value : value + 1, 0), events.length);
    }
    const at = Number(raw);
    const i = events.findIndex((e) => e.event.enqueuedTime.getTime() > at);
    return i === -1 ? events.length : i;
  }

  function filterOf(sender: Sender): string | undefined {
    const filters = (sender.source as { filter?: Record<string, unknown> } | undefined)?.filter;
    const clause = filters?.[SELECTOR_FILTER];
    if (clause === undefined) return undefined;
    // The SDK sends a described string; depending on decode it arrives unwrapped or as a Typed value.
    if (typeof clause === 'string') return clause;
    const { value } = clause as { value?: unknown };
    return String(value ?? (clause as unknown));
  }

  function refuse(link: Sender | Receiver, condition: string, description: string): void {
    link.close({ condition, description });
  }

  function onSenderOpen(context: EventContext): void {
    const sender = context.sender as Sender;
    const address = sender.source?.address ?? '';
    sender.set_source({ address });
    if (sender.target?.address) sender.set_target({ address: sender.target.address });
    if (address === '$cbs' || address === '$management') return; // reply link of a request/response pair
    const match = /^([^/]+)\/ConsumerGroups\/([^/]+)\/Partitions\/([^/]+)$/i.exec(address);
    const hub = match ? hubs.get(match[1]) : undefined;
    const partition = hub?.partitions.find((p) => p.id === match?.[3]);
    if (!match || !hub || !partition) {
      refuse(sender, 'amqp:not-found', `The messaging entity '${address}' could not be found.`);
      return;
    }
    const consumerGroup = match[2];
    if (hub.consumerGroups && !hub.consumerGroups.has(consumerGroup)) {
      refuse(sender, 'amqp:not-found', `The consumer group '${consumerGroup}' does not exist on hub '${hub.name}'.`);
      return;
    }
    const rawEpoch = sender.properties?.[EPOCH_PROPERTY] as unknown;
    const epoch = rawEpoch === undefined || rawEpoch === null ? undefined : Number(rawEpoch);
    const rivals = [...partition.outlets].filter((o) => o.consumerGroup === consumerGroup);
    // Owner level: a receiver with an epoch evicts receivers with a lower-or-equal epoch or none;
    // a receiver is refused while one with a higher epoch (or any epoch, if it has none) holds the partition.
    const blocker = rivals.find((o) => o.epoch !== undefined && (epoch === undefined || o.epoch > epoch));
    if (blocker) {
      refuse(
        sender,
        'amqp:link:stolen',
        `Receiver with epoch '${blocker.epoch}' already owns partition ${partition.id}; epoch '${epoch ?? 'none'}' was refused.`,
      );
      return;
    }
    if (epoch !== undefined) {
      for (const rival of rivals) {
        detachOutlet(rival);
        rival.sender.close({
          condition: 'amqp:link:stolen',
          description: `New receiver with higher epoch of '${epoch}' is created hence current receiver with epoch '${rival.epoch ?? 'none'}' is getting disconnected.`,
        });
      }
    }
    let next: number;
    try {
      next = startIndex(partition, filterOf(sender));
    } catch (err) {
      refuse(sender, 'amqp:invalid-field', (err as Error).message);
      return;
    }
    const outlet: Outlet = { sender, partition, consumerGroup, epoch, next };
    partition.outlets.add(outlet);
    outletsBySender.set(sender, outlet);
    pump(outlet);
  }

  function detachOutlet(outlet: Outlet): void {
    outlet.partition.outlets.delete(outlet);
    outletsBySender.delete(outlet.sender);
  }

  function onReceiverOpen(context: EventContext): void {
    const receiver = context.receiver as Receiver;
    const address = receiver.target?.address ?? '';
    receiver.set_target({ address });
    if (receiver.source?.address) receiver.set_source({ address: receiver.source.address });
    if (address === '$cbs' || address === '$management') return;
    const match = /^([^/]+)(?:\/Partitions\/([^/]+))?$/i.exec(address);
    const hub = match ? hubs.get(match[1]) : undefined;
    const partition = match?.[2] === undefined ? undefined : hub?.partitions.find((p) => p.id === match[2]);
    if (!hub || (match?.[2] !== undefined && !partition)) {
      refuse(receiver, 'amqp:not-found', `The messaging entity '${address}' could not be found.`);
      return;
    }
    inletTargets.set(receiver, { hub, partition });
  }

  function reply(connection: Connection, request: Message, status: number, description: string, body?: unknown, condition?: string): void {
    const replyTo = request.reply_to;
    const link = connection.find_sender((s: Sender) => s.name === replyTo || s.target?.address === replyTo);
    if (!link) return;
    link.send({
      to: replyTo,
      correlation_id: request.message_id,
      application_properties: {
        'status-code': status,
        'status-description': description,
        ...(condition ? { 'error-condition': condition } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    } as unknown as Message);
  }

  function onManagement(connection: Connection, request: Message): void {
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    const hub = hubs.get(String(props.name));
    if (props.operation !== 'READ') {
      reply(connection, request, 501, `Operation '${String(props.operation)}' is not supported by this test broker.`, undefined, 'amqp:not-implemented');
      return;
    }
    if (!hub) {
      reply(connection, request, 404, `The messaging entity '${String(props.name)}' could not be found.`, undefined, 'amqp:not-found');
      return;
    }
    if (props.type === 'com.microsoft:eventhub') {
      reply(connection, request, 200, 'OK', {
        name: hub.name,
        type: 'com.microsoft:eventhub',
        created_at: hub.createdAt,
        partition_count: hub.partitions.length,
        partition_ids: hub.partitions.map((p) => p.id),
      });
      return;
    }
    const partition = hub.partitions.find((p) => p.id === String(props.partition));
    if (props.type !== 'com.microsoft:partition' || !partition) {
      reply(connection, request, 404, `Partition '${String(props.partition)}' of '${hub.name}' could not be found.`, undefined, 'amqp:not-found');
      return;
    }
    const last = partition.events.at(-1);
    reply(connection, request, 200, 'OK', {
      name: hub.name,
      type: 'com.microsoft:partition',
      partition: partition.id,
      begin_sequence_number: rhea.types.wrap_long(last ? 0 : -1),
      last_enqueued_sequence_number: rhea.types.wrap_long(last ? last.event.sequenceNumber : -1),
      last_enqueued_offset: last ? last.event.offset : '-1',
      last_enqueued_time_utc: last ? last.event.enqueuedTime : new Date(0),
      is_partition_empty: !last,
    });
  }

  function onMessage(context: EventContext): void {
    const receiver = context.receiver as Receiver;
    const delivery = context.delivery as Delivery;
    const connection = context.connection;
    const address = receiver.target?.address;
    if (address === '$cbs') {
      // Any token is accepted: the broker checks nothing, it only lets the SDK proceed.
      delivery.accept();
      reply(connection, context.message as Message, 200, 'OK');
      return;
    }
    if (address === '$management') {
      delivery.accept();
      onManagement(connection, context.message as Message);
      return;
    }
    const inlet = inletTargets.get(receiver);
    if (!inlet) {
      delivery.reject({ condition: 'amqp:not-found', description: `No hub behind link '${address}'.` });
      return;
    }
    if (refusing === true || refusing === inlet.hub.name) {
      stats.sendsRefused++;
      delivery.reject({ condition: 'com.microsoft:server-busy', description: 'The test broker is refusing sends (refuseSends).' });
      return;
    }
    const raw = context.message as unknown as Message | Buffer;
    const size = Buffer.isBuffer(raw) ? raw.length : 0;
    if (size > maxMessageSize) {
      delivery.reject({
        condition: 'amqp:link:message-size-exceeded',
        description: `The message (${size} bytes) exceeds the limit of ${maxMessageSize} bytes.`,
      });
      return;
    }
    const format = (context as EventContext & { format?: number }).format ?? 0;
    let messages: Message[];
    try {
      const envelope = Buffer.isBuffer(raw) ? decode(raw) : raw;
      messages = format === BATCH_FORMAT ? unbatch(envelope) : [envelope];
    } catch (err) {
      delivery.reject({ condition: 'amqp:decode-error', description: `Could not decode the transfer: ${(err as Error).message}` });
      return;
    }
    if (messages.length === 0) {
      delivery.accept();
      return;
    }
    // A batch is stored whole on one partition: the link's, the key's, or the next in turn.
    const key = messages[0].message_annotations?.['x-opt-partition-key'] as string | undefined;
    const { hub } = inlet;
    const partition =
      inlet.partition ??
      (key !== undefined ? hub.partitions[mapPartitionKeyToId(key, hub.partitions.length)] : hub.partitions[hub.roundRobin++ % hub.partitions.length]);
    append(partition, messages, key);
    stats.sendsAccepted++;
    delivery.accept();
  }

  function forgetLink(context: EventContext): void {
    if (context.sender) {
      const outlet = outletsBySender.get(context.sender);
      if (outlet) detachOutlet(outlet);
    }
    if (context.receiver) inletTargets.delete(context.receiver);
  }

  function forgetConnection(connection: Connection): void {
    for (const [sender, outlet] of outletsBySender) if (sender.connection === connection) detachOutlet(outlet);
    for (const receiver of inletTargets.keys()) if (receiver.connection === connection) inletTargets.delete(receiver);
  }

  const server = createServer((socket) => {
    sockets.add(socket);
    stats.connectionsAccepted++;
    socket.once('close', () => sockets.delete(socket));
    const connection = container.create_connection({
      id: `warden-broker-${stats.connectionsAccepted}`,
      receiver_options: { autoaccept: false, credit_window: 100, max_message_size: maxMessageSize },
    } as ConnectionOptions);
    connections.add(connection);
    connection.on('sender_open', onSenderOpen);
    connection.on('receiver_open', onReceiverOpen);
    connection.on('message', onMessage);
    connection.on('sendable', (context: EventContext) => {
      const outlet = outletsBySender.get(context.sender as Sender);
      if (outlet) pump(outlet);
    });
    connection.on('sender_close', forgetLink);
    connection.on('receiver_close', forgetLink);
    connection.on('sender_error', forgetLink);
    connection.on('receiver_error', forgetLink);
    connection.on('session_error', () => undefined);
    connection.on('session_close', () => undefined);
    connection.on('connection_error', () => undefined);
    connection.on('connection_close', () => forgetConnection(connection));
    connection.on('disconnected', () => forgetConnection(connection));
    socket.once('close', () => connections.delete(connection));
    connection.on('error', () => undefined);
    (connection as unknown as { accept(socket: Socket): void }).accept(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new BrokerConfigError('broker did not get a port');
  const port = address.port;

  return {
    port,
    fullyQualifiedNamespace: '127.0.0.1',
    stats,
    connectionString(hub: string): string {
      hubOrThrow(hub);
      return `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=dev;SharedAccessKey=dev;EntityPath=${hub};UseDevelopmentEmulator=true`;
    },
    partitionIds(hub: string): string[] {
      return hubOrThrow(hub).partitions.map((p) => p.id);
    },
    partitionEvents(hub: string, partitionId: string): BrokerEvent[] {
      return partitionOrThrow(hub, partitionId).events.map((e) => e.event);
    },
    openReceivers(hub: string, partitionId: string): number {
      return partitionOrThrow(hub, partitionId).outlets.size;
    },
    partitionForKey(hub: string, partitionKey: string): string {
      const { partitions } = hubOrThrow(hub);
      return partitions[mapPartitionKeyToId(partitionKey, partitions.length)].id;
    },
    dropConnections({ abrupt = false }: { abrupt?: boolean } = {}): void {
      if (abrupt) {
        for (const socket of sockets) socket.destroy();
        return;
      }
      for (const connection of connections) {
        connection.close({ condition: 'amqp:connection:forced', description: 'The test broker closed the connection (dropConnections).' });
      }
    },
    refuseSends(forMs?: number, hub?: string): void {
      if (hub !== undefined) hubOrThrow(hub);
      refusing = hub ?? true;
      clearTimeout(refuseTimer);
      if (forMs !== undefined) {
        refuseTimer = setTimeout(() => {
          refusing = false;
        }, forMs);
        refuseTimer.unref();
      }
    },
    acceptSends(): void {
      refusing = false;
      clearTimeout(refuseTimer);
    },
    async stop(): Promise<void> {
      clearTimeout(refuseTimer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
