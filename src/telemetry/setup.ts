/**
 * The one place Warden's telemetry is exported: to Application Insights through the Azure Monitor
 * OpenTelemetry distro, when APPLICATIONINSIGHTS_CONNECTION_STRING is set (the Function App and
 * `warden run`); otherwise nothing is exported (tests, the other CLI commands). docs/telemetry.md
 * says why the distro.
 */
export interface TelemetryExport {
  shutdown(): Promise<void>;
}

export async function startTelemetryExport(env: Readonly<Record<string, string | undefined>> = process.env): Promise<TelemetryExport | undefined> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (!connectionString) return undefined;
  // Loaded only when exporting: the distro and its instrumentations are heavy for a CLI run.
  const { useAzureMonitor, shutdownAzureMonitor } = await import('@azure/monitor-opentelemetry');
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString },
    // Warden's own spans and metrics; the Azure SDK's spans would nest each Table and Event Hubs call.
    instrumentationOptions: { azureSdk: { enabled: false }, http: { enabled: false } },
    enableLiveMetrics: false,
  });
  return { shutdown: shutdownAzureMonitor };
}
