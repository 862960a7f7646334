import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Detector, loadRules, parseTunableOverrides, type Rule, type TunableOverrides } from '../../src/engine/index.js';
import { detectInCaptures } from '../../src/replay/replay.js';
import type { Alert, NormalizedEvent } from '../../src/model/index.js';
import { toLogAnalyticsTables, type TableRows } from '../support/log-analytics-rows.js';

/** The demo hour (stream shape) every backtest test reads back as Log Analytics rows. */
export const DEMO_CAPTURE = fileURLToPath(new URL('../../demo/tenant-hour.ndjson.gz', import.meta.url));
export const DEMO_TUNABLES_FILE = fileURLToPath(new URL('../../demo/tunables.json', import.meta.url));
export const DEMO_RANGE = { from: Date.parse('2025-06-02T09:00:00Z'), to: Date.parse('2025-06-02T10:00:00Z') };

export function demoRecords(): Record<string, unknown>[] {
  return gunzipSync(readFileSync(DEMO_CAPTURE))
    .toString('utf8')
    .trim()
    .split('\n')
    .flatMap((line) => (JSON.parse(line) as { records: Record<string, unknown>[] }).records);
}

/** The demo hour as the workspace would hold it: one table of rows per Log Analytics table. */
export function demoTables(): TableRows[] {
  return [...toLogAnalyticsTables(demoRecords()).values()];
}

export function demoTunables(): TunableOverrides {
  return parseTunableOverrides(readFileSync(DEMO_TUNABLES_FILE, 'utf8'), 'demo/tunables.json');
}

export async function demoRules(): Promise<Rule[]> {
  return (await loadRules()).map((l) => l.rule);
}

/** What replay of the stream-shape capture gives: the engine's capture replay, the path `warden replay` and `warden demo` run. */
export async function replayDemo(rules: Rule[]): Promise<{ alerts: Alert[]; events: NormalizedEvent[] }> {
  const detector = new Detector(rules, { tunables: demoTunables() });
  const alerts: Alert[] = [];
  const events: NormalizedEvent[] = [];
  for await (const body of detectInCaptures([DEMO_CAPTURE], detector)) {
    alerts.push(...body.alerts);
    events.push(...body.result.events.map((e) => e.event));
  }
  return { alerts, events };
}

export const idsOf = (alerts: readonly Alert[]) => alerts.map((a) => `${a.RuleId} ${a.AlertId}`).sort();
