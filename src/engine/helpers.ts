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

export { resourceName } from '../common/ids.js';

/** How a title names the principal: its UPN or display name, else its id. */
export function principalLabel(c: { principalName?: string; principalId: string }): string {
  return c.principalName ?? c.principalId;
}
