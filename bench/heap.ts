import { loadRules, type Rule } from '../src/engine/index.js';
import { generateWorkload } from '../synth/scenario.js';
import { eventsOf, heapPerKey } from './stages.js';

/**
 * Heap per tracked key as `npm run bench` takes it (100 000 principals, 6 events each on average,
 * the workload of seed 1), for every rule together and for rules alone:
 *   node --expose-gc --import tsx bench/heap.ts [all | each | <rule id>,<rule id>…]   (default: all)
 * `each` measures every rule that keeps state (all kinds but match), one after the other in this
 * process. One JSON line per measurement on stdout. The figure includes what the run holds
 * whatever the rules (the detector, its principals' ages: about 14 MB for a rule that keeps no
 * key), so a rule with few keys reads high.
 */

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc: the figure needs a full GC on demand');
const which = process.argv[2] ?? 'all';
const pack = (await loadRules()).map((l) => l.rule);
const sets: [string, Rule[]][] =
  which === 'all'
    ? [['all', pack]]
    : which === 'each'
      ? pack.filter((r) => r.kind !== 'match').map((r) => [r.id, [r]])
      : which.split(',').map((id) => [id, pack.filter((r) => r.id === id)]);
const { bodies } = generateWorkload({ seed: 1, records: 100_000, principals: 5_000 });
const templates = eventsOf(bodies);
for (const [name, rules] of sets) {
  if (!rules.length) throw new Error(`no rule '${name}' in detections/`);
  const heap = await heapPerKey(templates, rules, 100_000, 6, gc);
  process.stdout.write(`${JSON.stringify({ rules: name, heapBytesPerKey: Math.round(heap.bytesPerKey), keys: heap.keys, heapBytes: heap.heapBytes })}\n`);
}
