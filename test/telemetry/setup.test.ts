/**
 * The export set-up (src/telemetry/setup.ts), as the Function App and `warden run` call it: off
 * without a connection string; with one, the Azure Monitor distro loads on this Node and becomes
 * the provider the app's instruments write to.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { metrics, trace } from '@opentelemetry/api';
import { startTelemetryExport, type TelemetryExport } from '../../src/telemetry/setup.js';

let started: TelemetryExport | undefined;
afterAll(async () => {
  await started?.shutdown();
});

describe('telemetry export', () => {
  it('is off without APPLICATIONINSIGHTS_CONNECTION_STRING: nothing registered, nothing sent', async () => {
    expect(await startTelemetryExport({})).toBeUndefined();
    expect(await startTelemetryExport({ APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' })).toBeUndefined();
    expect(metrics.getMeterProvider().constructor.name).toBe('NoopMeterProvider');
  });

  it('with a connection string, registers the Azure Monitor meter and tracer providers', async () => {
    // An endpoint nothing listens on: the exporter's sends fail quietly and go to its retry store.
    started = await startTelemetryExport({
      APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=https://127.0.0.1:9/',
    });
    expect(started).toBeDefined();
    expect(metrics.getMeterProvider().constructor.name).toBe('MeterProvider');
    const span = trace.getTracer('warden').startSpan('probe');
    // A real tracer gives the span ids (the no-op one gives zeros); whether it is kept is the sampler's call.
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    span.end();
  }, 60_000);
});
