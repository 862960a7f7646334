/**
 * Connection strings read as what the SDKs read: `key=value` pairs split on `;`, keys compared
 * case-insensitively. Warden takes a connection string only for a local emulator, and decides
 * that from the parsed pairs, never from a substring: a real key ending in
 * `UseDevelopmentEmulator=true`, or a real account with one local endpoint, is not an emulator.
 */

/** The pairs of a connection string, keys lower-cased; undefined when a key repeats or a part has no `=` (the SDKs disagree on such strings). */
export function parseConnectionString(connectionString: string): Map<string, string> | undefined {
  const pairs = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const key = part.slice(0, eq).trim().toLowerCase();
    if (pairs.has(key)) return undefined;
    pairs.set(key, part.slice(eq + 1).trim());
  }
  return pairs;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** An endpoint URL on this machine (the emulators listen on loopback only). */
export function isLoopbackUrl(value: string): boolean {
  try {
    return LOOPBACK.has(new URL(value).hostname.toLowerCase());
  } catch {
    return false;
  }
}

/** The Event Hubs emulator or a test broker: `UseDevelopmentEmulator=true` as its own pair and an `sb://` endpoint on loopback. */
export function isEventHubsEmulator(connectionString: string): boolean {
  const pairs = parseConnectionString(connectionString);
  const endpoint = pairs?.get('endpoint');
  return pairs?.get('usedevelopmentemulator')?.toLowerCase() === 'true' && endpoint !== undefined && isLoopbackUrl(endpoint);
}

/**
 * Azurite: `UseDevelopmentStorage=true` alone (no proxy, no account of its own), or endpoints
 * given one by one, every one of them on loopback, Blob and Table among them (a missing one would
 * be the real account's, reached with the key).
 */
export function isStorageEmulator(connectionString: string): boolean {
  const pairs = parseConnectionString(connectionString);
  if (!pairs) return false;
  if (pairs.get('usedevelopmentstorage')?.toLowerCase() === 'true') return pairs.size === 1;
  if (pairs.has('usedevelopmentstorage') || pairs.has('endpointsuffix')) return false;
  if (!pairs.has('blobendpoint') || !pairs.has('tableendpoint')) return false;
  for (const [key, value] of pairs) if (key.endsWith('endpoint') && !isLoopbackUrl(value)) return false;
  return true;
}
