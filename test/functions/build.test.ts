/**
 * What is deployed is the compiled app (`npm run build`: dist/, run by plain Node, no tsx). Build
 * it, load its entry point the way the Functions worker does (with a stand-in for the worker's
 * `@azure/functions-core`), and check it loads the rules from its own detections/ and registers
 * every function.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
// Inside the checkout (git-ignored), so the compiled files resolve node_modules as dist/ does.
const outDir = join(repo, '.warden', `build-test-${process.pid}`);

afterAll(() => rm(outDir, { recursive: true, force: true }));

const WORKER = `
import Module from 'node:module';
const registered = [];
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === '@azure/functions-core') {
    return { registerFunction: (m, handler) => registered.push({ name: m.name, types: Object.values(m.bindings).map((b) => b.type), handler }), setProgrammingModel() {}, registerHook() { return { dispose() {} }; }, log() {} };
  }
  return load.call(this, request, parent, isMain);
};
await import(process.argv[2]);
let health;
if (process.argv[3] === 'health') {
  // GET /api/health as the host calls it.
  const { HttpRequest, InvocationContext } = (await import('@azure/functions')).default;
  health = await registered.find((r) => r.name === 'health').handler(new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }), new InvocationContext({ functionName: 'health' }));
}
console.log(JSON.stringify({ registered: registered.map(({ name, types }) => ({ name, types })), health }));
`;

/** Settings a deployment gives the app, with real-looking values. */
const SETTINGS = {
  EventHubConnection__fullyQualifiedNamespace: 'warden-ehns-01.servicebus.windows.net',
  WARDEN_STORAGE_ACCOUNT: 'wardenst01',
  SENTINEL_DCR_ENDPOINT: 'https://warden-dcr-x1y2.westeurope-1.ingest.monitor.azure.com',
  SENTINEL_DCR_IMMUTABLE_ID: 'dcr-0123456789abcdef0123456789abcdef',
  // A rule the compiled detections/ must have: a tunable for a rule that is not loaded stops the app.
  WARDEN_TUNABLES: '{"keyvault-mass-secret-read":{"threshold":15}}',
};

const FUNCTIONS = [
  { name: 'ingest-activity', types: ['eventHubTrigger'] },
  { name: 'ingest-signin', types: ['eventHubTrigger'] },
  { name: 'ingest-resource', types: ['eventHubTrigger'] },
  { name: 'detect', types: ['eventHubTrigger'] },
  { name: 'deliver', types: ['timerTrigger'] },
  { name: 'audit', types: ['timerTrigger'] },
  { name: 'silent-sources', types: ['timerTrigger'] },
  { name: 'health', types: ['httpTrigger', 'http'] },
];

/** Load the built entry point in plain Node with these settings; what it registered, and health's answer when asked. */
async function loadBuilt(
  env: Record<string, string>,
  callHealth = false,
): Promise<{ registered: unknown[]; health?: { status: number; jsonBody: Record<string, unknown> } }> {
  const { stdout } = await run(process.execPath, [join(outDir, 'worker.mjs'), join(outDir, 'functions', 'index.js'), ...(callHealth ? ['health'] : [])], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Awaited<ReturnType<typeof loadBuilt>>;
}

describe('the built app (npm run build)', () => {
  beforeAll(async () => {
    await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: repo });
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, 'worker.mjs'), WORKER);
  });

  it('loads in plain Node and registers every function', async () => {
    expect((await loadBuilt(SETTINGS)).registered).toEqual(FUNCTIONS);
  });

  it('with a broken setting, still registers every function and health answers 503 with the one-line reason', async () => {
    const { registered, health } = await loadBuilt({ ...SETTINGS, SENTINEL_DCR_IMMUTABLE_ID: 'dcr-xyz' }, true);
    expect(registered).toEqual(FUNCTIONS);
    expect(health).toEqual({
      status: 503,
      jsonBody: {
        status: 'unavailable',
        error:
          "SENTINEL_DCR_IMMUTABLE_ID: is not a DCR immutable id ('dcr-' and 32 hex digits), got 'dcr-xyz'; set it like SENTINEL_DCR_IMMUTABLE_ID=dcr-0123456789abcdef0123456789abcdef",
      },
    });
  });
});
