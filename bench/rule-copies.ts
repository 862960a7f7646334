import { defineRule, type Option, type Rule, type RuleDefinition } from '../src/engine/index.js';

/**
 * `count` rules for the scaling runs: the pack's rules first, in order, then copies of them with
 * other ids and parameters (suppression period, and the thresholds and counts a kind has as plain
 * numbers), so a hundred rules cost what a hundred real rules would: each copy keeps its own state.
 */
export function rulesForScaling(pack: readonly Rule[], count: number): Rule[] {
  if (!pack.length) throw new Error('no rules in detections/: the scaling run copies the pack');
  const out = pack.slice(0, count);
  for (let n = 1; out.length < count; n++) {
    for (const rule of pack) {
      if (out.length >= count) break;
      out.push(copyOf(rule, n));
    }
  }
  return out;
}

function copyOf(rule: Rule, n: number): Rule {
  const def = { ...rule.definition, id: `${rule.id}-copy-${n}`, suppress: `${30 + n}m` } as RuleDefinition & Record<string, unknown>;
  if (def.kind === 'threshold') def.threshold = moved(def.threshold, n % 5);
  if (def.kind === 'anomaly') def.minCount = moved(def.minCount, n % 3);
  if (def.kind === 'sequence' && def.maxCandidates === undefined) def.maxCandidates = 10 + (n % 10);
  return defineRule(def);
}

/** A number option moved by `by` when the rule gives it directly (a tunable stays as the pack has it). */
function moved(option: Option<number>, by: number): Option<number> {
  return typeof option === 'number' ? option + by : option;
}
