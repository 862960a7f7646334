import { readdir } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RuleDefinitionError } from './errors.js';
import { isRule, type Rule } from './rule.js';

/** detections/ next to src/ (or dist/detections next to dist/src when compiled). */
export const DETECTIONS_DIR = fileURLToPath(new URL('../../detections/', import.meta.url));

export interface LoadedRule {
  rule: Rule;
  /** The rule's file. */
  file: string;
  /** Where its fixtures live: detections/<rule-id>.fixtures/ (may not exist). */
  fixturesDir: string;
}

// Running from TypeScript sources (tsx, vitest) reads .ts rule files; compiled code reads .js.
const RULE_EXT = extname(fileURLToPath(import.meta.url)) === '.ts' ? '.ts' : '.js';

/**
 * Load every rule in a detections directory: each `<rule-id>.ts` (or compiled `.js`) whose default
 * export is `defineRule({...})`. Adding a rule is adding a file. A broken rule stops loading with
 * one RuleDefinitionError naming its file and field. Sorted by rule id.
 */
export async function loadRules(dir: string = DETECTIONS_DIR): Promise<LoadedRule[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new RuleDefinitionError(
      '(directory)',
      `cannot read the detections directory ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const files = names.filter((n) => n.endsWith(RULE_EXT) && !n.endsWith(`.d${RULE_EXT}`) && !n.endsWith(`.test${RULE_EXT}`)).sort();
  const loaded: LoadedRule[] = [];
  for (const name of files) {
    const file = join(dir, name);
    const shown = relative(process.cwd(), file) || file;
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (err) {
      if (err instanceof RuleDefinitionError) throw err.inFile(shown);
      throw new RuleDefinitionError('(file)', `cannot be loaded: ${(err as Error).message}`, undefined, shown);
    }
    const rule = mod.default;
    if (!isRule(rule)) throw new RuleDefinitionError('(default export)', 'the file must `export default defineRule({...})`', undefined, shown);
    const id = basename(name, RULE_EXT);
    if (rule.id !== id) throw new RuleDefinitionError('id', `the rule in ${name} must have id '${id}': a rule's file is named after its id`, rule.id, shown);
    loaded.push({ rule, file, fixturesDir: join(dir, `${id}.fixtures`) });
  }
  return loaded;
}
