import type { HttpRequest, HttpResponseInit, InvocationContext, RetryOptions, Timer } from '@azure/functions';
import type { Warden } from './warden.js';

/**
 * Event Hubs functions retry a failed batch (a Tables or keyed-hub outage; bad records never
 * fail a batch) until it succeeds: the host checkpoints after the retries whatever their outcome,
 * so giving up would lose the batch. A batch that keeps failing holds its partition, and the lag
 * shows it. Waits grow from 5 s to 5 minutes.
 */
export const EVENT_HUB_RETRY: RetryOptions = {
  strategy: 'exponentialBackoff',
  maxRetryCount: -1,
  minimumInterval: { seconds: 5 },
  maximumInterval: { minutes: 5 },
};

/** host.json `extensions.eventHubs`, as `warden run` applies it to its own triggers (a test keeps the two equal). */
export const HOST_EVENT_HUB_OPTIONS = { maxEventBatchSize: 100, prefetchCount: 300, initialOffset: 'fromStart' } as const;

/** NCRONTAB, every minute at second 0. */
export const DELIVER_SCHEDULE = '0 */1 * * * *';
export const DELIVER_EVERY_MS = 60_000;

export interface EventHubFunction {
  kind: 'eventHub';
  name: string;
  eventHubName: string;
  consumerGroup: string;
  handler: (messages: unknown[], context: InvocationContext) => Promise<unknown>;
}

export interface TimerFunction {
  kind: 'timer';
  name: string;
  schedule: string;
  everyMs: number;
  handler: (timer: Timer, context: InvocationContext) => Promise<unknown>;
}

export interface HttpFunction {
  kind: 'http';
  name: string;
  route: string;
  handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
}

export type WardenFunction = EventHubFunction | TimerFunction | HttpFunction;

/**
 * Warden's functions, bound to one app: `functions/index.ts` registers them with the Functions
 * host and `warden run` drives them with its own triggers, so both run the same handlers.
 */
export function wardenFunctions(warden: Warden): WardenFunction[] {
  const { rawHubs, eventsHub, consumerGroups } = warden.settings;
  const ingest = (source: keyof typeof rawHubs): EventHubFunction => ({
    kind: 'eventHub',
    name: `ingest-${source}`,
    eventHubName: rawHubs[source],
    consumerGroup: consumerGroups.ingest,
    handler: (messages, context) => warden.ingest(rawHubs[source], messages, context),
  });
  return [
    ingest('activity'),
    ingest('signin'),
    ingest('resource'),
    {
      kind: 'eventHub',
      name: 'detect',
      eventHubName: eventsHub,
      consumerGroup: consumerGroups.detect,
      handler: (messages, context) => warden.detect(messages, context),
    },
    {
      kind: 'timer',
      name: 'deliver',
      schedule: DELIVER_SCHEDULE,
      everyMs: DELIVER_EVERY_MS,
      handler: (_timer, context) => warden.deliver(context),
    },
    {
      kind: 'http',
      name: 'health',
      route: 'health',
      handler: async () => {
        const report = await warden.health();
        return { status: report.status === 'unavailable' ? 503 : 200, jsonBody: report };
      },
    },
  ];
}
