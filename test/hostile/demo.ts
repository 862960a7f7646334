import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { loadRules } from '../../src/engine/index.js';
import { detectInCaptures } from '../../src/replay/replay.js';
import { IngestTotals, type IngestSummary } from '../../src/ingest/pipeline.js';
import { InMemoryStateStore } from '../../src/state/memory.js';
import { commandDetector, tunablesFor } from '../../src/cli/options.js';
import { DEMO_DETECTOR } from '../../src/cli/commands/demo.js';
import type { Alert, DeadLetter } from '../../src/model/index.js';
import type { DetectorStats } from '../../src/engine/detector.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const DEMO_CAPTURE = join(REPO, 'demo', 'tenant-hour.ndjson.gz');

/** The demo capture's bodies: one `{"records":[…]}` per line. */
export async function demoBodies(): Promise<Array<{ records: Array<Record<string, unknown>> }>> {
  const text = gunzipSync(await readFile(DEMO_CAPTURE)).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { records: Array<Record<string, unknown>> });
}

export async function writeCapture(path: string, bodies: unknown[]): Promise<void> {
  await writeFile(path, gzipSync(bodies.map((b) => JSON.stringify(b)).join('\n') + '\n'));
}

export interface DemoRun {
  alerts: Alert[];
  deadLetters: DeadLetter[];
  summary: IngestSummary;
  stats: DetectorStats;
  /** State as the store holds it after the run, every partition's entries as text. */
  state: string;
}

/** A capture through the pipeline `warden demo` runs: every rule, the demo's tunables, 4 partitions, state in a store. */
export async function runAsDemo(file: string): Promise<DemoRun> {
  const rules = (await loadRules()).map((l) => l.rule);
  const store = new InMemoryStateStore();
  const detector = commandDetector(rules, { store, tunables: await tunablesFor(rules, rules, join(REPO, 'demo', 'tunables.json')), ...DEMO_DETECTOR });
  const totals = new IngestTotals();
  const alerts: Alert[] = [];
  const deadLetters: DeadLetter[] = [];
  for await (const body of detectInCaptures([file], detector, { partitions: 4 })) {
    totals.add(body.result);
    for (const a of body.alerts) alerts.push(a);
    for (const d of body.result.deadLetters) deadLetters.push(d);
  }
  const state: string[] = [];
  for (let p = 0; p < 4; p++) for (const [k, v] of await store.load(String(p))) state.push(`${k}=${v}`);
  return { alerts, deadLetters, summary: totals.summary(), stats: detector.stats(), state: state.join('\n') };
}

/** What an alert is about, without its times of detection: equal for the same detection in two runs. */
export function alertKey(a: Alert): string {
  return `${a.AlertId} ${a.RuleId} ${a.Severity} ${a.PrincipalId} ${a.FirstEventTime} ${a.LastEventTime} ${a.EventCount}`;
}
