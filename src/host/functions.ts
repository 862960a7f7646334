import type { HttpRequest, HttpResponseInit, InvocationContext, RetryOptions, Timer } from '@azure/functions';
import type { HealthReport, Warden } from './warden.js';
import { bindingNames, type WardenSettings } from './settings.js';
import { WardenError } from '../common/errors.js';

/** Exports telemetry to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set (src/telemetry/setup.ts). */
export { startTelemetryExport } from '../telemetry/setup.js';

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
/** NCRONTAB, every 5 minutes: the audit looks at rows sent at least its grace period (10 minutes) ago. */
export const AUDIT_SCHEDULE = '0 */5 * * * *';
export const AUDIT_EVERY_MS = 5 * 60_000;
/** NCRONTAB, every minute: the resolution at which ingest notes arrivals. */
export const SILENT_SOURCES_SCHEDULE = '30 */1 * * * *';
export const SILENT_SOURCES_EVERY_MS = 60_000;

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

/** What the functions call: the app, or, when it could not start, a stand-in that says why. */
export type WardenHandlers = Pick<Warden, 'ingest' | 'detect' | 'deliver' | 'audit' | 'checkSilentSources'> & {
  settings: Pick<WardenSettings, 'rawHubs' | 'eventsHub' | 'consumerGroups'>;
  health(): Promise<{ status: HealthReport['status']; error?: string }>;
};

/** The app did not start (a bad setting, rule or tunable): every function fails with this one line. */
export class WardenStartupError extends WardenError {
  override name = 'WardenStartupError';
  readonly userFixable = true;
}

/**
 * The functions of an app that could not start. Registering them anyway keeps them where
 * operators look: `/api/health` answers 503 with the reason, and every trigger fails fast with it
 * in its invocation log, instead of the host finding no function and the reason sitting only in a
 * console trace. The bindings use the names the settings give, or their defaults.
 */
export function unavailableApp(error: unknown, env: Readonly<Record<string, string | undefined>> = process.env): WardenHandlers {
  const reason = String((error as Error)?.message ?? error).split('\n')[0];
  // eslint-disable-next-line @typescript-eslint/require-await -- a handler rejects, as the working handlers do, rather than throwing synchronously
  const fail = async (): Promise<never> => {
    throw new WardenStartupError(`Warden did not start: ${reason}`);
  };
  return {
    settings: bindingNames(env),
    ingest: fail,
    detect: fail,
    deliver: fail,
    audit: fail,
    checkSilentSources: fail,
    // eslint-disable-next-line @typescript-eslint/require-await -- health answers with a promise like the working app's
    health: async () => ({ status: 'unavailable', error: reason }),
  };
}

/**
 * Warden's functions, bound to one app: `functions/index.ts` registers them with the Functions
 * host and `warden run` drives them with its own triggers, so both run the same handlers.
 */
export function wardenFunctions(warden: WardenHandlers): WardenFunction[] {
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
      kind: 'timer',
      name: 'audit',
      schedule: AUDIT_SCHEDULE,
      everyMs: AUDIT_EVERY_MS,
      handler: (_timer, context) => warden.audit(context),
    },
    {
      kind: 'timer',
      name: 'silent-sources',
      schedule: SILENT_SOURCES_SCHEDULE,
      everyMs: SILENT_SOURCES_EVERY_MS,
      handler: (_timer, context) => warden.checkSilentSources(context),
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
