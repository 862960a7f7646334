import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WardenError } from '../common/errors.js';

/** Azurite's published development account: not a secret (https://learn.microsoft.com/azure/storage/common/storage-use-azurite). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteInstance {
  blobUrl: string;
  tableUrl: string;
  queueUrl: string;
  /** Connection string for the real SDK clients (dev account key; local only). */
  connectionString: string;
  stop(): Promise<void>;
}

/** Azurite cannot be started: not installed (the user's to fix), or it failed to start or listen. */
export class AzuriteUnavailableError extends WardenError {
  override name = 'AzuriteUnavailableError';
  constructor(
    message: string,
    readonly userFixable = false,
  ) {
    super(message);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const { connect } = await import('node:net');
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) throw new AzuriteUnavailableError(`Azurite exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new AzuriteUnavailableError(`Azurite did not listen on 127.0.0.1:${port} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Azurite takes a few seconds to listen, and over a minute on a loaded 2-core machine; it is a failure only past this. */
const START_TIMEOUT_MS = 120_000;

/**
 * Start Azurite in memory on free loopback ports (tests, and `warden replay --state table`
 * when no storage account is configured). Stop it with `stop()`.
 */
export async function startAzurite(): Promise<AzuriteInstance> {
  let bin: string;
  try {
    bin = createRequire(import.meta.url).resolve('azurite/dist/src/azurite.js');
  } catch {
    throw new AzuriteUnavailableError('Azurite is not installed: run `npm install` (it is a dev dependency) or configure a storage account', true);
  }
  const [blobPort, queuePort, tablePort] = [await freePort(), await freePort(), await freePort()];
  // In-memory persistence; the cwd only catches any stray debug files Azurite may write.
  const location = mkdtempSync(join(tmpdir(), 'warden-azurite-'));
  const child = spawn(
    process.execPath,
    [
      bin,
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(blobPort),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(queuePort),
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(tablePort),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: location },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  try {
    await Promise.all([
      waitForPort(blobPort, child, START_TIMEOUT_MS),
      waitForPort(tablePort, child, START_TIMEOUT_MS),
      waitForPort(queuePort, child, START_TIMEOUT_MS),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(location, { recursive: true, force: true });
    throw new AzuriteUnavailableError(`${(err as Error).message}${stderr ? `: ${stderr.trim()}` : ''}`);
  }
  const blobUrl = `http://127.0.0.1:${blobPort}/${AZURITE_ACCOUNT}`;
  const queueUrl = `http://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT}`;
  const tableUrl = `http://127.0.0.1:${tablePort}/${AZURITE_ACCOUNT}`;
  return {
    blobUrl,
    queueUrl,
    tableUrl,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `BlobEndpoint=${blobUrl};QueueEndpoint=${queueUrl};TableEndpoint=${tableUrl};`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          exited,
          new Promise((r) => {
            timer = setTimeout(r, 3000);
          }),
        ]);
        clearTimeout(timer); // or the grace timer alone keeps the caller's process alive for 3 s
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(location, { recursive: true, force: true });
    },
  };
}
