import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { sendCaptures } from '../../src/eventhubs/capture-sender.js';
import { parseTime } from '../../src/ingest/util.js';
import { spawnWarden } from '../support/cli.js';
import { startEventHubsBroker, type EventHubsBroker } from '../support/eventhubs-broker.js';
import { captureAvro } from '../ingest/capture-files.js';

type Rec = Record<string, unknown>;

let broker: EventHubsBroker;
let dir: string;

beforeAll(async () => {
  broker = await startEventHubsBroker({
    hubs: { spread: { partitions: 4 }, large: { partitions: 2 }, shift: { partitions: 2 }, paced: { partitions: 2 }, errors: { partitions: 1 } },
  });
  dir = await mkdtemp(join(tmpdir(), 'warden-send-'));
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function send(args: string[], progress = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress };
  const code = await main(['send', ...args], io);
  return { code, out, err };
}

function keyVaultRecord(n: number, extra: Rec = {}): Rec {
  return {
    time: `2025-06-02T09:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}.1234567Z`,
    resourceId: '/SUBSCRIPTIONS/1D2E3F40-0000-4000-8000-000000000001/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1',
    category: 'AuditEvent',
    operationName: 'SecretGet',
    correlationId: `c-${n}`,
    properties: { id: `https://kv1.vault.azure.net/secrets/s${n}` },
    ...extra,
  };
}

/** Every event on the hub, body parsed, in partition order. */
function hubEvents(b: EventHubsBroker, hub: string) {
  return b.partitionIds(hub).flatMap((partitionId) =>
    b.partitionEvents(hub, partitionId).map((e) => {
      const bytes = e.body as Buffer;
      return { partitionId, partitionKey: e.partitionKey, bytes: bytes.length, body: JSON.parse(bytes.toString('utf8')) as { records: Rec[] } };
    }),
  );
}

const hubRecords = (b: EventHubsBroker, hub: string) => hubEvents(b, hub).flatMap((e) => e.body.records);
const byCorrelation = (records: Rec[]) => [...records].sort((a, b) => String(a.correlationId).localeCompare(String(b.correlationId)));

describe('warden send over the AMQP test broker', () => {
  it('sends every record of every capture format as {"records":[...]} bodies of up to 100, spread over the partitions', async () => {
    const input = join(dir, 'spread');
    await mkdir(input);
    const all = Array.from({ length: 330 }, (_, n) => keyVaultRecord(n));
    const ndjson = all.slice(0, 150).map((r) => JSON.stringify(r));
    ndjson.splice(75, 0, '{"time": "2025-06-02T09:00:00Z", broken');
    await writeFile(join(input, 'a.ndjson'), `${ndjson.join('\n')}\n`);
    await writeFile(join(input, 'b.json.gz'), gzipSync(JSON.stringify({ records: all.slice(150, 270) })));
    await writeFile(
      join(input, 'c.avro'),
      await captureAvro(
        [0, 1].map((k) => ({
          sequenceNumber: k,
          offset: String(k * 1000),
          enqueuedTimeUtc: '6/2/2025 9:10:00 AM',
          body: Buffer.from(JSON.stringify({ records: all.slice(270 + k * 30, 300 + k * 30) })),
        })),
      ),
    );
    await writeFile(join(input, 'README.md'), '# not a capture\n');

    const { code, out, err } = await send([input, '--hub', 'spread', '--connection-string', broker.connectionString('spread'), '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ hub: 'spread', partitions: 4, files: 3, ignoredFiles: 1, records: 330, bodies: 4, events: 4, skipped: 1 });
    // The broken line is named, not sent.
    expect(err).toEqual([expect.stringMatching(/^send: skipped .*a\.ndjson:76: invalid JSON on line 76/)]);

    const events = hubEvents(broker, 'spread');
    expect(events.every((e) => Object.keys(e.body).join() === 'records' && e.body.records.length <= 100)).toBe(true);
    // No partition key, as Azure Monitor: one body to each partition in turn.
    expect(events.map((e) => e.partitionKey)).toEqual([undefined, undefined, undefined, undefined]);
    expect(new Set(events.map((e) => e.partitionId)).size).toBe(4);
    expect(byCorrelation(hubRecords(broker, 'spread'))).toEqual(byCorrelation(all));
  });

  it('keeps bodies under the size limits: large records split over bodies, a hub with a smaller event limit gets smaller bodies', async () => {
    const big = (n: number, size: number) => keyVaultRecord(n, { properties: { requestUri: `https://kv1.vault.azure.net/${'x'.repeat(size)}` } });
    const records = Array.from({ length: 30 }, (_, n) => big(n, 50_000));
    const file = join(dir, 'large.json');
    await writeFile(file, JSON.stringify({ records: [...records, big(30, 1_200_000)] }));
    const skipped: string[] = [];
    const summary = await sendCaptures([file], {
      eventHubName: 'large',
      connection: { connectionString: broker.connectionString('large') },
      onSkipped: (reason) => skipped.push(reason),
    });
    const events = hubEvents(broker, 'large');
    expect(events.length).toBeGreaterThanOrEqual(6);
    expect(Math.max(...events.map((e) => e.bytes))).toBeLessThanOrEqual(256 * 1024);
    expect(byCorrelation(hubRecords(broker, 'large'))).toEqual(byCorrelation(records));
    // The record no event can carry is reported, not sent.
    expect(summary).toMatchObject({ records: 30, skipped: 1 });
    expect(skipped).toEqual([expect.stringMatching(/record is larger than the hub's event size limit/)]);

    const small = await startEventHubsBroker({ hubs: { basic: { partitions: 1 } }, maxMessageSize: 100_000 });
    try {
      const modest = Array.from({ length: 20 }, (_, n) => big(n, 20_000));
      const modestFile = join(dir, 'modest.json');
      await writeFile(modestFile, JSON.stringify({ records: modest }));
      const result = await sendCaptures([modestFile], { eventHubName: 'basic', connection: { connectionString: small.connectionString('basic') } });
      expect(result).toMatchObject({ records: 20, skipped: 0 });
      expect(Math.max(...hubEvents(small, 'basic').map((e) => e.bytes))).toBeLessThan(100_000);
      expect(byCorrelation(hubRecords(small, 'basic'))).toEqual(byCorrelation(modest));
    } finally {
      await small.stop();
    }
  });

  it('--time-shift moves every event time by one offset so the latest is now, in the format it was written', async () => {
    const input = join(dir, 'shift');
    await mkdir(input);
    const stream = [
      { correlationId: 'a', time: '2024-03-01T10:00:00.1234567Z', category: 'AuditEvent' },
      { correlationId: 'b', time: '2024-03-01T09:59:30Z', category: 'Administrative' },
      // The latest: 10:00:00.5 UTC, written with an offset.
      { correlationId: 'c', time: '2024-03-01T11:00:00.5+01:00', category: 'Administrative' },
      // A sign-in's event time is its own createdDateTime, here inside JSON-encoded properties.
      {
        correlationId: 'd',
        time: '2024-03-01T09:58:00.0000000Z',
        category: 'ServicePrincipalSignInLogs',
        properties: JSON.stringify({ createdDateTime: '2024-03-01T09:57:10.25Z', appId: 'x' }),
      },
      // An Entra audit entry's and a Graph request's own times, which their sources prefer to `time`.
      {
        correlationId: 'f',
        time: '2024-03-01T09:56:02.0000000Z',
        category: 'AuditLogs',
        properties: { activityDateTime: '2024-03-01T09:56:01.1234567+00:00' },
      },
      { correlationId: 'g', time: '2024-03-01T09:55:00Z', category: 'MicrosoftGraphActivityLogs', properties: { timeGenerated: '2024-03-01T09:54:59.5Z' } },
    ];
    await writeFile(join(input, 'stream.json'), JSON.stringify({ records: stream }));
    await writeFile(
      join(input, 'rows.json'),
      JSON.stringify({
        tables: [
          {
            name: 'PrimaryResult',
            columns: [
              { name: 'TimeGenerated', type: 'datetime' },
              { name: 'Type', type: 'string' },
              { name: 'CorrelationId', type: 'string' },
            ],
            rows: [['2024-03-01T09:50:00.123Z', 'AzureActivity', 'e']],
          },
          {
            name: 'PrimaryResult',
            columns: [
              { name: 'TimeGenerated', type: 'datetime' },
              { name: 'ActivityDateTime', type: 'datetime' },
              { name: 'Type', type: 'string' },
              { name: 'CorrelationId', type: 'string' },
            ],
            rows: [['2024-03-01T09:49:00Z', '2024-03-01T09:48:59Z', 'AuditLogs', 'h']],
          },
        ],
      }),
    );

    const before = Date.now();
    const { code, out } = await send([input, '--hub', 'shift', '--connection-string', broker.connectionString('shift'), '--time-shift', '--json']);
    const after = Date.now();
    expect(code).toBe(0);
    const shiftMs = (JSON.parse(out.at(-1)!) as { timeShiftMs: number }).timeShiftMs;

    const sent = new Map(hubRecords(broker, 'shift').map((r) => [String(r.correlationId ?? r.CorrelationId), r]));
    expect(sent.size).toBe(8);
    const latest = parseTime(sent.get('c')!.time)!;
    expect(latest).toBeGreaterThanOrEqual(before - 1000);
    expect(latest).toBeLessThanOrEqual(after);
    // One offset for all, whole seconds: the fraction and zone as written.
    expect(shiftMs % 1000).toBe(0);
    const moved = (original: string, now: unknown) => parseTime(now)! - parseTime(original)!;
    for (const r of stream) expect(moved(r.time, sent.get(r.correlationId)!.time)).toBe(shiftMs);
    expect(moved('2024-03-01T09:50:00.123Z', sent.get('e')!.TimeGenerated)).toBe(shiftMs);
    const properties = sent.get('d')!.properties as string;
    expect(typeof properties).toBe('string');
    expect(moved('2024-03-01T09:57:10.25Z', (JSON.parse(properties) as Rec).createdDateTime)).toBe(shiftMs);
    expect(moved('2024-03-01T09:56:01.1234567+00:00', (sent.get('f')!.properties as Rec).activityDateTime)).toBe(shiftMs);
    expect(moved('2024-03-01T09:54:59.5Z', (sent.get('g')!.properties as Rec).timeGenerated)).toBe(shiftMs);
    expect(moved('2024-03-01T09:48:59Z', sent.get('h')!.ActivityDateTime)).toBe(shiftMs);
    expect(sent.get('a')!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.1234567Z$/);
    expect(sent.get('b')!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(sent.get('c')!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.5\+01:00$/);
  });

  it('--rate paces the records: small bodies, arriving a few at a time over the run, with progress on stderr', async () => {
    const file = join(dir, 'paced.ndjson');
    const records = Array.from({ length: 60 }, (_, n) => keyVaultRecord(n));
    await writeFile(file, records.map((r) => JSON.stringify(r)).join('\n'));
    const seen = new Set<number>();
    const count = () => hubRecords(broker, 'paced').length;
    const poll = setInterval(() => seen.add(count()), 25);
    let result;
    try {
      result = await send([file, '--hub', 'paced', '--connection-string', broker.connectionString('paced'), '--rate', '40', '--json'], true);
    } finally {
      clearInterval(poll);
    }
    expect(result.code).toBe(0);
    expect(count()).toBe(60);
    // 40 a second: bodies of a quarter second's records (10), six of them, the last sent no sooner than 1.25 s in.
    expect(hubEvents(broker, 'paced').map((e) => e.body.records.length)).toEqual([10, 10, 10, 10, 10, 10]);
    expect([...seen].filter((n) => n > 0 && n < 60).length).toBeGreaterThanOrEqual(3);
    expect((JSON.parse(result.out.at(-1)!) as { seconds: number }).seconds).toBeGreaterThanOrEqual(1.2);
    expect(result.err).toContainEqual(expect.stringMatching(/^send: file 1\/1, \d+ records, \d+ events$/));
  });

  describe('usage errors: one line, exit code 2', () => {
    const file = () => join(dir, 'paced.ndjson');
    const local = () => broker.connectionString('errors');

    it.each([
      ['no --hub', () => [file(), '--connection-string', local()], /^warden send: --hub NAME is required/],
      ['no capture path', () => ['--hub', 'errors', '--connection-string', local()], /^warden send: give one or more capture files or folders/],
      [
        'an unreadable path',
        () => [join(dir, 'missing.json'), '--hub', 'errors', '--connection-string', local()],
        /^warden send: cannot read .*missing\.json: no such file or folder$/,
      ],
      ['a bad --rate', () => [file(), '--hub', 'errors', '--connection-string', local(), '--rate', 'fast'], /^warden send: --rate must be a positive number/],
      [
        'a hub the namespace does not have',
        () => [file(), '--hub', 'nope', '--connection-string', local().replace(/;EntityPath=[^;]*/, '')],
        /^warden send: the namespace has no Event Hub 'nope'/,
      ],
      [
        'a hub other than the connection string’s',
        () => [file(), '--hub', 'spread', '--connection-string', local()],
        /^warden send: the connection string is for hub 'errors', not 'spread'/,
      ],
      [
        'a key for a real namespace',
        () => [file(), '--hub', 'errors', '--connection-string', 'Endpoint=sb://prod.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s3cret'],
        /^warden send: a connection string is only for the local emulator/,
      ],
      [
        'both connections',
        () => [file(), '--hub', 'errors', '--connection-string', local(), '--namespace', 'prod.servicebus.windows.net'],
        /^warden send: give --namespace or --connection-string, not both$/,
      ],
    ])('%s', async (_, args, message) => {
      const eventsBefore = hubEvents(broker, 'errors').length;
      const { code, out, err } = await send(args());
      expect(code).toBe(2);
      expect(out).toEqual([]);
      expect(err).toEqual([expect.stringMatching(message)]);
      expect(err[0]).not.toContain('s3cret');
      expect(hubEvents(broker, 'errors').length).toBe(eventsBefore);
    });

    it('no connection configured', async () => {
      vi.stubEnv('EventHubConnection__fullyQualifiedNamespace', '');
      vi.stubEnv('WARDEN_EVENTHUB_CONNECTION_STRING', '');
      const { code, err } = await send([file(), '--hub', 'errors']);
      expect(code).toBe(2);
      expect(err).toEqual([expect.stringMatching(/^warden send: no Event Hubs namespace: give --namespace .*WARDEN_EVENTHUB_CONNECTION_STRING$/)]);
    });

    it('the connection string can come from WARDEN_EVENTHUB_CONNECTION_STRING', async () => {
      vi.stubEnv('EventHubConnection__fullyQualifiedNamespace', '');
      vi.stubEnv('WARDEN_EVENTHUB_CONNECTION_STRING', local());
      const before = hubRecords(broker, 'errors').length;
      const { code } = await send([file(), '--hub', 'errors']);
      expect(code).toBe(0);
      expect(hubRecords(broker, 'errors').length - before).toBe(60);
    });

    it('from the shell: exit code 2 and no stack trace', () => {
      const r = spawnWarden(['send', join(dir, 'missing.json'), '--hub', 'errors', '--connection-string', local()]);
      expect(r.status).toBe(2);
      expect(r.stderr.split('\n').filter((l) => l)).toEqual([expect.stringMatching(/^warden send: cannot read .*missing\.json/)]);
    });
  });
});
