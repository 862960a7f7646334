/**
 * The one place Warden's telemetry is exported: to Application Insights through the Azure Monitor
 * OpenTelemetry distro, when APPLICATIONINSIGHTS_CONNECTION_STRING is set (the Function App and
 * `warden run`); otherwise nothing is exported (tests, the other CLI commands). docs/telemetry.md
 * says why the distro.
 */
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';

export interface TelemetryExport {
  shutdown(): Promise<void>;
}

/**
 * The component has local auth off: the exporter signs in with the app's identity, as the
 * Functions host does with APPLICATIONINSIGHTS_AUTHENTICATION_STRING (`Authorization=AAD`, and
 * `ClientId=<id>` for a user-assigned identity).
 */
function entraCredential(authentication: string | undefined): TokenCredential | undefined {
  const parts: Record<string, string | undefined> = Object.fromEntries(
    (authentication ?? '')
      .split(';')
      .map((p) => p.split('=').map((s) => s.trim()))
      .filter(([k]) => k),
  ) as Record<string, string>;
  if (parts.Authorization?.toUpperCase() !== 'AAD') return undefined;
  return parts.ClientId ? new ManagedIdentityCredential({ clientId: parts.ClientId }) : new DefaultAzureCredential();
}

export async function startTelemetryExport(env: Readonly<Record<string, string | undefined>> = process.env): Promise<TelemetryExport | undefined> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (!connectionString) return undefined;
  // Loaded only when exporting: the distro and its instrumentations are heavy for a CLI run.
  const { useAzureMonitor, shutdownAzureMonitor } = await import('@azure/monitor-opentelemetry');
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString, credential: entraCredential(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING) },
    // Warden's own spans and metrics; the Azure SDK's spans would nest each Table and Event Hubs call.
    instrumentationOptions: { azureSdk: { enabled: false }, http: { enabled: false } },
    enableLiveMetrics: false,
  });
  return { shutdown: shutdownAzureMonitor };
}
