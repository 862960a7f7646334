import type { TokenCredential } from '@azure/core-auth';

/** How Warden reaches an Event Hubs namespace: its managed identity in Azure, a connection string for local stand-ins. */
export type EventHubConnection = { connectionString: string } | { fullyQualifiedNamespace: string; credential: TokenCredential };
