/** Redaction of secrets in text that leaves Warden: one module, used on every way out. */

const SAS_SECRET = /([?&](?:sig|signature|se?k|skoid|sktid|skt|ske|sks|skv|code|token|access_token|client_secret)=)[^&#\s"]*/gi;

/** Redact SAS signatures and other secrets carried in query strings. */
export function redactSecrets(uri: string): string {
  return uri.replace(SAS_SECRET, '$1REDACTED');
}
