import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector, defineRule, type Rule } from '../../src/engine/index.js';
import { detectInCaptures } from '../../src/replay/replay.js';
import type { Alert } from '../../src/model/index.js';
import { ALERT_ROW_COLOR, CHART_COLORS, renderReport, reportRules, SeriesCollector } from '../../src/report/index.js';
import { DEMO_CAPTURE, demoRules, demoTunables } from '../backtest/demo-history.js';
import { decodePng, near, rgb, type Image } from '../support/png.js';

/**
 * The demo hour through the engine's capture replay with an observer: what `warden replay --report` and backtest render.
 * `learning`: the report shows what learning cost; `coldStart`: the rules' own 7-day learning instead of the demo's hour-long tunables.
 */
async function demoReport(ruleIds: string[], { learning = false, coldStart = false } = {}): Promise<{ html: string; alerts: Alert[]; rules: Rule[] }> {
  const rules = (await demoRules()).filter((r) => ruleIds.includes(r.id));
  const series = new SeriesCollector();
  const tunables = coldStart ? {} : Object.fromEntries(Object.entries(demoTunables()).filter(([id]) => ruleIds.includes(id)));
  const detector = new Detector(rules, { tunables, observe: series.observe });
  const alerts: Alert[] = [];
  for await (const body of detectInCaptures([DEMO_CAPTURE], detector)) alerts.push(...body.alerts);
  const html = renderReport(alerts, series, {
    source: 'demo/tenant-hour.ndjson.gz',
    rules: reportRules(rules),
    range: { from: Date.parse('2025-06-02T09:00:00Z'), to: Date.parse('2025-06-02T10:00:00Z') },
    counts: { rows: 1714, events: 1714, deadLettered: 0, skipped: 0 },
    generatedAt: Date.parse('2025-06-02T10:05:00Z'),
    ...(learning ? { learning: detector.stats().learning } : {}),
  });
  return { html, alerts, rules };
}

const RULES = ['ai-invocation-rate-anomaly', 'keyvault-mass-secret-read', 'ai-key-listing', 'nhi-new-ip-then-key-access'];

describe('tuning report (HTML)', () => {
  let report: Awaited<ReturnType<typeof demoReport>>;
  beforeAll(async () => {
    report = await demoReport(RULES);
  });

  it('is one self-contained page: no scripts, no external fonts, styles or images', () => {
    const { html } = report;
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|src=/i);
    expect(html.match(/href="([^"]*)"/g)?.every((h) => h.startsWith('href="#rule-'))).toBe(true);
  });

  it("lists every alert with its evidence, and charts the anomaly and threshold principals' series", () => {
    const { html, alerts } = report;
    // The rate anomaly alerts for both of the demo's chains (the ETL principal and the stolen dev AI key).
    expect(alerts.map((a) => a.RuleId).sort()).toEqual([...RULES, 'ai-invocation-rate-anomaly'].sort());
    for (const a of alerts) {
      expect(html).toContain(a.AlertId);
      for (const id of a.Evidence.correlationIds as string[]) expect(html).toContain(id);
    }
    // One chart per anomaly/threshold alert's series, none for match and sequence rules.
    expect(html.match(/<svg class="chart"/g)).toHaveLength(3);
    const anomaly = html.slice(html.indexOf('id="rule-ai-invocation-rate-anomaly"'));
    // The ETL principal's chart (the stolen key's alerts at 09:40).
    const charts = anomaly
      .split('<svg')
      .slice(1)
      .map((c) => c.slice(0, c.indexOf('</svg>')));
    const alertingAt = (c: string, hhmm: string) => c.includes(`fill="${CHART_COLORS.alerting}"><title>06-02 ${hhmm}: `);
    const chart = charts.find((c) => alertingAt(c, '09:45') && !alertingAt(c, '09:40'))!;
    // 12 five-minute buckets; the alerting one (09:45) red, with the baseline and the alerting count drawn.
    expect(chart.match(/<rect x="[\d.]+" y="[\d.]+" width/g)).toHaveLength(12);
    expect(chart).toMatch(new RegExp(`fill="${CHART_COLORS.alerting}"><title>06-02 09:45: \\d+, baseline [\\d.]+, alerts at [\\d.]+ \\(alerting\\)`));
    expect(chart).toContain(`stroke="${CHART_COLORS.threshold}"`);
    expect(chart).toContain(`stroke="${CHART_COLORS.baseline}"`);
  });

  it('marks, per rule, the alerts that could not be raised because the key was still learning', async () => {
    // A cold start: the demo hour with the rules' own 7-day learning, as a deployment's first hour would run.
    const { html, alerts } = await demoReport(['keyvault-first-secret-read', 'cross-subscription-read-write-sequence', 'ai-key-listing'], {
      learning: true,
      coldStart: true,
    });
    expect(new Set(alerts.map((a) => a.RuleId))).toEqual(new Set(['ai-key-listing']));
    const row = (id: string) => html.match(new RegExp(`<tr><td>${id}</td>.*?</tr>`))?.[0];
    expect(html).toContain('<th class="num" title="alerts not raised because the key was still learning">held while learning</th>');
    // Every principal is new: each first secret read, and the attacker's first write into another subscription, is held back.
    expect(row('keyvault-first-secret-read')).toMatch(/<td class="num held">22<\/td><\/tr>$/);
    expect(row('cross-subscription-read-write-sequence')).toMatch(/<td class="num held">1<\/td><\/tr>$/);
    // A match rule does not learn.
    expect(html).toMatch(/<tr><td><a href="#rule-ai-key-listing">ai-key-listing<\/a><\/td>.*<td class="num zero">–<\/td><\/tr>/);
    expect(html).toContain('<p class="learning">23 alerts could not be raised because the key was still learning');
    expect(html).toMatch(/\d+ keys were still learning at the end/);
    // With the demo's hour-long learning the key chain's write alerts: nothing of that rule is held back then.
    const warm = await demoReport(['cross-subscription-read-write-sequence'], { learning: true });
    expect(warm.alerts.map((a) => a.RuleId)).toEqual(['cross-subscription-read-write-sequence']);
  });

  it('escapes everything taken from logs', () => {
    const hostile = '<img src=x onerror="alert(1)">&\'';
    const rule = defineRule({
      id: 'test-match',
      version: '1',
      title: 'x',
      description: 'test',
      severity: 'Low',
      tactics: ['Discovery'],
      techniques: ['T1087'],
      sources: ['activity'],
      kind: 'match',
    });
    const alert = report.alerts[0];
    const html = renderReport(
      [
        {
          ...alert,
          RuleId: 'test-match',
          Title: `Title ${hostile}`,
          PrincipalName: hostile,
          Evidence: { note: hostile, events: [{ operation: hostile, details: { ua: hostile } }] },
        },
      ],
      new SeriesCollector(),
      { source: hostile, rules: reportRules([rule]) },
    );
    expect(html).not.toContain('<img');
    expect(html).not.toContain('onerror="');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;');
  });
});

const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync('which', [c]).status === 0);

describe.skipIf(!chromium)('tuning report in headless Chromium', () => {
  let dir: string;
  let image: Image;
  let alerts: Alert[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-report-'));
    const report = await demoReport(RULES);
    alerts = report.alerts;
    writeFileSync(join(dir, 'report.html'), report.html);
    execFileSync(
      chromium!,
      [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        '--force-device-scale-factor=1',
        '--disable-extensions',
        `--user-data-dir=${join(dir, 'profile')}`,
        '--window-size=1200,6000',
        `--screenshot=${join(dir, 'shot.png')}`,
        `file://${join(dir, 'report.html')}`,
      ],
      { stdio: 'ignore', timeout: 120_000 },
    );
    image = decodePng(readFileSync(join(dir, 'shot.png')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Rows of the image with at least `min` pixels of a colour. */
  function rowsWith(colour: string, min: number, x0 = 0, x1 = image.width): number[] {
    const c = rgb(colour);
    const rows: number[] = [];
    for (let y = 0; y < image.height; y++) {
      let n = 0;
      for (let x = x0; x < x1; x++) if (near(image.pixel(x, y), c)) n++;
      if (n >= min) rows.push(y);
    }
    return rows;
  }

  function countIn(colour: string, y0: number, y1: number): number {
    const c = rgb(colour);
    let n = 0;
    for (let y = Math.max(0, y0); y < Math.min(image.height, y1); y++) for (let x = 0; x < image.width; x++) if (near(image.pixel(x, y), c)) n++;
    return n;
  }

  /** Groups of rows closer than `gap` to each other. */
  function bands(rows: number[], gap: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const y of rows) {
      const last = out.at(-1);
      if (last && y - last[1] <= gap) last[1] = y;
      else out.push([y, y]);
    }
    return out;
  }

  it('renders each chart: an alerting-count line, with bars and red alerting bars around it', () => {
    expect(image.width).toBe(1200);
    // The alerting-count (threshold) line is the only long amber horizontal: one band per chart.
    const lines = bands(rowsWith(CHART_COLORS.threshold, 100), 20);
    // The secret sweep's chart and the rate anomaly's two alerting keys (the ETL pipeline, the stolen dev key).
    expect(lines).toHaveLength(3);
    for (const [top, bottom] of lines) {
      const around: [number, number] = [top - 220, bottom + 220];
      expect(countIn(CHART_COLORS.value, ...around)).toBeGreaterThan(200);
      expect(countIn(CHART_COLORS.alerting, ...around)).toBeGreaterThan(30);
    }
  });

  it('renders a marked row for every alert', () => {
    // Alert rows carry a purple bar at their left edge: count the separate bars.
    const marked = bands(rowsWith(ALERT_ROW_COLOR, 4, 0, 200), 2);
    expect(marked).toHaveLength(alerts.length);
    expect(marked.every(([top, bottom]) => bottom - top >= 12)).toBe(true);
  });
});

if (!chromium) console.warn('tuning report screenshot tests skipped: no chromium (apt-get install -y chromium)');
