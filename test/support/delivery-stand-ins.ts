import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { TableAlertOutbox } from '../../src/delivery/outbox.js';
import { SentinelSink } from '../../src/delivery/sentinel.js';
import { startAzurite, type AzuriteInstance } from '../../src/dev/azurite.js';
import { startLogsIngestionServer, type LogsIngestionServerOptions, type LogsIngestionTestServer } from './logs-ingestion-server.js';

export interface SinkOptions {
  /** SDK retries of a failed call, 10 ms apart (default 0). */
  retries?: number;
  maxConcurrency?: number;
  uploadTimeoutMs?: number;
}

export interface DeliveryStandIns {
  /** Started once for the file. */
  readonly azurite: AzuriteInstance;
  /** The Logs Ingestion stand-in, new for each test. */
  readonly server: LogsIngestionTestServer;
  /** A test's own outbox (in a table of its own, named from `table`) on a test clock, and the real sink pointed at the stand-in. */
  setup(sink?: SinkOptions): { clock: { now: number }; outbox: TableAlertOutbox; sink: SentinelSink; table: string };
  /** The real SentinelSink, talking to the stand-in over HTTPS with its certificate trusted. */
  sink(options?: SinkOptions): SentinelSink;
}

/**
 * What a delivery test runs against: Azurite for the outbox (and whatever else the test keeps in
 * Tables), the Logs Ingestion stand-in, and a clock the test moves. Call it at the top of a test
 * file: it registers the hooks that start and stop them.
 */
export function deliveryStandIns(name: string, start: number, serverOptions: LogsIngestionServerOptions = {}): DeliveryStandIns {
  let azurite: AzuriteInstance | undefined;
  let server: LogsIngestionTestServer | undefined;
  let tables = 0;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });
  beforeEach(async () => {
    server = await startLogsIngestionServer(serverOptions);
  });
  afterEach(async () => {
    await server?.close();
  });
  const stands: DeliveryStandIns = {
    get azurite() {
      if (!azurite) throw new Error('Azurite is started before the first test');
      return azurite;
    },
    get server() {
      if (!server) throw new Error('the Logs Ingestion stand-in is started before each test');
      return server;
    },
    setup(sink = {}) {
      const clock = { now: start };
      const table = `${name}${++tables}`;
      const outbox = new TableAlertOutbox({ connectionString: stands.azurite.connectionString, table }, { now: () => clock.now });
      return { clock, outbox, sink: stands.sink(sink), table };
    },
    sink({ retries = 0, maxConcurrency, uploadTimeoutMs } = {}) {
      const { endpoint, ruleId, credential, ca } = stands.server;
      return new SentinelSink({
        endpoint,
        ruleId,
        credential,
        maxConcurrency,
        uploadTimeoutMs,
        clientOptions: { tlsOptions: { ca }, retryOptions: { maxRetries: retries, retryDelayInMs: 10, maxRetryDelayInMs: 50 } },
      });
    },
  };
  return stands;
}
