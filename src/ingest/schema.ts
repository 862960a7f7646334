import { z } from 'zod';
import { obj } from './util.js';

/**
 * An object that may arrive JSON-encoded in a string: `properties` on the stream, the string twin of
 * a Log Analytics dynamic column (`Properties` next to `Properties_d`), `requestbody`. Parsed once, in
 * the schema; a string that is not a JSON object is left as is so the schema reports it.
 */
export function jsonObject<T extends z.ZodType>(schema: T) {
  return z.preprocess(jsonObjectValue, schema.nullish());
}

/**
 * What jsonObject hands its schema: an empty string is nothing, a JSON object in a string is the
 * object. Applying it twice gives what applying it once does, so a row mapped with it (for the fast
 * path) reads the same through the schema.
 */
export function jsonObjectValue(v: unknown): unknown {
  return v === '' ? undefined : typeof v === 'string' ? (obj(v) ?? v) : v;
}

/**
 * A record schema with zod's ahead-of-time compiled fast path (`z.compile`): the same output and the
 * same issues, about 3× cheaper per record; a record that fails is re-parsed by the runtime parser,
 * so dead-letter reasons do not change. Strict: a schema the compiler cannot model fails when the
 * module loads (in every test), rather than silently parsing at the slow speed.
 */
export function compiled<T extends z.ZodType>(schema: T): T {
  return z.compile(schema, { strict: true });
}

/** The first value that is present and not an empty object: a Log Analytics dynamic column, else its string twin. */
export function firstPresent(a: unknown, b: unknown): unknown {
  if (a === undefined || a === null || a === '') return b;
  if (typeof a === 'object' && !Array.isArray(a) && Object.keys(a).length === 0 && b !== undefined && b !== null && b !== '') return b;
  return a;
}
