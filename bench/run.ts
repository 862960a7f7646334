import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadRules, type Rule } from '../src/engine/index.js';
import { generateWorkload } from '../synth/scenario.js';
import { rulesForScaling } from './rule-copies.js';
import { bodiesBySource, engineBatches, eventsOf, heapPerKey, median, normalizeAll, parseAll, runEngine, runPipeline } from './stages.js';
import { tableCost } from './tables.js';

const USAGE = `usage: npm run bench -- [options]

Measures Warden's hot path on a deterministic synthetic workload (all five sources, stream shape,
{"records":[...]} bodies of 100 records): the JSON.parse floor, decode + normalize, the full
in-process pipeline with every rule in detections/ and with the first pack's 11 rules, batch
latency, heap per tracked key, Table state writes on Azurite, and throughput at 1, 10 and 100 rules;
normalize also source by source (each source's records alone, against their own JSON.parse floor),
and the engine apart from normalize (CPU per event over pre-normalized events), rule by rule.

options:
  --records N      records in the workload (default 100000)
  --principals N   principals in the synthetic tenant (default 5000)
  --seed S         workload seed (default 1)
  --rounds N       measured rounds per figure; the median is reported (default 5)
  --json           end the output with one JSON line of the figures
  -h, --help       show this help`;

/** A mistake in the options: one line on stderr, exit code 2. */
class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

interface Options {
  records: number;
  principals: number;
  seed: number;
  rounds: number;
  json: boolean;
}

function options(argv: string[]): Options | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        records: { type: 'string' },
        principals: { type: 'string' },
        seed: { type: 'string' },
        rounds: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new BenchUsageError(`${(err as Error).message.split('. ')[0]}: see 'npm run bench -- --help'`);
  }
  if (values.help) return undefined;
  const int = (name: string, v: string | undefined, fallback: number, min: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v.replace(/_/g, ''));
    if (!Number.isSafeInteger(n) || n < min) throw new BenchUsageError(`--${name} needs a whole number ≥ ${min}, got '${v}'`);
    return n;
  };
  return {
    records: int('records', values.records, 100_000, 500),
    principals: int('principals', values.principals, 5_000, 20),
    seed: int('seed', values.seed, 1, 0),
    rounds: int('rounds', values.rounds, 5, 1),
    json: values.json ?? false,
  };
}

/** Principals whose state the heap figure is taken over, whatever the workload's size. */
const HEAP_PRINCIPALS = 100_000;
/** Events per principal in the heap run: enough for every rule a principal's traffic reaches to hold state. */
const HEAP_EVENTS_PER_PRINCIPAL = 6;
const RULE_COUNTS = [1, 10, 100] as const;
/**
 * The first detection pack's rules: the pipeline is also timed with only these, so its ratio to the
 * floor compares with figures measured before the later packs (docs/performance.md).
 */
const FIRST_PACK = [
  'ai-invocation-rate-anomaly',
  'ai-new-caller',
  'ai-key-listing',
  'storage-key-listing',
  'keyvault-mass-secret-read',
  'keyvault-first-secret-read',
  'cross-subscription-data-copy',
  'cross-subscription-read-write-sequence',
  'nhi-new-ip-then-key-access',
  'monitoring-disabled-on-ai-resource',
  'data-plane-role-granted',
];
/** The scaling runs read the workload's first bodies only, up to this many records: a hundred rules take long over all of it. */
const SCALING_RECORDS = 20_000;

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Nearest-rank percentile. */
function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function timed<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const thousands = (x: number) => Math.round(x).toLocaleString('en-US');

/** One source's records alone (the workload's, packed into bodies of their own): its floor, its normalize, and the ratio. */
export interface SourceFigures {
  records: number;
  parseRecordsPerSec: number;
  normalizeRecordsPerSec: number;
  normalizeToParseRatio: number;
}

/** A rule's share of the engine: CPU µs per workload event of the detector with this rule alone, over the detector with none. */
export interface RuleFigures {
  process: number;
  flush: number;
}

/**
 * The engine apart from normalize, in CPU time (process.cpuUsage) per event: the workload's events
 * normalized and routed once beforehand, then `Detector.process` and `flush` (state serialized, to
 * a store that keeps nothing) with every rule, with none, and with each rule alone.
 */
export interface EngineFigures {
  /** Keyed events (an event with a target on another partition counts twice). */
  events: number;
  /** Decode + validate + normalize, CPU µs per record, in the same rounds. */
  normalizeUsPerRecord: number;
  /** Every rule: process + flush, and each. */
  usPerEvent: number;
  processUsPerEvent: number;
  flushUsPerEvent: number;
  /** No rule at all: what every event costs before any rule (redelivery checks, watermark, principal ages, the partition's entry). */
  noRulesUsPerEvent: number;
  /** Each rule alone minus no rules, in catalogue order. */
  byRule: Record<string, RuleFigures>;
}

export interface BenchFigures {
  parseRecordsPerSec: number;
  parseMBPerSec: number;
  normalizeRecordsPerSec: number;
  normalizeToParseRatio: number;
  /** By the source that reads the records (those the workload has: ai, storage, signin, keyvault, activity). */
  normalizeBySource: Record<string, SourceFigures>;
  pipelineRecordsPerSec: number;
  pipelineToParseRatio: number;
  /** The pipeline with the first pack's 11 rules only, over the same floor. */
  pipelineToParseRatioFirstPack: number;
  batchLatencyMs: { p50: number; p99: number; max: number };
  heapBytesPerKey: number;
  tableEntitiesPerBatch: number;
  tableTransactionsPerBatch: number;
  tableMsPerBatch: number;
  recordsPerSecByRuleCount: { '1': number; '10': number; '100': number };
  engine: EngineFigures;
}

const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * The engine figures (EngineFigures): every rule and normalize interleaved over `rounds`, then the
 * detector with no rule and with each rule alone, interleaved over up to 3 rounds; medians.
 */
async function engineFigures(bodies: readonly string[], pack: readonly Rule[], rounds: number, gc: () => void): Promise<EngineFigures> {
  const batches = engineBatches(bodies);
  const records = parseAll(bodies);
  await runEngine(batches.slice(0, batches.length >> 2), pack);
  const normalizeUs: number[] = [];
  const processUs: number[] = [];
  const flushUs: number[] = [];
  let events = 0;
  for (let r = 0; r < rounds; r++) {
    gc();
    const c0 = cpuUs();
    normalizeAll(bodies);
    normalizeUs.push(cpuUs() - c0);
    gc();
    const run = await runEngine(batches, pack);
    processUs.push(run.processUs);
    flushUs.push(run.flushUs);
    events = run.events;
    progress(`engine round ${r + 1}/${rounds}: ${round2((run.processUs + run.flushUs) / events)} µs/event CPU (${pack.length} rules)`);
  }
  const alone = [[], ...pack.map((rule) => [rule])];
  const runs = alone.map(() => ({ process: [] as number[], flush: [] as number[] }));
  for (let r = 0; r < Math.min(3, rounds); r++) {
    for (let i = 0; i < alone.length; i++) {
      gc();
      const run = await runEngine(batches, alone[i]);
      runs[i].process.push(run.processUs);
      runs[i].flush.push(run.flushUs);
    }
    progress(`engine by rule: round ${r + 1}/${Math.min(3, rounds)}`);
  }
  const perEvent = (us: readonly number[]) => median(us) / events;
  const none = runs[0];
  const byRule: Record<string, RuleFigures> = {};
  pack.forEach((rule, i) => {
    byRule[rule.id] = {
      process: round2(perEvent(runs[i + 1].process) - perEvent(none.process)),
      flush: round2(perEvent(runs[i + 1].flush) - perEvent(none.flush)),
    };
  });
  return {
    events,
    normalizeUsPerRecord: round2(median(normalizeUs) / records),
    usPerEvent: round2(perEvent(processUs) + perEvent(flushUs)),
    processUsPerEvent: round2(perEvent(processUs)),
    flushUsPerEvent: round2(perEvent(flushUs)),
    noRulesUsPerEvent: round2(perEvent(none.process) + perEvent(none.flush)),
    byRule,
  };
}

async function bench(o: Options, gc: () => void): Promise<number> {
  const started = performance.now();
  const pack = (await loadRules()).map((l) => l.rule);
  const firstPack = pack.filter((r) => FIRST_PACK.includes(r.id));
  if (firstPack.length !== FIRST_PACK.length) throw new Error(`the first pack's rules are not all in detections/: ${FIRST_PACK.join(', ')}`);
  progress(`generating ${thousands(o.records)} records from ${thousands(o.principals)} principals (seed ${o.seed})`);
  const workload = generateWorkload({ seed: o.seed, records: o.records, principals: o.principals });
  const { bodies, recordCount: records, totalBytes } = workload;
  const quarter = bodies.slice(0, Math.max(1, bodies.length >> 2));
  const perBody = records / bodies.length;
  const scalingBodies = bodies.slice(0, Math.max(1, Math.round(SCALING_RECORDS / perBody)));
  const scalingRecords = parseAll(scalingBodies);

  // Warm-up: every stage once over part of the bodies, so the rounds measure optimized code.
  parseAll(bodies);
  normalizeAll(quarter);
  await runPipeline(quarter, pack);
  await runPipeline(quarter, firstPack);

  // Rounds interleave the stages, so load from elsewhere on the machine hits all of them alike.
  const parseMs: number[] = [];
  const normalizeMs: number[] = [];
  const pipelineMs: number[] = [];
  const firstPackMs: number[] = [];
  const latencies: number[] = [];
  let last;
  for (let r = 0; r < o.rounds; r++) {
    gc();
    const parsed = timed(() => parseAll(bodies));
    if (parsed.value !== records) throw new Error(`the bodies hold ${parsed.value} records, the generator said ${records}`);
    parseMs.push(parsed.ms);
    gc();
    const normalized = timed(() => normalizeAll(bodies));
    normalizeMs.push(normalized.ms);
    gc();
    last = await runPipeline(bodies, pack, latencies);
    pipelineMs.push(last.ms);
    gc();
    const first = await runPipeline(bodies, firstPack);
    firstPackMs.push(first.ms);
    progress(
      `round ${r + 1}/${o.rounds}: parse ${thousands(parsed.ms)} ms, normalize ${thousands(normalized.ms)} ms, pipeline ${thousands(last.ms)} ms (first pack ${thousands(first.ms)} ms)`,
    );
  }
  if (!last || last.deadLetters)
    throw new Error(`${last?.deadLetters} records of the synthetic workload were dead-lettered: the generator and the normalizers disagree`);

  // Each source's records alone, floor and normalize interleaved as above: where normalize's time goes, source by source.
  const normalizeBySource: Record<string, SourceFigures> = {};
  for (const [source, group] of bodiesBySource(bodies, Math.round(perBody))) {
    normalizeAll(group.bodies);
    const sourceParseMs: number[] = [];
    const sourceNormalizeMs: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      gc();
      sourceParseMs.push(timed(() => parseAll(group.bodies)).ms);
      gc();
      sourceNormalizeMs.push(timed(() => normalizeAll(group.bodies)).ms);
    }
    const parsePerSec = (group.records / median(sourceParseMs)) * 1000;
    const normalizePerSec = (group.records / median(sourceNormalizeMs)) * 1000;
    normalizeBySource[source] = {
      records: group.records,
      parseRecordsPerSec: Math.round(parsePerSec),
      normalizeRecordsPerSec: Math.round(normalizePerSec),
      normalizeToParseRatio: round3(normalizePerSec / parsePerSec),
    };
    progress(`normalize ${source}: ${thousands(normalizePerSec)} records/s, ${round3(normalizePerSec / parsePerSec)} of its floor`);
  }

  const byRuleCount: Record<string, number> = {};
  const scalingRounds = Math.max(1, Math.min(3, o.rounds));
  for (const count of RULE_COUNTS) {
    const rules = rulesForScaling(pack, count);
    await runPipeline(scalingBodies.slice(0, Math.max(1, scalingBodies.length >> 2)), rules);
    const ms: number[] = [];
    for (let r = 0; r < scalingRounds; r++) {
      gc();
      ms.push((await runPipeline(scalingBodies, rules)).ms);
    }
    byRuleCount[count] = (scalingRecords / median(ms)) * 1000;
    progress(`${count} rules: ${thousands(byRuleCount[count])} records/s`);
  }

  const engine = await engineFigures(bodies, pack, o.rounds, gc);

  progress(`heap: state for ${thousands(HEAP_PRINCIPALS)} principals`);
  const templates = eventsOf(bodies);
  const heap = await heapPerKey(templates, pack, HEAP_PRINCIPALS, HEAP_EVENTS_PER_PRINCIPAL, gc);
  progress(
    `heap: ${thousands(heap.heapBytes)} bytes over ${thousands(heap.keys)} keys (${thousands(heap.principals)} principals, ${thousands(heap.events)} events)`,
  );

  progress('Tables: starting Azurite');
  const table = await tableCost(templates, pack);
  progress(`Tables: ${table.batches} batches, ${round1(table.msPerBatch)} ms each`);

  const parseRecordsPerSec = (records / median(parseMs)) * 1000;
  const pipelineRecordsPerSec = (records / median(pipelineMs)) * 1000;
  const firstPackRecordsPerSec = (records / median(firstPackMs)) * 1000;
  const normalizeRecordsPerSec = (records / median(normalizeMs)) * 1000;
  const figures: BenchFigures = {
    parseRecordsPerSec: Math.round(parseRecordsPerSec),
    parseMBPerSec: round1(totalBytes / 1e6 / (median(parseMs) / 1000)),
    normalizeRecordsPerSec: Math.round(normalizeRecordsPerSec),
    normalizeToParseRatio: round3(normalizeRecordsPerSec / parseRecordsPerSec),
    normalizeBySource,
    pipelineRecordsPerSec: Math.round(pipelineRecordsPerSec),
    pipelineToParseRatio: round3(pipelineRecordsPerSec / parseRecordsPerSec),
    pipelineToParseRatioFirstPack: round3(firstPackRecordsPerSec / parseRecordsPerSec),
    batchLatencyMs: { p50: round3(percentile(latencies, 50)), p99: round3(percentile(latencies, 99)), max: round3(Math.max(...latencies)) },
    heapBytesPerKey: Math.round(heap.bytesPerKey),
    tableEntitiesPerBatch: round1(table.entitiesPerBatch),
    tableTransactionsPerBatch: round1(table.transactionsPerBatch),
    tableMsPerBatch: round1(table.msPerBatch),
    recordsPerSecByRuleCount: { '1': Math.round(byRuleCount[1]), '10': Math.round(byRuleCount[10]), '100': Math.round(byRuleCount[100]) },
    engine,
  };

  const out = (line: string) => process.stdout.write(`${line}\n`);
  const mb = totalBytes / 1e6;
  out(
    `workload        ${thousands(records)} records (${mb.toFixed(1)} MB, ${thousands(totalBytes / records)} B/record) in ${thousands(bodies.length)} bodies, ${thousands(o.principals)} principals, seed ${o.seed}`,
  );
  out(
    `rules           ${pack.length} in detections/ (${pack.map((r) => r.id).join(', ')}); ${last.alerts} alerts per pass, ${thousands(last.keys)} keys at the end`,
  );
  out(`rounds          median of ${o.rounds} (scaling: ${scalingRounds}, over the first ${thousands(scalingRecords)} records); MB = 10^6 bytes`);
  out('');
  out(`JSON.parse      ${thousands(figures.parseRecordsPerSec).padStart(10)} records/s   ${figures.parseMBPerSec} MB/s   (the floor)`);
  out(
    `normalize       ${thousands(figures.normalizeRecordsPerSec).padStart(10)} records/s   ${figures.normalizeToParseRatio} of the floor (decode + validate + normalize)`,
  );
  for (const [source, f] of Object.entries(normalizeBySource)) {
    out(
      `  ${source.padEnd(13)} ${thousands(f.normalizeRecordsPerSec).padStart(10)} records/s   ${f.normalizeToParseRatio} of its floor (${thousands(f.parseRecordsPerSec)} records/s; ${thousands(f.records)} records)`,
    );
  }
  out(
    `pipeline        ${thousands(figures.pipelineRecordsPerSec).padStart(10)} records/s   ${figures.pipelineToParseRatio} of the floor (${pack.length} rules)`,
  );
  out(
    `  first pack    ${thousands(firstPackRecordsPerSec).padStart(10)} records/s   ${figures.pipelineToParseRatioFirstPack} of the floor (its ${firstPack.length} rules)`,
  );
  out(
    `batch latency   p50 ${figures.batchLatencyMs.p50} ms, p99 ${figures.batchLatencyMs.p99} ms, max ${figures.batchLatencyMs.max} ms per ${Math.round(perBody)} records`,
  );
  out(`heap per key    ${figures.heapBytesPerKey} bytes   (${thousands(heap.keys)} keys, ${thousands(heap.principals)} principals)`);
  out(
    `Tables state    ${figures.tableEntitiesPerBatch} entities, ${figures.tableTransactionsPerBatch} transactions, ${figures.tableMsPerBatch} ms per batch of ${table.eventsPerBatch} events (Azurite, ${table.batches} batches)`,
  );
  out(
    `engine          ${engine.usPerEvent} µs/event CPU (process ${engine.processUsPerEvent}, flush ${engine.flushUsPerEvent}; ${pack.length} rules, ${thousands(engine.events)} events), normalize ${engine.normalizeUsPerRecord} µs/record CPU`,
  );
  out(`  no rules      ${engine.noRulesUsPerEvent} µs/event; each rule alone over that, µs/event process + flush:`);
  const ranked = Object.entries(engine.byRule).sort((a, b) => b[1].process + b[1].flush - (a[1].process + a[1].flush));
  for (const [id, f] of ranked) out(`  ${id.padEnd(40)} ${f.process.toFixed(2).padStart(6)} + ${f.flush.toFixed(2).padStart(5)}`);
  out(`by rule count   ${RULE_COUNTS.map((n) => `${n}: ${thousands(byRuleCount[n])}`).join('   ')} records/s`);
  out('');
  const targets: Array<[string, boolean]> = [
    [`normalize ≥ 0.45 of the JSON.parse floor (${figures.normalizeToParseRatio})`, figures.normalizeToParseRatio >= 0.45],
    [`pipeline ≥ 0.30 of the JSON.parse floor (${figures.pipelineToParseRatio})`, figures.pipelineToParseRatio >= 0.3],
    [`pipeline ≥ 120,000 records/s on one core (${thousands(figures.pipelineRecordsPerSec)})`, figures.pipelineRecordsPerSec >= 120_000],
    [`p99 batch latency ≤ 10 ms per 100 records (${figures.batchLatencyMs.p99})`, figures.batchLatencyMs.p99 <= 10],
    [`heap ≤ 400 bytes per tracked key (${figures.heapBytesPerKey})`, figures.heapBytesPerKey <= 400],
    [
      `state writes ≤ 1 transaction per 100 dirty keys (${figures.tableTransactionsPerBatch} per batch of ${figures.tableEntitiesPerBatch} entities; fewest possible ${round1(table.fewestTransactionsPerBatch)})`,
      table.transactionsPerBatch <= table.fewestTransactionsPerBatch,
    ],
  ];
  for (const [what, met] of targets) out(`${met ? 'met   ' : 'MISSED'}  ${what}`);
  progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (o.json) out(JSON.stringify(figures));
  return 0;
}

/**
 * The heap figure needs a full GC on demand: without `--expose-gc` the bench runs itself again
 * with it (same loader flags, same arguments), so `npm run bench` needs nothing else.
 */
function rerunWithGc(): number {
  const child = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', ...process.argv.slice(1)], { stdio: 'inherit' });
  return child.status ?? 1;
}

async function main(): Promise<number> {
  let o: Options | undefined;
  try {
    o = options(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n`);
    return 2;
  }
  if (!o) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return rerunWithGc();
  return bench(o, gc);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`bench: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}\n`);
    process.exitCode = 1;
  },
);
