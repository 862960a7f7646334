import type { SourceNormalizer } from '../types.js';
import type { DefinedSource } from './define-source.js';
import { activitySource } from './activity.js';
import { signinSource } from './signin.js';
import { aiSource } from './ai.js';
import { keyvaultSource } from './keyvault.js';
import { storageSource } from './storage.js';
import { directorySource } from './directory.js';
import { graphSource } from './graph.js';

/** Every log source Warden normalizes, one module each. */
export const SOURCE_NORMALIZERS: readonly DefinedSource[] = [
  activitySource,
  signinSource,
  aiSource,
  keyvaultSource,
  storageSource,
  directorySource,
  graphSource,
];

/** The same sources read by their schemas alone (no fast path): what test/ingest/fast-path.test.ts holds the fast paths equal to. */
export const REFERENCE_NORMALIZERS: readonly SourceNormalizer[] = SOURCE_NORMALIZERS.map((n) => n.reference);

/** The Log Analytics tables the sources read, as Log Analytics names them. */
export const SOURCE_TABLES: readonly string[] = [...new Set(SOURCE_NORMALIZERS.flatMap((n) => n.tables))];

/** Why rows of `table` would all be skipped (no source reads it: a typo, or another table), else undefined. */
export function unreadTableWarning(table: string): string | undefined {
  const known = SOURCE_TABLES.find((t) => t.toLowerCase() === table.toLowerCase());
  return known
    ? undefined
    : `no source reads table '${table}': rows without a Type column will be skipped as '${table}' (tables read: ${SOURCE_TABLES.join(', ')})`;
}
