import type { Alert } from '../model/index.js';
import type { DetectorStats } from '../engine/index.js';

/** Alerts as a readable table: time (UTC), severity, rule, principal, title; oldest first. */
export function alertTable(alerts: readonly Alert[]): string[] {
  const rows = [...alerts]
    .sort((a, b) => (a.LastEventTime < b.LastEventTime ? -1 : a.LastEventTime > b.LastEventTime ? 1 : 0))
    .map((a) => [a.LastEventTime.slice(11, 19), a.Severity, a.RuleId, a.PrincipalName ?? a.PrincipalId, a.Title]);
  return textTable([['TIME', 'SEVERITY', 'RULE', 'PRINCIPAL', 'TITLE'], ...rows]);
}

/**
 * Rows as columns two spaces apart, each as wide as its widest cell, left-aligned (the last one
 * not padded) or right-aligned where `alignRight` says. Widths are found in a loop: a replay can
 * print 200 000 alerts, more than Math.max(...cells) takes as arguments.
 */
export function textTable(rows: readonly string[][], alignRight: (column: number) => boolean = () => false): string[] {
  const widths = rows[0].map(() => 0);
  for (const row of rows) for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i], row[i].length);
  return rows.map((r) => r.map((c, i) => (alignRight(i) ? c.padStart(widths[i]) : i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
}

/** Counts per key, largest first, as `key n, key n`. */
export function countsText(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return entries.length ? entries.map(([k, n]) => `${k} ${n}`).join(', ') : 'none';
}

/** `held while learning …: rule n, …` when a rule could not raise an alert because the key was still learning (none: no line). */
export function heldLine(learning: DetectorStats['learning']): string[] {
  const held: Record<string, number> = {};
  for (const [id, l] of Object.entries(learning)) if (l.heldWhileLearning > 0) held[id] = l.heldWhileLearning;
  return Object.keys(held).length ? [`held while learning (alerts not raised: the key was still learning): ${countsText(held)}`] : [];
}
