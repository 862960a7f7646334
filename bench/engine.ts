import { parseArgs } from 'node:util';
import { loadRules } from '../src/engine/index.js';
import { generateWorkload } from '../synth/scenario.js';
import { engineBatches, median, runEngine } from './stages.js';

/**
 * The engine alone, for A/B runs of engine changes and for profiles: the bench workload normalized
 * and routed once, then every rule (or the rules named) over it, CPU µs per event each round.
 *   npx tsx bench/engine.ts [--records 20000] [--principals 1000] [--seed 1] [--rounds 5] [--rules id,id] [--each] [--flush-every N]
 * One JSON line on stdout: per round process and flush µs per event, their medians, alerts and writes;
 * with --each, one line per rule instead: the rule alone, over the detector with no rule (as the bench's byRule).
 * --flush-every N writes state every N batches instead of after each (what writing at checkpoints would save).
 */

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    principals: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
    rules: { type: 'string' },
    each: { type: 'boolean' },
    'flush-every': { type: 'string', default: '1' },
  },
});
const wanted = values.rules?.split(',');
const rules = (await loadRules()).map((l) => l.rule).filter((r) => !wanted || wanted.includes(r.id));
const { bodies } = generateWorkload({ seed: Number(values.seed), records: Number(values.records), principals: Number(values.principals) });
const batches = engineBatches(bodies);
await runEngine(batches.slice(0, batches.length >> 2), rules);
const r2 = (x: number) => Math.round(x * 100) / 100;

/** Each rule set's runs, interleaved round by round; per set the medians of process and flush µs per event. */
async function measure(sets: readonly (typeof rules)[]) {
  const runs = sets.map(() => ({ process: [] as number[], flush: [] as number[], alerts: 0, writes: 0, events: 0 }));
  for (let r = 0; r < Number(values.rounds); r++) {
    for (let i = 0; i < sets.length; i++) {
      const run = await runEngine(batches, sets[i], Number(values['flush-every']));
      Object.assign(runs[i], { alerts: run.alerts, writes: run.writes, events: run.events });
      runs[i].process.push(run.processUs / run.events);
      runs[i].flush.push(run.flushUs / run.events);
    }
  }
  return runs.map((x) => ({ ...x, processUs: median(x.process), flushUs: median(x.flush) }));
}

if (values.each) {
  const [none, ...alone] = await measure([[], ...rules.map((r) => [r])]);
  process.stdout.write(`${JSON.stringify({ noRules: r2(none.processUs + none.flushUs), events: none.events })}\n`);
  rules.forEach((rule, i) => {
    const x = alone[i];
    const figures = { rule: rule.id, process: r2(x.processUs - none.processUs), flush: r2(x.flushUs - none.flushUs), alerts: x.alerts, writes: x.writes };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  });
} else {
  const [all] = await measure([rules]);
  process.stdout.write(
    `${JSON.stringify({
      rules: rules.length,
      events: all.events,
      alerts: all.alerts,
      writes: all.writes,
      usPerEvent: r2(all.processUs + all.flushUs),
      processUsPerEvent: r2(all.processUs),
      flushUsPerEvent: r2(all.flushUs),
      rounds: all.process.map((p, i) => r2(p + all.flush[i])),
    })}\n`,
  );
}
