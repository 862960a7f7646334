/**
 * Ids Azure gives (GUIDs, resource ids) and what Warden reads from them. One module, so a rule's
 * title and a normalizer's details name a resource the same way.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SUBSCRIPTION = /\/subscriptions\/([0-9a-f-]{36})/i;
const PROVIDER = /\/providers\/([^/]+)\/([^/]+)/gi;

export function isGuid(v: unknown): v is string {
  return typeof v === 'string' && GUID.test(v);
}

/**
 * The resource name: the last segment of a resource id (`…/accounts/oai-prod` → `oai-prod`),
 * trailing slashes ignored; undefined when there is none. The case is kept: event resource ids
 * are lower-case already (NormalizedEvent), and the name reads as the id does.
 */
export function resourceName(resourceId: string | undefined): string | undefined {
  if (!resourceId) return undefined;
  let end = resourceId.length;
  while (end > 0 && resourceId.charCodeAt(end - 1) === 47) end--;
  return end ? resourceId.slice(resourceId.lastIndexOf('/', end - 1) + 1, end) : undefined;
}

/** `/subscriptions/<guid>/…` → the subscription id, lower-case. */
export function subscriptionFromResourceId(resourceId: string | undefined): string | undefined {
  if (!resourceId) return undefined;
  return SUBSCRIPTION.exec(resourceId)?.[1]?.toLowerCase();
}

/** `…/providers/Microsoft.KeyVault/vaults/kv1` → `microsoft.keyvault/vaults` (the last provider segment wins). */
export function resourceTypeFromResourceId(resourceId: string | undefined): string | undefined {
  if (!resourceId) return undefined;
  let last: RegExpExecArray | null = null;
  PROVIDER.lastIndex = 0;
  for (let m = PROVIDER.exec(resourceId); m; m = PROVIDER.exec(resourceId)) last = m;
  return last ? `${last[1]}/${last[2]}`.toLowerCase() : undefined;
}
