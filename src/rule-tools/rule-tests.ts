import { readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { SEVERITIES, type Alert, type DeadLetter, type Severity, type Source } from '../model/index.js';
import { InMemoryStateStore } from '../state/memory.js';
import { Detector } from '../engine/detector.js';
import { InventoryError, ResourceInventory, readInventoryFile } from '../engine/inventory.js';
import type { LoadedRule } from '../engine/loader.js';
import { detectInCaptures } from '../replay/replay.js';
import { WardenError } from '../common/errors.js';

/** A fixture that cannot be used as written (cases.json malformed, a capture missing). */
export class FixtureError extends WardenError {
  override name = 'FixtureError';
  readonly userFixable = true;
}

/** How many alerts of the rule a case expects for a principal (or, without one, for any principal not listed). */
export interface ExpectedAlerts {
  /** Principal id or name (UPN), compared case-insensitively. */
  principal?: string;
  count: number;
  /** The severity each of these alerts must have (for a rule whose `severityOf` varies it). */
  severity?: Severity;
}

/** One case of `detections/<rule-id>.fixtures/cases.json`. */
export interface RuleCase {
  name: string;
  /** Capture files (any format replay reads), relative to the fixtures folder. */
  captures: string[];
  /** Tunable overrides for the rule in this case, as a deployer would set them. */
  tunables?: Record<string, unknown>;
  /** An Azure Resource Graph export (relative to the fixtures folder), as a deployer gives WARDEN_INVENTORY. */
  inventory?: string;
  /** What is left to fill in: a case with a "todo" fails with it (`warden rules new` writes these). */
  todo?: string;
  /** The alerts the rule must raise; `[]` (or counts of 0) for a case that must raise nothing. */
  expect: ExpectedAlerts[];
}

export interface CaseResult {
  ruleId: string;
  name: string;
  passed: boolean;
  /** What is wrong, one line each (empty when passed). */
  problems: string[];
  /** Per principal: expected and actual counts (the diff). */
  rows: { principal: string; expected: number | undefined; actual: number }[];
  alerts: Alert[];
  events: number;
  deadLetters: DeadLetter[];
}

export const CASES_FILE = 'cases.json';

/** Read and check a rule's cases.json. */
export async function readCases(loaded: LoadedRule): Promise<RuleCase[]> {
  const file = join(loaded.fixturesDir, CASES_FILE);
  const shown = relative(process.cwd(), file) || file;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FixtureError(
      code === 'ENOENT' ? `${shown} is missing: add the rule's cases (see docs/rules.md)` : `cannot read ${shown}: ${(err as Error).message}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new FixtureError(`${shown}: not JSON (${(err as Error).message})`);
  }
  const cases = (parsed as { cases?: unknown })?.cases;
  if (!Array.isArray(cases)) throw new FixtureError(`${shown}: expected { "cases": [ { "name", "captures", "expect" }, … ] }`);
  const names = new Set<string>();
  return cases.map((c: unknown, i): RuleCase => {
    const at = `${shown}: cases[${i}]`;
    const o = c as Partial<RuleCase>;
    if (typeof o !== 'object' || o === null) throw new FixtureError(`${at}: expected an object`);
    if (typeof o.name !== 'string' || !o.name) throw new FixtureError(`${at}: give the case a "name"`);
    if (names.has(o.name)) throw new FixtureError(`${at}: the name "${o.name}" is used twice`);
    names.add(o.name);
    if (!Array.isArray(o.captures) || !o.captures.length || !o.captures.every((f) => typeof f === 'string' && f)) {
      throw new FixtureError(`${at} ("${o.name}"): "captures" must list one or more capture files in ${relative(process.cwd(), loaded.fixturesDir)}`);
    }
    if (o.tunables !== undefined && (typeof o.tunables !== 'object' || o.tunables === null || Array.isArray(o.tunables))) {
      throw new FixtureError(`${at} ("${o.name}"): "tunables" must be an object {"name": value}`);
    }
    if (o.inventory !== undefined && (typeof o.inventory !== 'string' || !o.inventory))
      throw new FixtureError(`${at} ("${o.name}"): "inventory" must name an inventory file in the fixtures folder`);
    if (o.todo !== undefined && (typeof o.todo !== 'string' || !o.todo))
      throw new FixtureError(`${at} ("${o.name}"): "todo" must say what is left to do (or be removed)`);
    if (!Array.isArray(o.expect)) throw new FixtureError(`${at} ("${o.name}"): "expect" must be a list of { "principal"?, "count" } ([] for no alerts)`);
    o.expect.forEach((e: ExpectedAlerts, j) => {
      if (typeof e !== 'object' || e === null || !Number.isInteger(e.count) || e.count < 0)
        throw new FixtureError(`${at} ("${o.name}"): expect[${j}] needs a "count" (a whole number ≥ 0)`);
      if (e.principal !== undefined && (typeof e.principal !== 'string' || !e.principal))
        throw new FixtureError(`${at} ("${o.name}"): expect[${j}].principal must be a principal id or name`);
      if (e.severity !== undefined && !SEVERITIES.includes(e.severity))
        throw new FixtureError(`${at} ("${o.name}"): expect[${j}].severity must be one of ${SEVERITIES.join(', ')}`);
    });
    return { name: o.name, captures: o.captures, tunables: o.tunables, inventory: o.inventory, todo: o.todo, expect: o.expect };
  });
}

/** Whether a case expects at least one alert (a positive case) or none (a negative one). */
export function isPositive(c: RuleCase): boolean {
  return c.expect.some((e) => e.count > 0);
}

/**
 * Run one case through the production path — readCaptures → ingestBody → route by principal into
 * partitions → evaluate with in-memory state — with only this rule loaded, and compare.
 */
export async function runRuleCase(loaded: LoadedRule, ruleCase: RuleCase): Promise<CaseResult> {
  const { rule } = loaded;
  const files = ruleCase.captures.map((f) => join(loaded.fixturesDir, f));
  for (const file of files) {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) throw new FixtureError(`case "${ruleCase.name}" of ${rule.id}: capture ${relative(process.cwd(), file)} is missing`);
  }
  let inventory: ResourceInventory | undefined;
  if (ruleCase.inventory) {
    const file = join(loaded.fixturesDir, ruleCase.inventory);
    try {
      inventory = new ResourceInventory(readInventoryFile(file, relative(process.cwd(), file) || file));
    } catch (err) {
      if (err instanceof InventoryError) throw new FixtureError(`case "${ruleCase.name}" of ${rule.id}: ${err.message}`);
      throw err;
    }
  }
  const detector = new Detector([rule], {
    store: new InMemoryStateStore(),
    tunables: ruleCase.tunables ? { [rule.id]: ruleCase.tunables } : undefined,
    inventory,
  });
  const alerts: Alert[] = [];
  const deadLetters: DeadLetter[] = [];
  const bySource: Record<string, number> = {};
  let events = 0;
  for await (const body of detectInCaptures(files, detector)) {
    for (const a of body.alerts) alerts.push(a);
    for (const d of body.result.deadLetters) deadLetters.push(d);
    events += body.result.events.length;
    for (const [source, n] of Object.entries(body.result.bySource)) bySource[source] = (bySource[source] ?? 0) + n;
  }

  const problems: string[] = [];
  if (ruleCase.todo) problems.push(`still to do: ${ruleCase.todo} (then remove "todo" from the case in ${CASES_FILE})`);
  if (deadLetters.length) {
    problems.push(
      `${deadLetters.length} record(s) in the captures were dead-lettered (fix the fixture): ${deadLetters
        .slice(0, 3)
        .map((d) => d.reason)
        .join('; ')}`,
    );
  }
  const sources = new Set<Source>(detector.rules[0].subscriptions.map((s) => s.source));
  if (![...sources].some((s) => bySource[s])) {
    problems.push(`no event of the rule's sources (${[...sources].join(', ')}) came out of the captures: the case tests nothing`);
  }
  const stats = detector.stats();
  if (stats.ruleErrorSamples.length) problems.push(`the rule threw: ${stats.ruleErrorSamples.join('; ')}`);
  const rows = compare(ruleCase.expect, alerts);
  for (const row of rows) {
    if (row.expected !== row.actual && !(row.expected === undefined && row.actual === 0)) {
      problems.push(`${row.principal}: expected ${row.expected ?? 0} alert(s), got ${row.actual}`);
    }
  }
  for (const e of ruleCase.expect) {
    if (e.severity === undefined) continue;
    const theirs = alerts.filter((a) =>
      e.principal !== undefined ? isPrincipal(e.principal, a) : !ruleCase.expect.some((x) => x.principal && isPrincipal(x.principal, a)),
    );
    for (const a of theirs)
      if (a.Severity !== e.severity) problems.push(`${e.principal ?? ANY}: expected severity ${e.severity}, got ${a.Severity} ("${a.Title}")`);
  }
  return { ruleId: rule.id, name: ruleCase.name, passed: problems.length === 0, problems, rows, alerts, events, deadLetters };
}

const ANY = '(any other principal)';

/** Whether an expectation's principal (id or name, any case) is the alert's. */
function isPrincipal(principal: string, a: Alert): boolean {
  const p = principal.toLowerCase();
  return a.PrincipalId.toLowerCase() === p || a.PrincipalName?.toLowerCase() === p;
}

/** Expected vs actual counts per principal; alerts for principals not listed count against "any other" (expected 0 unless given). */
function compare(expected: readonly ExpectedAlerts[], alerts: readonly Alert[]): CaseResult['rows'] {
  const rows: CaseResult['rows'] = expected.map((e) => ({ principal: e.principal ?? ANY, expected: e.count, actual: 0 }));
  for (const alert of alerts) {
    const row = rows.find((r) => r.principal !== ANY && isPrincipal(r.principal, alert)) ?? rows.find((r) => r.principal === ANY);
    if (row) {
      row.actual++;
      continue;
    }
    const label = alert.PrincipalName ? `${alert.PrincipalId} (${alert.PrincipalName})` : alert.PrincipalId;
    const extra = rows.find((r) => r.principal === label);
    if (extra) extra.actual++;
    else rows.push({ principal: label, expected: undefined, actual: 1 });
  }
  return rows;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A readable report of one case: a ✓ line, or ✗ with the expected-vs-actual table and the unexpected alerts. */
export function formatCaseResult(r: CaseResult): string {
  if (r.passed) return `✓ ${r.ruleId} › ${r.name} (${plural(r.alerts.length, 'alert')}, ${plural(r.events, 'event')})`;
  const lines = [`✗ ${r.ruleId} › ${r.name}`];
  for (const p of r.problems) lines.push(`    ${p}`);
  if (r.rows.length) {
    const width = Math.max(9, ...r.rows.map((row) => row.principal.length));
    lines.push(`      ${'principal'.padEnd(width)}  expected  actual`);
    for (const row of r.rows) {
      const mark = (row.expected ?? 0) === row.actual ? ' ' : '✗';
      lines.push(`    ${mark} ${row.principal.padEnd(width)}  ${String(row.expected ?? 0).padStart(8)}  ${String(row.actual).padStart(6)}`);
    }
  }
  for (const a of r.alerts.slice(0, 10)) {
    lines.push(`      alert ${a.AlertId}  ${a.PrincipalId}  "${a.Title}"  ${a.FirstEventTime} → ${a.LastEventTime}  events ${a.EventCount}`);
  }
  return lines.join('\n');
}

/**
 * Problems lint finds in a rule's fixtures: cases.json missing or malformed, a capture missing,
 * no positive case, no negative case. Empty when the rule is well covered.
 */
export async function lintFixtures(loaded: LoadedRule): Promise<string[]> {
  let cases: RuleCase[];
  try {
    cases = await readCases(loaded);
  } catch (err) {
    if (err instanceof FixtureError) return [err.message];
    throw err;
  }
  const problems: string[] = [];
  if (!cases.some(isPositive)) problems.push(`${loaded.rule.id}: no positive case (one whose "expect" has a count > 0)`);
  if (!cases.some((c) => !isPositive(c))) problems.push(`${loaded.rule.id}: no negative case (a benign look-alike that must raise nothing: "expect": [])`);
  for (const c of cases) {
    if (c.inventory && !(await stat(join(loaded.fixturesDir, c.inventory)).catch(() => undefined))?.isFile()) {
      problems.push(`${loaded.rule.id}: case "${c.name}": inventory ${relative(process.cwd(), join(loaded.fixturesDir, c.inventory))} is missing`);
    }
    for (const f of c.captures) {
      const file = join(loaded.fixturesDir, f);
      if (!(await stat(file).catch(() => undefined))?.isFile())
        problems.push(`${loaded.rule.id}: case "${c.name}": capture ${relative(process.cwd(), file)} is missing`);
    }
  }
  return problems;
}
