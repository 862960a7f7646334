import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { DEMO_CAPTURE } from '../backtest/demo-history.js';

/** Runs `warden <argv>` in this process with `env` set for the run, and what it printed. */
async function warden(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return { code: await main(argv, io), out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warden-cli-errors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('warden: an error the user can fix is one line and exit 2, from whichever part of Warden it comes', () => {
  it('a bad setting of warden run (host settings)', async () => {
    const settings = join(dir, 'local.settings.json');
    writeFileSync(
      settings,
      JSON.stringify({
        Values: {
          EventHubConnection__fullyQualifiedNamespace: 'warden-ehns.servicebus.windows.net',
          WARDEN_STORAGE_ACCOUNT: 'wardenstate01',
          SENTINEL_DCR_ENDPOINT: 'https://warden-dcr-abcd.westeurope-1.ingest.monitor.azure.com',
          SENTINEL_DCR_IMMUTABLE_ID: 'dcr-0123456789abcdef0123456789abcdef',
          WARDEN_ALLOWED_LATENESS: 'soon',
        },
      }),
    );
    const { code, err } = await warden(['run', '--settings', settings]);
    expect(err).toEqual([
      "warden run: WARDEN_ALLOWED_LATENESS: is not a duration (a number and ms, s, m, h or d), got 'soon'; set it like WARDEN_ALLOWED_LATENESS=5m",
    ]);
    expect(code).toBe(2);
  });

  it('an inventory file that is not JSON (engine)', async () => {
    const inventory = join(dir, 'inventory.json');
    writeFileSync(inventory, 'name,type');
    const { code, err } = await warden(['replay', DEMO_CAPTURE, '--rules', 'storage-key-listing'], { WARDEN_INVENTORY: inventory });
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^warden replay: WARDEN_INVENTORY \(.*inventory\.json\): not JSON .*expected an Azure Resource Graph export/);
    expect(code).toBe(2);
  });

  it('a capture path that does not exist (ingest)', async () => {
    const { code, err } = await warden([
      'send',
      join(dir, 'missing.json'),
      '--hub',
      'h',
      '--connection-string',
      'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true',
    ]);
    expect(err).toEqual([`warden send: cannot read ${join(dir, 'missing.json')}: no such file or folder`]);
    expect(code).toBe(2);
  });
});

describe('warden: a failure of the system around it exits 1 with its message', () => {
  let storage: Server;
  afterEach(() => new Promise<void>((resolve) => storage?.close(() => resolve())));

  it('state storage that answers every request "server busy"', async () => {
    // Azure Tables' answer when it cannot serve: nothing the user typed is wrong.
    storage = createServer((req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(JSON.stringify({ 'odata.error': { code: 'ServerBusy', message: { lang: 'en-US', value: 'The server is busy.' } } }));
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
    const { port } = storage.address() as { port: number };
    // Azurite's published development account key, not a secret.
    const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UWo4gGjzo9lCKvXLI1CBbpg==';
    const { code, err } = await warden(['replay', DEMO_CAPTURE, '--rules', 'storage-key-listing', '--state', 'table'], {
      WARDEN_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
    });
    expect(err.at(-1)).toMatch(/^warden replay: RestError: .*The server is busy\./);
    expect(code).toBe(1);
  }, 60_000);
});
