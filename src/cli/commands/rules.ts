import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { DETECTIONS_DIR, loadRules, type LoadedRule } from '../../engine/loader.js';
import { FixtureError, formatCaseResult, lintFixtures, readCases, runRuleCase, type CaseResult } from '../../rule-tools/rule-tests.js';
import { RuleDefinitionError } from '../../engine/errors.js';
import { compileRule, formatDuration, type LearningPeriod } from '../../engine/index.js';
import { CATALOGUE_FILE, renderCatalogue } from '../../rule-tools/rule-docs.js';
import { scaffoldRule } from '../../rule-tools/scaffold.js';
import { textTable } from '../alert-table.js';
import { UsageError } from '../errors.js';
import type { Command, CommandIO } from '../io.js';
import { parseCommandArgs } from '../options.js';

type Values = { dir?: string; json?: boolean; help?: boolean; check?: boolean; kind?: string };

/** A `warden rules` subcommand: adding one (docs, new) is adding an entry to SUBCOMMANDS. */
interface Subcommand {
  args: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  run(values: Values, positionals: string[], io: CommandIO): Promise<number>;
}

const COMMON_OPTIONS = {
  dir: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const SUBCOMMANDS: Record<string, Subcommand> = {
  list: { args: '', summary: 'list the rules: id, kind, severity, learning period and what it is measured against, sources', run: list },
  test: { args: '[rule-id...]', summary: "replay each rule's fixtures through the pipeline and compare the alerts", run: test },
  lint: { args: '', summary: 'load and validate every rule; check each has a positive and a negative case', run: lint },
  docs: {
    args: '[--check]',
    summary: `write the rules catalogue ${CATALOGUE_FILE} in the detections folder (--check: fail if it is stale)`,
    options: { check: { type: 'boolean' } },
    run: docs,
  },
  new: {
    args: '<rule-id> --kind KIND',
    summary: 'scaffold a rule file and its fixtures folder, to fill in',
    options: { kind: { type: 'string' } },
    run: scaffold,
  },
};

function usage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${`${name} ${s.args}`.padEnd(22)} ${s.summary}`);
  return `usage: warden rules <subcommand> [options]

subcommands:
${lines.join('\n')}

options:
  --dir DIR    the detections folder (default: detections/ of this install)
  --json       end the output with one JSON summary line
  -h, --help   show this help

Rules are detections/<rule-id>.ts; fixtures are detections/<rule-id>.fixtures/ (see docs/rules.md).`;
}

export const run: Command = async (argv, io) => {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    io.stdout(usage());
    return name ? 0 : 2;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) throw new UsageError(`unknown subcommand '${name}': use ${Object.keys(SUBCOMMANDS).join(', ')}`);
  const parsed = parseCommandArgs('rules', { args: rest, allowPositionals: true, options: { ...COMMON_OPTIONS, ...sub.options } });
  const values = parsed.values as Values;
  if (values.help) {
    io.stdout(usage());
    return 0;
  }
  try {
    return await sub.run(values, parsed.positionals, io);
  } catch (err) {
    // A broken rule is the detection engineer's to fix: one line naming file and field, exit 1.
    if (err instanceof RuleDefinitionError) {
      io.stderr(`warden rules ${name}: ${err.message}`);
      return 1;
    }
    throw err;
  }
};

function detectionsDir(values: Values): string {
  if (values.dir === '') throw new UsageError('--dir needs a folder');
  return values.dir ? resolve(values.dir) : DETECTIONS_DIR;
}

async function load(values: Values): Promise<LoadedRule[]> {
  return loadRules(detectionsDir(values));
}

/** What a learning period is measured against, in the words `rules list` uses. */
const AGAINST: Record<LearningPeriod['against'], string> = { principal: 'principal age', key: 'key' };

/** A rule's learning periods as `rules list` shows them: `7d`, `7d (step write)`, `2h (24 × 5m buckets)`; '-' for none. */
function learningColumns(learning: readonly LearningPeriod[]): [string, string] {
  if (!learning.length) return ['-', '-'];
  const periods = learning.map((l) => `${formatDuration(l.ms)}${l.what ? ` (${l.what})` : ''}`);
  return [periods.join('; '), [...new Set(learning.map((l) => AGAINST[l.against]))].join(', ')];
}

async function list(values: Values, _positionals: string[], io: CommandIO): Promise<number> {
  const rules = (await load(values)).map(({ rule }, i) => ({ rule, learning: compileRule(rule, i).learning }));
  const rows = rules.map(({ rule, learning }) => [rule.id, rule.kind, rule.severity, ...learningColumns(learning), rule.sources.join(', ')]);
  for (const line of textTable([['ID', 'KIND', 'SEVERITY', 'LEARNING', 'MEASURED AGAINST', 'SOURCES'], ...rows])) io.stdout(line);
  if (values.json) {
    io.stdout(
      JSON.stringify({
        rules: rules.map(({ rule, learning }) => ({
          id: rule.id,
          version: rule.version,
          kind: rule.kind,
          severity: rule.severity,
          sources: rule.sources,
          tactics: rule.tactics,
          techniques: rule.techniques,
          learning: learning.map((l) => ({ period: formatDuration(l.ms), against: l.against, ...(l.what ? { what: l.what } : {}) })),
        })),
      }),
    );
  }
  return 0;
}

async function test(values: Values, ruleIds: string[], io: CommandIO): Promise<number> {
  const all = await load(values);
  const unknown = ruleIds.filter((id) => !all.some((l) => l.rule.id === id));
  if (unknown.length) throw new UsageError(`no rule ${unknown.map((id) => `'${id}'`).join(', ')}: 'warden rules list' shows the rules`);
  const selected = ruleIds.length ? all.filter((l) => ruleIds.includes(l.rule.id)) : all;
  const results: CaseResult[] = [];
  const fixtureErrors: string[] = [];
  for (const loaded of selected) {
    try {
      for (const ruleCase of await readCases(loaded)) {
        const result = await runRuleCase(loaded, ruleCase);
        results.push(result);
        io.stdout(formatCaseResult(result));
      }
    } catch (err) {
      if (!(err instanceof FixtureError)) throw err;
      fixtureErrors.push(err.message);
      io.stdout(`✗ ${loaded.rule.id}: ${err.message}`);
    }
  }
  const failed = results.filter((r) => !r.passed).length + fixtureErrors.length;
  io.stdout(
    `${results.length} case${results.length === 1 ? '' : 's'} of ${selected.length} rule${selected.length === 1 ? '' : 's'}: ${results.length - results.filter((r) => !r.passed).length} passed, ${failed} failed`,
  );
  if (values.json) {
    io.stdout(
      JSON.stringify({
        passed: results.filter((r) => r.passed).length,
        failed,
        cases: results.map((r) => ({ rule: r.ruleId, name: r.name, passed: r.passed, alerts: r.alerts.length, events: r.events, problems: r.problems })),
        fixtureErrors,
      }),
    );
  }
  return failed ? 1 : 0;
}

async function lint(values: Values, _positionals: string[], io: CommandIO): Promise<number> {
  const rules = await load(values);
  const problems: string[] = [];
  for (const loaded of rules) for (const p of await lintFixtures(loaded)) problems.push(p);
  for (const p of problems) io.stdout(`✗ ${p}`);
  if (!problems.length) io.stdout(`✓ ${rules.length} rule${rules.length === 1 ? '' : 's'} valid, each with a positive and a negative case`);
  if (values.json) io.stdout(JSON.stringify({ rules: rules.length, problems }));
  return problems.length ? 1 : 0;
}

async function docs(values: Values, _positionals: string[], io: CommandIO): Promise<number> {
  const file = join(detectionsDir(values), CATALOGUE_FILE);
  const shown = relative(process.cwd(), file) || file;
  const text = await renderCatalogue(await load(values));
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (values.check) {
    const fresh = current === text;
    io.stdout(fresh ? `✓ ${shown} is up to date` : `✗ ${shown} is stale: run 'npm run -s warden -- rules docs' and commit it`);
    if (values.json) io.stdout(JSON.stringify({ file: shown, upToDate: fresh }));
    return fresh ? 0 : 1;
  }
  if (current !== text) await writeFile(file, text);
  io.stdout(`${current === text ? 'unchanged' : 'wrote'} ${shown}`);
  if (values.json) io.stdout(JSON.stringify({ file: shown, changed: current !== text }));
  return 0;
}

async function scaffold(values: Values, positionals: string[], io: CommandIO): Promise<number> {
  if (positionals.length !== 1) throw new UsageError("give one rule id: 'warden rules new <rule-id> --kind <kind>'");
  if (!values.kind) throw new UsageError('give --kind: match, threshold, anomaly, firstSeen or sequence');
  const files = await scaffoldRule(detectionsDir(values), positionals[0], values.kind);
  for (const f of files) io.stdout(`created ${relative(process.cwd(), f) || f}`);
  io.stdout(`next: fill in the TODOs, put captured logs in the fixtures, then 'npm run -s warden -- rules test ${positionals[0]}'`);
  if (values.json) io.stdout(JSON.stringify({ rule: positionals[0], kind: values.kind, files }));
  return 0;
}
