import { readFileSync } from 'node:fs';
import { TunableError } from './errors.js';

/** Per rule id, the tunables a deployer sets: `{ "rule-id": { "threshold": 30 } }`. */
export type TunableOverrides = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/**
 * Tunable overrides from the environment (Function App settings or the shell):
 * - `WARDEN_TUNABLES_FILE`: path of a JSON file `{ "rule-id": { "name": value } }`;
 * - `WARDEN_TUNABLES`: the same JSON inline; per tunable it wins over the file.
 * Undefined when neither is set. A malformed value throws TunableError naming the variable.
 */
export function tunableOverridesFromEnv(env: NodeJS.ProcessEnv = process.env): TunableOverrides | undefined {
  const file = env.WARDEN_TUNABLES_FILE?.trim();
  const inline = env.WARDEN_TUNABLES?.trim();
  if (!file && !inline) return undefined;
  let merged: TunableOverrides = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TunableError(
        `WARDEN_TUNABLES_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): fix the path or unset it`,
      );
    }
    merged = mergeTunableOverrides(merged, parseTunableOverrides(text, `WARDEN_TUNABLES_FILE (${file})`));
  }
  if (inline) merged = mergeTunableOverrides(merged, parseTunableOverrides(inline, 'WARDEN_TUNABLES'));
  return merged;
}

/** Parse `{ "rule-id": { "name": value } }`; `origin` names where the text came from in errors. */
export function parseTunableOverrides(text: string, origin: string): TunableOverrides {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TunableError(`${origin}: not JSON (${(err as Error).message}); expected {"rule-id": {"tunable": value}}`);
  }
  if (!isPlainObject(parsed)) throw new TunableError(`${origin}: expected an object {"rule-id": {"tunable": value}}`);
  for (const [ruleId, values] of Object.entries(parsed)) {
    if (!isPlainObject(values)) throw new TunableError(`${origin}: the value for rule '${ruleId}' must be an object {"tunable": value}`);
  }
  return parsed as TunableOverrides;
}

/** Later overrides win per tunable. */
export function mergeTunableOverrides(base: TunableOverrides, over: TunableOverrides | undefined): TunableOverrides {
  if (!over) return base;
  const out: Record<string, Record<string, unknown>> = {};
  for (const [ruleId, values] of Object.entries(base)) out[ruleId] = { ...values };
  for (const [ruleId, values] of Object.entries(over)) out[ruleId] = { ...out[ruleId], ...values };
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
