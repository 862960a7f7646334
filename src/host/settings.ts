import { z } from 'zod';
import { formatDuration, parseDuration } from '../engine/duration.js';
import { DEFAULT_ALLOWED_LATENESS_MS } from '../engine/detector.js';
import { tunableOverridesFromEnv, type TunableOverrides } from '../engine/tunables.js';
import { DEFAULT_STREAM_NAME, DEFAULT_UPLOAD_TIMEOUT_MS } from '../delivery/sentinel.js';
import { DEFAULT_ROWS_PER_RUN, DEFAULT_RUN_EVERY_MS } from '../delivery/pacing.js';
import { DEFAULT_AUDIT_GRACE_MS, DEFAULT_AUDIT_RESENDS } from '../delivery/audit.js';
import { DEFAULT_SILENT_OPTIONS, type SilentSourceOptions } from '../delivery/silent-sources.js';
import type { StorageConnection } from '../state/azure-storage.js';
import { WardenError } from '../common/errors.js';
import { isEventHubsEmulator, isStorageEmulator } from '../common/connection-string.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../common/clock.js';
import { DEFAULT_MAX_EVENT_AGE_MS } from '../ingest/limits.js';

/**
 * A setting that is missing or malformed. The message is one line naming the setting and an
 * example of a good value: the app does not start with it.
 */
export class SettingsError extends WardenError {
  override name = 'SettingsError';
  readonly userFixable = true;
  constructor(
    readonly setting: string,
    problem: string,
    example: string,
  ) {
    super(`${setting}: ${problem}; set it like ${setting}=${example}`);
  }
}

/** How Warden reaches Event Hubs: managed identity in Azure, a connection string only for the local emulator or test broker. */
export type EventHubsConnectionSettings = { fullyQualifiedNamespace: string } | { connectionString: string };

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
  /** The Azure cloud Warden runs in, known from the Event Hubs namespace's host name. */
  cloud: AzureCloud;
  sentinel: {
    endpoint: string;
    ruleId: string;
    streamName: string;
    /** Rows every instance together sends per rule run (the NRT rule raises at most 30 alerts a run). */
    rowsPerRun: number;
    /** How often the rule runs: the pacing window. */
    runEveryMs: number;
    /** The longest one send to the Logs Ingestion API may take, retries included. */
    uploadTimeoutMs: number;
  };
  /** The delivery audit: unset when WARDEN_AUDIT_WORKSPACE_ID is (the audit function then only says so). */
  audit?: { workspaceId: string; graceMs: number; maxResends: number; endpoint: string };
  allowedLatenessMs: number;
  /** Event times further ahead of their arrival are dead-lettered; the most one event moves a watermark. */
  maxClockSkewMs: number;
  /** Event times further behind their arrival on the raw hubs are dead-lettered. */
  maxEventAgeMs: number;
  /** When a quiet log source raises `log-source-silent` (docs/deploy.md, "Silent sources"). */
  silentSources: SilentSourceOptions;
  tunables?: TunableOverrides;
  /** Path of an inventory file (Azure Resource Graph export) for cross-subscription rules. */
  inventoryFile?: string;
  /**
   * `warden run` only: detect writes a keyed partition's state and checkpoints it every this many
   * batches or this often, whichever comes first, and when it stops (docs/delivery.md). The
   * Function App writes at every batch: its trigger checkpoints without calling detect.
   */
  checkpoint: { batches: number; everyMs: number };
}

/** `warden run`'s defaults: a crash replays at most this much of the keyed hub (docs/delivery.md). */
export const DEFAULT_CHECKPOINT_BATCHES = 10;
export const DEFAULT_CHECKPOINT_EVERY_MS = 30_000;
/** A checkpoint further apart than this would leave a crash a long replay (and state unwritten for as long). */
const MAX_CHECKPOINT_EVERY_MS = 3_600_000;

/** The longest SENTINEL_UPLOAD_TIMEOUT: detect sends within its batch, and a function run ends after 10 minutes (host.json). */
const MAX_UPLOAD_TIMEOUT_MS = 5 * 60_000;

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
/** Where a cloud's services are, for the clients Warden makes there. */
export interface AzureCloud {
  /** Storage endpoint suffix: `<account>.table.<suffix>`. */
  storageSuffix: string;
  /** What the Logs Ingestion API's tokens are for (the client asks for `<audience>/.default`). */
  monitorAudience: string;
  /** The Log Analytics query API; its tokens are for the endpoint's origin. */
  logAnalyticsEndpoint: string;
}

/**
 * The clouds by their Event Hubs host suffix (learn.microsoft.com/azure/china/resources-developer-guide,
 * learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure).
 */
const CLOUDS: Readonly<Record<string, AzureCloud>> = {
  'servicebus.windows.net': {
    storageSuffix: 'core.windows.net',
    monitorAudience: 'https://monitor.azure.com',
    logAnalyticsEndpoint: 'https://api.loganalytics.io/v1',
  },
  'servicebus.chinacloudapi.cn': {
    storageSuffix: 'core.chinacloudapi.cn',
    monitorAudience: 'https://monitor.azure.cn',
    logAnalyticsEndpoint: 'https://api.loganalytics.azure.cn/v1',
  },
  'servicebus.usgovcloudapi.net': {
    storageSuffix: 'core.usgovcloudapi.net',
    monitorAudience: 'https://monitor.azure.us',
    logAnalyticsEndpoint: 'https://api.loganalytics.us/v1',
  },
};

/** The cloud of the namespace (the public cloud for the local emulator). */
function cloudOf(eventHubs: EventHubsConnectionSettings): AzureCloud {
  const suffix = 'fullyQualifiedNamespace' in eventHubs ? eventHubs.fullyQualifiedNamespace.split('.').slice(1).join('.') : '';
  return CLOUDS[suffix] ?? CLOUDS['servicebus.windows.net'];
}
const NAMESPACE = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{4,48}[A-Za-z0-9]\.servicebus\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)$/);
const GUID = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
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
      throw new SettingsError(
        EVENT_HUB_CONNECTION,
        'holds a connection string for a real namespace: use the managed identity instead (unset it and set EventHubConnection__fullyQualifiedNamespace); only UseDevelopmentEmulator=true with an sb:// endpoint on 127.0.0.1 is the emulator',
        'Endpoint=sb://127.0.0.1:5672;UseDevelopmentEmulator=true (local emulator only)',
      );
    }
    return { connectionString };
  }
  return { fullyQualifiedNamespace: matching(env, namespace, 'warden-ehns.servicebus.windows.net', NAMESPACE, 'is not an Event Hubs namespace host name') };
}

/**
 * The storage account, reached in the cloud of the Event Hubs namespace: a namespace in
 * servicebus.chinacloudapi.cn means an account in core.chinacloudapi.cn, and so on.
 */
function storageConnection(env: Env, cloud: AzureCloud): StorageConnection {
  const connectionString = read(env, 'WARDEN_STORAGE_CONNECTION_STRING');
  if (connectionString && !read(env, 'WARDEN_STORAGE_ACCOUNT')) {
    if (!isStorageEmulator(connectionString)) {
      throw new SettingsError(
        'WARDEN_STORAGE_CONNECTION_STRING',
        'is only for Azurite (UseDevelopmentStorage=true alone, or every endpoint on 127.0.0.1): in Azure unset it and set WARDEN_STORAGE_ACCOUNT (the app reaches the account with its managed identity)',
        'UseDevelopmentStorage=true',
      );
    }
    return { connectionString };
  }
  const accountName = matching(
    env,
    'WARDEN_STORAGE_ACCOUNT',
    'wardenstate01',
    STORAGE_ACCOUNT,
    'is not a storage account name (3-24 lower-case letters and digits)',
  );
  return { accountName, endpointSuffix: cloud.storageSuffix };
}

function whole(env: Env, name: string, fallback: number, min: number, max: number, why: string): number {
  const value = read(env, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new SettingsError(name, `is not a whole number from ${min} to ${max} (${why}), got '${value}'`, String(fallback));
  return n;
}

function duration(env: Env, name: string, fallbackMs: number, example: string, minMs = 1, range?: { maxMs: number; why: string }): number {
  const value = read(env, name);
  if (value === undefined) return fallbackMs;
  const ms = parseDuration(value);
  if (ms === undefined || ms < minMs) {
    const problem = ms === undefined ? 'is not a duration (a number and ms, s, m, h or d)' : `is shorter than ${formatDuration(minMs)}`;
    throw new SettingsError(name, `${problem}, got '${value}'`, example);
  }
  if (range && ms > range.maxMs) throw new SettingsError(name, `is longer than ${formatDuration(range.maxMs)} (${range.why}), got '${value}'`, example);
  return ms;
}

function audit(env: Env, cloud: AzureCloud): WardenSettings['audit'] {
  const workspaceId = read(env, 'WARDEN_AUDIT_WORKSPACE_ID');
  if (workspaceId === undefined) return undefined;
  if (!GUID.safeParse(workspaceId).success) {
    throw new SettingsError(
      'WARDEN_AUDIT_WORKSPACE_ID',
      `is not a Log Analytics workspace id (the workspace's GUID, its customerId), got '${workspaceId}'`,
      '0f0f0f0f-1111-4222-8333-444444444444',
    );
  }
  const endpoint = read(env, 'WARDEN_AUDIT_ENDPOINT');
  if (endpoint !== undefined && !HTTPS_URL.safeParse(endpoint).success) {
    throw new SettingsError('WARDEN_AUDIT_ENDPOINT', `is not an https URL, got '${endpoint}'`, 'https://api.loganalytics.azure.cn/v1');
  }
  return {
    workspaceId,
    graceMs: duration(env, 'WARDEN_AUDIT_GRACE', DEFAULT_AUDIT_GRACE_MS, '10m'),
    maxResends: whole(env, 'WARDEN_AUDIT_RESENDS', DEFAULT_AUDIT_RESENDS, 0, 10, 'times a row missing from the workspace is sent again'),
    endpoint: endpoint ?? cloud.logAnalyticsEndpoint,
  };
}

function tunables(env: Env): TunableOverrides | undefined {
  try {
    return tunableOverridesFromEnv(env);
  } catch (err) {
    // The message starts with the variable it is about (WARDEN_TUNABLES or WARDEN_TUNABLES_FILE).
    const [, setting = 'WARDEN_TUNABLES', problem = (err as Error).message] = /^(WARDEN_TUNABLES(?:_FILE)?)[^:]*:\s*(.*)$/s.exec((err as Error).message) ?? [];
    throw new SettingsError(
      setting,
      problem,
      setting === 'WARDEN_TUNABLES' ? '{"keyvault-mass-secret-read":{"threshold":15}}' : '/home/site/wwwroot/tunables.json',
    );
  }
}

/**
 * Read and check every setting the app needs (Function App settings, `local.settings.json`, or
 * the environment of `warden run`). Throws SettingsError for the first one missing or malformed.
 * Rule ids in WARDEN_TUNABLES are checked against the loaded rules when the detector is built.
 */
export function loadSettings(env: Env = process.env): WardenSettings {
  const hub = (name: string, fallback: string) => matching(env, name, fallback, HUB_NAME, 'is not an Event Hub name', fallback);
  const group = (name: string, fallback: string) => matching(env, name, fallback, CONSUMER_GROUP, 'is not a consumer group name', fallback);
  const eventHubs = eventHubsConnection(env);
  const cloud = cloudOf(eventHubs);
  const settings: WardenSettings = {
    eventHubs,
    cloud,
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
    storage: storageConnection(env, cloud),
    storagePrefix: matching(
      env,
      'WARDEN_STORAGE_PREFIX',
      'warden',
      STORAGE_PREFIX,
      'is not a table name prefix (3-30 lower-case letters and digits, starting with a letter)',
      'warden',
    ),
    sentinel: {
      endpoint: matching(env, 'SENTINEL_DCR_ENDPOINT', 'https://warden-dcr-abcd.westeurope-1.ingest.monitor.azure.com', HTTPS_URL, 'is not an https URL'),
      ruleId: matching(
        env,
        'SENTINEL_DCR_IMMUTABLE_ID',
        'dcr-0123456789abcdef0123456789abcdef',
        DCR_ID,
        "is not a DCR immutable id ('dcr-' and 32 hex digits)",
      ),
      streamName: matching(
        env,
        'SENTINEL_STREAM_NAME',
        DEFAULT_STREAM_NAME,
        STREAM,
        "is not a custom stream name ('Custom-' and letters, digits, _)",
        DEFAULT_STREAM_NAME,
      ),
      // An NRT run raises 30 alerts at most, a scheduled run 150: more rows than that lose their own incident.
      rowsPerRun: whole(env, 'SENTINEL_ROWS_PER_RUN', DEFAULT_ROWS_PER_RUN, 1, 150, 'rows per run of the Sentinel rule'),
      runEveryMs: duration(env, 'SENTINEL_RUN_EVERY', DEFAULT_RUN_EVERY_MS, '1m'),
      uploadTimeoutMs: duration(env, 'SENTINEL_UPLOAD_TIMEOUT', DEFAULT_UPLOAD_TIMEOUT_MS, '60s', 1000, {
        maxMs: MAX_UPLOAD_TIMEOUT_MS,
        why: 'detect waits for the send within the 10-minute function timeout',
      }),
    },
    audit: audit(env, cloud),
    allowedLatenessMs: duration(env, 'WARDEN_ALLOWED_LATENESS', DEFAULT_ALLOWED_LATENESS_MS, '5m', 0),
    maxClockSkewMs: duration(env, 'WARDEN_MAX_CLOCK_SKEW', DEFAULT_MAX_CLOCK_SKEW_MS, '5m'),
    maxEventAgeMs: duration(env, 'WARDEN_MAX_EVENT_AGE', DEFAULT_MAX_EVENT_AGE_MS, '7d'),
    silentSources: {
      multiple: whole(env, 'WARDEN_SILENT_MULTIPLE', DEFAULT_SILENT_OPTIONS.multiple, 2, 100, "times a source's usual gap it may stay quiet"),
      minGaps: whole(env, 'WARDEN_SILENT_MIN_GAPS', DEFAULT_SILENT_OPTIONS.minGaps, 2, 1000, 'gaps seen before a source counts as regularly busy'),
      minQuietMs: duration(env, 'WARDEN_SILENT_MIN_QUIET', DEFAULT_SILENT_OPTIONS.minQuietMs, '15m', 60_000),
    },
    tunables: tunables(env),
    inventoryFile: read(env, 'WARDEN_INVENTORY'),
    checkpoint: {
      batches: whole(env, 'WARDEN_CHECKPOINT_BATCHES', DEFAULT_CHECKPOINT_BATCHES, 1, 100_000, "keyed-hub batches between detect's state writes"),
      everyMs: duration(env, 'WARDEN_CHECKPOINT_EVERY', DEFAULT_CHECKPOINT_EVERY_MS, '30s', 1000, {
        maxMs: MAX_CHECKPOINT_EVERY_MS,
        why: 'a crash replays the keyed hub since the last write',
      }),
    },
  };
  const names = [settings.rawHubs.activity, settings.rawHubs.signin, settings.rawHubs.resource, settings.eventsHub];
  if (new Set(names).size !== names.length) {
    throw new SettingsError('WARDEN_HUB_EVENTS', `the keyed hub and the three raw hubs must be four different hubs, got ${names.join(', ')}`, 'warden-events');
  }
  return settings;
}

/** Where the functions bind (hubs and consumer groups), read without checks, for registering them when the settings are broken. */
export function bindingNames(env: Env = process.env): Pick<WardenSettings, 'rawHubs' | 'eventsHub' | 'consumerGroups'> {
  const or = (name: string, fallback: string) => read(env, name) ?? fallback;
  return {
    rawHubs: {
      activity: or('WARDEN_HUB_ACTIVITY', 'warden-activity'),
      signin: or('WARDEN_HUB_SIGNIN', 'warden-signin'),
      resource: or('WARDEN_HUB_RESOURCE', 'warden-resource'),
    },
    eventsHub: or('WARDEN_HUB_EVENTS', 'warden-events'),
    consumerGroups: { ingest: or('WARDEN_CONSUMER_GROUP_INGEST', 'warden-ingest'), detect: or('WARDEN_CONSUMER_GROUP_DETECT', 'warden-detect') },
  };
}

/** What the health endpoint shows of the settings: names and hosts, never a connection string. */
export function describeSettings(settings: WardenSettings): Record<string, unknown> {
  return {
    eventHubs:
      'fullyQualifiedNamespace' in settings.eventHubs
        ? { namespace: settings.eventHubs.fullyQualifiedNamespace, auth: 'managedIdentity' }
        : { auth: 'developmentEmulator' },
    rawHubs: settings.rawHubs,
    eventsHub: settings.eventsHub,
    consumerGroups: settings.consumerGroups,
    storage: {
      ...('accountName' in settings.storage ? { account: settings.storage.accountName, auth: 'managedIdentity' } : { auth: 'azurite' }),
      prefix: settings.storagePrefix,
    },
    sentinel: {
      endpointHost: new URL(settings.sentinel.endpoint).host,
      ruleId: settings.sentinel.ruleId,
      streamName: settings.sentinel.streamName,
      rowsPerRun: settings.sentinel.rowsPerRun,
      runEveryMs: settings.sentinel.runEveryMs,
      uploadTimeoutMs: settings.sentinel.uploadTimeoutMs,
    },
    audit: settings.audit ? { workspaceId: settings.audit.workspaceId, graceMs: settings.audit.graceMs, maxResends: settings.audit.maxResends } : 'off',
    allowedLatenessMs: settings.allowedLatenessMs,
    maxClockSkewMs: settings.maxClockSkewMs,
    maxEventAgeMs: settings.maxEventAgeMs,
    silentSources: settings.silentSources,
    tunedRules: Object.keys(settings.tunables ?? {}),
    inventoryFile: settings.inventoryFile !== undefined,
    checkpoint: settings.checkpoint,
  };
}
