import { messageOf } from './envelope.js';
import { SOURCE_NORMALIZERS } from './sources/index.js';
import type { RawRecord, SourceNormalizer } from './types.js';

export type Shape = 'stream' | 'table';

/** What to do with one record. */
export type Route =
  | { kind: 'normalize'; normalizer: SourceNormalizer; shape: Shape }
  /** A category (stream) or table (Log Analytics) that no source module handles: counted, not an error. */
  | { kind: 'skip'; category: string }
  | { kind: 'deadLetter'; reason: string };

type NormalizeRoute = Extract<Route, { kind: 'normalize' }>;

/** A source module that reads a category or table, with its route made once (not one object per record). */
interface Candidate {
  normalizer: SourceNormalizer;
  route: Readonly<NormalizeRoute>;
}

function index(normalizers: readonly SourceNormalizer[], names: (n: SourceNormalizer) => readonly string[], shape: Shape): Map<string, Candidate[]> {
  const map = new Map<string, Candidate[]>();
  for (const normalizer of normalizers) {
    const candidate: Candidate = { normalizer, route: Object.freeze({ kind: 'normalize', normalizer, shape }) };
    for (const name of names(normalizer)) {
      const key = name.toLowerCase();
      const list = map.get(key);
      if (list) list.push(candidate);
      else map.set(key, [candidate]);
    }
  }
  return map;
}

function nonEmpty(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function isLocalizable(v: unknown): v is { value: unknown } {
  return typeof v === 'object' && v !== null && 'value' in v;
}

/** Records of REST APIs that are not Azure Monitor records, named, with what to export instead. */
function noCategoryReason(record: RawRecord): string {
  if (Array.isArray(record.value) && '@odata.context' in record) {
    return 'no category: a Microsoft Graph API answer ({"@odata.context", "value": […]}), not Azure Monitor records: export the logs with a diagnostic setting or from Log Analytics';
  }
  if (record.createdDateTime !== undefined && (record.userPrincipalName !== undefined || record.appId !== undefined)) {
    return 'no category: a Microsoft Graph signIn (GET /auditLogs/signIns), not an Azure Monitor record: export sign-ins with a diagnostic setting (SignInLogs) or from Log Analytics (SigninLogs)';
  }
  if (record.activityDateTime !== undefined && record.activityDisplayName !== undefined) {
    return 'no category: a Microsoft Graph directoryAudit (GET /auditLogs/directoryAudits), not an Azure Monitor record: Warden does not read directory audits';
  }
  return 'no category: not an Azure Monitor record';
}

/** Picks the source module for a record: by `category` in stream shape, by table in Log Analytics shape. */
export class SourceRegistry {
  private readonly byCategory: Map<string, Candidate[]>;
  private readonly byTable: Map<string, Candidate[]>;

  constructor(normalizers: readonly SourceNormalizer[] = SOURCE_NORMALIZERS) {
    this.byCategory = index(normalizers, (n) => n.streamCategories, 'stream');
    this.byTable = index(normalizers, (n) => n.tables, 'table');
  }

  /**
   * @param table the table the caller queried (a backtest knows it); the row's own `Type` wins.
   * @param row the record is a Log Analytics row (from query output), so table shape even without a table name.
   */
  route(record: RawRecord, table?: string, row = false): Route {
    const type = typeof record.Type === 'string' && record.Type ? record.Type : table;
    if (type !== undefined) return this.choose(this.byTable.get(type.toLowerCase()), record, 'table', type);
    if (row) return { kind: 'deadLetter', reason: 'Log Analytics row without a Type column: name the table it came from' };
    // PascalCase `Category` appears in some Entra exports.
    let category = nonEmpty(record.category) ? record.category : record.Category;
    // The REST API and `az monitor activity-log list` write `{"value": …, "localizedValue": …}`.
    if (isLocalizable(category)) category = category.value;
    if (!nonEmpty(category)) return { kind: 'deadLetter', reason: noCategoryReason(record) };
    if (typeof category !== 'string') return { kind: 'deadLetter', reason: `category is ${typeof category}, not a string` };
    return this.choose(this.byCategory.get(category.toLowerCase()), record, 'stream', category);
  }

  private choose(candidates: Candidate[] | undefined, record: RawRecord, shape: Shape, category: string): Route {
    if (candidates) {
      for (const { normalizer, route } of candidates) {
        try {
          if (!normalizer.accepts || normalizer.accepts(record, shape)) return route;
        } catch (err) {
          return { kind: 'deadLetter', reason: `${normalizer.source}: cannot tell whether the record is its own: ${messageOf(err)}` };
        }
      }
    }
    return { kind: 'skip', category };
  }
}
