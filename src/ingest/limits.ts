/**
 * What ingest refuses to trust, whatever the record says: texts longer than any real one, and
 * credentials (cut and redacted, boundEvent). Event times: a log cannot be stamped
 * after it reached Event Hubs (give or take the sender's clock), and on the live stream it cannot
 * be older than the hub keeps anything. A record outside these bounds is dead-lettered (counted),
 * so one forged time cannot move a partition's watermark for good.
 */

import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../common/clock.js';
import { redactSecrets } from '../common/redact.js';
import type { NormalizedEvent } from '../model/index.js';

/** How far an event time may lag its arrival on the live stream: Azure Monitor delivers within hours, Event Hubs keeps at most 7 days (Standard). */
export const DEFAULT_MAX_EVENT_AGE_MS = 7 * 24 * 3_600_000;

export interface EventTimeBounds {
  /** When the body reached Warden (raw hub enqueued time; the read time in a replay). */
  arrivedAt: number;
  /** How far a time may run ahead of `arrivedAt` (default DEFAULT_MAX_CLOCK_SKEW_MS). */
  maxClockSkewMs?: number;
  /** Only on the live stream: replay and backtest read old captures on purpose. */
  maxAgeMs?: number;
}

/** Why an event time cannot be real, or undefined when it can. Allocates only for a time it refuses. */
export function eventTimeProblem(time: number, bounds: EventTimeBounds): string | undefined {
  if (time < 0) return `event time ${time} is before 1970`;
  const skew = bounds.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  if (time > bounds.arrivedAt + skew) {
    return `event time ${iso(time)} is more than ${minutes(skew)} after it arrived (${iso(bounds.arrivedAt)}): a clock that wrong, or a forged time, would move the partition's watermark (WARDEN_MAX_CLOCK_SKEW)`;
  }
  if (bounds.maxAgeMs !== undefined && time < bounds.arrivedAt - bounds.maxAgeMs) {
    return `event time ${iso(time)} is more than ${minutes(bounds.maxAgeMs)} before it arrived (${iso(bounds.arrivedAt)}) (WARDEN_MAX_EVENT_AGE)`;
  }
  return undefined;
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

/**
 * The longest text an event keeps in a field. Everything downstream keys, stores and sends these:
 * one record with a 490 000-character correlation id made a key's state too large for a Table
 * entity, and the batch failed on every retry. Real values are far shorter (GUIDs, ARM ids, UPNs).
 */
export const MAX_ID_LENGTH = 256;
export const MAX_RESOURCE_ID_LENGTH = 1024;
export const MAX_TEXT_LENGTH = 1024;

/** A text cut to `max` characters, and without credentials (redactSecrets). */
export function bounded(value: string, max: number): string {
  // A cut between the halves of a surrogate pair would leave half a character.
  const cut = value.length <= max ? value : value.slice(0, value.charCodeAt(max - 1) >= 0xd800 && value.charCodeAt(max - 1) <= 0xdbff ? max - 1 : max);
  return redactSecrets(cut);
}

/** bounded, for a field that is lower-case by contract (the redaction mark is not). */
export function boundedLower(value: string, max: number): string {
  const out = bounded(value, max);
  return out === value ? out : out.toLowerCase();
}

/**
 * Make an event safe to key on, keep and send: every text cut to its field's length (ids
 * MAX_ID_LENGTH, resource ids MAX_RESOURCE_ID_LENGTH, details MAX_TEXT_LENGTH) and credentials
 * redacted. Changes the event in place; allocates only for a text it changes. For an event from
 * anywhere (the keyed hub); the sources bound what they build themselves (define-source.ts).
 */
export function boundEvent(e: NormalizedEvent): void {
  // Field by field rather than by name: this runs for every event, and a loop over names is several times slower.
  e.id = bounded(e.id, MAX_ID_LENGTH);
  if (e.ip !== undefined) e.ip = bounded(e.ip, MAX_ID_LENGTH);
  if (e.tenantId !== undefined) e.tenantId = boundedLower(e.tenantId, MAX_ID_LENGTH);
  if (e.subscriptionId !== undefined) e.subscriptionId = boundedLower(e.subscriptionId, MAX_ID_LENGTH);
  if (e.resourceType !== undefined) e.resourceType = boundedLower(e.resourceType, MAX_ID_LENGTH);
  if (e.resourceId !== undefined) e.resourceId = boundedLower(e.resourceId, MAX_RESOURCE_ID_LENGTH);
  if (e.targetPrincipalId !== undefined) e.targetPrincipalId = boundedLower(e.targetPrincipalId, MAX_ID_LENGTH);
  if (e.principalAppId !== undefined) e.principalAppId = boundedLower(e.principalAppId, MAX_ID_LENGTH);
  boundLoggedTexts(e);
}

/**
 * boundEvent for the texts an event copies from its record as logged, whatever they hold: category,
 * operation, principal, app and correlation ids, every detail. The sources build the other fields
 * from values read for their shape (define-source.ts, buildEvent) and bound those themselves.
 */
export function boundLoggedTexts(e: NormalizedEvent): void {
  e.category = bounded(e.category, MAX_ID_LENGTH);
  e.operation = bounded(e.operation, MAX_ID_LENGTH);
  e.principalId = bounded(e.principalId, MAX_ID_LENGTH);
  if (e.principalName !== undefined) e.principalName = bounded(e.principalName, MAX_ID_LENGTH);
  if (e.appId !== undefined) e.appId = bounded(e.appId, MAX_ID_LENGTH);
  if (e.correlationId !== undefined) e.correlationId = bounded(e.correlationId, MAX_ID_LENGTH);
  const details = e.details;
  for (const name in details) {
    const v = details[name];
    if (typeof v === 'string') details[name] = bounded(v, MAX_TEXT_LENGTH);
  }
}
