/**
 * Silent sources as alerts, through the Functions app on the local stand-ins: raw-hub batches
 * ingested (keyed hub on the AMQP test broker, arrivals and habits in Tables on Azurite), the
 * silent-sources timer raising into the outbox, the deliver timer sending to the Logs Ingestion
 * test server. The clock is the app's injected one: simulated hours run in seconds.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { startLogsIngestionServer, type LogsIngestionTestServer } from '../support/logs-ingestion-server.js';
import { eventHubBatch, invocationContext, loadFunctionsApp, type Registration } from '../support/functions-host.js';
import { functionsAppDependencies } from '../../src/host/warden.js';
import { loadSettings } from '../../src/host/settings.js';
import { AlertSchema } from '../../src/model/index.js';
import { judgeSource, DEFAULT_SILENT_OPTIONS } from '../../src/delivery/silent-sources.js';
import { LOG_SOURCE_SILENT } from '../../src/model/built-in-checks.js';

const fixture = (path: string) => readFileSync(fileURLToPath(new URL(`../../detections/${path}`, import.meta.url)), 'utf8');
const KEY_LISTING = fixture('ai-key-listing.fixtures/sp-lists-openai-keys.json');
const SECRET_SWEEP = fixture('keyvault-mass-secret-read.fixtures/sp-reads-twelve-secrets.json');
const MINUTE = 60_000;

let azurite: AzuriteInstance;
let broker: EventHubsBroker;
let server: LogsIngestionTestServer;
let fns: Map<string, Registration>;
const start = Date.UTC(2025, 5, 12, 0, 0, 0);
const clock = { now: start };

const SETTINGS = () => ({
  EventHubConnection: `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true`,
  WARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
  WARDEN_STORAGE_PREFIX: 'silent',
  SENTINEL_DCR_ENDPOINT: server.endpoint,
  SENTINEL_DCR_IMMUTABLE_ID: server.ruleId,
  WARDEN_SILENT_MULTIPLE: '4',
  WARDEN_SILENT_MIN_GAPS: '3',
  WARDEN_SILENT_MIN_QUIET: '1m',
  // The fixtures are logs of 2025: older than the live stream's default age limit.
  WARDEN_MAX_EVENT_AGE: '3650d',
});

beforeAll(async () => {
  azurite = await startAzurite();
  broker = await startEventHubsBroker({
    hubs: {
      'warden-activity': { partitions: 2 },
      'warden-signin': { partitions: 2 },
      'warden-resource': { partitions: 2 },
      'warden-events': { partitions: 4 },
    },
  });
  server = await startLogsIngestionServer();
  Object.assign(functionsAppDependencies, {
    credential: server.credential,
    sentinelClientOptions: { tlsOptions: { ca: server.ca }, retryOptions: { maxRetries: 0 } },
    now: () => clock.now,
  });
  fns = await loadFunctionsApp(SETTINGS());
}, 120_000);
afterAll(async () => {
  await server?.close();
  await broker?.stop();
  await azurite?.stop();
});

let sequence = 0;
async function send(name: string, hub: string, body: string) {
  const { messages, context } = eventHubBatch(name, hub, '0', [{ body, sequenceNumber: sequence++, enqueuedTime: new Date(clock.now - 1000) }]);
  await fns.get(name)!.handler(messages, context);
}
const timer = (name: string) => fns.get(name)!.handler({ isPastDue: false }, invocationContext(name));
const silentRows = () => server.rows().filter((r) => r.RuleId === 'log-source-silent');

describe('log-source-silent', () => {
  it('one hub stops while the others go on: one alert for it within 4× its usual gap, a recovery note when it returns, none for the hub that is quiet by habit', async () => {
    // Two busy hubs (a body every 2 minutes) and a batch job's hub (a body on the hour: hourly
    // here to keep the simulated time short; a nightly job is the same with a 24-hour gap).
    const STEP = 2 * MINUTE;
    const STOP_AT = start + 5 * 60 * MINUTE;
    const RETURN_AT = STOP_AT + 60 * MINUTE;
    let raisedAt: number | undefined;
    for (clock.now = start; clock.now <= RETURN_AT + 10 * MINUTE; clock.now += STEP) {
      await send('ingest-activity', 'warden-activity', KEY_LISTING);
      if (clock.now < STOP_AT || clock.now >= RETURN_AT) await send('ingest-resource', 'warden-resource', SECRET_SWEEP);
      if ((clock.now - start) % (60 * MINUTE) === 0) await send('ingest-signin', 'warden-signin', KEY_LISTING);
      await timer('silent-sources');
      await timer('deliver');
      if (raisedAt === undefined && silentRows().length) raisedAt = clock.now;
    }

    const rows = silentRows();
    for (const row of rows) AlertSchema.parse(row);
    const silent = rows.filter((r) => r.Severity !== 'Informational');
    // The hub and its one category (AuditEvent) went quiet: one alert each, one per episode.
    expect(silent.map((r) => `${(r.Evidence as { hub: string }).hub}/${(r.Evidence as { category: string }).category}`).sort()).toEqual([
      'warden-resource/*',
      'warden-resource/AuditEvent',
    ]);
    expect(new Set(silent.map((r) => r.AlertId)).size).toBe(2);
    const hubAlert = silent.find((r) => r.Title === 'Log source silent: hub warden-resource');
    expect(hubAlert).toMatchObject({ Severity: 'Medium', Tactics: ['DefenseEvasion'], Evidence: { usualGapMs: STEP, thresholdMs: 4 * STEP } });
    // Its last body came one step before STOP_AT; the usual gap is 2 minutes, so 8 minutes of quiet, seen at the next check.
    const lastArrival = STOP_AT - STEP;
    expect(raisedAt! - lastArrival).toBeGreaterThanOrEqual(4 * STEP);
    expect(raisedAt! - lastArrival).toBeLessThanOrEqual(4 * STEP + STEP);
    // Sending again: a recovery note per source, with how long it was quiet.
    const recovered = rows.filter((r) => r.Severity === 'Informational');
    expect(recovered.map((r) => r.Title).sort()).toEqual([
      'Log source sending again: category AuditEvent on hub warden-resource',
      'Log source sending again: hub warden-resource',
    ]);
    expect(recovered[0].Evidence).toMatchObject({ quietMs: RETURN_AT - lastArrival });
    // The hourly job's hub, quiet 58 minutes of every hour, raised nothing; neither did the busy activity hub.
    expect(rows.filter((r) => (r.Evidence as { hub: string }).hub !== 'warden-resource')).toEqual([]);
  }, 180_000);

  it('learns only from habits: a silence alerted on is not counted as usual, and a source seen too few times never alerts', () => {
    const options = { ...DEFAULT_SILENT_OPTIONS, minGaps: 3, minQuietMs: MINUTE };
    let state = judgeSource(undefined, 0, 0, options);
    for (const at of [MINUTE, 2 * MINUTE]) state = judgeSource(state.habit, at, at, options);
    // Two gaps: not yet known to be busy, so an hour of quiet says nothing.
    expect(judgeSource(state.habit, 2 * MINUTE, 62 * MINUTE, options).verdict).toBeUndefined();
    state = judgeSource(state.habit, 3 * MINUTE, 3 * MINUTE, options);
    const silent = judgeSource(state.habit, 3 * MINUTE, 7 * MINUTE, options);
    expect(silent.verdict).toMatchObject({ kind: 'silent', usualGapMs: MINUTE });
    // Still silent at the next check: no second alert for the same episode.
    expect(judgeSource(silent.habit, 3 * MINUTE, 8 * MINUTE, options).verdict).toBeUndefined();
    const back = judgeSource(silent.habit, 60 * MINUTE, 60 * MINUTE, options);
    expect(back.verdict).toEqual({ kind: 'recovered', quietMs: 57 * MINUTE });
    expect(Math.max(...back.habit.gaps)).toBe(MINUTE);
  });

  it('a bad threshold setting stops the app with one line naming it', () => {
    const base = {
      EventHubConnection: 'Endpoint=sb://127.0.0.1:5672;UseDevelopmentEmulator=true',
      WARDEN_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      SENTINEL_DCR_ENDPOINT: 'https://dcr.example',
      SENTINEL_DCR_IMMUTABLE_ID: 'dcr-0123456789abcdef0123456789abcdef',
    };
    expect(() => loadSettings({ ...base, WARDEN_SILENT_MULTIPLE: '1' })).toThrow(/^WARDEN_SILENT_MULTIPLE: is not a whole number from 2 to 100/);
    expect(() => loadSettings({ ...base, WARDEN_SILENT_MIN_QUIET: 'soon' })).toThrow(/^WARDEN_SILENT_MIN_QUIET: is not a duration/);
    expect(loadSettings(base).silentSources).toEqual(DEFAULT_SILENT_OPTIONS);
    // The catalogue documents the defaults the app uses.
    expect(loadSettings({ ...base, ...LOG_SOURCE_SILENT.settings }).silentSources).toEqual(DEFAULT_SILENT_OPTIONS);
  });
});
