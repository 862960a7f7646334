import { describe, expect, it } from 'vitest';
import { alertTable } from '../../src/cli/alert-table.js';
import { seriesChart } from '../../src/report/chart.js';
import { makeAlert } from '../delivery/alerts.js';

/**
 * Arrays as long as hostile input can make them, where the code once spread them into a call
 * (`Math.max(...cells)`): past about 120 000 arguments that overflows the stack. The detect
 * handler's sweep of 200 000 silent principals is in state.test.ts.
 */
const MANY = 200_000;

describe('no stack overflow on 200 000 of anything', () => {
  it('prints a replay of 200 000 alerts as a table', () => {
    const base = makeAlert(1);
    const alerts = Array.from({ length: MANY }, (_, n) => ({ ...base, AlertId: `a${n}`, PrincipalName: `sp-${n}` }));
    const lines = alertTable(alerts);
    expect(lines).toHaveLength(MANY + 1);
    // Every column as wide as its widest cell: the title starts at one place on every line.
    expect(new Set(lines.map((l) => (l.indexOf('AI account keys') === -1 ? l.indexOf('TITLE') : l.indexOf('AI account keys')))).size).toBe(1);
  });

  it("draws a report chart of a key's 200 000 counted events", () => {
    const points = Array.from({ length: MANY }, (_, n) => ({ time: n * 1000, span: 60_000, value: n % 50, threshold: 40, alerting: n % 50 >= 40 }));
    expect(seriesChart(points, 'threshold', 'rule key')).toMatch(/^<svg/);
  });
});
