import { SOURCE_NORMALIZERS } from '../ingest/sources/index.js';
import type { SourceNormalizer } from '../ingest/types.js';
import type { Source } from '../model/index.js';
import type { TimeRange } from './range.js';

/** One Log Analytics table a backtest reads, and for which of the rules' sources. */
export interface TablePlan {
  table: string;
  sources: Source[];
  /** AzureDiagnostics holds every service's logs: only rows of these resource providers are read. */
  providers?: string[];
}

/** AzureDiagnostics `ResourceProvider` of the sources that log there. */
const DIAGNOSTICS_PROVIDERS: Partial<Record<Source, string>> = {
  ai: 'MICROSOFT.COGNITIVESERVICES',
  keyvault: 'MICROSOFT.KEYVAULT',
};

/** The tables holding the given sources (only those: a backtest reads nothing its rules ignore), in a stable order. */
export function planTables(sources: Iterable<Source>, normalizers: readonly SourceNormalizer[] = SOURCE_NORMALIZERS): TablePlan[] {
  const wanted = new Set(sources);
  const plans = new Map<string, TablePlan>();
  for (const n of normalizers) {
    if (!wanted.has(n.source)) continue;
    for (const table of n.tables) {
      const plan = plans.get(table) ?? { table, sources: [] };
      plan.sources.push(n.source);
      const provider = DIAGNOSTICS_PROVIDERS[n.source];
      if (provider && table === 'AzureDiagnostics') (plan.providers ??= []).push(provider);
      plans.set(table, plan);
    }
  }
  return [...plans.values()];
}

/** KQL datetime literal. */
function datetime(ms: number): string {
  return `datetime(${new Date(ms).toISOString()})`;
}

/**
 * The query for one table and time slice: every column of the rows in [from, to), oldest first.
 * One fixed shape, so a slice can be asked again (halved) and the test server can read it.
 */
export function sliceQuery(plan: TablePlan, range: TimeRange): string {
  const parts = [plan.table, `where TimeGenerated >= ${datetime(range.from)} and TimeGenerated < ${datetime(range.to)}`];
  if (plan.providers?.length) parts.push(`where ResourceProvider in (${plan.providers.map((p) => JSON.stringify(p)).join(', ')})`);
  parts.push('order by TimeGenerated asc');
  return parts.join(' | ');
}
