/**
 * The export set-up (src/telemetry/setup.ts), as the Function App and `warden run` call it: off
 * without a connection string; with one, the Azure Monitor distro loads on this Node and becomes
 * the provider the app's instruments write to.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics, trace } from '@opentelemetry/api';
import { startTelemetryExport, type TelemetryExport } from '../../src/telemetry/setup.js';

let started: TelemetryExport | undefined;
/** A stand-in ingestion endpoint that takes whatever is sent: a refused connection surfaced, on a busy machine, as an unhandled error. */
let ingestion: Server;
beforeAll(async () => {
  ingestion = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"itemsReceived":0,"itemsAccepted":0,"errors":[]}'));
  });
  await new Promise<void>((resolve) => ingestion.listen(0, '127.0.0.1', resolve));
  // Statsbeat, the exporter's own usage report, goes over https to wherever the connection string points.
  process.env.APPLICATIONINSIGHTS_STATSBEAT_DISABLED = 'true';
});
afterAll(async () => {
  await started?.shutdown();
  await new Promise((resolve) => ingestion.close(resolve));
  delete process.env.APPLICATIONINSIGHTS_STATSBEAT_DISABLED;
});

describe('telemetry export', () => {
  it('is off without APPLICATIONINSIGHTS_CONNECTION_STRING: nothing registered, nothing sent', async () => {
    expect(await startTelemetryExport({})).toBeUndefined();
    expect(await startTelemetryExport({ APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' })).toBeUndefined();
    expect(metrics.getMeterProvider().constructor.name).toBe('NoopMeterProvider');
  });

  it('with a connection string, registers the Azure Monitor meter and tracer providers', async () => {
    const endpoint = `http://127.0.0.1:${(ingestion.address() as AddressInfo).port}/`;
    started = await startTelemetryExport({
      APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=${endpoint};LiveEndpoint=${endpoint}`,
    });
    expect(started).toBeDefined();
    expect(metrics.getMeterProvider().constructor.name).toBe('MeterProvider');
    const span = trace.getTracer('warden').startSpan('probe');
    // A real tracer gives the span ids (the no-op one gives zeros); whether it is kept is the sampler's call.
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    span.end();
  }, 60_000);
});
