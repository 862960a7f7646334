import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SettingsError, describeSettings, loadSettings } from '../../src/host/settings.js';

const repo = (path: string) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

/** The settings the deployment template gives the Function App, with real-looking values. */
const AZURE: Record<string, string> = {
  AzureWebJobsStorage__accountName: 'wardenst01',
  EventHubConnection__fullyQualifiedNamespace: 'warden-ehns-01.servicebus.windows.net',
  WARDEN_STORAGE_ACCOUNT: 'wardenst01',
  WARDEN_HUB_ACTIVITY: 'warden-activity',
  WARDEN_HUB_SIGNIN: 'warden-signin',
  WARDEN_HUB_RESOURCE: 'warden-resource',
  WARDEN_HUB_EVENTS: 'warden-events',
  WARDEN_CONSUMER_GROUP_INGEST: 'warden-ingest',
  WARDEN_CONSUMER_GROUP_DETECT: 'warden-detect',
  SENTINEL_DCR_ENDPOINT: 'https://warden-dcr-x1y2.westeurope-1.ingest.monitor.azure.com',
  SENTINEL_DCR_IMMUTABLE_ID: 'dcr-0123456789abcdef0123456789abcdef',
  SENTINEL_STREAM_NAME: 'Custom-WardenAlerts',
  WARDEN_AUDIT_WORKSPACE_ID: '0f0f0f0f-1111-4222-8333-444444444444',
  WARDEN_ALLOWED_LATENESS: '5m',
  WARDEN_TUNABLES: '{}',
};

function errorOf(env: Record<string, string | undefined>): SettingsError {
  try {
    loadSettings(env);
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return err as SettingsError;
  }
  throw new Error('expected a SettingsError');
}

describe('loadSettings', () => {
  it('reads the identity-based settings of a deployment', () => {
    const s = loadSettings(AZURE);
    expect(s).toMatchObject({
      eventHubs: { fullyQualifiedNamespace: 'warden-ehns-01.servicebus.windows.net' },
      storage: { accountName: 'wardenst01' },
      storagePrefix: 'warden',
      rawHubs: { activity: 'warden-activity', signin: 'warden-signin', resource: 'warden-resource' },
      eventsHub: 'warden-events',
      consumerGroups: { ingest: 'warden-ingest', detect: 'warden-detect' },
      sentinel: { endpoint: AZURE.SENTINEL_DCR_ENDPOINT, ruleId: AZURE.SENTINEL_DCR_IMMUTABLE_ID, streamName: 'Custom-WardenAlerts' },
      allowedLatenessMs: 300_000,
    });
    expect(loadSettings({ ...AZURE, WARDEN_ALLOWED_LATENESS: '90s' }).allowedLatenessMs).toBe(90_000);
  });

  it('defaults what has a sensible default: hub and group names, lateness, stream, no tunables', () => {
    const {
      WARDEN_HUB_ACTIVITY: _a,
      WARDEN_HUB_EVENTS: _e,
      WARDEN_CONSUMER_GROUP_DETECT: _g,
      WARDEN_ALLOWED_LATENESS: _l,
      SENTINEL_STREAM_NAME: _s,
      WARDEN_TUNABLES: _t,
      ...minimal
    } = AZURE;
    const s = loadSettings(minimal);
    expect(s).toMatchObject({
      rawHubs: { activity: 'warden-activity' },
      eventsHub: 'warden-events',
      consumerGroups: { detect: 'warden-detect' },
      allowedLatenessMs: 300_000,
      sentinel: { streamName: 'Custom-WardenAlerts' },
    });
    expect(s.tunables).toBeUndefined();
  });

  it('stops at a missing required setting with one line naming it and an example that works', () => {
    for (const name of ['EventHubConnection__fullyQualifiedNamespace', 'WARDEN_STORAGE_ACCOUNT', 'SENTINEL_DCR_ENDPOINT', 'SENTINEL_DCR_IMMUTABLE_ID']) {
      const error = errorOf({ ...AZURE, [name]: undefined });
      expect(error.setting).toBe(name);
      expect(error.message).toMatch(new RegExp(`^${name}: is not set; set it like ${name}=\\S+$`));
      const example = error.message.slice(error.message.indexOf(`${name}=`) + name.length + 1);
      expect(() => loadSettings({ ...AZURE, [name]: example }), `${name}=${example}`).not.toThrow();
    }
  });

  it('names the setting and shows a good value for each malformed one', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['EventHubConnection__fullyQualifiedNamespace', 'https://warden.servicebus.windows.net/', /not an Event Hubs namespace host name/],
      ['WARDEN_STORAGE_ACCOUNT', 'Warden_State', /not a storage account name/],
      ['SENTINEL_DCR_ENDPOINT', 'http://warden-dcr.westeurope-1.ingest.monitor.azure.com', /not an https URL/],
      ['SENTINEL_DCR_IMMUTABLE_ID', 'dcr-xyz', /not a DCR immutable id/],
      ['SENTINEL_STREAM_NAME', 'WardenAlerts', /not a custom stream name/],
      ['WARDEN_HUB_SIGNIN', 'sign in logs', /not an Event Hub name/],
      ['WARDEN_CONSUMER_GROUP_INGEST', '-ingest', /not a consumer group name/],
      ['WARDEN_ALLOWED_LATENESS', '5 minutes', /not a duration/],
      ['WARDEN_TUNABLES', '{"rule": 3', /not JSON/],
      ['WARDEN_TUNABLES_FILE', '/nonexistent/tunables.json', /cannot read/],
      ['WARDEN_STORAGE_PREFIX', 'Warden-Test', /not a table name prefix/],
      ['SENTINEL_ROWS_PER_RUN', '200', /not a whole number from 1 to 150/],
      ['SENTINEL_RUN_EVERY', 'hourly', /not a duration/],
      ['WARDEN_AUDIT_WORKSPACE_ID', 'sentinel-ws', /not a Log Analytics workspace id/],
      ['WARDEN_AUDIT_GRACE', '0s', /not a duration/],
      ['WARDEN_AUDIT_RESENDS', '-1', /not a whole number from 0 to 10/],
      ['WARDEN_AUDIT_ENDPOINT', 'api.loganalytics.io', /not an https URL/],
    ];
    for (const [name, value, problem] of cases) {
      const error = errorOf({ ...AZURE, [name]: value });
      expect(error.setting, name).toBe(name);
      expect(error.message.split('\n'), name).toHaveLength(1);
      expect(error.message, name).toMatch(problem);
      expect(error.message, name).toMatch(new RegExp(`; set it like ${name}=\\S`));
    }
  });

  it('refuses keys: a connection string only for the Event Hubs emulator and Azurite', () => {
    const { EventHubConnection__fullyQualifiedNamespace: _ns, WARDEN_STORAGE_ACCOUNT: _acct, ...rest } = AZURE;
    const emulators = {
      ...rest,
      EventHubConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true',
      WARDEN_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
    };
    expect(loadSettings(emulators)).toMatchObject({
      eventHubs: { connectionString: emulators.EventHubConnection },
      storage: { connectionString: 'UseDevelopmentStorage=true' },
    });
    expect(
      errorOf({
        ...emulators,
        EventHubConnection: 'Endpoint=sb://prod.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc=',
      }).message,
    ).toMatch(/^EventHubConnection: holds a connection string for a real namespace: use the managed identity/);
    expect(errorOf({ ...emulators, WARDEN_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=abc==' }).message).toMatch(
      /^WARDEN_STORAGE_CONNECTION_STRING: is only for Azurite/,
    );
  });

  it('paces rows to the NRT rule and audits delivery by default; the audit is off without a workspace', () => {
    expect(loadSettings(AZURE)).toMatchObject({
      sentinel: { rowsPerRun: 15, runEveryMs: 60_000 },
      audit: { workspaceId: AZURE.WARDEN_AUDIT_WORKSPACE_ID, graceMs: 600_000, maxResends: 2 },
    });
    expect(
      loadSettings({ ...AZURE, SENTINEL_ROWS_PER_RUN: '75', SENTINEL_RUN_EVERY: '5m', WARDEN_AUDIT_GRACE: '15m', WARDEN_AUDIT_RESENDS: '0' }),
    ).toMatchObject({
      sentinel: { rowsPerRun: 75, runEveryMs: 300_000 },
      audit: { graceMs: 900_000, maxResends: 0 },
    });
    expect(loadSettings({ ...AZURE, WARDEN_AUDIT_WORKSPACE_ID: '' }).audit).toBeUndefined();
  });

  it('reaches storage, the Logs Ingestion API and the query API in the cloud of the Event Hubs namespace', () => {
    const public_ = loadSettings(AZURE);
    expect(public_.storage).toEqual({ accountName: 'wardenst01', endpointSuffix: 'core.windows.net' });
    expect(public_.cloud.monitorAudience).toBe('https://monitor.azure.com');
    expect(public_.audit?.endpoint).toBe('https://api.loganalytics.io/v1');
    const clouds: Array<[string, string, string, string]> = [
      ['warden-ehns-01.servicebus.chinacloudapi.cn', 'core.chinacloudapi.cn', 'https://monitor.azure.cn', 'https://api.loganalytics.azure.cn/v1'],
      ['warden-ehns-01.servicebus.usgovcloudapi.net', 'core.usgovcloudapi.net', 'https://monitor.azure.us', 'https://api.loganalytics.us/v1'],
    ];
    for (const [namespace, storage, audience, query] of clouds) {
      const s = loadSettings({ ...AZURE, EventHubConnection__fullyQualifiedNamespace: namespace });
      expect(s.storage).toEqual({ accountName: 'wardenst01', endpointSuffix: storage });
      expect(s.cloud.monitorAudience).toBe(audience);
      expect(s.audit?.endpoint).toBe(query);
    }
    expect(loadSettings({ ...AZURE, WARDEN_AUDIT_ENDPOINT: 'https://la.example.test/v1' }).audit?.endpoint).toBe('https://la.example.test/v1');
  });

  it("writes warden run's detect state every 10 batches or 30 s by default, as set, and stops at a bad value naming the setting", () => {
    expect(loadSettings(AZURE).checkpoint).toEqual({ batches: 10, everyMs: 30_000 });
    expect(loadSettings({ ...AZURE, WARDEN_CHECKPOINT_BATCHES: '1', WARDEN_CHECKPOINT_EVERY: '2m' }).checkpoint).toEqual({ batches: 1, everyMs: 120_000 });
    const cases: Array<[string, string, RegExp]> = [
      [
        'WARDEN_CHECKPOINT_BATCHES',
        '0',
        /^WARDEN_CHECKPOINT_BATCHES: is not a whole number from 1 to 100000 .*, got '0'; set it like WARDEN_CHECKPOINT_BATCHES=10$/,
      ],
      ['WARDEN_CHECKPOINT_BATCHES', 'ten', /^WARDEN_CHECKPOINT_BATCHES: is not a whole number/],
      ['WARDEN_CHECKPOINT_BATCHES', '2.5', /^WARDEN_CHECKPOINT_BATCHES: is not a whole number/],
      ['WARDEN_CHECKPOINT_EVERY', 'often', /^WARDEN_CHECKPOINT_EVERY: is not a duration .*, got 'often'; set it like WARDEN_CHECKPOINT_EVERY=30s$/],
      ['WARDEN_CHECKPOINT_EVERY', '500ms', /^WARDEN_CHECKPOINT_EVERY: is shorter than 1s/],
      ['WARDEN_CHECKPOINT_EVERY', '2h', /^WARDEN_CHECKPOINT_EVERY: is longer than 1h \(a crash replays the keyed hub since the last write\)/],
    ];
    for (const [name, value, problem] of cases) {
      const error = errorOf({ ...AZURE, [name]: value });
      expect(error.setting, `${name}=${value}`).toBe(name);
      expect(error.message, `${name}=${value}`).toMatch(problem);
    }
    expect(describeSettings(loadSettings(AZURE))).toMatchObject({ checkpoint: { batches: 10, everyMs: 30_000 } });
  });

  it('needs four different hubs: a raw hub that is also the keyed hub would loop', () => {
    expect(errorOf({ ...AZURE, WARDEN_HUB_EVENTS: 'warden-resource' }).message).toMatch(
      /^WARDEN_HUB_EVENTS: the keyed hub and the three raw hubs must be four different hubs/,
    );
  });

  it('describes itself for the health endpoint without a connection string', () => {
    const emulator = loadSettings({
      ...AZURE,
      EventHubConnection__fullyQualifiedNamespace: '',
      EventHubConnection: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=dev;SharedAccessKey=secretvalue;UseDevelopmentEmulator=true',
    });
    const text = JSON.stringify(describeSettings(emulator));
    expect(text).not.toContain('secretvalue');
    expect(describeSettings(loadSettings(AZURE))).toMatchObject({
      eventHubs: { namespace: 'warden-ehns-01.servicebus.windows.net', auth: 'managedIdentity' },
      storage: { account: 'wardenst01', auth: 'managedIdentity' },
    });
  });

  it('reads only settings that local.settings.sample.json lists or the deployment guide documents as optional', () => {
    const read = new Set<string>();
    const env = new Proxy(AZURE, {
      get: (target, name: string) => {
        read.add(name);
        return target[name];
      },
    });
    loadSettings(env);
    const sample = Object.keys((JSON.parse(repo('local.settings.sample.json')) as { Values: Record<string, string> }).Values);
    const guide = repo('docs/deploy.md');
    for (const name of read) {
      expect(sample.includes(name) || guide.includes(`\`${name}\``), `${name} is read but neither in local.settings.sample.json nor in docs/deploy.md`).toBe(
        true,
      );
    }
    for (const name of sample.filter((n) => n.startsWith('WARDEN_') || n.startsWith('SENTINEL_'))) expect(read, name).toContain(name);
  });
});
