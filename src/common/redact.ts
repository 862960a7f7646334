/** Redaction of secrets in text that leaves Warden or is stored: one module, used on every way out. */
import { isGuid } from './ids.js';

const SAS_SECRET = /([?&](?:sig|signature|se?k|skoid|sktid|skt|ske|sks|skv|code|token|access_token|client_secret)=)[^&#\s"]*/gi;
const BEARER = /(Bearer\s+)[\w.~+/=-]+/gi;

const MAX_TEXT = 200;
const REDACTED = '[REDACTED]';
// Names whose text values are credentials (token counts are numbers and stay; a credential key id names a credential, it is not one).
const SECRET_NAME = /token|password|passwd|pwd|credential(?!keyid)|connectionstring|authorization|apikey|api_key|accesskey|^sig$|^signature$|^key$|^secret$|^sas/i;
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g;
const OPAQUE = /^[A-Za-z0-9+/=_-]{32,}$/;
/** ARM ids such as a subscription scope (`/subscriptions/<guid>`) have the opaque alphabet but are not keys. */
const ARM_ID = /^\/(subscriptions|providers|tenants)\//i;

/** Redact SAS signatures and other secrets carried in query strings, and bearer tokens. */
export function redactSecrets(uri: string): string {
  return uri.replace(SAS_SECRET, '$1REDACTED').replace(BEARER, '$1REDACTED');
}

/** A text with credentials redacted (SAS `sig=`, JWTs, long opaque strings) and cut to 200 characters. */
export function redactText(text: string): string {
  let s = text.includes('=') ? redactSecrets(text).replace(/\bsig=[^&\s"]*/gi, `sig=${REDACTED}`) : text;
  if (s.includes('eyJ')) s = s.replace(JWT, REDACTED);
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
