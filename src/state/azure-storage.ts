import { TableClient } from '@azure/data-tables';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import { isStorageEmulator } from '../common/connection-string.js';

/**
 * How Warden reaches a storage account. In Azure: the account name and the app's managed identity
 * (DefaultAzureCredential when no credential is given); no keys. A connection string is for Azurite
 * and local development only.
 */
export type StorageConnection =
  | { connectionString: string }
  | { accountName: string; credential?: TokenCredential; /** The cloud's storage suffix; default core.windows.net. */ endpointSuffix?: string };

/** A table to use: a client made elsewhere, or a connection and the table's name. */
export type TableLocation = { tableClient: TableClient } | (StorageConnection & { table?: string });

/** A blob container to use: a client made elsewhere, or a connection and the container's name. */
export type ContainerLocation = { containerClient: ContainerClient } | (StorageConnection & { container?: string });

export function tableClientFor(location: TableLocation, defaultTable: string): TableClient {
  if ('tableClient' in location) return location.tableClient;
  const table = location.table ?? defaultTable;
  if ('connectionString' in location) {
    return TableClient.fromConnectionString(location.connectionString, table, {
      // Azurite listens on plain HTTP; nothing else may.
      allowInsecureConnection: isStorageEmulator(location.connectionString),
    });
  }
  return new TableClient(
    `https://${location.accountName}.table.${location.endpointSuffix ?? 'core.windows.net'}`,
    table,
    location.credential ?? new DefaultAzureCredential(),
  );
}

export function containerClientFor(location: ContainerLocation, defaultContainer: string): ContainerClient {
  if ('containerClient' in location) return location.containerClient;
  const container = location.container ?? defaultContainer;
  if ('connectionString' in location) {
    return BlobServiceClient.fromConnectionString(location.connectionString).getContainerClient(container);
  }
  return new BlobServiceClient(
    `https://${location.accountName}.blob.${location.endpointSuffix ?? 'core.windows.net'}`,
    location.credential ?? new DefaultAzureCredential(),
  ).getContainerClient(container);
}

/**
 * Runs `create` once, the first time it is needed; a failed attempt (a transient outage) is
 * forgotten so the next call tries again.
 */
export function once(create: () => Promise<unknown>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= create().then(
      () => undefined,
      (err: unknown) => {
        done = undefined;
        throw err;
      },
    );
    return done;
  };
}
