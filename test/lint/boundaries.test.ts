import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

/**
 * The folder boundaries of docs/architecture.md ("Import rules") are what `npm run lint` enforces:
 * a file that imports across one fails the lint, naming the rule it breaks.
 */
const repo = fileURLToPath(new URL('../..', import.meta.url));
// The files linted here exist only in the test, so TypeScript's project cannot hold them: the
// type-checked rules are off for them, the import and error-class rules under test are syntactic.
const eslint = new ESLint({ cwd: repo, overrideConfig: tseslint.configs.disableTypeChecked });

/** The lint messages for a file at `file` (relative to the repository) that imports `from`. */
async function lintImport(file: string, from: string) {
  const code = `import { thing } from '${from}';\nexport const used = thing;\n`;
  const [result] = await eslint.lintText(code, { filePath: `${repo}/${file}` });
  return result.messages.map((m) => ({ rule: m.ruleId, message: m.message }));
}

describe('npm run lint refuses an import across a folder boundary', () => {
  it.each([
    ['the engine imports ingest', 'src/engine/new-kind.ts', '../ingest/util.js', 'src/engine may import only common, model, state/types'],
    ['the engine imports delivery', 'src/engine/new-kind.ts', '../delivery/outbox.js', 'src/engine may import only common, model, state/types'],
    ['the engine imports the host', 'src/engine/new-kind.ts', '../host/warden.js', 'src/engine may import only common, model, state/types'],
    [
      'the engine imports a state store, not the state interface',
      'src/engine/kinds/new-kind.ts',
      '../../state/tables.js',
      'src/engine may import only common, model, state/types',
    ],
    ['ingest imports the engine', 'src/ingest/sources/new-source.ts', '../../engine/index.js', 'src/ingest may import only common, model'],
    ['delivery imports the engine', 'src/delivery/new-sink.ts', '../engine/evidence.js', 'src/delivery may import only common, model, state'],
    ['common imports the model', 'src/common/new-helper.ts', '../model/index.js', 'src/common may import only no other folder of src'],
  ])('%s', async (_case, file, from, says) => {
    expect(await lintImport(file, from)).toEqual([{ rule: 'no-restricted-imports', message: expect.stringContaining(says) }]);
    expect((await lintImport(file, from))[0].message).toContain('docs/architecture.md');
  });

  it('a detection rule importing anything but the rule API', async () => {
    for (const from of ['../src/ingest/util.js', '../src/engine/evidence.js', '../src/engine/index.js', '../src/model/index.js', '../src/state/tables.js']) {
      expect(await lintImport('detections/new-rule.ts', from), from).toEqual([
        { rule: 'no-restricted-imports', message: expect.stringContaining('A rule imports only the rule API (src/engine/api.js)') },
      ]);
    }
  });

  it('functions/ importing anything but the host', async () => {
    expect(await lintImport('functions/new-function.ts', '../src/engine/index.js')).toEqual([
      { rule: 'no-restricted-imports', message: expect.stringContaining('functions/ is thin') },
    ]);
  });
});

describe('npm run lint lets the imports the data flow needs through', () => {
  it.each([
    ['the engine imports the model', 'src/engine/new-kind.ts', '../model/index.js'],
    ['the engine imports common', 'src/engine/kinds/new-kind.ts', '../../common/redact.js'],
    ['the engine imports the state interface', 'src/engine/new-kind.ts', '../state/types.js'],
    ['the host imports the engine, which it runs', 'src/host/new-stage.ts', '../engine/index.js'],
    ['the host imports ingest and delivery', 'src/host/new-stage.ts', '../delivery/outbox.js'],
    ['ingest imports common', 'src/ingest/sources/new-source.ts', '../../common/ids.js'],
    ['a detection rule imports the rule API', 'detections/new-rule.ts', '../src/engine/api.js'],
    ['functions/ imports the host', 'functions/new-function.ts', '../src/host/functions.js'],
  ])('%s', async (_case, file, from) => {
    expect(await lintImport(file, from)).toEqual([]);
  });
});

describe('npm run lint refuses an error class that does not extend WardenError', () => {
  it('in any folder of src', async () => {
    const code = "export class BrokenPipeError extends Error {\n  override name = 'BrokenPipeError';\n}\n";
    const [result] = await eslint.lintText(code, { filePath: `${repo}/src/delivery/new-sink.ts` });
    expect(result.messages.map((m) => ({ rule: m.ruleId, message: m.message }))).toEqual([
      { rule: 'no-restricted-syntax', message: expect.stringContaining('Extend WardenError (src/common/errors.ts)') },
    ]);
    const based =
      "import { WardenError } from '../common/errors.js';\nexport class BrokenPipeError extends WardenError {\n  override name = 'BrokenPipeError';\n  readonly userFixable = false;\n}\n";
    expect((await eslint.lintText(based, { filePath: `${repo}/src/delivery/new-sink.ts` }))[0].messages).toEqual([]);
  });
});

describe('docs/architecture.md states the import rules lint enforces', () => {
  it('its folder map lists, for each folder of src, the folders eslint.config.js lets it import', async () => {
    // Imported by URL: the config is plain JavaScript, with no types for the compiler to find.
    const { MAY_IMPORT } = (await import(new URL('../../eslint.config.js', import.meta.url).href)) as { MAY_IMPORT: Record<string, string[]> };
    const doc = readFileSync(`${repo}/docs/architecture.md`, 'utf8');
    const documented: Record<string, string[]> = {};
    for (const [, folder, mayImport] of doc.matchAll(/^\| `src\/([\w-]+)` \| .* \| ([^|]+) \|$/gm)) {
      documented[folder] = mayImport.trim() === 'no other folder of src' ? [] : mayImport.split(',').map((f) => f.trim());
    }
    // src/cli is on top: no entry in MAY_IMPORT, so it may import any folder.
    expect(documented.cli).toEqual(['any folder of src']);
    delete documented.cli;
    expect(documented).toEqual(MAY_IMPORT);
  });
});
