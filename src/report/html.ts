import type { ObservedPoint, RuleKind, RuleLearning } from '../engine/index.js';
import { resourceName } from '../common/ids.js';
import type { Alert, Severity } from '../model/index.js';
import { CHART_COLORS, seriesChart } from './chart.js';
import { escapeHtml } from './escape.js';
import type { SeriesCollector } from './series.js';

/** What the report says about each rule that ran (alerting or not: a rule that never fires is tuning news too). */
export interface ReportRule {
  id: string;
  name: string;
  kind: RuleKind;
  severity: Severity;
  description?: string;
}

export interface ReportOptions {
  /** Page title (default 'Warden backtest report'). */
  title?: string;
  /** Where the logs came from, in words ('workspace …, 2 tables', 'export alerts.json'). */
  source: string;
  rules: readonly ReportRule[];
  /** The history covered; days without alerts still get a column. */
  range?: { from: number; to: number };
  /** Input counts shown under the summary. */
  counts?: { rows: number; events: number; deadLettered: number; skipped: number };
  /** Anything the reader must know (partial slices, missing tables). */
  notes?: readonly string[];
  generatedAt?: number;
  /** Alerts listed per rule before the rest are only counted (default 200). */
  maxAlertsPerRule?: number;
  /** Charts per rule (default 40). */
  maxChartsPerRule?: number;
  /**
   * Per rule with a learning period, what learning cost (the detector's `stats().learning`): the
   * alerts it could not raise because a key was still learning, and the keys still learning at the end.
   */
  learning?: Readonly<Record<string, RuleLearning>>;
}

/** Left marker of an alert row: tests find alert rows in a screenshot by it. */
export const ALERT_ROW_COLOR = '#7c3aed';
const SEVERITY_COLORS: Record<Severity, string> = { High: '#b91c1c', Medium: '#c2410c', Low: '#a16207', Informational: '#475569' };
const DAY_MS = 86_400_000;

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px}h3{font-size:15px;margin:16px 0 4px}
.meta,.muted{color:#4b5563}code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:6px 0}th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}.zero{color:#9ca3af}
.sev{display:inline-block;color:#fff;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600}
${Object.entries(SEVERITY_COLORS)
  .map(([s, c]) => `.sev-${s}{background:${c}}`)
  .join('')}
tr.alert td:first-child{border-left:6px solid ${ALERT_ROW_COLOR}}tr.alert td{border-bottom:none}
tr.evidence td{padding:0 8px 10px 22px;font-size:12px}dl{display:grid;grid-template-columns:max-content auto;gap:0 12px;margin:2px 0 6px}dt{color:#4b5563}dd{margin:0}
table.events th,table.events td{padding:2px 6px;font-size:12px}.chart text{font:11px system-ui,sans-serif;fill:#374151}
.notes li{color:#92400e}.learning{color:#92400e}td.held:not(.zero){color:#92400e;font-weight:600}section.rule{border-top:2px solid #e5e7eb;margin-top:24px}
`;

function isoMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

function daysOf(alerts: readonly Alert[], range: ReportOptions['range']): string[] {
  const days = new Set(alerts.map((a) => a.LastEventTime.slice(0, 10)));
  if (range) for (let d = Math.floor(range.from / DAY_MS) * DAY_MS; d < range.to; d += DAY_MS) days.add(new Date(d).toISOString().slice(0, 10));
  return [...days].sort();
}

function matrix(alerts: readonly Alert[], rules: readonly ReportRule[], days: string[], learning?: ReportOptions['learning']): string {
  const cell = new Map<string, number>();
  for (const a of alerts) {
    const k = `${a.RuleId}|${a.LastEventTime.slice(0, 10)}`;
    cell.set(k, (cell.get(k) ?? 0) + 1);
  }
  const n = (v: number, cls = '') => `<td class="num${cls}${v ? '' : ' zero'}">${v}</td>`;
  // The learning column: alerts held back because a key was still learning; a dash for rules that do not learn.
  const held = (id?: string): string => {
    if (!learning) return '';
    if (id === undefined)
      return n(
        Object.values(learning).reduce((t, l) => t + l.heldWhileLearning, 0),
        ' held',
      );
    const l = learning[id];
    return l ? n(l.heldWhileLearning, ' held') : '<td class="num zero">–</td>';
  };
  const heldHead = learning ? '<th class="num" title="alerts not raised because the key was still learning">held while learning</th>' : '';
  const head = `<tr><th>rule</th><th>kind</th>${days.map((d) => `<th class="num">${d.slice(5)}</th>`).join('')}<th class="num">total</th>${heldHead}</tr>`;
  const rows = rules.map((r) => {
    const perDay = days.map((d) => cell.get(`${r.id}|${d}`) ?? 0);
    const total = alerts.filter((a) => a.RuleId === r.id).length;
    const name = total ? `<a href="#rule-${escapeHtml(r.id)}">${escapeHtml(r.id)}</a>` : escapeHtml(r.id);
    return `<tr><td>${name}</td><td>${escapeHtml(r.kind)}</td>${perDay.map((v) => n(v)).join('')}${n(total)}${held(r.id)}</tr>`;
  });
  const totals = days.map((d) => alerts.filter((a) => a.LastEventTime.startsWith(d)).length);
  return `<table class="matrix">${head}${rows.join('')}<tr><th>total</th><th></th>${totals.map((v) => n(v)).join('')}${n(alerts.length)}${held()}</tr></table>`;
}

/** What learning cost, in a sentence under the matrix; empty when no rule held anything back or had a key still learning. */
function learningNote(learning: ReportOptions['learning']): string {
  if (!learning) return '';
  const held = Object.values(learning).reduce((t, l) => t + l.heldWhileLearning, 0);
  const keys = Object.values(learning).reduce((t, l) => t + l.keysLearning, 0);
  if (!held && !keys) return '';
  return `<p class="learning">${held} alert${held === 1 ? '' : 's'} could not be raised because the key was still learning (<em>held while learning</em>, per rule above; counted before suppression, so repeats a rule would have suppressed count too); ${keys} key${keys === 1 ? ' was' : 's were'} still learning at the end. That is the blind spot of a cold start: <code>warden seed</code> fills the state from the workspace's history before going live.</p>`;
}

function value(v: unknown): string {
  if (v === null || v === undefined) return '<span class="muted">–</span>';
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return escapeHtml(v.join(', '));
  if (typeof v === 'object') return `<code>${escapeHtml(JSON.stringify(v))}</code>`;
  return escapeHtml(v);
}

function eventsTable(events: unknown): string {
  if (!Array.isArray(events) || !events.length) return '';
  const rows = events.map((raw) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const details =
      e.details && typeof e.details === 'object'
        ? Object.entries(e.details as Record<string, unknown>)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(' ')
        : '';
    const cells = [
      String((e.time as string | undefined) ?? '')
        .replace('T', ' ')
        .replace('Z', ''),
      e.source,
      e.operation,
      e.result,
      e.principalName ?? e.principalId,
      e.ip,
      resourceName(e.resourceId as string | undefined) ?? '',
      details.length > 160 ? `${details.slice(0, 160)}…` : details,
    ];
    return `<tr>${cells.map((c) => `<td>${escapeHtml(c ?? '')}</td>`).join('')}</tr>`;
  });
  return `<table class="events"><tr><th>time (UTC)</th><th>source</th><th>operation</th><th>result</th><th>principal</th><th>ip</th><th>resource</th><th>details</th></tr>${rows.join('')}</table>`;
}

function evidence(alert: Alert): string {
  const entries = Object.entries(alert.Evidence).filter(([k]) => k !== 'events');
  const list = [
    ['first event', alert.FirstEventTime],
    ['last event', alert.LastEventTime],
    ['events', alert.EventCount],
    ...(alert.ResourceIds.length ? [['resources', alert.ResourceIds]] : []),
    ...(alert.IpAddresses.length ? [['IP addresses', alert.IpAddresses]] : []),
    ...entries,
  ] as Array<[string, unknown]>;
  return `<dl>${list.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${value(v)}</dd>`).join('')}</dl>${eventsTable(alert.Evidence.events)}`;
}

function alertRows(alerts: readonly Alert[]): string {
  return alerts
    .map(
      (
        a,
      ) => `<tr class="alert"><td>${escapeHtml(isoMinute(Date.parse(a.LastEventTime)))}</td><td><span class="sev sev-${escapeHtml(a.Severity)}">${escapeHtml(a.Severity)}</span></td><td>${escapeHtml(a.PrincipalName ?? a.PrincipalId)}</td><td>${escapeHtml(a.Title)}</td><td><code>${escapeHtml(a.AlertId)}</code></td></tr>
<tr class="evidence"><td colspan="5">${evidence(a)}</td></tr>`,
    )
    .join('\n');
}

/** The event time at which an alert's series point alerted: its bucket (anomaly) or its last event (threshold). */
function alertPointTime(alert: Alert, kind: RuleKind): number {
  const bucket = alert.Evidence.bucketStart;
  return kind === 'anomaly' && typeof bucket === 'string' ? Date.parse(bucket) : Date.parse(alert.LastEventTime);
}

/**
 * The series key an alert came from. Keys are the principal or a finer key starting with it
 * (`principal|resource`); among those, the one with an alerting point at the alert's time.
 */
function keyOf(alert: Alert, kind: RuleKind, keys: readonly string[], seriesOf: (key: string) => ObservedPoint[]): string | undefined {
  const mine = keys.filter((k) => k === alert.PrincipalId || k.startsWith(`${alert.PrincipalId}|`));
  const at = alertPointTime(alert, kind);
  return mine.find((k) => seriesOf(k).some((p) => p.alerting && p.time === at)) ?? (mine.length === 1 ? mine[0] : undefined);
}

function ruleSection(rule: ReportRule, alerts: readonly Alert[], series: SeriesCollector, options: ReportOptions): string {
  const maxAlerts = options.maxAlertsPerRule ?? 200;
  const maxCharts = options.maxChartsPerRule ?? 40;
  const held = options.learning?.[rule.id]?.heldWhileLearning ?? 0;
  const charted = rule.kind === 'anomaly' || rule.kind === 'threshold';
  const cache = new Map<string, ObservedPoint[]>();
  const seriesOf = (key: string) => {
    let s = cache.get(key);
    if (!s) cache.set(key, (s = series.series(rule.id, key)));
    return s;
  };
  const keys = charted ? series.keys(rule.id) : [];
  // Alerts grouped by the series they came from, in the order of their first alert.
  const groups = new Map<string, Alert[]>();
  for (const a of alerts.slice(0, maxAlerts)) {
    const key = (charted && keyOf(a, rule.kind, keys, seriesOf)) || '';
    const list = groups.get(key) ?? [];
    list.push(a);
    groups.set(key, list);
  }
  let charts = 0;
  const parts = [...groups].map(([key, list]) => {
    const points = key && charts < maxCharts ? seriesOf(key) : [];
    const chart = points.length ? seriesChart(points, rule.kind as 'anomaly' | 'threshold', `${rule.id} ${key}`) : '';
    if (chart) charts++;
    const heading = key ? `<h3>${escapeHtml(list[0].PrincipalName ?? list[0].PrincipalId)} <code>${escapeHtml(key)}</code></h3>` : '';
    return `${heading}${chart ? `<div class="series">${chart}</div>` : ''}<table class="alerts"><tr><th>last event (UTC)</th><th>severity</th><th>principal</th><th>title</th><th>AlertId</th></tr>${alertRows(list)}</table>`;
  });
  const more = alerts.length > maxAlerts ? `<p class="muted">${alerts.length - maxAlerts} more alerts not shown: write them all with --out.</p>` : '';
  return `<section class="rule" id="rule-${escapeHtml(rule.id)}">
<h2><span class="sev sev-${escapeHtml(rule.severity)}">${escapeHtml(rule.severity)}</span> ${escapeHtml(rule.name)} <code>${escapeHtml(rule.id)}</code></h2>
<p class="muted">${escapeHtml(rule.kind)} · ${alerts.length} alert${alerts.length === 1 ? '' : 's'}${held ? ` · ${held} held while learning` : ''}${rule.description ? ` · ${escapeHtml(rule.description)}` : ''}</p>
${parts.join('\n')}${more}
</section>`;
}

/**
 * The tuning report: one self-contained HTML page (inline CSS and SVG, no scripts, fonts or
 * images) with alerts per rule and day, each alert's evidence, and for anomaly and threshold rules
 * the alerting principal's series against its baseline and threshold (from a SeriesCollector fed
 * by the detector's `observe` hook). Everything taken from logs is HTML-escaped.
 */
export function renderReport(alerts: readonly Alert[], series: SeriesCollector, options: ReportOptions): string {
  const title = options.title ?? 'Warden backtest report';
  const sorted = [...alerts].sort((a, b) => (a.LastEventTime < b.LastEventTime ? -1 : a.LastEventTime > b.LastEventTime ? 1 : 0));
  const byRule = new Map<string, Alert[]>();
  for (const a of sorted) {
    const list = byRule.get(a.RuleId) ?? [];
    list.push(a);
    byRule.set(a.RuleId, list);
  }
  const known = new Set(options.rules.map((r) => r.id));
  // Alerts of a rule the caller did not describe still appear, under their id.
  const rules = [
    ...options.rules,
    ...[...byRule.keys()]
      .filter((id) => !known.has(id))
      .map((id): ReportRule => {
        const a = byRule.get(id)![0];
        return { id, name: id, kind: (a.Evidence.kind as RuleKind | undefined) ?? 'match', severity: a.Severity };
      }),
  ];
  const range = options.range ? ` · ${isoMinute(options.range.from)} – ${isoMinute(options.range.to)} UTC` : '';
  const c = options.counts;
  const counts = c
    ? `<p class="muted">${c.rows} rows · ${c.events} events · ${c.deadLettered} dead-lettered · ${c.skipped} skipped (categories no rule source reads)</p>`
    : '';
  const notes = options.notes?.length ? `<ul class="notes">${options.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '';
  const sections = rules.filter((r) => byRule.has(r.id)).map((r) => ruleSection(r, byRule.get(r.id)!, series, options));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${escapeHtml(options.source)}${escapeHtml(range)} · generated ${escapeHtml(isoMinute(options.generatedAt ?? Date.now()))} UTC</p>
<h2>Alerts per rule and day</h2>
${matrix(sorted, rules, daysOf(sorted, options.range), options.learning)}
${learningNote(options.learning)}${counts}${notes}
${sections.length ? '' : '<p>No alerts.</p>'}
${sections.join('\n')}
<p class="muted">Charts: <span style="color:${CHART_COLORS.value}">■</span> events per bucket (anomaly) or in the window ending at each counted event (threshold), <span style="color:${CHART_COLORS.alerting}">■</span> where the rule's condition held, dashed: the principal's learned baseline, <span style="color:${CHART_COLORS.threshold}">■</span> the count at which the rule alerts.</p>
</body></html>
`;
}
