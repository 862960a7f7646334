import type { Source } from '../model/index.js';
import type { CompiledRule } from './compile.js';

const NONE: readonly CompiledRule[] = [];
// Operations come from logs; past this many distinct ones per source, lookups are computed, not cached.
const CACHE_LIMIT = 10_000;

/**
 * Which rules an event meets: those subscribed to its source and operation. Lookups are two Map
 * reads; the merged list for a (source, operation) pair is built once and reused, in rule order.
 */
export class RuleIndex {
  private readonly anyOperation = new Map<Source, CompiledRule[]>();
  private readonly byOperation = new Map<Source, Map<string, CompiledRule[]>>();
  private readonly cache = new Map<Source, Map<string, readonly CompiledRule[]>>();

  constructor(rules: readonly CompiledRule[]) {
    for (const rule of rules) {
      for (const { source, operations } of rule.subscriptions) {
        if (!operations) {
          addOnce(this.anyOperation, source, rule);
          continue;
        }
        let ops = this.byOperation.get(source);
        if (!ops) this.byOperation.set(source, (ops = new Map<string, CompiledRule[]>()));
        for (const op of operations) addOnce(ops, op, rule);
      }
    }
  }

  lookup(source: Source, operation: string): readonly CompiledRule[] {
    let perSource = this.cache.get(source);
    const hit = perSource?.get(operation);
    if (hit) return hit;
    const any = this.anyOperation.get(source) ?? NONE;
    const specific = this.byOperation.get(source)?.get(operation) ?? NONE;
    const merged = specific === NONE ? any : any === NONE ? specific : mergeInOrder(any, specific);
    if (!perSource) this.cache.set(source, (perSource = new Map<string, readonly CompiledRule[]>()));
    if (perSource.size < CACHE_LIMIT) perSource.set(operation, merged);
    return merged;
  }
}

function addOnce<K>(map: Map<K, CompiledRule[]>, key: K, rule: CompiledRule): void {
  const list = map.get(key);
  if (!list) map.set(key, [rule]);
  else if (!list.includes(rule)) list.push(rule);
}

function mergeInOrder(a: readonly CompiledRule[], b: readonly CompiledRule[]): CompiledRule[] {
  return [...new Set([...a, ...b])].sort((x, y) => x.index - y.index);
}
