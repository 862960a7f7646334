import { loadRules } from '../src/engine/index.js';
import { generateWorkload } from '../synth/scenario.js';
import { median, normalizeAll, parseAll, runPipeline } from './stages.js';

/**
 * How cost grows with records and principals: the floor, normalize and the pipeline (every rule in
 * detections/) at a few workload sizes, median of 3 rounds, each size's stages interleaved.
 *   npx tsx bench/sizes.ts [records×principals …]      (default: 20000×1000 100000×5000 100000×20000 200000×5000)
 * A Markdown table on stdout, for docs/performance.md.
 */

const sizes = (process.argv.length > 2 ? process.argv.slice(2) : ['20000x1000', '100000x5000', '100000x20000', '200000x5000']).map((s) =>
  s.split(/[x×]/).map(Number),
);
const pack = (await loadRules()).map((l) => l.rule);
const out = (line: string) => process.stdout.write(`${line}\n`);
out('| records | principals | JSON.parse floor (records/s) | normalize (records/s) | pipeline (records/s) | pipeline ÷ floor | keys at the end |');
out('|---|---|---|---|---|---|---|');
for (const [records, principals] of sizes) {
  const { bodies } = generateWorkload({ seed: 1, records, principals });
  await runPipeline(bodies.slice(0, bodies.length >> 2), pack);
  const parse: number[] = [];
  const normalize: number[] = [];
  const pipeline: number[] = [];
  let keys = 0;
  for (let r = 0; r < 3; r++) {
    let t0 = performance.now();
    parseAll(bodies);
    parse.push(performance.now() - t0);
    t0 = performance.now();
    normalizeAll(bodies);
    normalize.push(performance.now() - t0);
    const run = await runPipeline(bodies, pack);
    pipeline.push(run.ms);
    keys = run.keys;
  }
  const perSec = (ms: number[]) => Math.round((records / median(ms)) * 1000);
  const n = (x: number) => x.toLocaleString('en-US');
  out(
    `| ${n(records)} | ${n(principals)} | ${n(perSec(parse))} | ${n(perSec(normalize))} | ${n(perSec(pipeline))} | ${(median(parse) / median(pipeline)).toFixed(3)} | ${n(keys)} |`,
  );
}
