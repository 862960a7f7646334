import { z } from 'zod';
import { parseDuration } from '../engine/duration.js';
import { DEFAULT_ALLOWED_LATENESS_MS } from '../engine/detector.js';
import { tunableOverridesFromEnv, type TunableOverrides } from '../engine/tunables.js';
import { DEFAULT_STREAM_NAME } from '../delivery/sentinel.js';
import type { StorageConnection } from '../state/azure-storage.js';
import { isEventHubsEmulator, isStorageEmulator } from '../common/connection-string.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../common/clock.js';
import { DEFAULT_MAX_EVENT_AGE_MS } from '../ingest/limits.js';

/**
 * A setting that is missing or malformed. The message is one line naming the setting and an
 * example of a good value: the app does not start with it.
 */
export class SettingsError extends Error {
  override name = 'SettingsError';
  constructor(readonly setting: string, problem: string, example: string) {
    super(`${setting}: ${problem}; set it like ${setting}=${example}`);
  }
}

/** How Warden reaches Event Hubs: managed identity in Azure, a connection string only for the local emulator or test broker. */
export type EventHubsConnectionSettings =
  | { fullyQualifiedNamespace: string }
  | { connectionString: string };

export interface WardenSettings {
  eventHubs: EventHubsConnectionSettings;
  /** Raw hubs Azure Monitor streams to, by what they carry. */
  rawHubs: { activity: string; signin: string; resource: string };
  /** The keyed hub of normalized events (partition key = principal). */
  eventsHub: string;
  consumerGroups: { ingest: string; detect: string };
  /** State, watermarks and the alert outbox (Tables), dead letters (Blobs). */
  storage: StorageConnection;
  /** Names of what Warden keeps in the account: tables `<prefix>state`, `<prefix>outbox`, `<prefix>status`, container `<prefix>-deadletters`. */
  storagePrefix: string;
  sentinel: { endpoint: string; ruleId: string; streamName: string };
  allowedLatenessMs: number;
  /** Event times further ahead of their arrival are dead-lettered; the most one event moves a watermark. */
  maxClockSkewMs: number;
  /** Event times further behind their arrival on the raw hubs are dead-lettered. */
  maxEventAgeMs: number;
  tunables?: TunableOverrides;
  /** Path of an inventory file (Azure Resource Graph export) for cross-subscription rules. */
  inventoryFile?: string;
}

/** The connection name the triggers and the keyed-hub publisher share (`EventHubConnection__fullyQualifiedNamespace`). */
export const EVENT_HUB_CONNECTION = 'EventHubConnection';

type Env = Readonly<Record<string, string | undefined>>;

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function matching(env: Env, name: string, example: string, schema: z.ZodType<string>, problem: string, fallback?: string): string {
  const value = read(env, name) ?? fallback;
  if (value === undefined) throw new SettingsError(name, 'is not set', example);
  if (!schema.safeParse(value).success) throw new SettingsError(name, `${problem}, got '${value}'`, example);
  return value;
}

/** Event Hubs names: 1–256 letters, digits, `.`, `-`, `_`, starting and ending with a letter or digit. */
const HUB_NAME = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,254}[A-Za-z0-9])?$/);
const CONSUMER_GROUP = z.string().regex(/^(?:\$Default|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?)$/);
const STORAGE_ACCOUNT = z.string().regex(/^[a-z0-9]{3,24}$/);
const STORAGE_PREFIX = z.string().regex(/^[a-z][a-z0-9]{2,29}$/);
const NAMESPACE = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{4,48}[A-Za-z0-9]\.servicebus\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)$/);
const DCR_ID = z.string().regex(/^dcr-[0-9a-f]{32}$/);
const STREAM = z.string().regex(/^Custom-[A-Za-z0-9_]+$/);
const HTTPS_URL = z.string().refine((v) => {
  try {
    return new URL(v).protocol === 'https:';
  } catch {
    return false;
  }
});

function eventHubsConnection(env: Env): EventHubsConnectionSettings {
  const namespace = `${EVENT_HUB_CONNECTION}__fullyQualifiedNamespace`;
  const connectionString = read(env, EVENT_HUB_CONNECTION);
  if (connectionString && !read(env, namespace)) {
    // Keys do not belong in settings: a connection string is only for the emulator or a test broker.
    if (!isEventHubsEmulator(connectionString)) {
      throw new SettingsError(EVENT_HUB_CONNECTION, 'holds a connection string for a real namespace: use the managed identity instead (unset it and set EventHubConnection__fullyQualifiedNamespace); only UseDevelopmentEmulator=true with an sb:// endpoint on 127.0.0.1 is the emulator', 'Endpoint=sb://127.0.0.1:5672;UseDevelopmentEmulator=true (local emulator only)');
    }
    return { connectionString };
  }
  return { fullyQualifiedNamespace: matching(env, namespace, 'warden-ehns.servicebus.windows.net', NAMESPACE, 'is not an Event Hubs namespace host name') };
}

function storageConnection(env: Env): StorageConnection {
  const connectionString = read(env, 'WARDEN_STORAGE_CONNECTION_STRING');
  if (connectionString && !read(env, 'WARDEN_STORAGE_ACCOUNT')) {
    if (!isStorageEmulator(connectionString)) {
      throw new SettingsError('WARDEN_STORAGE_CONNECTION_STRING', 'is only for Azurite (UseDevelopmentStorage=true alone, or every endpoint on 127.0.0.1): in Azure unset it and set WARDEN_STORAGE_ACCOUNT (the app reaches the account with its managed identity)', 'UseDevelopmentStorage=true');
    }
    return { connectionString };
  }
  return { accountName: matching(env, 'WARDEN_STORAGE_ACCOUNT', 'wardenstate01', STORAGE_ACCOUNT, 'is not a storage account name (3-24 lower-case letters and digits)') };
}

function duration(env: Env, name: string, fallback: number, example: string): number {
  const value = read(env, name);
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) throw new SettingsError(name, `is not a duration (a number and ms, s, m, h or d), got '${value}'`, example);
  return ms;
}

function positiveDuration(env: Env, name: string, fallback: number, example: string): number {
  const ms = duration(env, name, fallback, example);
  if (ms <= 0) throw new SettingsError(name, 'must be longer than 0', example);
  return ms;
}

function tunables(env: Env): TunableOverrides | undefined {
  try {
    return tunableOverridesFromEnv(env);
  } catch (err) {
    // The message starts with the variable it is about (WARDEN_TUNABLES or WARDEN_TUNABLES_FILE).
    const [, setting = 'WARDEN_TUNABLES', problem = (err as Error).message] = /^(WARDEN_TUNABLES(?:_FILE)?)[^:]*:\s*(.*)$/s.exec((err as Error).message) ?? [];
    throw new SettingsError(setting, problem, setting === 'WARDEN_TUNABLES' ? '{"keyvault-mass-secret-read":{"threshold":15}}' : '/home/site/wwwroot/tunables.json');
  }
}

/**
 * Read and check every setting the app needs (Function App settings, `local.settings.json`, or
 * the environment of `warden run`). Throws SettingsError for the first one missing or malformed.
 * Rule ids in WARDEN_TUNABLES are checked against the loaded rules when the detector is built.
 */
export function loadSettings(env: Env = process.env): WardenSettings {
  const hub = (name: string, fallback: string) =>
    matching(env, name, fallback, HUB_NAME, 'is not an Event Hub name', fallback);
  const group = (name: string, fallback: string) =>
    matching(env, name, fallback, CONSUMER_GROUP, 'is not a consumer group name', fallback);
  const settings: WardenSettings = {
    eventHubs: eventHubsConnection(env),
    rawHubs: {
      activity: hub('WARDEN_HUB_ACTIVITY', 'warden-activity'),
      signin: hub('WARDEN_HUB_SIGNIN', 'warden-signin'),
      resource: hub('WARDEN_HUB_RESOURCE', 'warden-resource'),
    },
    eventsHub: hub('WARDEN_HUB_EVENTS', 'warden-events'),
    consumerGroups: {
      ingest: group('WARDEN_CONSUMER_GROUP_INGEST', 'warden-ingest'),
      detect: group('WARDEN_CONSUMER_GROUP_DETECT', 'warden-detect'),
    },
    storage: storageConnection(env),
    storagePrefix: matching(env, 'WARDEN_STORAGE_PREFIX', 'warden', STORAGE_PREFIX, 'is not a table name prefix (3-30 lower-case letters and digits, starting with a letter)', 'warden'),
    sentinel: {
      endpoint: matching(env, 'SENTINEL_DCR_ENDPOINT', 'https://warden-dcr-abcd.westeurope-1.ingest.monitor.azure.com', HTTPS_URL, 'is not an https URL'),
      ruleId: matching(env, 'SENTINEL_DCR_IMMUTABLE_ID', 'dcr-0123456789abcdef0123456789abcdef', DCR_ID, "is not a DCR immutable id ('dcr-' and 32 hex digits)"),
      streamName: matching(env, 'SENTINEL_STREAM_NAME', DEFAULT_STREAM_NAME, STREAM, "is not a custom stream name ('Custom-' and letters, digits, _)", DEFAULT_STREAM_NAME),
    },
    allowedLatenessMs: duration(env, 'WARDEN_ALLOWED_LATENESS', DEFAULT_ALLOWED_LATENESS_MS, '5m'),
    maxClockSkewMs: positiveDuration(env, 'WARDEN_MAX_CLOCK_SKEW', DEFAULT_MAX_CLOCK_SKEW_MS, '5m'),
    maxEventAgeMs: positiveDuration(env, 'WARDEN_MAX_EVENT_AGE', DEFAULT_MAX_EVENT_AGE_MS, '7d'),
    tunables: tunables(env),
    inventoryFile: read(env, 'WARDEN_INVENTORY'),
  };
  const names = [settings.rawHubs.activity, settings.rawHubs.signin, settings.rawHubs.resource, settings.eventsHub];
  if (new Set(names).size !== names.length) {
    throw new SettingsError('WARDEN_HUB_EVENTS', `the keyed hub and the three raw hubs must be four different hubs, got ${names.join(', ')}`, 'warden-events');
  }
  return settings;
}

/** What the health endpoint shows of the settings: names and hosts, never a connection string. */
export function describeSettings(settings: WardenSettings): Record<string, unknown> {
  return {
    eventHubs: 'fullyQualifiedNamespace' in settings.eventHubs
      ? { namespace: settings.eventHubs.fullyQualifiedNamespace, auth: 'managedIdentity' }
      : { auth: 'developmentEmulator' },
    rawHubs: settings.rawHubs,
    eventsHub: settings.eventsHub,
    consumerGroups: settings.consumerGroups,
    storage: {
      ...('accountName' in settings.storage ? { account: settings.storage.accountName, auth: 'managedIdentity' } : { auth: 'azurite' }),
      prefix: settings.storagePrefix,
    },
    sentinel: { endpointHost: new URL(settings.sentinel.endpoint).host, ruleId: settings.sentinel.ruleId, streamName: settings.sentinel.streamName },
    allowedLatenessMs: settings.allowedLatenessMs,
    maxClockSkewMs: settings.maxClockSkewMs,
    maxEventAgeMs: settings.maxEventAgeMs,
    tunedRules: Object.keys(settings.tunables ?? {}),
    inventoryFile: settings.inventoryFile !== undefined,
  };
}
