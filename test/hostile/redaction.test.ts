import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactSecrets, redactText } from '../../src/common/redact.js';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { demoBodies, REPO, runAsDemo, writeCapture, type DemoRun } from './demo.js';

/** Each credential carries its own canary: none of these may appear in anything Warden writes. */
const CANARIES = [
  'CanaryJwtSignature0',
  'CanaryAccountKey0',
  'CanarySharedAccessKey0',
  'CanarySasSig0',
  'CanaryPassword0',
  'CanaryApiKey0',
  'CanaryUrlPassword0',
  'CanaryBearer0',
  'CanarySkoid0',
  'CanaryClientSecret0',
];
const CREDENTIALS = [
  ' Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdHRhY2tlciJ9.CanaryJwtSignature0xyz',
  ' DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=CanaryAccountKey0/abc+def==;EndpointSuffix=core.windows.net',
  ' Endpoint=sb://prod.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=CanarySharedAccessKey0=',
  ' https://prod.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=CanarySasSig0%2Bx%3D',
  ' password=CanaryPassword0',
  ' api-key: CanaryApiKey0',
  ' https://admin:CanaryUrlPassword0@db.example.com/x',
  ' bearer CanaryBearer0.abc',
  ' https://a.blob.core.windows.net/c?skoid=CanarySkoid0&sig=x',
  ' {"client_secret": "CanaryClientSecret0"}',
];

/** Fields a record cannot be read without: planted in them, the record is a dead letter (or skipped, for its category). */
const STRUCTURE = /^(time|category|operationName|createdDateTime|resultType|statusCode|Type|TimeGenerated)$/;

/** Every string in a record with a credential appended; every tenth record has them in its structure too. */
function plant(value: unknown, n: { i: number }, all: boolean, key = ''): unknown {
  if (typeof value === 'string') return STRUCTURE.test(key) && !(all && key !== 'category') ? value : value + CREDENTIALS[n.i++ % CREDENTIALS.length];
  if (Array.isArray(value)) return value.map((v) => plant(v, n, all));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plant(v, n, all, k)]));
  return value;
}

function leaked(text: string): string[] {
  return CANARIES.filter((c) => text.includes(c));
}

describe('no credential leaves Warden', () => {
  it('redacts every kind of credential it knows', () => {
    for (const credential of CREDENTIALS) {
      expect(leaked(redactSecrets(credential)), credential).toEqual([]);
      expect(leaked(redactSecrets(JSON.stringify(JSON.stringify({ text: credential })))), `${credential} as JSON in JSON`).toEqual([]);
    }
    expect(redactSecrets('https://a.blob.core.windows.net/c/b?sv=1&sig=abc')).toBe('https://a.blob.core.windows.net/c/b?sv=1&sig=REDACTED');
    expect(redactSecrets('AccountName=a;AccountKey=k==;EndpointSuffix=core.windows.net')).toBe(
      'AccountName=a;AccountKey=REDACTED;EndpointSuffix=core.windows.net',
    );
    // Text that only looks like a key-value pair near a credential word stays.
    expect(redactSecrets('operation SecretGet on vault kv-prod')).toBe('operation SecretGet on vault kv-prod');
  });

  it('redacts in time linear in the text: 150 KB built to make backtracking patterns quadratic', () => {
    const hostile = ['eyJ', 'eyJa.', 'a.', 'password', 'password=', 'Bearer ', 'a://b:', 'x://', '?sig', '&sig=', 'secret:', '"apikey" '].map((unit) =>
      unit.repeat(Math.ceil(150_000 / unit.length)),
    );
    const started = performance.now();
    for (const text of hostile) {
      redactSecrets(text);
      redactText(text);
    }
    // A quadratic pattern takes tens of seconds on one of these (40 s before); linear ones, milliseconds.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  describe('credentials planted in every attacker-controlled string of the demo capture', () => {
    let dir: string;
    let run: DemoRun;
    let files: Record<string, string>;
    let io: { out: string[]; err: string[] };

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'warden-hostile-redact-'));
      const bodies = await demoBodies();
      const n = { i: 0 };
      let r = 0;
      for (const body of bodies) body.records = body.records.map((record) => plant(record, n, ++r % 10 === 0) as Record<string, unknown>);
      // And a few records of categories Warden does not read, named with credentials: skipped, counted by name.
      bodies[0].records.push(...CREDENTIALS.map((c) => ({ time: '2025-06-02T09:00:00Z', category: `Custom${c}`, operationName: 'x' })));
      const capture = join(dir, 'planted.ndjson.gz');
      await writeCapture(capture, bodies);
      run = await runAsDemo(capture);
      io = { out: [], err: [] };
      const cli: CommandIO = { stdout: (l) => io.out.push(l), stderr: (l) => io.err.push(l), progress: true };
      const paths = { alerts: join(dir, 'alerts.jsonl'), events: join(dir, 'events.jsonl'), dead: join(dir, 'dead.jsonl') };
      const code = await main(
        [
          'replay',
          capture,
          '--out',
          paths.alerts,
          '--events',
          paths.events,
          '--dead-letter',
          paths.dead,
          '--tunables',
          join(REPO, 'demo', 'tunables.json'),
          '--json',
        ],
        cli,
      );
      expect(code).toBe(0);
      files = { alerts: await readFile(paths.alerts, 'utf8'), events: await readFile(paths.events, 'utf8'), dead: await readFile(paths.dead, 'utf8') };
    }, 180_000);

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('the run still detects, reads events and dead-letters the records it cannot read', () => {
      expect(run.alerts.length).toBeGreaterThan(0);
      expect(run.summary.events).toBeGreaterThan(1000);
      expect(run.deadLetters.length).toBeGreaterThan(50);
      expect(files.events.split('\n').length).toBeGreaterThan(1000);
    });

    it('finds none of them in alerts, events, dead letters, stored state or the output', () => {
      expect(leaked(JSON.stringify(run.alerts)), 'alerts').toEqual([]);
      expect(leaked(JSON.stringify(run.deadLetters)), 'dead letters').toEqual([]);
      expect(leaked(run.state), 'state').toEqual([]);
      expect(leaked(files.alerts), 'alerts file').toEqual([]);
      expect(leaked(files.events), 'events file').toEqual([]);
      expect(leaked(files.dead), 'dead letters file').toEqual([]);
      expect(leaked(io.out.join('\n') + io.err.join('\n')), 'stdout and stderr').toEqual([]);
    });
  });
});
