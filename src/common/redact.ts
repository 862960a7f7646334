/**
 * Redaction of credentials in text that leaves Warden: one module, used on every way out
 * (events, alerts, dead letters, stored state, error texts and logs).
 *
 * Every pattern runs in time linear in its input, whatever the input (a 150 KB user agent of
 * `eyJeyJ…` once took 40 s): each starts only where the text before it cannot continue a match
 * (a lookbehind, a bounded prefix, or a literal separator), so no start re-scans what another
 * start scanned.
 */

import { isGuid } from './ids.js';

const MARK = 'REDACTED';

/** SAS and OAuth parameters in query strings: the value up to the next parameter. */
const QUERY_SECRET =
  /([?&](?:sig|signature|se?k|skoid|sktid|skt|ske|sks|skv|code|token|access_token|id_token|refresh_token|client_secret|password|pwd|api-key|apikey|api_key|key|secret)=)[^&#\s"']*/gi;

/**
 * `name=value` and `name: value` pairs that carry a credential, in connection strings, headers
 * JSON (escaped too, as in a dead letter's raw text) and free text: the value up to `;`, `&`, `,`,
 * a quote, a backslash or white space.
 */
const PAIR_SECRET =
  /(?<![A-Za-z0-9_-])((?:AccountKey|SharedAccessKey|SharedAccessSignature|password|passwd|pwd|api[-_]?key|client[-_]?secret|access[-_]?token|secret|x-functions-key|Ocp-Apim-Subscription-Key)(?:\\{0,8}")?\s{0,8}[=:]\s{0,8}(?:\\{0,8}")?)(?!REDACTED)[^;&,\s"'\\]+/gi;

/** HTTP authorization values. */
const AUTH_HEADER = /(?<![A-Za-z0-9_-])((?:Bearer|Basic|SharedAccessSignature)\s{1,8})(?!REDACTED)[A-Za-z0-9._~+/=%&:-]+/gi;

/** JSON Web Tokens (a header and a payload at least), wherever they appear. */
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?/g;

/** `scheme://user:password@host` (also with one slash, as a path that merged `//` writes it): the user and password. */
const URL_CREDENTIALS = /((?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,15}:\/\/?)[^/\s:@]+:[^/\s@]+@/g;

/** Words the pair and header patterns start with: one test that allocates nothing decides whether they need to run. */
const CREDENTIAL_WORD = /key|secret|pass|pwd|signature|token|bearer|basic/i;

/**
 * What every pattern below needs one of (`=`, `:`, white space, `eyJ`): one scan that most texts (ids,
 * names, UPNs) fail. A password in a URL needs `@` and `:/`, so `@` alone (every UPN) is not enough.
 */
const MAY_HOLD_CREDENTIAL = /[=:\s]|eyJ/;

/** What a pair (`=`, `:`) or an authorization header (white space of any kind: a tab or a newline too) needs. */
const PAIR_OR_HEADER = /[=:\s]/;

/** Redact every credential the patterns know: SAS and OAuth parameters, key pairs, authorization headers, JWTs, passwords in URLs. */
export function redactSecrets(text: string): string {
  // Each pattern runs only when what it must contain is there: most texts (ids, names) skip them all.
  if (!MAY_HOLD_CREDENTIAL.test(text)) return text;
  let s = text;
  if (s.includes('=') && (s.includes('?') || s.includes('&'))) s = s.replace(QUERY_SECRET, `$1${MARK}`);
  // A pair needs `=` or `:`, a header white space: ids, names and ARM paths have none.
  if (PAIR_OR_HEADER.test(s) && CREDENTIAL_WORD.test(s)) s = s.replace(PAIR_SECRET, `$1${MARK}`).replace(AUTH_HEADER, `$1${MARK}`);
  if (s.includes('eyJ')) s = s.replace(JWT, `[${MARK}]`);
  if (s.includes('@') && s.includes(':/')) s = s.replace(URL_CREDENTIALS, `$1${MARK}@`);
  return s;
}

/** A JSON-like value with redactSecrets applied to every string in it (object keys too), as a copy. */
export function redactDeep<T>(value: T): T {
  return deep(value, 0) as T;
}

function deep(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactSecrets(v);
  if (typeof v !== 'object' || v === null) return v;
  // Deeper than anything Warden writes: a cycle or a hostile nesting stops here, unread.
  if (depth > 32) return '[too deep]';
  if (Array.isArray(v)) return v.map((x) => deep(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[redactSecrets(k)] = deep(x, depth + 1);
  return out;
}

const MAX_TEXT = 200;
const REDACTED = `[${MARK}]`;
// Names whose text values are credentials (token counts are numbers and stay; a credential key id or type names a credential, it is not one).
const SECRET_NAME =
  /token|password|passwd|pwd|credential(?!keyid|type)|connectionstring|authorization|apikey|api_key|accesskey|^sig$|^signature$|^key$|^secret$|^sas/i;
const OPAQUE = /^[A-Za-z0-9+/=_-]{32,}$/;
/** ARM ids such as a subscription scope (`/subscriptions/<guid>`) have the opaque alphabet but are not keys. */
const ARM_ID = /^\/(subscriptions|providers|tenants)\//i;

/** A text with credentials redacted (redactSecrets, and a long opaque string taken for a key) and cut to 200 characters. */
export function redactText(text: string): string {
  const s = redactSecrets(text);
  // A long opaque string with no structure is most likely a key; GUIDs and resource ids are not.
  if (OPAQUE.test(s) && !isGuid(s) && !ARM_ID.test(s)) return REDACTED;
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;
}

/** A text kept under a name (an event detail, an evidence field): all of it redacted when the name says it is a credential, else as redactText. */
export function redactNamed(name: string, text: string): string {
  return SECRET_NAME.test(name) ? REDACTED : redactText(text);
}

/**
 * A value a rule read from an event (`details.<name>` or a top-level field), redacted as the event's
 * evidence redacts it there: a "new secret" alert must not carry the value it is about.
 */
export function redactEventValue(field: string, value: string): string {
  return field.startsWith('details.') ? redactNamed(field.slice('details.'.length), value) : redactText(value);
}
