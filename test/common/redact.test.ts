import { describe, expect, it } from 'vitest';
import { redactEventValue, redactNamed, redactSecrets, redactText } from '../../src/common/redact.js';

const JWT = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL3ZhdWx0LmF6dXJlLm5ldCJ9.c2lnbmF0dXJlLWJ5dGVz';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UWo4gGjzo9lCKvXLI1CBbpg==';

describe('redactSecrets: text that leaves Warden (dead letters, stored errors, URLs in details)', () => {
  it('redacts SAS signatures and bearer tokens and keeps the rest readable', () => {
    const text = `GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=abc%2Bdef&se=2026-01-01 failed; Authorization: Bearer ${JWT}`;
    expect(redactSecrets(text)).toBe(
      'GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=REDACTED&se=2026-01-01 failed; Authorization: Bearer REDACTED',
    );
  });

  it('redacts an authorization value after a tab or a newline as after a space', () => {
    expect(redactSecrets('Bearer\tabc.def-ghi')).toBe('Bearer\tREDACTED');
    expect(redactSecrets('Basic\nZGV2OmRldg')).toBe('Basic\nREDACTED');
  });
});

describe("redactText: texts an alert or a key's state keeps", () => {
  it('redacts JWTs, SAS signatures and long opaque strings (keys)', () => {
    expect(redactText(`token ${JWT} used`)).toBe('token [REDACTED] used');
    expect(redactText('https://a.blob.core.windows.net/c?sv=1&sig=SECRET')).not.toContain('SECRET');
    expect(redactText(ACCOUNT_KEY)).toBe('[REDACTED]');
  });

  it('keeps GUIDs and resource ids, which look opaque but are not secrets, and cuts long texts to 200 characters', () => {
    expect(redactText('0f0f0f0f-1111-4222-8333-444444444444')).toBe('0f0f0f0f-1111-4222-8333-444444444444');
    expect(redactText('/subscriptions/0f0f0f0f-1111-4222-8333-444444444444')).toBe('/subscriptions/0f0f0f0f-1111-4222-8333-444444444444');
    expect(redactText('a b '.repeat(100))).toBe(`${'a b '.repeat(50)}…`);
  });
});

describe('redactNamed and redactEventValue: a value under a name that may say it is a credential', () => {
  it("redacts the whole value when the name is a credential's, else redacts as text", () => {
    expect(redactNamed('password', 'hunter2')).toBe('[REDACTED]');
    expect(redactNamed('connectionString', 'Endpoint=sb://x/')).toBe('[REDACTED]');
    // A key id names a credential; it is not one.
    expect(redactNamed('credentialKeyId', 'b8f3c2e1')).toBe('b8f3c2e1');
    // So does a credential type: a sign-in's clientCredentialType is 'clientSecret', never the secret.
    expect(redactNamed('clientCredentialType', 'clientSecret')).toBe('clientSecret');
    expect(redactNamed('clientCredential', 'x7Q~abc')).toBe('[REDACTED]');
    expect(redactNamed('userAgent', `curl ${JWT}`)).toBe('curl [REDACTED]');
  });

  it("a value a rule read from an event is redacted as the event's own field is", () => {
    expect(redactEventValue('details.password', 'hunter2')).toBe('[REDACTED]');
    expect(redactEventValue('details.secretName', 'db-password')).toBe('db-password');
    // A top-level field is redacted by its text, whatever its name.
    expect(redactEventValue('principalName', JWT)).toBe('[REDACTED]');
    expect(redactEventValue('ip', '10.0.0.4')).toBe('10.0.0.4');
  });
});
