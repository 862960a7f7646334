import { Detector, type Rule } from '../src/engine/index.js';
import { ingestBody } from '../src/ingest/pipeline.js';
import { SourceRegistry } from '../src/ingest/registry.js';
import type { RawRecord } from '../src/ingest/types.js';
import type { NormalizedEvent, StreamEvent } from '../src/model/index.js';
import type { StateStore, StateWriteStats } from '../src/state/types.js';
import { PartitionRouter } from '../src/eventhubs/partitioning.js';

/**
 * The stages the benchmark times, each over the same `{"records":[...]}` bodies: the JSON.parse
 * floor, decode + normalize, and the full in-process pipeline; plus the heap a detect instance
 * holds per tracked key.
 */

/** Keyed partitions of the in-process bus (as `warden replay` and rule tests use). */
export const PARTITIONS = 4;
/** Events per batch where the bench forms batches itself (a keyed-hub delivery). */
export const BATCH = 100;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The floor: JSON.parse of every body. Returns the records seen (so the work cannot be skipped). */
export function parseAll(bodies: readonly string[]): number {
  let records = 0;
  for (const body of bodies) records += (JSON.parse(body) as { records: unknown[] }).records.length;
  return records;
}

/**
 * The workload's records split by the source that reads them, each source's records packed again
 * into `{"records":[...]}` bodies of `perBody`, in workload order: the per-source floor and
 * normalize figures read these.
 */
export function bodiesBySource(bodies: readonly string[], perBody: number): Map<string, { bodies: string[]; records: number }> {
  const registry = new SourceRegistry();
  const records = new Map<string, unknown[]>();
  for (const body of bodies) {
    for (const record of (JSON.parse(body) as { records: RawRecord[] }).records) {
      const route = registry.route(record);
      const source = route.kind === 'normalize' ? route.normalizer.source : route.kind;
      let list = records.get(source);
      if (!list) records.set(source, (list = []));
      list.push(record);
    }
  }
  const out = new Map<string, { bodies: string[]; records: number }>();
  for (const [source, list] of records) {
    const packed: string[] = [];
    for (let i = 0; i < list.length; i += perBody) packed.push(JSON.stringify({ records: list.slice(i, i + perBody) }));
    out.set(source, { bodies: packed, records: list.length });
  }
  return out;
}

export interface IngestCounts {
  events: number;
  deadLetters: number;
  skipped: number;
}

/** Decode + validate + normalize every body (the ingest function's work, without the send). */
export function normalizeAll(bodies: readonly string[]): IngestCounts {
  const counts: IngestCounts = { events: 0, deadLetters: 0, skipped: 0 };
  for (let i = 0; i < bodies.length; i++) {
    const result = ingestBody(bodies[i], { partitionId: '0', sequenceNumber: i });
    counts.events += result.events.length;
    counts.deadLetters += result.deadLetters.length;
    for (const k in result.skippedByCategory) counts.skipped += result.skippedByCategory[k];
  }
  return counts;
}

/**
 * A detect instance keeps its state in Azure Tables, not in the process: this store takes what is
 * written (serialized as for Tables) and keeps nothing, so the heap holds exactly what the instance
 * holds between batches, and the written text dies young as it does once sent. (Kept in process
 * memory instead, every key's last text outlives its batch and is promoted: 10–25% less
 * throughput and a p99 2–3 ms higher, from garbage collection a detect instance does not do.)
 */
export class DiscardingStore implements StateStore {
  // eslint-disable-next-line @typescript-eslint/require-await -- StateStore is a promise interface; this store answers at once
  async load(): Promise<Map<string, string>> {
    return new Map();
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- StateStore is a promise interface; this store answers at once
  async write(_partitionId: string, upserts: ReadonlyMap<string, string>, deletes: Iterable<string>): Promise<StateWriteStats> {
    let entities = upserts.size;
    for (const _ of deletes) entities++;
    return { entities, transactions: Math.ceil(entities / 100) };
  }
}

export interface PipelineRun {
  ms: number;
  events: number;
  deadLetters: number;
  alerts: number;
  keys: number;
}

/**
 * The full pipeline, one body per batch: decode → normalize → route by principal to partitions →
 * every rule, with state in memory and written once per batch (serialized as for Tables, to a
 * store that keeps nothing: Tables holds it, not the process) → alerts. A fresh detector each
 * run, so every run does the same work.
 * `latencies` receives each batch's milliseconds.
 */
export async function runPipeline(bodies: readonly string[], rules: readonly Rule[], latencies?: number[]): Promise<PipelineRun> {
  const detector = new Detector(rules, { store: new DiscardingStore() });
  const router = new PartitionRouter(PARTITIONS);
  const run: PipelineRun = { ms: 0, events: 0, deadLetters: 0, alerts: 0, keys: 0 };
  const start = performance.now();
  for (let i = 0; i < bodies.length; i++) {
    const t0 = performance.now();
    const result = ingestBody(bodies[i], { partitionId: '0', sequenceNumber: i });
    const arrivedAt = Date.now();
    const batch: StreamEvent[] = [];
    for (let k = 0; k < result.events.length; k++) router.route(result.events[k].event, arrivedAt, batch);
    run.alerts += (await detector.process(batch)).length;
    await detector.flush();
    latencies?.push(performance.now() - t0);
    run.events += batch.length;
    run.deadLetters += result.deadLetters.length;
  }
  run.ms = performance.now() - start;
  run.keys = detector.stats().keys;
  return run;
}

/**
 * The engine's input without the ingest before it: each body's events normalized and routed to
 * the keyed partitions once, a batch per body, as the pipeline forms them. Detectors only read
 * events, so every engine run reuses these.
 */
export function engineBatches(bodies: readonly string[]): StreamEvent[][] {
  const router = new PartitionRouter(PARTITIONS);
  const batches: StreamEvent[][] = [];
  for (let i = 0; i < bodies.length; i++) {
    const batch: StreamEvent[] = [];
    for (const { event } of ingestBody(bodies[i], { partitionId: '0', sequenceNumber: i }).events) router.route(event, 0, batch);
    batches.push(batch);
  }
  return batches;
}

export interface EngineRun {
  events: number;
  /**
   * CPU time (process.cpuUsage: user + system, every thread of the process) of `Detector.process`
   * over all batches, µs: the run's CPU time shared between process and flush as their wall-clock
   * time is (process.cpuUsage costs 25 µs a call here, too much to call around every batch).
   */
  processUs: number;
  /** CPU time of `Detector.flush` (sweeps, serialization, the discarding store's write), µs, taken as processUs is. */
  flushUs: number;
  alerts: number;
  /** State entries written (upserts and deletes) over the run. */
  writes: number;
}

/**
 * The engine alone over pre-normalized batches (engineBatches): a fresh detector, state flushed
 * after each batch (or every `flushEvery` batches, and after the last) to a store that keeps nothing.
 */
export async function runEngine(batches: readonly StreamEvent[][], rules: readonly Rule[], flushEvery = 1): Promise<EngineRun> {
  const detector = new Detector(rules, { store: new DiscardingStore() });
  const run: EngineRun = { events: 0, processUs: 0, flushUs: 0, alerts: 0, writes: 0 };
  let processMs = 0;
  let flushMs = 0;
  const cpu = process.cpuUsage();
  for (let i = 0; i < batches.length; i++) {
    const batch = batches[i];
    const t0 = performance.now();
    run.alerts += (await detector.process(batch)).length;
    const t1 = performance.now();
    if ((i + 1) % flushEvery === 0 || i === batches.length - 1) run.writes += (await detector.flush()).entities;
    flushMs += performance.now() - t1;
    processMs += t1 - t0;
    run.events += batch.length;
  }
  const used = process.cpuUsage(cpu);
  const cpuUs = used.user + used.system;
  run.processUs = (cpuUs * processMs) / (processMs + flushMs);
  run.flushUs = cpuUs - run.processUs;
  return run;
}

/** Every event of the bodies, in body order (the heap run clones them). */
export function eventsOf(bodies: readonly string[]): NormalizedEvent[] {
  const events: NormalizedEvent[] = [];
  for (let i = 0; i < bodies.length; i++) for (const { event } of ingestBody(bodies[i], { sequenceNumber: i }).events) events.push(event);
  return events;
}

export interface HeapResult {
  bytesPerKey: number;
  keys: number;
  principals: number;
  events: number;
  heapBytes: number;
}

/**
 * Heap per tracked key with `principals` principals: each behaves like one of the workload's
 * principals (its events, in time order, under a new id), until about `eventsPerPrincipal`
 * events each have gone through every rule in batches of 100. heapUsed after a full GC, minus
 * heapUsed before the detector existed, over the keys holding state.
 */
export async function heapPerKey(
  templates: readonly NormalizedEvent[],
  rules: readonly Rule[],
  principals: number,
  eventsPerPrincipal: number,
  gc: () => void,
): Promise<HeapResult> {
  const templateOf = new Map<string, number>();
  for (const e of templates) if (!templateOf.has(e.principalId)) templateOf.set(e.principalId, templateOf.size);
  const kinds = templateOf.size;
  const touched = new Uint8Array(principals);
  const budget = principals * eventsPerPrincipal;
  const ids = new Array<string>(principals);
  for (let j = 0; j < principals; j++) ids[j] = syntheticId(j);

  // Twice: what the previous runs left (weakly held serializations among it) is gone before the baseline.
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const detector = new Detector(rules, { store: new DiscardingStore() });
  const router = new PartitionRouter(PARTITIONS);
  let batch: StreamEvent[] = [];
  let events = 0;
  const flush = async () => {
    await detector.process(batch);
    await detector.flush();
    batch = [];
  };
  for (const e of templates) {
    if (events >= budget) break;
    const json = JSON.stringify(e);
    for (let j = templateOf.get(e.principalId)!; j < principals; j += kinds) {
      // Parsed anew, as every event is from its own record: state that keeps an event keeps its own strings.
      const clone = JSON.parse(json) as NormalizedEvent;
      clone.id = `${e.id.slice(0, 24)}${j.toString(16).padStart(8, '0')}`;
      clone.principalId = ids[j];
      router.route(clone, 0, batch);
      touched[j] = 1;
      events++;
      if (batch.length >= BATCH) await flush();
    }
  }
  if (batch.length) await flush();
  gc();
  gc();
  const heapBytes = process.memoryUsage().heapUsed - before;
  const keys = detector.stats().keys;
  let reached = 0;
  for (const t of touched) reached += t;
  return { bytesPerKey: keys ? heapBytes / keys : NaN, keys, principals: reached, events, heapBytes };
}

/** A principal id shaped like an Entra object id (lower-case GUID), distinct for each j. */
function syntheticId(j: number): string {
  const hex = j.toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${hex}`;
}
