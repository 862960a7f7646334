import { readFileSync } from 'node:fs';
import { isUnidentified, type NormalizedEvent } from '../model/index.js';
import { WardenError } from '../common/errors.js';
import { isGuid, resourceName, subscriptionFromResourceId } from '../common/ids.js';

/** An Azure resource as an Azure Resource Graph export lists it (`Resources | project name, type, subscriptionId, id`). */
export interface InventoryResource {
  /** ARM resource id, lower-case. */
  id: string;
  /** Resource name, lower-case. */
  name: string;
  /** provider/type, lower-case (`microsoft.storage/storageaccounts`). */
  type: string;
  /** Lower-case GUID. */
  subscriptionId: string;
}

/** An inventory file (WARDEN_INVENTORY, a fixture case's "inventory") that cannot be used. */
export class InventoryError extends WardenError {
  override name = 'InventoryError';
  readonly userFixable = true;
}

/** `/subscriptions/<sub>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>`: a top-level resource and nothing below it. */
const TOP_LEVEL = /^\/subscriptions\/([0-9a-f-]{36})\/resourcegroups\/[^/]+\/providers\/([^/]+\/[^/]+)\/([^/]+)$/;
const DEFAULT_MAX_LEARNED = 100_000;

/**
 * The Azure resources a deployment knows, by type and name: where a name found in a log (a copy's
 * source account) lives. Filled from an inventory file and learned from every event the detector
 * sees (the resource an event targets, with its subscription). Rules read it through their
 * context; what it has learned depends on the events this detector has seen, so a deployment whose
 * instances each see only some partitions should give the inventory file too.
 */
export class ResourceInventory {
  private readonly byName = new Map<string, InventoryResource>();
  /** Resource ids already considered, so an event about a known resource costs one lookup. */
  private readonly seen = new Set<string>();
  private learned = 0;

  constructor(
    resources: Iterable<InventoryResource> = [],
    private readonly maxLearned = DEFAULT_MAX_LEARNED,
  ) {
    for (const r of resources) this.add(r);
  }

  /** Add a resource (the file's entries win over what is learned later); true when it was not known. */
  add(r: InventoryResource): boolean {
    const key = `${r.type}|${r.name}`;
    if (this.byName.has(key)) return false;
    this.byName.set(key, r);
    return true;
  }

  /**
   * Learn the resource an event targets, when it is a top-level resource in a subscription.
   * Returns it when it was new, so the detector can keep it with the partition's state.
   */
  observe(e: NormalizedEvent): InventoryResource | undefined {
    const id = e.resourceId;
    if (id === undefined || this.learned >= this.maxLearned || this.seen.has(id)) return undefined;
    this.seen.add(id);
    this.learned++;
    const m = TOP_LEVEL.exec(id);
    if (!m) return undefined;
    const resource = { id, subscriptionId: m[1], type: m[2], name: m[3] };
    return this.add(resource) ? resource : undefined;
  }

  /** The resource of this type and name, if known (`find('microsoft.storage/storageaccounts', 'stdata01')`). */
  find(type: string, name: string): InventoryResource | undefined {
    return this.byName.get(`${type.toLowerCase()}|${name.toLowerCase()}`);
  }

  get size(): number {
    return this.byName.size;
  }
}

/**
 * Display names of principals, learned from the events that carry one: a service principal is
 * named in its sign-ins but only by id in Key Vault, storage and AI logs, so an alert about it
 * can still name it. Bounded; the first names seen are kept once full.
 */
export class PrincipalNames {
  private readonly names = new Map<string, string>();

  constructor(private readonly max = DEFAULT_MAX_LEARNED) {}

  /** Learn the name an event gives its principal; true when it is new or changed (worth keeping). */
  observe(e: NormalizedEvent): boolean {
    return e.principalName !== undefined && this.learn(e.principalId, e.principalName);
  }

  learn(principalId: string, name: string): boolean {
    // A key that names nobody in particular is shared by callers of one resource: a name one of them gave is not the others'.
    if (isUnidentified(principalId) || name === principalId || this.names.get(principalId) === name) return false;
    if (this.names.size >= this.max && !this.names.has(principalId)) return false;
    this.names.set(principalId, name);
    return true;
  }

  nameOf(principalId: string): string | undefined {
    return this.names.get(principalId);
  }
}

/**
 * Parse an Azure Resource Graph export: a JSON array of `{ name, type, subscriptionId, id }`, or
 * the `{ "data": [...] }` object `az graph query` prints. `origin` names the file in errors.
 */
export function parseInventory(text: string, origin: string): InventoryResource[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InventoryError(
      `${origin}: not JSON (${(err as Error).message}); expected an Azure Resource Graph export [{"name","type","subscriptionId","id"}, …]`,
    );
  }
  const rows = Array.isArray(parsed) ? parsed : (parsed as { data?: unknown })?.data;
  if (!Array.isArray(rows)) throw new InventoryError(`${origin}: expected a JSON array of resources, or {"data": [...]} as 'az graph query' prints`);
  return rows.map((row: unknown, i): InventoryResource => {
    const r = row as Record<string, unknown>;
    const id = typeof r?.id === 'string' ? r.id.toLowerCase() : undefined;
    const sub = typeof r?.subscriptionId === 'string' ? r.subscriptionId.toLowerCase() : subscriptionFromResourceId(id);
    const type = typeof r?.type === 'string' ? r.type.toLowerCase() : undefined;
    const name = typeof r?.name === 'string' ? r.name.toLowerCase() : resourceName(id);
    if (!id || !type || !name || !isGuid(sub)) {
      throw new InventoryError(`${origin}: resource [${i}] needs "id", "type", "name" and "subscriptionId" (got ${JSON.stringify(row)?.slice(0, 200)})`);
    }
    return { id, name, type, subscriptionId: sub };
  });
}

/** Read an inventory file (see parseInventory). */
export function readInventoryFile(path: string, origin = path): InventoryResource[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InventoryError(`${origin}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): fix the path or unset it`);
  }
  return parseInventory(text, origin);
}

/**
 * The inventory a deployment gives: `WARDEN_INVENTORY` is the path of an Azure Resource Graph
 * export (Function App setting or shell). Without it the inventory starts empty and learns.
 */
export function inventoryFromEnv(env: NodeJS.ProcessEnv = process.env): ResourceInventory {
  const path = env.WARDEN_INVENTORY?.trim();
  return new ResourceInventory(path ? readInventoryFile(path, `WARDEN_INVENTORY (${path})`) : []);
}
