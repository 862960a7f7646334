import {
  metrics,
  trace,
  context,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type Context,
  type Counter,
  type Gauge,
  type Histogram,
  type Link,
  type Span,
} from '@opentelemetry/api';

/**
 * Warden's own metrics and traces, through the OpenTelemetry API: whatever provider is registered
 * (Azure Monitor through setup.ts in Azure and `warden run`, an in-memory exporter in tests, none
 * by default) receives them. Dimensions stay low-cardinality: hubs, stages, categories, rules and
 * severities, never a principal or a resource id. In Application Insights they are customMetrics
 * named as below, the dimensions in customDimensions.
 */
export const METRIC = {
  recordsIn: 'warden.ingest.records',
  eventsPublished: 'warden.ingest.events_published',
  skipped: 'warden.ingest.skipped',
  eventsDetected: 'warden.detect.events',
  deadLetters: 'warden.dead_letters',
  lateEvents: 'warden.detect.late_events',
  alerts: 'warden.alerts',
  ruleErrors: 'warden.rule_errors',
  capEvictions: 'warden.detect.cap_evictions',
  outboxBacklog: 'warden.outbox.backlog',
  deliveries: 'warden.deliveries',
  tableWriteDuration: 'warden.tables.write_duration',
  tableTransactions: 'warden.tables.transactions',
  lag: 'warden.lag',
  detectionLatency: 'warden.detection_latency',
  silentSources: 'warden.silent_sources',
} as const;

/** The keyed event's application property that carries its ingest batch's trace (W3C traceparent). */
export const TRACEPARENT = 'traceparent';

const TRACEPARENT_FORMAT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C traceparent of a span, for the keyed events its batch publishes. */
export function traceparentOf(span: Span): string | undefined {
  const c = span.spanContext();
  if (!trace.isSpanContextValid(c)) return undefined;
  return `00-${c.traceId}-${c.spanId}-${c.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** The span context a traceparent names, or undefined for anything else (a foreign producer's property). */
export function contextOf(traceparent: unknown): Context | undefined {
  const m = typeof traceparent === 'string' ? TRACEPARENT_FORMAT.exec(traceparent) : null;
  if (!m) return undefined;
  return trace.setSpanContext(context.active(), { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true });
}

/**
 * Where a detect batch's span belongs: under the first ingest batch its keyed events carry, linked
 * to the others (a keyed batch mixes the events of several ingest batches).
 */
export function batchParent(traceparents: readonly unknown[]): { parent?: Context; links: Link[] } {
  const contexts = [...new Set(traceparents)].flatMap((p) => {
    const c = contextOf(p);
    return c ? [c] : [];
  });
  const [parent, ...others] = contexts;
  return { parent, links: others.map((c) => ({ context: trace.getSpanContext(c)! })) };
}

/**
 * A dead letter's reason as a dimension: its first clause (the source or what failed), without
 * quoted values or numbers, so the reasons of one kind fall in one series.
 */
export function reasonClass(reason: string): string {
  return reason
    .split(':')[0]
    .replace(/'[^']*'|"[^"]*"/g, '…')
    .replace(/\d+/g, 'n')
    .slice(0, 80)
    .trim();
}

/** The instruments, made from the meter provider registered when the app starts. */
export class WardenTelemetry {
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly meter = metrics.getMeter('warden');
  private readonly tracer = trace.getTracer('warden');

  count(name: (typeof METRIC)[keyof typeof METRIC], value: number, attributes: Attributes = {}): void {
    if (value <= 0) return;
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = this.meter.createCounter(name)));
    c.add(value, attributes);
  }

  /** Milliseconds (lags, latencies, durations). */
  record(name: (typeof METRIC)[keyof typeof METRIC], ms: number, attributes: Attributes = {}): void {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = this.meter.createHistogram(name, { unit: 'ms' })));
    h.record(Math.max(0, ms), attributes);
  }

  gauge(name: (typeof METRIC)[keyof typeof METRIC], value: number, attributes: Attributes = {}): void {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = this.meter.createGauge(name)));
    g.record(value, attributes);
  }

  /**
   * Run `work` in a span named `warden.<stage>`: a child of `parent` (the first keyed event's
   * ingest batch), linked to the other batches it carries. The span ends with the work; an error
   * marks it failed and is thrown on.
   */
  async span<T>(stage: string, attributes: Attributes, work: (span: Span) => Promise<T>, parent?: Context, links: Link[] = []): Promise<T> {
    return this.tracer.startActiveSpan(`warden.${stage}`, { attributes, links }, parent ?? context.active(), async (span) => {
      try {
        return await work(span);
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as Error)?.message ?? err).split('\n')[0] });
        throw err;
      } finally {
        span.end();
      }
    });
  }
}
