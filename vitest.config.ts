import { defineConfig } from 'vitest/config';
import { haveExternalCaptures } from './test/support/external-captures.js';

/**
 * Four tiers, all run by `npm test`; each alone by `npm run test:<tier>`.
 * - unit: everything in-process with the project's own fixtures (the fast loop).
 * - integration: tests that start Azurite, the Event Hubs broker stand-in, HTTP servers, or `warden` as a process.
 * - conformance: the public samples in ../shared/captures (third-party files, never in the repo).
 *   Without them the tier is one skipped test, and one printed line, that says so.
 * - package: the compiled app (`npm run build`) and the benchmark.
 * A new test file lands in unit unless listed here.
 */
const INTEGRATION = [
  'test/backtest/backtest-cli.test.ts',
  'test/backtest/seed-cli.test.ts',
  'test/backtest/seed-workspace.test.ts',
  'test/backtest/workspace.test.ts',
  'test/cli/errors.test.ts',
  'test/cli/process.test.ts',
  'test/cli/replay-rules.test.ts',
  'test/cli/run.test.ts',
  'test/delivery/audit.test.ts',
  'test/delivery/dead-letters.test.ts',
  'test/delivery/deliver.test.ts',
  'test/delivery/outbox.test.ts',
  'test/delivery/pacing.test.ts',
  'test/delivery/sentinel.test.ts',
  'test/e2e/**/*.test.ts',
  'test/engine/alert-ids.test.ts',
  'test/eventhubs/**/*.test.ts',
  'test/functions/functions.test.ts',
  'test/hostile/avro.test.ts',
  'test/hostile/dead-letters.test.ts',
  'test/hostile/delivery.test.ts',
  'test/hostile/state.test.ts',
  'test/report/report.test.ts',
  'test/state/**/*.test.ts',
  'test/telemetry/telemetry.test.ts',
];
const CONFORMANCE = ['test/conformance/**/*.test.ts'];
const PACKAGE = ['test/functions/build.test.ts', 'test/bench/**/*.test.ts'];
const ALL = ['test/**/*.test.ts', 'detections/**/*.test.ts', 'src/**/*.test.ts'];
const NOTICE = 'test/support/conformance-absent.test.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration tests start Azurite, brokers and servers; keep parallelism modest.
    maxWorkers: 2,
    projects: [
      // Files share a worker's module cache (isolate: false): importing the engine, sources and rules once
      // per worker instead of once per file halves the tier's CPU time. Unit tests restore what they change.
      { extends: true, test: { name: 'unit', include: ALL, exclude: [...INTEGRATION, ...CONFORMANCE, ...PACKAGE, NOTICE], isolate: false } },
      // Azurite alone may take up to 120 s to listen on a loaded machine (src/dev/azurite.ts).
      { extends: true, test: { name: 'integration', include: INTEGRATION, testTimeout: 180_000, hookTimeout: 300_000 } },
      {
        extends: true,
        test: {
          name: 'conformance',
          include: haveExternalCaptures ? CONFORMANCE : [NOTICE],
          globalSetup: haveExternalCaptures ? [] : ['test/support/conformance-notice.ts'],
        },
      },
      // A full `tsc` build or a bench run takes minutes when other builds share the two cores.
      { extends: true, test: { name: 'package', include: PACKAGE, testTimeout: 300_000, hookTimeout: 300_000 } },
    ],
  },
});
