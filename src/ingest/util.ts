import * as crypto from 'node:crypto';
import type { NormalizedEvent } from '../model/index.js';

/** Shared field helpers for the source normalizers: one place for the input quirks docs/architecture.md lists ("Input"). */

export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length ? v : undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

export function lower(v: unknown): string | undefined {
  const s = str(v);
  return s === undefined ? undefined : s.toLowerCase();
}

/** Numbers arrive as numbers or strings (`durationMs: "42"`). */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** `properties` sometimes arrives as a JSON-encoded string. */
export function obj(v: unknown): Record<string, unknown> | undefined {
  if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  if (typeof v === 'string' && v.length > 1 && (v[0] === '{' || v[0] === '[')) {
    try {
      const parsed: unknown = JSON.parse(v);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The largest time a Date can hold (epoch ms): numbers beyond it are not times. */
const MAX_TIME = 8.64e15;

/** A zone is written: `Z`, an offset (`+01:00`, `-0500`), or a word (`GMT`, `UTC` in RFC 1123 times). */
const HAS_ZONE = /[zZ]|[+-]\d{2}:?\d{2}$|\b(?:GMT|UTC)\b/;
/** Digits joined by a date or time separator; bare numbers (`"5"`, `"-5"`) would otherwise read as a day in 2001. */
const DATE_LIKE = /\d[-/:]\d/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T/;

/** Event time in epoch ms, or undefined when the value is not a usable time. */
export function parseTime(v: unknown): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return undefined;
    const ms = v < 1e12 ? Math.round(v * 1000) : Math.round(v);
    return ms <= MAX_TIME ? ms : undefined;
  }
  const s = str(v);
  if (!s) return undefined;
  const iso = isoTime(s);
  if (iso !== undefined) return iso;
  if (!DATE_LIKE.test(s)) return undefined;
  // Azure writes ISO 8601 with up to 7 fractional digits; Date.parse handles ≤3 reliably, so trim.
  const trimmed = s.replace(/(\.\d{3})\d+/, '$1');
  // No zone means UTC, never the machine's zone: ISO takes `Z`, US-style `12/12/2025 3:03:58 PM` the word.
  const withZone = HAS_ZONE.test(trimmed) ? trimmed : `${trimmed}${ISO_DATE_TIME.test(trimmed) ? 'Z' : ' UTC'}`;
  const t = Date.parse(withZone);
  return Number.isFinite(t) && t > 0 ? t : undefined;
}

/** The number written by the `n` decimal digits at `at`, or -1. */
function digits(s: string, at: number, n: number): number {
  let x = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
}

/**
 * The shape nearly every record carries, `2025-06-02T09:00:01.1234567Z` (fraction and zone
 * optional, or a `±hh:mm` offset), read without regexes or Date.parse: the same instant parseTime's
 * general path gives (fraction cut to milliseconds, no zone is UTC). Anything else, including
 * out-of-range fields, is left to the general path (undefined).
 */
function isoTime(s: string): number | undefined {
  const n = s.length;
  if (n < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58)
    return undefined;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  // Days past 28 depend on the month, and years before 1970 give no usable time: the general path decides those.
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 28 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59)
    return undefined;
  let i = 19;
  let ms = 0;
  if (i < n && s.charCodeAt(i) === 46) {
    const start = ++i;
    for (let scale = 100; i < n; i++, scale /= 10) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (scale >= 1) ms += d * scale;
    }
    if (i === start) return undefined;
  }
  let offset = 0;
  if (i < n) {
    const c = s.charCodeAt(i);
    if (c === 90 && i + 1 === n) offset = 0;
    else if ((c === 43 || c === 45) && i + 6 === n && s.charCodeAt(i + 3) === 58) {
      const oh = digits(s, i + 1, 2);
      const om = digits(s, i + 4, 2);
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
      offset = (c === 43 ? 1 : -1) * (oh * 60 + om) * 60_000;
    } else return undefined;
  }
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset;
  return t > 0 ? t : undefined;
}

/** `1.2.3.4:5678` → `1.2.3.4`; `[::1]:443` → `::1`; masked `81.2.69.***` kept as logged. */
export function stripPort(v: unknown): string | undefined {
  const s = str(v)?.trim();
  if (!s) return undefined;
  if (s.charCodeAt(0) === 91) {
    const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
    if (bracket) return bracket[1];
  }
  const colon = s.indexOf(':');
  // One colon is a port; more are an IPv6 address.
  return colon >= 0 && s.indexOf(':', colon + 1) < 0 ? s.slice(0, colon) : s;
}

// Normalizers take the id helpers with the other field helpers; they live in src/common/ids.ts.
export { isGuid, resourceName, resourceTypeFromResourceId, subscriptionFromResourceId } from '../common/ids.js';

/** One-shot hashing (Node ≥ 20.12) skips the Hash object: about half the cost of createHash for short keys. */
const sha1Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha1', text, 'hex') : (text) => crypto.createHash('sha1').update(text).digest('hex');

type IdPart = string | number | boolean | undefined;

/** One part of an id's hashed text: its length, a colon, itself as String writes it (undefined is the empty string). */
function idPart(v: IdPart): string {
  if (v === undefined) return '0:';
  const s = typeof v === 'string' ? v : typeof v === 'number' ? decimal(v) : String(v);
  return s.length + ':' + s;
}

/** The digits above the 10^7 place of the last time decimal() printed: they change every 2.8 hours. */
let lastHigh = -1;
let lastHighText = '';

/**
 * String(n), for an epoch-ms time (13 digits, not a small integer) in a quarter of the time: its
 * digits above and below the 10^7 place, each small enough for V8's fast integer printing, and the
 * ones above printed once while they stay the same.
 */
export function decimal(n: number): string {
  if (!Number.isSafeInteger(n) || n < 1e7) return String(n);
  let high = Math.floor(n / 1e7);
  let low = n - high * 1e7;
  // The division can round across a multiple of 10^7; the remainder says which way.
  if (low < 0) {
    high--;
    low += 1e7;
  } else if (low >= 1e7) {
    high++;
    low -= 1e7;
  }
  if (high !== lastHigh) {
    lastHigh = high;
    lastHighText = String(high);
  }
  return lastHighText + String(low + 1e7).slice(1);
}

/**
 * Event id from the fields that identify a log record (docs/sources.md, "Event ids"): 32 hex digits,
 * the first 128 bits of SHA-1 over the parts, each length-prefixed so no value can pose as two.
 * Callers pass only values that read the same from a stream record and from its Log Analytics row,
 * so a backtest reproduces the ids (and the AlertIds hashed from them) that replay gave. SHA-1 is
 * native and costs ~0.5 µs here, against ~11 µs for hashing the whole record's JSON; a SHA-1 in
 * JavaScript measured 6× slower, a 64-bit FNV-1a slower too, and would make a collision between two
 * events of a large tenant plausible.
 */
export function recordId(...parts: ReadonlyArray<IdPart>): string {
  let key = '';
  for (const part of parts) key += idPart(part);
  return sha1Hex(key).slice(0, 32);
}

const NO_EXTRA: readonly IdPart[] = [];

/**
 * The id of an event whose record has no unique id of its own in both shapes: recordId over the
 * normalized fields that identify it (normalized, so a stream record and its row agree), plus what
 * a source needs to tell apart records those share (an AI deployment, a blob, a vault object). The
 * same text recordId would hash, built without the argument arrays (per record, they cost more
 * than the hash).
 */
export function eventId(e: NormalizedEvent, extra: ReadonlyArray<IdPart> = NO_EXTRA): string {
  let key =
    idPart(e.source) +
    idPart(e.category.toLowerCase()) +
    idPart(e.operation) +
    idPart(e.time) +
    idPart(e.correlationId) +
    idPart(e.result) +
    idPart(e.details.statusCode) +
    idPart(e.principalId) +
    idPart(e.resourceId);
  for (let i = 0; i < extra.length; i++) key += idPart(extra[i]);
  return sha1Hex(key).slice(0, 32);
}

/** Case-insensitive property lookup for records whose key casing varies between shapes. */
export function pick(record: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) {
    const v = record[k];
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}
