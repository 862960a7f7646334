import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { once, tableClientFor, type TableLocation } from '../state/azure-storage.js';
import type { Alert } from '../model/index.js';
import { LOG_SOURCE_SILENT } from '../model/built-in-checks.js';
import { DEFAULT_STATUS_TABLE } from './delivery-status.js';

/**
 * Silent sources. A deleted diagnostic setting or a broken hub sends no events, so no rule runs
 * and no alert comes. This check watches arrivals on the wall clock instead (a silent source moves
 * no event time): ingest notes when each raw hub, and each source category on it, last sent
 * something; a timer learns each source's usual gap between arrivals and raises
 * `log-source-silent` when a regularly busy source has been quiet for much longer than usual, and
 * a recovery note when it sends again. Catalogue entry: detections/README.md.
 */

export interface SilentSourceOptions {
  /** Quiet for this many times the usual gap raises the alert (WARDEN_SILENT_MULTIPLE). */
  multiple: number;
  /** Gaps seen before a source counts as regularly busy (WARDEN_SILENT_MIN_GAPS). */
  minGaps: number;
  /** Never alert on less quiet than this, however busy the source (WARDEN_SILENT_MIN_QUIET). */
  minQuietMs: number;
}

/** As LOG_SOURCE_SILENT.settings documents them. */
export const DEFAULT_SILENT_OPTIONS: SilentSourceOptions = { multiple: 4, minGaps: 12, minQuietMs: 15 * 60_000 };
/** Ingest notes a source's arrival at most this often per instance: the check's resolution, and one Table write a minute per source. */
export const ARRIVAL_RESOLUTION_MS = 60_000;
/**
 * Gaps kept per source; the usual gap is the longest of them, so a source that comes in bursts
 * (a nightly job: many events, then a day of quiet) is judged by its quiet, not by its bursts.
 */
const GAPS_KEPT = 24;
/** Every hub has this source besides its categories: anything at all on the hub. */
export const ANY_CATEGORY = '*';

export interface SourceKey {
  hub: string;
  category: string;
}

/** What the check keeps per source between runs. */
export interface SourceHabit {
  /** The arrival the check saw last (epoch ms, wall clock). */
  lastSeenAt: number;
  /** Recent gaps between arrivals (ms), newest last; gaps that were silences alerted on are left out. */
  gaps: number[];
  /** The arrival before the open silence episode, while one is open. */
  silentSince?: number;
}

export type SourceVerdict = { kind: 'silent'; quietMs: number; usualGapMs: number; thresholdMs: number } | { kind: 'recovered'; quietMs: number } | undefined;

/** The longest recent gap, or undefined while the source has not been seen often enough to know. */
export function usualGap(habit: SourceHabit, options: SilentSourceOptions): number | undefined {
  return habit.gaps.length >= options.minGaps ? Math.max(...habit.gaps) : undefined;
}

/**
 * One source at one check: learn from a new arrival, or judge the quiet. Returns the new habit and
 * what to raise. Pure, so the thresholds are tested without Tables or a clock.
 */
export function judgeSource(
  habit: SourceHabit | undefined,
  lastSeenAt: number,
  now: number,
  options: SilentSourceOptions,
): { habit: SourceHabit; verdict: SourceVerdict } {
  if (!habit) return { habit: { lastSeenAt, gaps: [] }, verdict: undefined };
  if (lastSeenAt > habit.lastSeenAt) {
    const gap = lastSeenAt - habit.lastSeenAt;
    if (habit.silentSince !== undefined) {
      // The silence is not the source's habit: leave it out of what is usual.
      return { habit: { lastSeenAt, gaps: habit.gaps }, verdict: { kind: 'recovered', quietMs: gap } };
    }
    return { habit: { lastSeenAt, gaps: [...habit.gaps, gap].slice(-GAPS_KEPT) }, verdict: undefined };
  }
  const usual = usualGap(habit, options);
  const quietMs = now - habit.lastSeenAt;
  if (usual === undefined || habit.silentSince !== undefined) return { habit, verdict: undefined };
  const thresholdMs = Math.max(options.multiple * usual, options.minQuietMs);
  if (quietMs < thresholdMs) return { habit, verdict: undefined };
  return { habit: { ...habit, silentSince: habit.lastSeenAt }, verdict: { kind: 'silent', quietMs, usualGapMs: usual, thresholdMs } };
}

function sourceName({ hub, category }: SourceKey): string {
  return category === ANY_CATEGORY ? `hub ${hub}` : `category ${category} on hub ${hub}`;
}

/**
 * The alert for a silence episode (or its recovery note). The AlertId depends on the source and
 * the last arrival before the silence only, so every check of one episode names the same alert.
 */
export function silentSourceAlert(source: SourceKey, silentSince: number, verdict: NonNullable<SourceVerdict>, now: number): Alert {
  const episode = `${source.hub}|${source.category}|${silentSince}`;
  const recovered = verdict.kind === 'recovered';
  const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;
  const name = sourceName(source);
  const evidence: Record<string, unknown> = {
    hub: source.hub,
    category: source.category,
    lastEventArrivedAt: new Date(silentSince).toISOString(),
    quietMs: verdict.quietMs,
  };
  if (verdict.kind === 'silent') Object.assign(evidence, { usualGapMs: verdict.usualGapMs, thresholdMs: verdict.thresholdMs });
  return {
    TimeGenerated: new Date(now).toISOString(),
    AlertId: createHash('sha256')
      .update(`${LOG_SOURCE_SILENT.id}|${episode}|${recovered ? 'recovered' : 'silent'}`)
      .digest('hex')
      .slice(0, 32),
    RuleId: LOG_SOURCE_SILENT.id,
    RuleVersion: LOG_SOURCE_SILENT.version,
    Title: recovered ? `Log source sending again: ${name}` : `Log source silent: ${name}`,
    Description: recovered
      ? `The ${name} sent events again after ${minutes(verdict.quietMs)} of silence. Check the gap for activity Warden did not see.`
      : `The ${name} has sent nothing for ${minutes(verdict.quietMs)}, against a usual gap of at most ${minutes(verdict.usualGapMs)}. ` +
        'A deleted or changed diagnostic setting, a broken hub or a stopped workload leaves Warden blind to it: check the diagnostic settings that stream to this hub.',
    Severity: recovered ? 'Informational' : LOG_SOURCE_SILENT.severity,
    Tactics: recovered ? [] : LOG_SOURCE_SILENT.tactics,
    Techniques: recovered ? [] : LOG_SOURCE_SILENT.techniques,
    PrincipalId: '',
    PrincipalType: 'unknown',
    SubscriptionIds: [],
    ResourceIds: [],
    IpAddresses: [],
    FirstEventTime: new Date(silentSince).toISOString(),
    LastEventTime: new Date(recovered ? silentSince + verdict.quietMs : silentSince).toISOString(),
    EventCount: 0,
    Entities: [],
    Evidence: evidence,
    DetectionLatencyMs: 0,
  };
}

const ARRIVALS = 'source-arrivals';
const HABITS = 'source-habits';

function rowKey({ hub, category }: SourceKey): string {
  // Table keys refuse / \ # ? and control characters.
  return encodeURIComponent(`${hub}|${category}`).replace(/%/g, '~');
}

export interface SilentCheckReport {
  sources: number;
  silent: SourceKey[];
  recovered: SourceKey[];
  alerts: Alert[];
}

/**
 * Arrivals and habits in the status table: arrivals written by every ingest instance (the latest
 * wins, to the second), habits only by the check (a timer runs on one instance at a time).
 */
export class TableSilentSources {
  readonly client: TableClient;
  private readonly ensureTable: () => Promise<void>;
  private readonly noted = new Map<string, number>();

  constructor(
    location: TableLocation,
    private readonly options: SilentSourceOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.client = tableClientFor(location, DEFAULT_STATUS_TABLE);
    this.ensureTable = once(() => this.client.createTable());
  }

  /** Ingest saw these sources now: written at most once per ARRIVAL_RESOLUTION_MS per source by this instance. */
  async noteArrivals(sources: readonly SourceKey[]): Promise<void> {
    const at = this.now();
    const due = sources.filter((s) => at - (this.noted.get(rowKey(s)) ?? -Infinity) >= ARRIVAL_RESOLUTION_MS);
    if (!due.length) return;
    await this.ensureTable();
    await Promise.all(
      due.map((s) => this.client.upsertEntity({ partitionKey: ARRIVALS, rowKey: rowKey(s), hub: s.hub, category: s.category, lastSeenAt: at }, 'Replace')),
    );
    for (const s of due) this.noted.set(rowKey(s), at);
  }

  /**
   * The timer: judge every source, hand the alerts to `raise` (the outbox), then keep what was
   * learned: a failed raise leaves the habits as they were, so the next run raises the same alerts.
   */
  async check(raise: (alerts: Alert[]) => Promise<unknown>): Promise<SilentCheckReport> {
    const now = this.now();
    await this.ensureTable();
    const habits = new Map<string, SourceHabit>();
    for await (const e of this.client.listEntities<{ json: string }>({ queryOptions: { filter: `PartitionKey eq '${HABITS}'` } })) {
      habits.set(e.rowKey as string, JSON.parse(e.json) as SourceHabit);
    }
    const report: SilentCheckReport = { sources: 0, silent: [], recovered: [], alerts: [] };
    const learned: Array<{ rowKey: string; habit: SourceHabit }> = [];
    for await (const e of this.client.listEntities<{ hub: string; category: string; lastSeenAt: number }>({
      queryOptions: { filter: `PartitionKey eq '${ARRIVALS}'` },
    })) {
      const source = { hub: e.hub, category: e.category };
      const before = habits.get(e.rowKey as string);
      const { habit, verdict } = judgeSource(before, Number(e.lastSeenAt), now, this.options);
      report.sources++;
      if (verdict) {
        const since = verdict.kind === 'silent' ? habit.silentSince! : before!.silentSince!;
        report.alerts.push(silentSourceAlert(source, since, verdict, now));
        (verdict.kind === 'silent' ? report.silent : report.recovered).push(source);
      }
      if (habit !== before) learned.push({ rowKey: e.rowKey as string, habit });
    }
    if (report.alerts.length) await raise(report.alerts);
    await Promise.all(
      learned.map(({ rowKey: key, habit }) => this.client.upsertEntity({ partitionKey: HABITS, rowKey: key, json: JSON.stringify(habit) }, 'Replace')),
    );
    return report;
  }
}
