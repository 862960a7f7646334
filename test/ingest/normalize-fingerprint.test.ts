import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ingestBody, type IngestOptions } from '../../src/ingest/pipeline.js';
import { generateWorkload } from '../../synth/scenario.js';
import { EXTERNAL_CAPTURES } from '../support/external-captures.js';
import { rowRecord } from '../support/log-analytics-rows.js';

/**
 * What normalization gives, pinned: a sha256 over the JSON of every event (id included), dead
 * letter (reason, location, raw) and skip count that the project's inputs produce. Refactors of
 * src/ingest must leave it unchanged; a change that means to alter output updates
 * normalize-fingerprint.json in the same commit (`UPDATE_FINGERPRINT=1 npx vitest run <this file>`)
 * and says why.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PINNED = fileURLToPath(new URL('./normalize-fingerprint.json', import.meta.url));

type Rec = Record<string, unknown>;
interface Body {
  body: string;
  file: string;
  options?: IngestOptions;
}
interface Fingerprint {
  records: number;
  events: number;
  deadLetters: number;
  skipped: number;
  sha256: string;
}

function fingerprint(bodies: Iterable<Body>): Fingerprint {
  const hash = createHash('sha256');
  const out: Fingerprint = { records: 0, events: 0, deadLetters: 0, skipped: 0, sha256: '' };
  for (const { body, file, options } of bodies) {
    const result = ingestBody(body, { file }, options);
    out.records += result.records;
    out.events += result.events.length;
    out.deadLetters += result.deadLetters.length;
    for (const k in result.skippedByCategory) out.skipped += result.skippedByCategory[k];
    // Dead-letter `time` is when it was written, not what the record gave.
    hash.update(
      JSON.stringify({
        events: result.events,
        deadLetters: result.deadLetters.map(({ reason, location, raw }) => ({ reason, location, raw })),
        skipped: Object.entries(result.skippedByCategory).sort(),
      }),
    );
    hash.update('\n');
  }
  out.sha256 = hash.digest('hex');
  return out;
}

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, keep));
    else if (keep(entry.name)) out.push(path);
  }
  return out;
}

function* fixtureBodies(): Generator<Body> {
  for (const path of filesUnder(join(ROOT, 'detections'), (name) => /\.(json|ndjson)$/.test(name) && name !== 'cases.json')) {
    if (!path.includes('.fixtures')) continue;
    yield { body: readFileSync(path, 'utf8'), file: relative(ROOT, path) };
  }
}

function* demoBodies(): Generator<Body> {
  const text = gunzipSync(readFileSync(join(ROOT, 'demo/tenant-hour.ndjson.gz'))).toString('utf8');
  let line = 0;
  for (const body of text.split('\n')) if (body.trim()) yield { body, file: `demo:${++line}` };
}

/** The bench workload (all five sources, stream shape), seeds 1 and 2: ~20 000 records. */
const workloads = [1, 2].map((seed) => generateWorkload({ seed, records: 10_000, principals: 500 }));

function* workloadBodies(): Generator<Body> {
  for (const [w, workload] of workloads.entries()) for (const [i, body] of workload.bodies.entries()) yield { body, file: `seed${w + 1}:${i}` };
}

function* streamRecords(): Generator<Rec> {
  for (const workload of workloads) for (const body of workload.bodies) yield* (JSON.parse(body) as { records: Rec[] }).records;
  for (const { body } of [...fixtureBodies(), ...demoBodies()]) {
    try {
      const doc = JSON.parse(body) as { records?: Rec[] };
      if (Array.isArray(doc.records)) yield* doc.records;
    } catch {
      // NDJSON fixtures are covered by the stream-shape groups.
    }
  }
}

/** The same records as the Log Analytics rows a backtest reads, 100 rows a body. */
function* rowBodies(): Generator<Body> {
  let batch: Rec[] = [];
  let n = 0;
  for (const record of streamRecords()) {
    const row = rowRecord(record);
    if (row) batch.push(row);
    if (batch.length === 100) {
      yield { body: JSON.stringify(batch), file: `rows:${n++}`, options: { rows: true } };
      batch = [];
    }
  }
  if (batch.length) yield { body: JSON.stringify(batch), file: `rows:${n}`, options: { rows: true } };
}

/** Ways a record goes wrong, each applied to a spread of real records of every source. */
const STREAM_DAMAGE: Array<[string, (r: Rec) => void]> = [
  [
    'no time',
    (r) => {
      delete r.time;
      const p = r.properties as Rec | undefined;
      if (p && typeof p === 'object') delete p.createdDateTime;
    },
  ],
  [
    'time not a time',
    (r) => {
      r.time = 'yesterday';
    },
  ],
  [
    'time a number',
    (r) => {
      r.time = 1_717_000_000;
    },
  ],
  [
    'no operation',
    (r) => {
      r.operationName = ' ';
    },
  ],
  [
    'properties broken JSON',
    (r) => {
      r.properties = '{"a":';
    },
  ],
  [
    'properties an array',
    (r) => {
      r.properties = [1, 2];
    },
  ],
  [
    'identity a number',
    (r) => {
      r.identity = 42;
    },
  ],
  [
    'category a number',
    (r) => {
      r.category = 7;
    },
  ],
  [
    'no category',
    (r) => {
      delete r.category;
    },
  ],
  [
    'resourceId an object',
    (r) => {
      r.resourceId = { id: 'x' };
    },
  ],
  [
    'caller IP placeholder',
    (r) => {
      r.callerIpAddress = '<Redacted>';
    },
  ],
  [
    'no identity',
    (r) => {
      delete r.identity;
    },
  ],
  [
    'result odd',
    (r) => {
      r.resultType = 'Succeeded.';
      r.statusCode = 'x';
      r.resultSignature = null;
    },
  ],
];
const ROW_DAMAGE: Array<[string, (r: Rec) => void]> = [
  [
    'no TimeGenerated',
    (r) => {
      delete r.TimeGenerated;
      delete r.CreatedDateTime;
    },
  ],
  [
    'no OperationName',
    (r) => {
      r.OperationName = null;
      r.OperationNameValue = null;
    },
  ],
  [
    'no Type',
    (r) => {
      delete r.Type;
    },
  ],
  [
    'Properties broken',
    (r) => {
      r.Properties = '{';
      r.properties_s = '{';
    },
  ],
  [
    'Category a number',
    (r) => {
      r.Category = 3;
    },
  ],
];

function* malformedBodies(): Generator<Body> {
  const all = [...streamRecords()];
  const sample = all.filter((_, i) => i % 97 === 0);
  for (const [name, damage] of STREAM_DAMAGE) {
    const records = sample.map((r) => {
      const copy = structuredClone(r);
      damage(copy);
      return copy;
    });
    yield { body: JSON.stringify({ records }), file: `stream:${name}` };
  }
  for (const [name, damage] of ROW_DAMAGE) {
    const rows = sample
      .map(rowRecord)
      .filter((r): r is Rec => r !== undefined)
      .map((r) => {
        damage(r);
        return r;
      });
    yield { body: JSON.stringify(rows), file: `rows:${name}`, options: { rows: true } };
  }
  yield { body: JSON.stringify({ records: [null, 3, 'text', [], {}] }), file: 'not records' };
  yield { body: `${JSON.stringify({ records: sample.slice(0, 3) }).slice(0, -40)}`, file: 'cut short' };
  yield {
    body:
      sample
        .slice(0, 5)
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n{"broken',
    file: 'ndjson with a bad line',
  };
}

function* externalBodies(): Generator<Body> {
  for (const dir of [EXTERNAL_CAPTURES, `${EXTERNAL_CAPTURES}2`]) {
    for (const path of filesUnder(dir, (name) => !name.endsWith('.md'))) yield { body: readFileSync(path, 'utf8'), file: relative(dir, path) };
  }
}

const GROUPS: Record<string, () => Iterable<Body>> = {
  fixtures: fixtureBodies,
  demo: demoBodies,
  workload: workloadBodies,
  rows: rowBodies,
  malformed: malformedBodies,
};
const haveExternal = existsSync(EXTERNAL_CAPTURES) && existsSync(`${EXTERNAL_CAPTURES}2`);

describe('normalize fingerprint: events and dead letters are unchanged by refactoring', () => {
  const pinned = existsSync(PINNED) ? (JSON.parse(readFileSync(PINNED, 'utf8')) as Record<string, Fingerprint>) : {};
  const actual: Record<string, Fingerprint> = {};
  const groups = Object.entries(GROUPS);
  if (haveExternal) groups.push(['external', externalBodies]);

  for (const [name, bodies] of groups) {
    it(
      name,
      () => {
        actual[name] = fingerprint(bodies());
        expect(actual[name].events).toBeGreaterThan(0);
        if (process.env.UPDATE_FINGERPRINT) {
          writeFileSync(PINNED, `${JSON.stringify({ ...pinned, ...actual }, null, 2)}\n`);
          return;
        }
        expect(actual[name]).toEqual(pinned[name]);
      },
      120_000,
    );
  }
});
