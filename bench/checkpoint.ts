/**
 * What writing detect's state at checkpoints saves (issue #20 item 2): Table entities, transactions
 * and milliseconds per 100 keyed events when each partition's state is written after every batch
 * (the Function App) against every 10 batches (`warden run`'s default WARDEN_CHECKPOINT_BATCHES),
 * on Azurite with every rule. The two alternate in pairs on one Azurite (a fresh table each run),
 * so load from elsewhere on the machine hits both alike; medians and ratios are reported.
 *
 *   npx tsx bench/checkpoint.ts [--pairs 3] [--batches 120] [--every 10] [--principals 5000] [--seed 1]
 */
import { parseArgs } from 'node:util';
import { startAzurite } from '../src/dev/azurite.js';
import { loadRules } from '../src/engine/index.js';
import { generateWorkload } from '../synth/scenario.js';
import { BATCH, eventsOf, median } from './stages.js';
import { tableCost, type TableCost } from './tables.js';

const { values } = parseArgs({
  options: { pairs: { type: 'string' }, batches: { type: 'string' }, seed: { type: 'string' }, every: { type: 'string' }, principals: { type: 'string' } },
});
const pairs = Number(values.pairs ?? 3);
const batches = Number(values.batches ?? 120);
const seed = Number(values.seed ?? 1);
const every = Number(values.every ?? 10);
/** Fewer principals, more events per key: the more a key changes again within N batches, the more one write per N saves. */
const principals = Number(values.principals ?? 5000);

const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const rules = (await loadRules()).map((l) => l.rule);
const events = eventsOf(generateWorkload({ seed, records: (batches + 10) * BATCH * 1.3, principals }).bodies);
progress(`${events.length} events; starting Azurite`);
const azurite = await startAzurite();
const runs: Record<'1' | 'N', TableCost[]> = { '1': [], N: [] };
try {
  let table = 0;
  for (let pair = 0; pair < pairs; pair++) {
    for (const n of pair % 2 ? [every, 1] : [1, every]) {
      const cost = await tableCost(events, rules, {
        writeEvery: n,
        batches,
        azurite: { connectionString: azurite.connectionString, table: `bench${++table}` },
      });
      runs[n === 1 ? '1' : 'N'].push(cost);
      progress(`pair ${pair + 1}, writes every ${n}: ${JSON.stringify(cost)}`);
    }
  }
} finally {
  await azurite.stop();
}
const per100 = (costs: TableCost[], f: (c: TableCost) => number) => median(costs.map((c) => (f(c) / c.eventsPerBatch) * 100));
const line = (name: string, f: (c: TableCost) => number, digits: number) => {
  const a = per100(runs['1'], f);
  const b = per100(runs.N, f);
  return `${name.padEnd(34)} ${a.toFixed(digits).padStart(9)} ${b.toFixed(digits).padStart(9)}   ${(b / a).toFixed(3)}`;
};
process.stdout.write(
  [
    `per 100 keyed events (${runs['1'][0].batches} batches of ${BATCH}, ${rules.length} rules, ${principals} principals, seed ${seed}, medians of ${pairs} A/B pairs)`,
    `${''.padEnd(34)} ${'every 1'.padStart(9)} ${`every ${every}`.padStart(9)}   ratio`,
    line('Table entities written', (c) => c.entitiesPerBatch, 1),
    line('Table transactions', (c) => c.transactionsPerBatch, 2),
    line('state write ms', (c) => c.msPerBatch, 2),
    line('rules (process) ms', (c) => c.processMsPerBatch, 2),
    line('detect ms (process + write)', (c) => c.msPerBatch + c.processMsPerBatch, 2),
  ].join('\n') + '\n',
);
