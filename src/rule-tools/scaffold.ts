import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CASES_FILE } from './rule-tests.js';
import { KINDS, RULE_KINDS, type RuleKind } from '../engine/index.js';
import { WardenError } from '../common/errors.js';

/** A rule that cannot be scaffolded as asked (bad id or kind, files already there). */
export class ScaffoldError extends WardenError {
  override name = 'ScaffoldError';
  readonly userFixable = true;
}

const RULE_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** The rule API, the one module rule files import (`.js` specifiers resolve to the TypeScript source too). */
const RULE_API = fileURLToPath(new URL('../engine/api.js', import.meta.url));

function ruleSource(id: string, kind: RuleKind, apiImport: string): string {
  const tunable = /\btunable\(/.test(KINDS[kind].scaffold) ? ', tunable' : '';
  return `import { defineRule${tunable} } from '${apiImport}';

/**
 * TODO: what this rule detects and why it matters, in a few sentences a detection engineer reads
 * in a minute (what normal looks like, what the attacker does differently).
 */
export default defineRule({
  id: '${id}',
  version: '1',
  name: 'TODO: what it detects, in a few words',
  description: 'TODO: what happened, why it matters, and what the analyst should check.',
  severity: 'Medium', // TODO: Informational, Low, Medium or High
  tactics: ['CredentialAccess'], // TODO: MITRE ATT&CK tactics
  techniques: [], // TODO: MITRE ATT&CK technique ids, e.g. 'T1552'
  sources: ['activity'], // TODO: activity, signin, ai, keyvault, storage
  // operations: ['TODO/OPERATION'], // TODO: the upper-case operations the rule reads, or remove
  where: (e) => e.result === 'success', // TODO: which events count (allow-listed principals never reach it)
${KINDS[kind].scaffold}
  title: ({ principal }) => \`TODO: what happened, by \${principal}\`,
  suppress: '1h',
});
`;
}

const EMPTY_CAPTURE = '{"records": []}\n';

function casesSource(): string {
  const cases = [
    {
      name: 'TODO: the attack this rule catches',
      captures: ['positive.json'],
      expect: [{ principal: 'TODO-principal-id', count: 1 }],
      todo: 'put captured records that must raise the alert in positive.json and set the principal expected to be alerted on',
    },
    {
      name: 'TODO: the benign look-alike that must stay silent',
      captures: ['benign.json'],
      expect: [],
      todo: 'put captured records of the normal activity that looks most like the attack in benign.json',
    },
  ];
  return `${JSON.stringify({ cases }, null, 2)}\n`;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/**
 * Write `<dir>/<id>.ts` and `<dir>/<id>.fixtures/` (cases.json, positive.json, benign.json) for a
 * new rule of `kind`. The rule loads and lints; its cases fail with what is left to fill in until
 * the engineer replaces the TODOs. Returns the files written. Never overwrites.
 */
export async function scaffoldRule(dir: string, id: string, kind: string): Promise<string[]> {
  if (!RULE_ID.test(id)) throw new ScaffoldError(`'${id}' is not a rule id: use lower-case words joined by '-' (e.g. 'storage-sas-burst')`);
  if (!(RULE_KINDS as readonly string[]).includes(kind)) throw new ScaffoldError(`'${kind}' is not a rule kind: use ${RULE_KINDS.join(', ')}`);
  const ruleFile = join(dir, `${id}.ts`);
  const fixturesDir = join(dir, `${id}.fixtures`);
  for (const path of [ruleFile, fixturesDir]) {
    if (await exists(path)) throw new ScaffoldError(`${relative(process.cwd(), path) || path} already exists: pick another id or remove it`);
  }
  let apiImport = relative(dir, RULE_API).split(sep).join('/').replace(/\.ts$/, '.js');
  if (!apiImport.startsWith('.')) apiImport = `./${apiImport}`;
  await mkdir(fixturesDir, { recursive: true });
  const files: [string, string][] = [
    [ruleFile, ruleSource(id, kind as RuleKind, apiImport)],
    [join(fixturesDir, CASES_FILE), casesSource()],
    [join(fixturesDir, 'positive.json'), EMPTY_CAPTURE],
    [join(fixturesDir, 'benign.json'), EMPTY_CAPTURE],
  ];
  for (const [path, text] of files) await writeFile(path, text, { flag: 'wx' });
  return files.map(([path]) => path);
}
