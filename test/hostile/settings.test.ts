import { describe, expect, it } from 'vitest';
import { SettingsError, loadSettings } from '../../src/host/settings.js';
import { CaptureSendConfigError, sendCaptures } from '../../src/eventhubs/capture-sender.js';
import { tableClientFor } from '../../src/state/azure-storage.js';

/** Settings of a local run: the Event Hubs emulator and Azurite. */
const LOCAL: Record<string, string> = {
  EventHubConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=dev;SharedAccessKey=dev;UseDevelopmentEmulator=true',
  WARDEN_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  SENTINEL_DCR_ENDPOINT: 'https://warden-dcr-x1y2.westeurope-1.ingest.monitor.azure.com',
  SENTINEL_DCR_IMMUTABLE_ID: 'dcr-0123456789abcdef0123456789abcdef',
};

const AZURITE =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;';

function refused(env: Record<string, string>): SettingsError {
  try {
    loadSettings(env);
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return err as SettingsError;
  }
  throw new Error('the settings were accepted');
}

describe("a connection string is an emulator's only when its parsed pairs say so", () => {
  it('takes the emulators as they are written', () => {
    expect(loadSettings(LOCAL).storage).toEqual({ connectionString: 'UseDevelopmentStorage=true' });
    expect(loadSettings({ ...LOCAL, WARDEN_STORAGE_CONNECTION_STRING: AZURITE }).storage).toEqual({ connectionString: AZURITE });
    expect(
      loadSettings({ ...LOCAL, EventHubConnection: 'Endpoint=sb://localhost;SharedAccessKeyName=a;SharedAccessKey=b;usedevelopmentemulator=TRUE' }).eventHubs,
    ).toHaveProperty('connectionString');
  });

  it('refuses a real Event Hubs key that merely ends in UseDevelopmentEmulator=true', () => {
    for (const cs of [
      'Endpoint=sb://prod.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k3yUseDevelopmentEmulator=true',
      'Endpoint=sb://prod.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k3y=;UseDevelopmentEmulator=true',
      'Endpoint=sb://127.0.0.1.prod.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k3y=;UseDevelopmentEmulator=true',
      'Endpoint=sb://127.0.0.1;SharedAccessKeyName=Root;SharedAccessKey=k3y=;UseDevelopmentEmulator=true;Endpoint=sb://prod.servicebus.windows.net/',
    ]) {
      expect(refused({ ...LOCAL, EventHubConnection: cs }).setting, cs).toBe('EventHubConnection');
    }
  });

  it('refuses a real storage key with a local endpoint or a look-alike of UseDevelopmentStorage', () => {
    for (const cs of [
      'DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=abcUseDevelopmentStorage=true',
      'DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=abc==;BlobEndpoint=http://127.0.0.1:10000/prod',
      'DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=abc==;TableEndpoint=http://localhost:10002/prod',
      'DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=abc==;BlobEndpoint=http://127.0.0.1:10000/prod;TableEndpoint=https://prod.table.core.windows.net',
      'UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://proxy.example.com',
    ]) {
      expect(refused({ ...LOCAL, WARDEN_STORAGE_CONNECTION_STRING: cs }).setting, cs).toBe('WARDEN_STORAGE_CONNECTION_STRING');
    }
  });

  it('warden send refuses a real namespace key with the emulator suffix before it connects', async () => {
    const connectionString = 'Endpoint=sb://prod.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k3y=;UseDevelopmentEmulator=true';
    await expect(sendCaptures(['demo/tenant-hour.ndjson.gz'], { eventHubName: 'warden-activity', connection: { connectionString } })).rejects.toBeInstanceOf(
      CaptureSendConfigError,
    );
  });

  it('talks plain HTTP to Azurite only', async () => {
    const mixed =
      'DefaultEndpointsProtocol=http;AccountName=prod;AccountKey=abc==;BlobEndpoint=http://127.0.0.1:1/prod;TableEndpoint=http://prod.table.core.windows.net/';
    // The SDK refuses to send a key over HTTP unless told it is allowed: it must not be told for a real host.
    await expect(tableClientFor({ connectionString: mixed }, 'state').createTable()).rejects.toThrow(/insecure|https/i);
  });
});

describe('a delivery setting that cannot work stops start-up with one line naming it', () => {
  it('SENTINEL_UPLOAD_TIMEOUT: a duration from 1 s to 5 minutes', () => {
    expect(loadSettings(LOCAL).sentinel.uploadTimeoutMs).toBe(60_000);
    expect(loadSettings({ ...LOCAL, SENTINEL_UPLOAD_TIMEOUT: '90s' }).sentinel.uploadTimeoutMs).toBe(90_000);
    for (const [value, problem] of [
      ['soon', "is not a duration (a number and ms, s, m, h or d), got 'soon'"],
      ['500ms', "is shorter than 1s, got '500ms'"],
      ['1h', "is longer than 5m (detect waits for the send within the 10-minute function timeout), got '1h'"],
    ]) {
      const err = refused({ ...LOCAL, SENTINEL_UPLOAD_TIMEOUT: value });
      expect(err.setting).toBe('SENTINEL_UPLOAD_TIMEOUT');
      expect(err.message).toBe(`SENTINEL_UPLOAD_TIMEOUT: ${problem}; set it like SENTINEL_UPLOAD_TIMEOUT=60s`);
    }
  });
});
