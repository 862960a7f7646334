import { z } from 'zod';

/** The log sources Warden normalizes. */
export const SOURCES = ['activity', 'signin', 'ai', 'keyvault', 'storage', 'directory', 'graph'] as const;
export type Source = (typeof SOURCES)[number];

export const RESULTS = ['success', 'failure', 'start', 'unknown'] as const;
export type Result = (typeof RESULTS)[number];

export const PRINCIPAL_TYPES = ['user', 'servicePrincipal', 'managedIdentity', 'key', 'unknown'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

/**
 * Small per-source extras. Flat scalars only, so events stay cheap to copy, hash and store. The
 * schema checks the shape; the per-source interfaces below name the keys each normalizer writes
 * (present when the record carries them), so a rule reading a key its source never has fails
 * the typecheck instead of never matching.
 */
export const DetailsSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
/** Details of an event of any source, read generically (trimming, reports). */
export type Details = z.infer<typeof DetailsSchema>;

export type ActivityDetails = {
  status?: string;
  subStatus?: string;
  level?: string;
  durationMs?: number;
  callerRole?: string;
  managedIdentityResourceId?: string;
  /** Role assignments (write and delete). */
  roleDefinitionId?: string;
  assigneePrincipalId?: string;
  assigneePrincipalType?: string;
  scope?: string;
  /** Diagnostic settings (write): log categories, comma-separated. */
  enabledLogs?: string;
  disabledLogs?: string;
  workspaceId?: string;
  storageAccountId?: string;
  eventHubAuthorizationRuleId?: string;
  eventHubName?: string;
  /** Key regeneration: which key. */
  keyName?: string;
  /** Anonymous blob access set by a write: an account's `Enabled` / `Disabled`, a container's `None` / `Blob` / `Container`. */
  publicAccess?: string;
};

export type SigninDetails = {
  signInKind?: string;
  errorCode?: number;
  failureReason?: string;
  targetResourceAppId?: string;
  targetResourceName?: string;
  appName?: string;
  userAgent?: string;
  conditionalAccessStatus?: string;
  /** Which client secret or certificate signed in (its id, never the secret). */
  credentialKeyId?: string;
  clientCredentialType?: string;
  /** A certificate credential's thumbprint. */
  certificateThumbprint?: string;
  /** The federated identity credential a workload identity federation sign-in used. */
  federatedCredentialId?: string;
  /** Autonomous system number of the sign-in's IP. */
  asn?: number;
  /** The token's unique identifier (`uniqueTokenIdentifier`): Graph activity logs name it `signInActivityId`, hence the name (and "token" in a detail's name would get it redacted). */
  signInActivityId?: string;
  /** Entra Agent ID: the agent type, and the app (blueprint) an agent identity belongs to. */
  agentType?: string;
  agentParentAppId?: string;
};

export type AiDetails = {
  account?: string;
  /** `key` or `entra`. */
  authType?: string;
  deployment?: string;
  model?: string;
  modelVersion?: string;
  apiVersion?: string;
  streamType?: string;
  statusCode?: number;
  requestLength?: number;
  responseLength?: number;
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
  durationMs?: number;
};

export type KeyVaultDetails = {
  vault?: string;
  /** The object a request addresses: one of the three. */
  secretName?: string;
  keyName?: string;
  certificateName?: string;
  statusCode?: number;
  durationMs?: number;
  userAgent?: string;
};

export type StorageDetails = {
  /** OAuth, SAS, AccountKey or Anonymous. */
  authType?: string;
  account?: string;
  container?: string;
  blob?: string;
  statusCode?: number;
  bytes?: number;
  userAgent?: string;
  /** SAS redacted. */
  uri?: string;
  /** A copy's source URL (SAS redacted) and account. */
  copySourceUri?: string;
  sourceAccount?: string;
};

/** Entra audit: the change and the object it was made to (the target), flat. */
export type DirectoryDetails = {
  /** Entra's own category: ApplicationManagement, RoleManagement, UserManagement… */
  auditCategory?: string;
  operationType?: string;
  loggedByService?: string;
  /** `user` or `app`: who initiated the change. */
  initiatorType?: string;
  /** The object changed (an app, service principal, user…): its object id, type and name. */
  targetId?: string;
  targetType?: string;
  targetName?: string;
  /** The app id of a changed app or service principal, when the log gives it. */
  targetAppId?: string;
  /** Key credentials (secrets, certificates) added or removed: ids, comma-separated, never the secret. */
  addedKeyIds?: string;
  addedKeyTypes?: string;
  addedKeyUsages?: string;
  addedKeyNames?: string;
  removedKeyIds?: string;
  /** A federated identity credential `added`, `changed` (same name, new issuer or subject) or `removed`. */
  federatedChange?: string;
  federatedName?: string;
  federatedIssuer?: string;
  federatedSubject?: string;
  /** Directory role granted or removed (template id when logged). */
  roleId?: string;
  roleName?: string;
  userAgent?: string;
  resultReason?: string;
};

/** Microsoft Graph activity: one API request. */
export type GraphDetails = {
  method?: string;
  /** The request URI with its query string removed. */
  requestUri?: string;
  /** The collection addressed: `users`, `groups`, `applications`, `servicePrincipals`… */
  resourceKind?: string;
  apiVersion?: string;
  statusCode?: number;
  responseBytes?: number;
  durationMs?: number;
  userAgent?: string;
  /** Application permissions (roles) and delegated scopes of the token, space-separated. */
  roles?: string;
  scopes?: string;
  /** 0 public client, 1 client secret, 2 certificate. */
  clientAuthMethod?: number;
  /** The sign-in that issued the token: its unique token identifier. */
  signInActivityId?: string;
  servicePrincipalId?: string;
  userId?: string;
  requestId?: string;
};

/** The details each source's events carry. */
export interface DetailsBySource {
  activity: ActivityDetails;
  signin: SigninDetails;
  ai: AiDetails;
  keyvault: KeyVaultDetails;
  storage: StorageDetails;
  directory: DirectoryDetails;
  graph: GraphDetails;
}

const lowerGuidish = z.string().refine((s) => s === s.toLowerCase(), 'must be lower-case');

/** One flat, typed record per log record. Field names are a contract (docs/architecture.md, "Contracts"). */
export const NormalizedEventSchema = z.object({
  id: z.string().min(1),
  time: z.number().int().nonnegative(),
  source: z.enum(SOURCES),
  category: z.string(),
  operation: z.string().refine((s) => s === s.toUpperCase(), 'operation must be upper-case'),
  result: z.enum(RESULTS),
  principalId: z.string().min(1),
  principalType: z.enum(PRINCIPAL_TYPES),
  principalName: z.string().optional(),
  appId: z.string().optional(),
  ip: z.string().optional(),
  tenantId: lowerGuidish.optional(),
  subscriptionId: lowerGuidish.optional(),
  resourceId: lowerGuidish.optional(),
  resourceType: lowerGuidish.optional(),
  correlationId: z.string().optional(),
  /**
   * Another identity the event is about, besides its actor: the principal a change was made to (a
   * secret added to a service principal, a role granted to it), or the blueprint an agent identity
   * signs in for. The keyed hub routes the event to this identity's partition too, so rules can key
   * on it (docs/architecture.md, "Target-keyed events").
   */
  targetPrincipalId: lowerGuidish.optional(),
  /**
   * The actor's application (client) id when the actor is an application's service principal
   * signing in. A change to the application object (a secret, certificate or federated credential
   * added to it) is keyed on this id, the only one its audit entry shares with the sign-in; the
   * keyed hub routes the event to this id's partition too (docs/architecture.md, "Target-keyed events").
   */
  principalAppId: lowerGuidish.optional(),
  details: DetailsSchema,
});
export type NormalizedEvent = z.infer<typeof NormalizedEventSchema>;

/**
 * An event as a rule sees it: of one of the sources `S`, with that source's details, a union keyed
 * on `source` (`e.source === 'keyvault'` narrows `e.details`). The same object as the
 * NormalizedEvent the pipeline carries, typed by what each normalizer writes.
 */
export type SourceEvent<S extends Source = Source> = S extends Source
  ? Omit<NormalizedEvent, 'source' | 'details'> & { source: S; details: DetailsBySource[S] }
  : never;

/** Where a raw record came from, so a dead letter or an alert can point back at it. */
export interface RecordLocation {
  file?: string;
  /** 1-based line (NDJSON) or record index within the file/body. */
  line?: number;
  /** Index of the record inside its body's records array. */
  index?: number;
  partitionId?: string;
  sequenceNumber?: number;
  offset?: string;
  enqueuedTime?: string;
  hub?: string;
}

/**
 * Which key a keyed copy of an event was routed for, when it is not (only) the actor's: `target`
 * on the target principal's partition, `both` when actor and target share a partition (one copy
 * serves both); for an event without a target but with a `principalAppId`, `app` on the app id's
 * partition and `actor+app` when actor and app share one. Absent: the actor's copy, the only one
 * an event with neither has.
 */
export type RoutedFor = 'target' | 'both' | 'app' | 'actor+app';
export const ROUTED_FOR: readonly RoutedFor[] = ['target', 'both', 'app', 'actor+app'];

/** Whether a copy routed for `routedFor` serves its actor's key (rules keyed on the actor apply it). */
export function servesActor(routedFor: RoutedFor | undefined): boolean {
  return routedFor === undefined || routedFor === 'both' || routedFor === 'actor+app';
}

/**
 * A normalized event as the detect stage sees it: with the arrival time (for
 * DetectionLatencyMs) and its position on the keyed partition (for idempotent state).
 */
export interface StreamEvent {
  event: NormalizedEvent;
  /** Epoch ms when the raw record reached Warden (raw hub enqueued time, or replay read time). */
  arrivedAt: number;
  /** Keyed-hub partition (or logical replay partition). */
  partitionId: string;
  /** Monotonic position on that partition. */
  sequenceNumber: number;
  /**
   * Where ingest read the event's raw record: the raw hub partition (`hub/partition`), the raw
   * event's sequence number there and the record's index in its body. Events of one origin reach
   * a keyed partition in this order, so one at or before the last applied is a copy (an ingest
   * batch published again). Absent in replay, where nothing is published twice.
   */
  origin?: { source: string; sequenceNumber: number; index: number };
  /** The key this copy was routed for (absent: the actor's). Rules keyed on the target apply only its target (or app) copy, the others only its actor copy. */
  routedFor?: RoutedFor;
}

/** A record that could not be decoded or validated: kept, never silently dropped. */
export const DeadLetterSchema = z.object({
  reason: z.string(),
  location: z.record(z.string(), z.union([z.string(), z.number()])),
  /** Raw text, cut to 64 KiB. */
  raw: z.string(),
  time: z.string(),
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

export const DEAD_LETTER_RAW_LIMIT = 64 * 1024;
