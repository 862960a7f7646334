/**
 * A stand-in for the Azure Functions Node.js worker's side of function registration: the
 * `@azure/functions` package registers through `@azure/functions-core`, a module only the worker
 * provides. This installs one that records each registration (the binding metadata the host
 * would index, the retry options, the handler), then loads `functions/index.ts` the way the
 * worker loads the app's `main`. Tests then call the handlers with the inputs the host sends.
 */
import Module from 'node:module';
import { randomUUID } from 'node:crypto';
import functions from '@azure/functions';
import type { InvocationContext as InvocationContextType, TriggerMetadata } from '@azure/functions';
import type { ReceivedEventData } from '@azure/event-hubs';
import { buildTriggerMetadata, messageValue } from '../../src/host/eventhubs-trigger.js';

const { InvocationContext } = functions;

export interface Registration {
  name: string;
  bindings: Record<string, Record<string, unknown>>;
  retryOptions?: Record<string, unknown>;
  handler: (input: unknown, context: InvocationContextType) => unknown;
}

const ENTRY_POINT = new URL('../../functions/index.ts', import.meta.url).href;
const registrations = new Map<string, Registration>();
const logs: string[] = [];

const fakeCore = {
  version: '3.10.1',
  registerFunction(metadata: Omit<Registration, 'handler'>, handler: Registration['handler']) {
    registrations.set(metadata.name, { ...metadata, handler });
    return {
      dispose() {
        registrations.delete(metadata.name);
      },
    };
  },
  setProgrammingModel() {},
  registerHook() {
    return { dispose() {} };
  },
  log(_level: string, _category: string, message: string) {
    logs.push(message);
  },
};

type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
const moduleWithLoad = Module as unknown as { _load: Loader };
const originalLoad = moduleWithLoad._load;
moduleWithLoad._load = function load(request, parent, isMain) {
  if (request === '@azure/functions-core') return fakeCore;
  return originalLoad.call(this, request, parent, isMain);
};

/**
 * Load the Functions app with these settings (as app settings reach the worker: environment
 * variables) and return what it registered, by function name. Each call loads the entry point anew.
 */
export async function loadFunctionsApp(settings: Record<string, string>): Promise<Map<string, Registration>> {
  registrations.clear();
  const saved = { ...process.env };
  Object.assign(process.env, settings);
  try {
    // A query makes the module loader evaluate the entry point again, as a new worker would.
    await import(/* @vite-ignore */ `${ENTRY_POINT}?load=${randomUUID()}`);
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
  return new Map(registrations);
}

/** An InvocationContext as the worker builds it, with the trigger metadata the host sends; logs are kept. */
export function invocationContext(functionName: string, triggerMetadata: TriggerMetadata = {}, lines: string[] = []): InvocationContextType {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    triggerMetadata,
    logHandler: (level, ...args) => lines.push(`${level}: ${args.map(String).join(' ')}`),
  });
}

/** One event as it sits on a hub partition, enough for the trigger metadata of a batch. */
export interface HubEvent {
  body: unknown;
  sequenceNumber: number;
  offset?: string;
  enqueuedTime: Date;
  partitionKey?: string;
  /** Application properties (the keyed hub's trace context). */
  properties?: Record<string, unknown>;
}

/**
 * What the host passes an Event Hubs function (`cardinality: 'many'`, `dataType: 'string'`) for a
 * batch from one partition: message values (text, JSON-parsed when it parses) and trigger metadata.
 */
export function eventHubBatch(
  functionName: string,
  hub: string,
  partitionId: string,
  events: readonly HubEvent[],
  lines: string[] = [],
): { messages: unknown[]; context: InvocationContextType } {
  const received = events.map((e) => ({
    body: e.body,
    sequenceNumber: e.sequenceNumber,
    offset: e.offset ?? String(e.sequenceNumber * 1000),
    enqueuedTimeUtc: e.enqueuedTime,
    partitionKey: e.partitionKey ?? null,
    properties: e.properties ?? {},
    systemProperties: {},
  })) as unknown as ReceivedEventData[];
  const metadata = buildTriggerMetadata(
    received,
    { fullyQualifiedNamespace: '127.0.0.1', eventHubName: hub, consumerGroup: '$Default', partitionId },
    functionName,
  );
  const messages = events.map((e) => messageValue(e.body, 'string'));
  return { messages, context: invocationContext(functionName, metadata, lines) };
}
