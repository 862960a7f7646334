/** The tuning report: HTML over alerts and the series rules decided on. */
import type { Rule } from '../engine/index.js';
import type { ReportRule } from './html.js';

export { renderReport, ALERT_ROW_COLOR, type ReportOptions, type ReportRule } from './html.js';
export { CHART_COLORS } from './chart.js';
export { SeriesCollector } from './series.js';
export { escapeHtml } from './escape.js';

/** How the report names and describes loaded rules. */
export function reportRules(rules: readonly Rule[]): ReportRule[] {
  return rules.map((r) => ({
    id: r.id,
    name: r.name ?? (typeof r.title === 'string' ? r.title : r.id),
    kind: r.kind,
    severity: r.severity,
    description: r.description,
  }));
}
