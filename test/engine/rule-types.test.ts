import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { RULE_KINDS } from '../../src/engine/index.js';

const repo = join(import.meta.dirname, '..', '..');
const api = join(repo, 'src/engine/api.js');
const dir = mkdtempSync(join(tmpdir(), 'warden-rule-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet: CommandIO = { stdout: () => {}, stderr: () => {}, progress: false };

/** A rule file's body around `fields` (the common fields a test does not vary). */
const rule = (fields: string) => `import { defineRule, tunable, keyVaultObject } from ${JSON.stringify(api)};
export default defineRule({
  id: 'typed', version: '1', description: 'd', severity: 'Low', tactics: ['CredentialAccess'], techniques: [],
  ${fields}
});
`;

const SNIPPETS: Record<string, string> = {
  'details-ok.ts': rule(`sources: ['keyvault'], where: (e) => e.details.secretName === 'db', kind: 'match', title: 't',`),
  'details-misspelt.ts': rule(`sources: ['keyvault'], where: (e) => e.details.secretNmae === 'db', kind: 'match', title: 't',`),
  'details-other-source.ts': rule(`sources: ['storage'], where: (e) => e.details.secretName === 'db', kind: 'match', title: 't',`),
  'evidence-misspelt.ts': rule(`sources: ['keyvault'], kind: 'threshold', window: '10m', threshold: tunable(10, 'Reads'), distinct: keyVaultObject,
  evidence: ({ evidence }) => ({ vaults: evidence.values ?? [] }),
  title: ({ principal, evidence }) => \`\${evidence.cuont} reads of \${evidence.vaults.length} vaults by \${principal}\`,`),
  'step-misspelt.ts': rule(`sources: ['signin', 'keyvault'], kind: 'sequence', within: '1h',
  steps: { signin: { sources: ['signin'] }, read: { sources: ['keyvault'], relate: (e, { signin }) => e.ip !== signin.ip } },
  title: ({ steps }) => \`\${steps.signin.details.credentialKeyId} then \${steps.reed.details.secretName}\`,`),
};

/** Type errors per file, as `file: message` lines, with the repository's compiler options. */
function typeErrors(files: string[]): Map<string, string[]> {
  const config = ts.getParsedCommandLineOfConfigFile(join(repo, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  const out = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.file && out.has(d.file.fileName)) out.get(d.file.fileName)!.push(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  }
  return out;
}

describe('the rule API is typed', async () => {
  for (const [name, text] of Object.entries(SNIPPETS)) writeFileSync(join(dir, name), text);
  // The skeleton of every kind, as `rules new` writes it, typechecks too.
  for (const kind of RULE_KINDS) await main(['rules', 'new', `skeleton-${kind.toLowerCase()}`, '--kind', kind, '--dir', dir], quiet);
  const files = [...Object.keys(SNIPPETS), ...RULE_KINDS.map((k) => `skeleton-${k.toLowerCase()}.ts`)].map((f) => join(dir, f));
  const errors = typeErrors(files);
  const of = (name: string) => errors.get(join(dir, name))!;

  it('a details key the source has passes; a misspelt one, or one of another source, fails the typecheck', () => {
    expect(of('details-ok.ts')).toEqual([]);
    expect(of('details-misspelt.ts').join('\n')).toMatch(/Property 'secretNmae' does not exist on type 'KeyVaultDetails'/);
    expect(of('details-other-source.ts').join('\n')).toMatch(/Property 'secretName' does not exist on type 'StorageDetails'/);
  });

  it("a title reads the kind's evidence and the rule's own, typed", () => {
    expect(of('evidence-misspelt.ts'), of('evidence-misspelt.ts').join('\n')).toHaveLength(1);
    expect(of('evidence-misspelt.ts')[0]).toMatch(/Property 'cuont' does not exist/);
  });

  it('sequence steps are addressed by name, each typed by its sources', () => {
    expect(of('step-misspelt.ts'), of('step-misspelt.ts').join('\n')).toHaveLength(1);
    expect(of('step-misspelt.ts')[0]).toMatch(/Property 'reed' does not exist/);
  });

  it.each(RULE_KINDS)('the %s skeleton of `rules new` typechecks', (kind) => {
    expect(of(`skeleton-${kind.toLowerCase()}.ts`)).toEqual([]);
  });
});
