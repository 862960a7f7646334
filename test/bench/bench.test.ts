import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// Keeps `npm run bench` from rotting: a tiny run must produce every figure. It checks the shape
// of the output, not the speed (speed is what docs/performance.md reports). Timeouts: the package
// tier's, but the tiny run's own is 10 minutes: its heap and Tables stages have a fixed size, and
// on the shared machine at load 15 the whole run took 250–300 s.

const repo = join(import.meta.dirname, '..', '..');
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: repo, encoding: 'utf8', timeout: 580_000 });

const FIGURES = [
  'parseRecordsPerSec',
  'parseMBPerSec',
  'normalizeRecordsPerSec',
  'normalizeToParseRatio',
  'normalizeBySource',
  'pipelineRecordsPerSec',
  'pipelineToParseRatio',
  'pipelineToParseRatioFirstPack',
  'batchLatencyMs',
  'heapBytesPerKey',
  'tableEntitiesPerBatch',
  'tableTransactionsPerBatch',
  'tableMsPerBatch',
  'recordsPerSecByRuleCount',
  'engine',
];

describe('npm run bench', () => {
  it('ends a tiny run with one JSON line holding every figure as a finite number', async () => {
    const { stdout, stderr } = await run(['--records', '2000', '--principals', '200', '--json']);
    const lines = stdout.trimEnd().split('\n');
    const figures = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
    expect(Object.keys(figures).sort()).toEqual([...FIGURES].sort());
    expect(Object.keys(figures.batchLatencyMs as object).sort()).toEqual(['max', 'p50', 'p99']);
    expect(Object.keys(figures.recordsPerSecByRuleCount as object).sort()).toEqual(['1', '10', '100']);
    // Every source the workload carries, each with its own floor and ratio.
    const bySource = figures.normalizeBySource as Record<string, Record<string, unknown>>;
    expect(Object.keys(bySource).sort()).toEqual(['activity', 'ai', 'keyvault', 'signin', 'storage']);
    for (const f of Object.values(bySource)) {
      expect(Object.keys(f).sort()).toEqual(['normalizeRecordsPerSec', 'normalizeToParseRatio', 'parseRecordsPerSec', 'records']);
      for (const n of Object.values(f)) expect(Number.isFinite(n) && (n as number) > 0, JSON.stringify(f)).toBe(true);
    }
    // The engine apart from normalize, and each rule's share of it (a rule's share may be near 0 or below: noise).
    const engine = figures.engine as Record<string, unknown>;
    expect(Object.keys(engine).sort()).toEqual(
      ['byRule', 'events', 'flushUsPerEvent', 'noRulesUsPerEvent', 'normalizeUsPerRecord', 'processUsPerEvent', 'usPerEvent'].sort(),
    );
    const byRule = engine.byRule as Record<string, Record<string, unknown>>;
    expect(Object.keys(byRule)).toContain('cross-subscription-read-write-sequence');
    for (const f of Object.values(byRule)) expect(Object.keys(f).sort()).toEqual(['flush', 'process']);
    const numbers = [
      ...Object.values(figures).filter((v) => typeof v !== 'object'),
      ...Object.values(engine).filter((v) => typeof v !== 'object'),
      ...Object.values(byRule).flatMap((f) => Object.values(f)),
      ...Object.values(figures.batchLatencyMs as object),
      ...Object.values(figures.recordsPerSecByRuleCount as object),
    ];
    for (const n of numbers) expect(Number.isFinite(n), `${JSON.stringify(figures)}`).toBe(true);
    expect(figures.parseRecordsPerSec as number).toBeGreaterThan(0);
    expect(figures.tableEntitiesPerBatch as number).toBeGreaterThan(0);
    expect(engine.usPerEvent as number).toBeGreaterThan(0);
    // Only JSON on the last line; progress went to stderr.
    expect(stdout.match(/^\{/gm)).toHaveLength(1);
    expect(stderr).toMatch(/^bench: round 1\//m);
  }, 600_000);

  it('rejects a bad option with one line and exit code 2', async () => {
    const failed = await run(['--records', 'many']).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr.trim()).toBe("bench: --records needs a whole number ≥ 500, got 'many'");
  });
});
