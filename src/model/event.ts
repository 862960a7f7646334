import { z } from 'zod';

/** The five log sources Warden normalizes. */
export const SOURCES = ['activity', 'signin', 'ai', 'keyvault', 'storage'] as const;
export type Source = (typeof SOURCES)[number];

export const RESULTS = ['success', 'failure', 'start', 'unknown'] as const;
export type Result = (typeof RESULTS)[number];

export const PRINCIPAL_TYPES = ['user', 'servicePrincipal', 'managedIdentity', 'key', 'unknown'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

/**
 * Small per-source extras. Flat scalars only, so events stay cheap to copy, hash and store.
 * Known keys (present when the source carries them):
 * - ai: deployment, model, modelVersion, statusCode, requestLength, responseLength, promptTokens,
 *   completionTokens, totalTokens, durationMs, account, authType, apiVersion, streamType
 * - keyvault: vault, secretName, keyName, certificateName, statusCode, durationMs, userAgent
 * - storage: account, container, blob, authType (OAuth|SAS|AccountKey|Anonymous), statusCode,
 *   copySourceUri (SAS redacted), sourceAccount, bytes, userAgent, uri (SAS redacted)
 * - signin: errorCode, failureReason, targetResourceAppId, targetResourceName, userAgent,
 *   conditionalAccessStatus, signInKind
 * - activity: roleDefinitionId, roleName, scope, status, subStatus, level, caller
 */
export const DetailsSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
export type Details = z.infer<typeof DetailsSchema>;

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
  details: DetailsSchema,
});
export type NormalizedEvent = z.infer<typeof NormalizedEventSchema>;

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
