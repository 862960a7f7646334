import { formatDuration, type ObservedPoint } from '../engine/index.js';
import { escapeHtml } from './escape.js';

/** Chart colours: the report's legend names them, and tests find the chart by them. */
export const CHART_COLORS = {
  value: '#2563eb',
  alerting: '#dc2626',
  threshold: '#f59e0b',
  baseline: '#6b7280',
} as const;

const WIDTH = 760;
const HEIGHT = 220;
const LEFT = 52;
const RIGHT = 16;
const TOP = 12;
const BOTTOM = 30;

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

function shortTime(ms: number): string {
  return new Date(ms).toISOString().slice(5, 16).replace('T', ' ');
}

/** A step line through the defined values (each holding over its point's span); gaps where a value is missing. */
function steps(points: readonly ObservedPoint[], value: (p: ObservedPoint) => number | undefined, x: (t: number) => number, y: (v: number) => number): string {
  const runs: string[] = [];
  let run: string[] = [];
  for (const p of points) {
    const v = value(p);
    if (v === undefined) {
      if (run.length) runs.push(run.join(' '));
      run = [];
      continue;
    }
    const right = Math.max(x(p.time + p.span), x(p.time) + 1);
    run.push(`${x(p.time).toFixed(1)},${y(v).toFixed(1)} ${right.toFixed(1)},${y(v).toFixed(1)}`);
  }
  if (run.length) runs.push(run.join(' '));
  return runs.map((r) => `M${r.replace(/ /g, ' L')}`).join(' ');
}

/**
 * One key's series as an inline SVG: a bar per bucket or counted event (red where the rule's
 * condition held), the learned baseline (dashed) and the count at which the rule alerts (amber),
 * over event time. `kind` words the legend.
 */
export function seriesChart(points: readonly ObservedPoint[], kind: 'anomaly' | 'threshold', label: string): string {
  if (!points.length) return '';
  const start = points[0].time;
  // Loops, not Math.max(...points): a key with 200 000 counted events would overflow the stack.
  let end = start;
  let highest = 1;
  for (const p of points) {
    end = Math.max(end, p.time + p.span);
    highest = Math.max(highest, p.value, p.threshold ?? 0, p.baseline ?? 0);
  }
  const top = highest * 1.1;
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const x = (t: number) => LEFT + ((t - start) / Math.max(1, end - start)) * plotW;
  const y = (v: number) => TOP + plotH - (v / top) * plotH;
  // Anomaly bars fill their bucket; threshold points are events, drawn as thin bars at their time.
  const barWidth = (p: ObservedPoint) => (kind === 'anomaly' ? Math.max(1, x(p.time + p.span) - x(p.time) - 1) : 3);

  const bars = points.map((p) => {
    const h = Math.max(p.value > 0 ? 1 : 0, y(0) - y(p.value));
    const fill = p.alerting ? CHART_COLORS.alerting : CHART_COLORS.value;
    const tip = `${shortTime(p.time)}: ${num(p.value)}${p.baseline !== undefined ? `, baseline ${num(p.baseline)}` : ''}${p.threshold !== undefined ? `, alerts at ${num(p.threshold)}` : ''}${p.alerting ? ' (alerting)' : ''}`;
    return `<rect x="${x(p.time).toFixed(1)}" y="${(y(0) - h).toFixed(1)}" width="${barWidth(p).toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}"><title>${escapeHtml(tip)}</title></rect>`;
  });
  const marks = points
    .filter((p) => p.alerting)
    .map((p) => `<circle cx="${(x(p.time) + barWidth(p) / 2).toFixed(1)}" cy="${(TOP + 5).toFixed(1)}" r="4" fill="${CHART_COLORS.alerting}"/>`);
  const baseline = steps(points, (p) => p.baseline, x, y);
  const threshold = steps(points, (p) => p.threshold, x, y);
  const span = formatDuration(points[0].span);
  const valueName = kind === 'anomaly' ? `events per ${span}` : `events in ${span} window`;
  const mid = (start + end) / 2;

  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT + 22}" viewBox="0 0 ${WIDTH} ${HEIGHT + 22}" role="img" aria-label="${escapeHtml(label)}">
<rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${plotH}" fill="#ffffff" stroke="#d1d5db"/>
${bars.join('\n')}
${baseline ? `<path d="${baseline}" fill="none" stroke="${CHART_COLORS.baseline}" stroke-width="2" stroke-dasharray="5 3"/>` : ''}
${threshold ? `<path d="${threshold}" fill="none" stroke="${CHART_COLORS.threshold}" stroke-width="3"/>` : ''}
${marks.join('\n')}
<text x="${LEFT - 6}" y="${y(0) + 4}" text-anchor="end">0</text>
<text x="${LEFT - 6}" y="${TOP + 10}" text-anchor="end">${num(top / 1.1)}</text>
<text x="${LEFT}" y="${HEIGHT - 10}">${shortTime(start)}</text>
<text x="${x(mid)}" y="${HEIGHT - 10}" text-anchor="middle">${shortTime(mid)}</text>
<text x="${WIDTH - RIGHT}" y="${HEIGHT - 10}" text-anchor="end">${shortTime(end)} UTC</text>
<g transform="translate(${LEFT},${HEIGHT + 8})">
<rect width="12" height="10" y="-8" fill="${CHART_COLORS.value}"/><text x="16">${escapeHtml(valueName)}</text>
<rect x="170" width="12" height="10" y="-8" fill="${CHART_COLORS.alerting}"/><text x="186">condition held</text>
<line x1="300" x2="322" y1="-3" y2="-3" stroke="${CHART_COLORS.baseline}" stroke-width="2" stroke-dasharray="5 3"/><text x="328">baseline</text>
<line x1="400" x2="422" y1="-3" y2="-3" stroke="${CHART_COLORS.threshold}" stroke-width="3"/><text x="428">alerts at</text>
</g>
</svg>`;
}
