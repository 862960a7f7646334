import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import type { RetryOptions as EventHubsRetryOptions } from '@azure/event-hubs';
import type { LogsIngestionClientOptions } from '@azure/monitor-ingestion';
import { LogsQueryClient, type LogsQueryClientOptions } from '@azure/monitor-query-logs';
import type { InvocationContext } from '@azure/functions';
import type { Alert, DeadLetter, RecordLocation, StreamEvent } from '../model/index.js';
import { ingestBody, IngestTotals } from '../ingest/pipeline.js';
import { DEAD_LETTERS_PER_BATCH, DEAD_LETTERS_PER_BODY, deadLetter } from '../ingest/envelope.js';
import { Detector, loadRules, ResourceInventory, readInventoryFile, type Rule, type RuleLearning } from '../engine/index.js';
import { TableStateStore } from '../state/tables.js';
import type { StateStore } from '../state/types.js';
import { TableEntryTooLargeError } from '../state/table-entities.js';
import { BlobDeadLetterSink, type DeadLetterSink } from '../delivery/dead-letters.js';
import { TableAlertOutbox, errorText } from '../delivery/outbox.js';
import { TableSendBudget, type SendBudget } from '../delivery/pacing.js';
import { LogAnalyticsAlertWorkspace, auditDelivery, type AlertWorkspace, type AuditReport } from '../delivery/audit.js';
import { SentinelSink, deliverPending, recordSendResult, type AlertSink, type DeliveryReport } from '../delivery/sentinel.js';
import { KeyedEventFormatError, KeyedHubPublisher, parseKeyedEvent, type KeyedEvent } from '../eventhubs/keyed-hub.js';
import { TableDeliveryStatus, type LastDelivery } from '../delivery/delivery-status.js';
import { TableSilentSources, ANY_CATEGORY, type SilentCheckReport, type SourceKey } from '../delivery/silent-sources.js';
import { WardenTelemetry, METRIC, TRACEPARENT, batchParent, reasonClass, traceparentOf } from '../telemetry/telemetry.js';
import { parseHostDateTime } from './eventhubs-trigger.js';
import { describeSettings, type WardenSettings } from './settings.js';

/** What the app is made of besides its settings; tests and `warden run` replace parts. */
export interface WardenDependencies {
  /** Default DefaultAzureCredential: the Function App's managed identity in Azure. */
  credential?: TokenCredential;
  /** Rules to run. Default every rule in detections/. */
  rules?: readonly Rule[];
  /** For the Logs Ingestion client (a test server's CA, retry options). */
  sentinelClientOptions?: LogsIngestionClientOptions;
  /** For the keyed-hub producer. */
  eventHubsRetryOptions?: EventHubsRetryOptions;
  /** For the audit's Log Analytics query client (a test server's endpoint and CA). */
  auditClientOptions?: LogsQueryClientOptions;
  /** Wall clock (tests). */
  now?: () => number;
  /** Where detect keeps its state. Default the Table `<prefix>state`; tests wrap it (a store that dies as a crashed process does). */
  stateStore?: StateStore;
}

/**
 * How much longer than a send may take (SENTINEL_UPLOAD_TIMEOUT) the deliver timer leaves a
 * batch's new alerts to detect's own send: time to mark them sent or failed once it ends. A hold
 * shorter than the send (30 s against the client's own Retry-After waits) let the timer send them
 * a second time while detect was still sending them.
 */
const SEND_SETTLE_MS = 30_000;

/**
 * What `functions/index.ts` builds the app with: nothing in Azure (the defaults are right there);
 * a test host sets the stand-ins' credential, TLS trust and clock before it loads the entry point.
 */
export const functionsAppDependencies: WardenDependencies = {};

/** What one handler call did, for its log line and for tests. */
export interface IngestBatchResult {
  records: number;
  published: number;
  deadLettered: number;
  skipped: number;
}

export interface DetectBatchResult {
  /** Keyed events handed to the detector (it skips redeliveries and copies of an ingest batch published twice). */
  events: number;
  deadLettered: number;
  /** Alerts the batch raised. */
  alerts: Alert[];
  /** How many of them the outbox held already (raised again by events handled again after a crash): not sent or counted again. */
  repeatedAlerts: number;
  /** Delivery right after the batch (undefined when it raised nothing). */
  delivered?: DeliveryReport;
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'unavailable';
  settings: Record<string, unknown>;
  rules: { count: number; ids: string[] };
  /** `refused`: alerts the service refused as too large, set aside in the outbox (status refused) and never sent. */
  outbox: { backlog?: number; refused?: number; error?: string };
  lastDelivery?: LastDelivery;
  /** The last delivery audit: rows sent but not found in the workspace make the status degraded. */
  audit?: AuditReport | 'off';
  /** Keyed partitions whose last batches failed on this instance: which, since when, how often, why. */
  failingPartitions: PartitionFault[];
  /** When detect last wrote each keyed partition's state, and how far it has read: a crash replays the difference. */
  state: StateWrites;
  /** This instance's detector since it started. */
  detector: {
    evicted: number;
    evictedSamples: string[];
    /** Per rule, what keys dropped at a cap (maxCandidates, maxValues): bounded memory, not a fault, so the status stays ok. */
    capEvictions: Record<string, number>;
    events: number;
    late: number;
    ahead: number;
    duplicatesSkipped: number;
    republishedSkipped: number;
    alerts: number;
    partitions: number;
    keys: number;
    ruleErrors: Record<string, number>;
    /**
     * Per rule with a learning period: its keys still learning on this instance's partitions (as
     * their last sweeps counted them) and the alerts it could not raise because a key was still learning.
     */
    learning: Record<string, RuleLearning>;
  };
}

/**
 * How detect writes its state (`batch`: after every batch, as the Function App does; `checkpoint`:
 * right before each Event Hubs checkpoint, as `warden run` does) and, per keyed partition this
 * instance holds, the last keyed sequence number handled and the last one whose state is written.
 */
export interface StateWrites {
  writtenAt: 'batch' | 'checkpoint';
  /** The latest write over all partitions (ISO); absent before the first. */
  lastWrittenAt?: string;
  /**
   * `written`: the stored state holds the keyed events up to this one (at first, the one before
   * the first this instance read: its checkpoint); `writtenAt` once this instance wrote it.
   */
  partitions: Record<string, { handled: number; written: number; writtenAt?: string }>;
}

/** A keyed partition whose batches keep failing (cleared by its next batch that goes through). */
export interface PartitionFault {
  partitionId: string;
  /** When the first failure in a row happened (ISO). */
  since: string;
  failures: number;
  /** The last error, redacted. */
  reason: string;
  /** Whether its batches are dead-lettered (an error no retry can fix) rather than retried. */
  deadLettered: boolean;
}

/** An error no retry of the same batch can fix: retried, the partition would stop for good. */
function cannotSucceed(err: unknown): boolean {
  if (err instanceof TableEntryTooLargeError) return true;
  const status = (err as { statusCode?: unknown })?.statusCode;
  return status === 400 || status === 413;
}

interface TriggerMetadataView {
  partitionId: string;
  sequenceNumbers: number[];
  enqueuedTimes: string[];
  offsets: string[];
  /** Each event's application properties (camel-cased keys, as the worker gives them). */
  properties: Array<Record<string, unknown>>;
}

/** The batch's position on its hub, from the trigger metadata the Functions host sends. */
function triggerMetadataView(context: InvocationContext): TriggerMetadataView {
  const meta = (context.triggerMetadata ?? {}) as Record<string, unknown>;
  const partition = meta.partitionContext as { partitionId?: unknown } | undefined;
  const strings = (v: unknown) => (Array.isArray(v) ? v.map((x) => String(x)) : []);
  return {
    partitionId: typeof partition?.partitionId === 'string' ? partition.partitionId : '',
    sequenceNumbers: Array.isArray(meta.sequenceNumberArray) ? meta.sequenceNumberArray.map(Number) : [],
    enqueuedTimes: strings(meta.enqueuedTimeUtcArray),
    offsets: strings(meta.offsetArray),
    properties: Array.isArray(meta.propertiesArray) ? meta.propertiesArray.map((p) => (p ?? {}) as Record<string, unknown>) : [],
  };
}

function locationOf(hub: string, view: TriggerMetadataView, i: number): RecordLocation {
  const location: RecordLocation = { hub, partitionId: view.partitionId };
  if (view.sequenceNumbers[i] !== undefined) location.sequenceNumber = view.sequenceNumbers[i];
  if (view.offsets[i] !== undefined) location.offset = view.offsets[i];
  if (view.enqueuedTimes[i] !== undefined) location.enqueuedTime = view.enqueuedTimes[i];
  return location;
}

/**
 * The Warden app: ingest, detect, deliver and health, as the Functions entry points and
 * `warden run` call them. Holds one detector (state of the keyed partitions this instance reads),
 * and the clients of the keyed hub, the storage account and Sentinel.
 */
export class Warden {
  readonly detector: Detector;
  readonly publisher: KeyedHubPublisher;
  readonly outbox: TableAlertOutbox;
  /** Rows per Sentinel rule run, shared with every other instance. */
  readonly budget: SendBudget;
  /** Where the audit looks for sent rows; undefined when the audit is off. */
  readonly workspace?: AlertWorkspace;
  readonly sink: AlertSink;
  readonly deadLetters: DeadLetterSink;
  readonly deliveryStatus: TableDeliveryStatus;
  /** How the app reaches Azure: the managed identity (DefaultAzureCredential) unless given. */
  readonly credential: TokenCredential;
  /** When each raw hub and source category last sent something, and what is usual for it. */
  readonly silentSources: TableSilentSources;
  readonly telemetry = new WardenTelemetry();
  private readonly now: () => number;
  private readonly faults = new Map<string, PartitionFault>();
  private stateWrittenAt: StateWrites['writtenAt'] = 'batch';
  /** Per keyed partition: the last sequence number handled, and the last written with when. */
  private readonly progress = new Map<string, { handled: number; written: number; writtenAt?: number }>();
  /**
   * With state written at checkpoints, alerts whose events are applied in memory but which did not
   * reach the outbox (it failed): the retried batch's events are skipped as applied, so these are added then.
   */
  private readonly unstoredAlerts = new Map<string, Alert[]>();

  private constructor(
    readonly settings: WardenSettings,
    readonly rules: readonly Rule[],
    deps: WardenDependencies,
  ) {
    const credential = deps.credential ?? new DefaultAzureCredential();
    this.credential = credential;
    this.now = deps.now ?? Date.now;
    const storage = 'accountName' in settings.storage ? { ...settings.storage, credential } : settings.storage;
    const prefix = settings.storagePrefix;
    this.detector = new Detector(rules, {
      store: deps.stateStore ?? new TableStateStore({ ...storage, table: `${prefix}state` }),
      allowedLatenessMs: settings.allowedLatenessMs,
      maxClockSkewMs: settings.maxClockSkewMs,
      tunables: settings.tunables,
      inventory: new ResourceInventory(settings.inventoryFile ? readInventoryFile(settings.inventoryFile, `WARDEN_INVENTORY (${settings.inventoryFile})`) : []),
      now: this.now,
    });
    this.publisher = new KeyedHubPublisher({
      eventHubName: settings.eventsHub,
      connection: 'connectionString' in settings.eventHubs ? settings.eventHubs : { ...settings.eventHubs, credential },
      retryOptions: deps.eventHubsRetryOptions,
    });
    this.outbox = new TableAlertOutbox({ ...storage, table: `${prefix}outbox` }, { now: this.now });
    this.budget = new TableSendBudget(
      { ...storage, table: `${prefix}status` },
      { rowsPerRun: settings.sentinel.rowsPerRun, runEveryMs: settings.sentinel.runEveryMs, now: this.now },
    );
    if (settings.audit) {
      // This client version takes its token scope from `credentials.scopes`, not an audience.
      const { endpoint } = settings.audit;
      const options: LogsQueryClientOptions = { endpoint, credentials: { scopes: [`${new URL(endpoint).origin}/.default`] }, ...deps.auditClientOptions };
      this.workspace = new LogAnalyticsAlertWorkspace(new LogsQueryClient(credential, options), settings.audit.workspaceId);
    }
    this.sink = new SentinelSink({
      endpoint: settings.sentinel.endpoint,
      ruleId: settings.sentinel.ruleId,
      streamName: settings.sentinel.streamName,
      uploadTimeoutMs: settings.sentinel.uploadTimeoutMs,
      credential,
      clientOptions: { audience: settings.cloud.monitorAudience, ...deps.sentinelClientOptions },
    });
    this.deadLetters = new BlobDeadLetterSink({ ...storage, container: `${prefix}-deadletters` });
    this.deliveryStatus = new TableDeliveryStatus({ ...storage, table: `${prefix}status` });
    this.silentSources = new TableSilentSources({ ...storage, table: `${prefix}status` }, settings.silentSources, this.now);
  }

  /**
   * Build the app: load the rules and check them and the tunables against each other. Throws
   * (RuleDefinitionError, TunableError, InventoryError) before any function runs when they do not fit.
   */
  static async create(settings: WardenSettings, deps: WardenDependencies = {}): Promise<Warden> {
    const rules = deps.rules ?? (await loadRules()).map((l) => l.rule);
    return new Warden(settings, rules, deps);
  }

  /**
   * One batch from a raw hub: decode and normalize every record, publish the events to the keyed
   * hub, dead-letter what could not be read. Throws only when the keyed hub or the dead-letter
   * container fails (the retry policy then runs the batch again); never for a bad record.
   */
  ingest(hub: string, messages: readonly unknown[], context: InvocationContext): Promise<IngestBatchResult> {
    return this.telemetry.span('ingest', { 'warden.hub': hub }, (span) => this.ingestBatch(hub, messages, context, traceparentOf(span)));
  }

  private async ingestBatch(
    hub: string,
    messages: readonly unknown[],
    context: InvocationContext,
    traceparent: string | undefined,
  ): Promise<IngestBatchResult> {
    const view = triggerMetadataView(context);
    const totals = new IngestTotals();
    const events: KeyedEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    let notKept = 0;
    const readAt = this.now();
    const source = `${hub}/${view.partitionId}`;
    const categories = new Set<string>();
    for (let i = 0; i < messages.length; i++) {
      const arrivedAt = parseHostDateTime(view.enqueuedTimes[i]) ?? readAt;
      const result = ingestBody(messages[i], locationOf(hub, view, i), {
        times: { arrivedAt, maxClockSkewMs: this.settings.maxClockSkewMs, maxAgeMs: this.settings.maxEventAgeMs },
      });
      totals.add(result);
      for (const { event } of result.events) categories.add(event.category);
      for (const category in result.skippedByCategory) categories.add(category);
      this.telemetry.record(METRIC.lag, readAt - arrivedAt, { 'warden.hub': hub, 'warden.stage': 'ingest' });
      for (const d of result.deadLetters) {
        if (deadLetters.length < DEAD_LETTERS_PER_BATCH) deadLetters.push(d);
        else notKept++;
      }
      notKept += result.deadLettersNotKept;
      const sequenceNumber = view.sequenceNumbers[i] ?? i;
      // The same body always gives the same events in the same order: (sequence number, index) names each one.
      result.events.forEach(({ event }, index) => events.push({ event, arrivedAt, origin: { source, sequenceNumber, index } }));
    }
    const published = await this.publisher.publish(events, traceparent ? { [TRACEPARENT]: traceparent } : undefined);
    for (const { event } of published.tooLarge) {
      deadLetters.push(deadLetter('normalized event is larger than an Event Hubs event may be', { hub, partitionId: view.partitionId }, event));
    }
    if (notKept) {
      deadLetters.push(
        deadLetter(
          `${notKept} more records of this batch were dead-lettered and counted, not kept: at most ${DEAD_LETTERS_PER_BODY} per body and ${DEAD_LETTERS_PER_BATCH} per batch are`,
          { hub, partitionId: view.partitionId },
          '',
        ),
      );
    }
    await this.writeDeadLetters(hub, view, deadLetters);
    if (messages.length) {
      const sources: SourceKey[] = [{ hub, category: ANY_CATEGORY }, ...[...categories].map((category) => ({ hub, category }))];
      // A missed note only delays what the check learns: it never fails a batch of good records.
      await this.silentSources
        .noteArrivals(sources)
        .catch((err: unknown) => context.warn(`ingest ${hub}: noting the arrival for the silent-sources check failed: ${errorText((err as Error).message)}`));
    }
    const result: IngestBatchResult = {
      records: totals.records,
      published: published.events,
      deadLettered: totals.deadLettered + published.tooLarge.length,
      skipped: totals.skipped,
    };
    const t = this.telemetry;
    t.count(METRIC.recordsIn, totals.records, { 'warden.hub': hub });
    t.count(METRIC.eventsPublished, published.events, { 'warden.hub': hub });
    for (const [category, n] of Object.entries(totals.skippedByCategory)) t.count(METRIC.skipped, n, { 'warden.hub': hub, 'warden.category': category });
    this.countDeadLetters('ingest', hub, deadLetters);
    context.log(
      `ingest ${hub}/${view.partitionId}: ${result.records} records, ${result.published} events published, ${result.skipped} skipped, ${result.deadLettered} dead-lettered`,
    );
    return result;
  }

  /**
   * One batch from the keyed hub: apply it to the rules, put the alerts in the outbox, write the
   * changed state (unless the host writes it at its checkpoints: see writeStateAtCheckpoints), then
   * try to send the alerts new to the outbox at once (the deliver timer retries what fails).
   * Throws only when Tables fail. Written per batch, the partition is then reloaded from the Table
   * by the retry, so the retried batch raises the same alerts and counts nothing twice; written at
   * checkpoints, memory is kept (it holds batches the Table does not) and the retry stores what failed.
   */
  detect(messages: readonly unknown[], context: InvocationContext): Promise<DetectBatchResult> {
    const view = triggerMetadataView(context);
    // One trace per ingest batch: detect continues the first one it carries and links the others.
    const { parent, links } = batchParent(view.properties.map((p) => p[TRACEPARENT]));
    return this.telemetry.span(
      'detect',
      { 'warden.hub': this.settings.eventsHub, 'warden.partition': view.partitionId },
      () => this.detectBatch(view, messages, context),
      parent,
      links,
    );
  }

  private async detectBatch(view: TriggerMetadataView, messages: readonly unknown[], context: InvocationContext): Promise<DetectBatchResult> {
    const hub = this.settings.eventsHub;
    const partitionId = view.partitionId;
    const batch: StreamEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    for (let i = 0; i < messages.length; i++) {
      const sequenceNumber = view.sequenceNumbers[i];
      try {
        if (sequenceNumber === undefined) throw new KeyedEventFormatError('the trigger metadata has no sequence number for this event');
        const { event, arrivedAt, origin, routedFor } = parseKeyedEvent(messages[i]);
        const se: StreamEvent = { event, arrivedAt, partitionId, sequenceNumber, origin };
        if (routedFor) se.routedFor = routedFor;
        batch.push(se);
      } catch (err) {
        if (!(err instanceof KeyedEventFormatError)) throw err;
        deadLetters.push(deadLetter(err.message, locationOf(hub, view, i), messages[i]));
      }
    }
    // After a lease move and back, another instance applied the events in between: read its state.
    if (batch.length && this.detector.releaseIfStale(partitionId, batch[0].sequenceNumber)) this.forgetPartition(partitionId);
    const atCheckpoint = this.stateWrittenAt === 'checkpoint';
    let alerts: Alert[];
    /** The alerts new to the outbox: sent at once and counted. */
    let fresh: Alert[];
    const before = this.detector.stats();
    const handledAt = this.now();
    try {
      alerts = await this.detector.process(batch);
      const unstored = atCheckpoint ? this.unstoredAlerts.get(partitionId) : undefined;
      if (unstored) alerts = [...unstored, ...alerts];
      if (atCheckpoint) this.unstoredAlerts.set(partitionId, alerts);
      // Sent right after this batch; the timer takes them only if that send does not settle them.
      const { duplicates } = await this.outbox.add(alerts, { holdMs: this.settings.sentinel.uploadTimeoutMs + SEND_SETTLE_MS });
      this.unstoredAlerts.delete(partitionId);
      // Raised again by a batch handled again (state not written before a crash): the outbox has them, sent or due.
      const stored = new Set(duplicates);
      fresh = stored.size ? alerts.filter((a) => !stored.has(a.AlertId)) : alerts;
      this.noteHandled(partitionId, view);
      if (!atCheckpoint) await this.storeState(partitionId);
      this.faults.delete(partitionId);
    } catch (err) {
      const fatal = cannotSucceed(err);
      const fault = this.noteFault(partitionId, err, fatal);
      // What this instance applied in memory may not be stored: start the partition again from the Table.
      // Written at checkpoints, memory holds batches the Table does not: it is kept, and the retry skips the applied events.
      if (!atCheckpoint) this.forgetPartition(partitionId);
      else if (fatal) this.unstoredAlerts.delete(partitionId);
      if (!fatal) throw err;
      // Retried, this batch would fail forever and hold the partition: keep its events as dead letters and go on.
      context.error(`detect ${hub}/${partitionId}: ${fault.reason}; the batch's ${messages.length} events are dead-lettered`);
      alerts = fresh = [];
      for (let i = 0; i < messages.length; i++) {
        deadLetters.push(
          deadLetter(
            `the batch's detection state cannot be stored (${fault.reason}): dead-lettered so the partition goes on`,
            locationOf(hub, view, i),
            messages[i],
          ),
        );
      }
    }
    await this.writeDeadLetters(hub, view, deadLetters);
    this.countDetected(hub, view, before, handledAt, batch.length, fresh);
    this.countDeadLetters('detect', hub, deadLetters);
    const repeated = alerts.length - fresh.length;
    const result: DetectBatchResult = { events: batch.length, deadLettered: deadLetters.length, alerts, repeatedAlerts: repeated };
    if (fresh.length) result.delivered = await this.deliverNow(fresh, context);
    context.log(
      `detect ${hub}/${partitionId}: ${batch.length} events, ${alerts.length} alerts${repeated ? ` (${repeated} raised again: in the outbox already)` : ''}${deadLetters.length ? `, ${deadLetters.length} dead-lettered` : ''}`,
    );
    return result;
  }

  /**
   * From now on detect does not write state after each batch: the host calls writeState right
   * before each Event Hubs checkpoint of the keyed hub (`warden run`, src/host/standalone.ts). Only
   * for a host whose checkpoints all wait for writeState: the Functions host's do not (docs/delivery.md).
   */
  writeStateAtCheckpoints(): void {
    this.stateWrittenAt = 'checkpoint';
  }

  /**
   * Write what detect changed on the keyed partition since its last write. Throws when Tables
   * fail (the host then does not checkpoint; what failed is written by the next call). When the
   * state cannot be stored by any retry (400/413), the partition is read again from the Table at
   * its next batch and the fault is shown in health: returns what was lost, for the host's log.
   */
  async writeState(partitionId: string): Promise<{ lost?: string }> {
    try {
      await this.storeState(partitionId);
      this.faults.delete(partitionId);
      return {};
    } catch (err) {
      const fatal = cannotSucceed(err);
      const fault = this.noteFault(partitionId, err, fatal);
      if (!fatal) throw err;
      const p = this.progress.get(partitionId);
      this.forgetPartition(partitionId);
      return {
        lost: `${fault.reason}; keyed events ${p ? `${p.written + 1} to ${p.handled}` : 'since the last write'} raised their alerts but are not in the stored state (the partition is read again from it)`,
      };
    }
  }

  /** The partition went to another instance (lease lost): drop what this one holds of it; the next owner replays from the checkpoint. */
  releasePartition(partitionId: string): void {
    this.forgetPartition(partitionId);
  }

  private forgetPartition(partitionId: string): void {
    this.detector.release(partitionId);
    this.unstoredAlerts.delete(partitionId);
    this.progress.delete(partitionId);
  }

  private noteHandled(partitionId: string, view: TriggerMetadataView): void {
    const last = view.sequenceNumbers[view.sequenceNumbers.length - 1];
    if (last === undefined) return;
    const p = this.progress.get(partitionId);
    if (p) p.handled = Math.max(p.handled, last);
    else this.progress.set(partitionId, { handled: last, written: view.sequenceNumbers[0] - 1 });
  }

  private async storeState(partitionId: string): Promise<void> {
    const writeStarted = performance.now();
    const written = await this.detector.flush([partitionId]);
    this.telemetry.record(METRIC.tableWriteDuration, performance.now() - writeStarted, { 'warden.table': 'state' });
    this.telemetry.count(METRIC.tableTransactions, written.transactions, { 'warden.table': 'state' });
    const p = this.progress.get(partitionId);
    if (p) Object.assign(p, { written: p.handled, writtenAt: this.now() });
  }

  /** How state is written and, per keyed partition held, how far it is read and written. */
  stateWrites(): StateWrites {
    const partitions: StateWrites['partitions'] = {};
    let last: number | undefined;
    for (const [id, p] of [...this.progress].sort((a, b) => Number(a[0]) - Number(b[0]) || (a[0] < b[0] ? -1 : 1))) {
      partitions[id] = { handled: p.handled, written: p.written };
      if (p.writtenAt !== undefined) {
        partitions[id].writtenAt = new Date(p.writtenAt).toISOString();
        last = Math.max(last ?? p.writtenAt, p.writtenAt);
      }
    }
    return { writtenAt: this.stateWrittenAt, ...(last !== undefined ? { lastWrittenAt: new Date(last).toISOString() } : {}), partitions };
  }

  /** The deliver timer: send what the outbox holds, oldest first, and record how it went. */
  async deliver(context: InvocationContext): Promise<DeliveryReport> {
    const report = await this.telemetry.span('deliver', {}, () => deliverPending(this.outbox, this.sink, { budget: this.budget }));
    this.countDelivery(report, 'deliver');
    this.telemetry.gauge(METRIC.outboxBacklog, report.backlog);
    // A run with nothing due leaves the last real attempt on record.
    if (report.sent || report.failed) await this.deliveryStatus.record(report, 'deliver', new Date(this.now()));
    // What `warden seed` reads to refuse while the app runs; a failed note must not fail delivery.
    await this.deliveryStatus
      .noteTimerRun()
      .catch((err: unknown) => context.warn(`deliver: noting the run for warden seed failed: ${errorText((err as Error).message)}`));
    const paced = report.paced ? ` (${report.paced} for the next rule run)` : '';
    const refused = report.refused ? `, ${report.refused} refused as too large (set aside in the outbox)` : '';
    const line = `deliver: ${report.sent} sent, ${report.failed} failed${refused}, ${report.backlog} waiting${paced}${report.lastError ? `; last error: ${report.lastError}` : ''}`;
    if (report.failed || report.refused) context.warn(line);
    else context.log(line);
    return report;
  }

  /**
   * The audit timer: look in the workspace for the rows sent a grace period ago, resend the
   * missing ones (or give them up as lost after their resends) and keep the report for health.
   */
  async audit(context: InvocationContext): Promise<AuditReport | undefined> {
    if (!this.workspace || !this.settings.audit) {
      context.log('audit: off (set WARDEN_AUDIT_WORKSPACE_ID to check that sent rows land in the workspace)');
      return undefined;
    }
    const { graceMs, maxResends } = this.settings.audit;
    const report = await auditDelivery(this.outbox, this.workspace, { graceMs, maxResends, now: this.now });
    await this.deliveryStatus.recordAudit(report);
    const line =
      `audit: ${report.checked} sent rows checked, ${report.landed} in the workspace, ${report.missing.length} missing` +
      (report.missing.length
        ? ` (${report.resent.length} sent again, ${report.lost.length} lost; look in DCRLogErrors): ${report.missing.slice(0, 20).join(', ')}`
        : '');
    if (report.missing.length || report.lostTotal) context.warn(`${line}; ${report.lostTotal} lost in all`);
    else context.log(line);
    return report;
  }

  private noteFault(partitionId: string, err: unknown, deadLettered: boolean): PartitionFault {
    const known = this.faults.get(partitionId);
    const fault: PartitionFault = {
      partitionId,
      since: known?.since ?? new Date(this.now()).toISOString(),
      failures: (known?.failures ?? 0) + 1,
      reason: errorText(`${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`),
      deadLettered,
    };
    this.faults.set(partitionId, fault);
    return fault;
  }

  /**
   * The silent-sources timer: raise `log-source-silent` into the outbox for each regularly busy
   * source quiet for much longer than usual, and a recovery note for each that sends again.
   */
  async checkSilentSources(context: InvocationContext): Promise<SilentCheckReport> {
    const report = await this.telemetry.span('silent-sources', {}, () => this.silentSources.check((alerts) => this.outbox.add(alerts)));
    this.telemetry.gauge(METRIC.silentSources, report.silent.length);
    for (const alert of report.alerts) this.telemetry.count(METRIC.alerts, 1, { 'warden.rule': alert.RuleId, 'warden.severity': alert.Severity });
    const names = (keys: SourceKey[]) => keys.map((k) => `${k.hub}/${k.category}`).join(', ');
    const line =
      `silent-sources: ${report.sources} sources watched` +
      (report.silent.length ? `; silent: ${names(report.silent)}` : '') +
      (report.recovered.length ? `; sending again: ${names(report.recovered)}` : '');
    if (report.silent.length) context.warn(line);
    else context.log(line);
    return report;
  }

  /** Configuration, rules, outbox backlog and the last delivery: no secrets. */
  async health(): Promise<HealthReport> {
    const stats = this.detector.stats();
    const report: HealthReport = {
      status: 'ok',
      settings: describeSettings(this.settings),
      rules: { count: this.rules.length, ids: this.rules.map((r) => r.id) },
      outbox: {},
      failingPartitions: [...this.faults.values()],
      state: this.stateWrites(),
      detector: {
        evicted: stats.evicted,
        evictedSamples: stats.evictedSamples,
        capEvictions: stats.capEvictions,
        events: stats.events,
        late: stats.late,
        ahead: stats.ahead,
        duplicatesSkipped: stats.duplicatesSkipped,
        republishedSkipped: stats.republishedSkipped,
        alerts: stats.alerts,
        partitions: stats.partitions,
        keys: stats.keys,
        ruleErrors: stats.ruleErrors,
        learning: stats.learning,
      },
    };
    try {
      const [backlog, refused, lastDelivery, audit] = await Promise.all([
        this.outbox.backlog(),
        this.outbox.count('refused'),
        this.deliveryStatus.read(),
        this.workspace ? this.deliveryStatus.readAudit() : ('off' as const),
      ]);
      report.outbox.backlog = backlog;
      report.outbox.refused = refused;
      if (lastDelivery) report.lastDelivery = lastDelivery;
      if (audit) report.audit = audit;
      const rowsMissing = typeof audit === 'object' && (audit.missing.length > 0 || audit.lostTotal > 0);
      if (lastDelivery?.failed || rowsMissing || refused || Object.keys(stats.ruleErrors).length || this.faults.size || stats.evicted)
        report.status = 'degraded';
    } catch (err) {
      report.status = 'unavailable';
      report.outbox.error = errorText(`storage: ${(err as Error).message}`);
    }
    return report;
  }

  async close(): Promise<void> {
    await this.publisher.close();
  }

  /**
   * Send a batch's new alerts now, for latency, as far as this rule run's budget allows; the rest,
   * and a failure, stay in the outbox for the timer.
   */
  private async deliverNow(alerts: readonly Alert[], context: InvocationContext): Promise<DeliveryReport> {
    const report: DeliveryReport = { sent: 0, failed: 0, backlog: 0 };
    try {
      const granted = await this.budget.claim(alerts.length);
      if (granted < alerts.length) report.paced = alerts.length - granted;
      await this.telemetry.span('deliver', { 'warden.by': 'detect' }, async () =>
        recordSendResult(this.outbox, await this.sink.send(alerts.slice(0, granted)), report),
      );
      await this.deliveryStatus.record(report, 'detect', new Date(this.now()));
    } catch (err) {
      // The alerts are in the outbox already: the deliver timer sends them.
      report.failed = alerts.length - report.sent;
      report.lastError = errorText((err as Error).message);
      context.warn(`detect: sending ${alerts.length} alerts now failed (${report.lastError}); the deliver timer retries them`);
    }
    this.countDelivery(report, 'detect');
    return report;
  }

  private countDelivery(report: DeliveryReport, by: 'detect' | 'deliver'): void {
    this.telemetry.count(METRIC.deliveries, report.sent, { 'warden.by': by, 'warden.outcome': 'sent' });
    this.telemetry.count(METRIC.deliveries, report.failed, { 'warden.by': by, 'warden.outcome': 'failed' });
    this.telemetry.count(METRIC.deliveries, report.paced ?? 0, { 'warden.by': by, 'warden.outcome': 'paced' });
    this.telemetry.count(METRIC.deliveries, report.refused ?? 0, { 'warden.by': by, 'warden.outcome': 'refused' });
  }

  private countDeadLetters(stage: 'ingest' | 'detect', hub: string, deadLetters: readonly DeadLetter[]): void {
    for (const d of deadLetters)
      this.telemetry.count(METRIC.deadLetters, 1, { 'warden.stage': stage, 'warden.hub': hub, 'warden.reason': reasonClass(d.reason) });
  }

  /** A detect batch's numbers: events, lag on the keyed hub, late events, rule errors, cap evictions, alerts and their latency. */
  private countDetected(
    hub: string,
    view: TriggerMetadataView,
    before: ReturnType<Detector['stats']>,
    handledAt: number,
    events: number,
    alerts: readonly Alert[],
  ): void {
    const t = this.telemetry;
    const after = this.detector.stats();
    t.count(METRIC.eventsDetected, events, { 'warden.hub': hub });
    for (const enqueued of view.enqueuedTimes) {
      const at = parseHostDateTime(enqueued);
      if (at !== undefined) t.record(METRIC.lag, handledAt - at, { 'warden.hub': hub, 'warden.stage': 'detect' });
    }
    t.count(METRIC.lateEvents, after.late - before.late, { 'warden.hub': hub });
    for (const [rule, n] of Object.entries(after.ruleErrors)) t.count(METRIC.ruleErrors, n - (before.ruleErrors[rule] ?? 0), { 'warden.rule': rule });
    for (const [rule, n] of Object.entries(after.capEvictions)) t.count(METRIC.capEvictions, n - (before.capEvictions[rule] ?? 0), { 'warden.rule': rule });
    for (const a of alerts) {
      t.count(METRIC.alerts, 1, { 'warden.rule': a.RuleId, 'warden.severity': a.Severity });
      t.record(METRIC.detectionLatency, a.DetectionLatencyMs, { 'warden.rule': a.RuleId });
    }
  }

  private async writeDeadLetters(hub: string, view: TriggerMetadataView, deadLetters: readonly DeadLetter[]): Promise<void> {
    if (!deadLetters.length) return;
    const enqueued = parseHostDateTime(view.enqueuedTimes[0]);
    await this.deadLetters.write(deadLetters, {
      hub,
      partitionId: view.partitionId || 'unknown',
      sequenceNumber: view.sequenceNumbers[0] ?? 0,
      enqueuedTime: enqueued !== undefined ? new Date(enqueued) : undefined,
    });
  }
}
