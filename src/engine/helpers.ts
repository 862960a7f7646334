import type { NormalizedEvent } from '../model/index.js';

/** Small helpers detection rules share (rules import only src/engine and src/model). */

/** Whether the event's principal (object id) or client app id is on an allow-list (case-insensitive). */
export function isAllowListed(e: NormalizedEvent, allowList: readonly string[]): boolean {
  if (!allowList.length) return false;
  const app = e.appId?.toLowerCase();
  return allowList.some((p) => {
    const id = p.toLowerCase();
    return id === e.principalId || id === app;
  });
}

/** The last segment of a resource id (`…/accounts/oai-prod` → `oai-prod`). */
export function resourceName(resourceId: string | undefined): string | undefined {
  return resourceId ? resourceId.slice(resourceId.lastIndexOf('/') + 1) || undefined : undefined;
}

/** How a title names the principal: its UPN or display name, else its id. */
export function principalLabel(c: { principalName?: string; principalId: string }): string {
  return c.principalName ?? c.principalId;
}
