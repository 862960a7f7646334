import { describe, expect, it } from 'vitest';
import { activitySource } from '../../src/ingest/sources/activity.js';
import { aiSource } from '../../src/ingest/sources/ai.js';
import { keyvaultSource } from '../../src/ingest/sources/keyvault.js';
import { signinSource } from '../../src/ingest/sources/signin.js';
import { storageSource } from '../../src/ingest/sources/storage.js';
import { directorySource } from '../../src/ingest/sources/directory.js';
import { parseTime } from '../../src/ingest/util.js';
import { capturedRecords } from '../support/external-captures.js';
import { claimedBy, normalizeAll } from './helpers.js';

/**
 * Each source over the public samples it claims (../shared/captures/external, see its SOURCES.md).
 * The unit tier checks the same shapes and quirks on the project's own fixtures
 * (test/ingest/<source>.test.ts, test/ingest/documented-quirks.test.ts).
 */
const records = capturedRecords();

describe('activity source: public samples', () => {
  it('normalizes every activity record, rejecting only those without a time or an operation', () => {
    const claimed = claimedBy(activitySource, records);
    expect(claimed.length).toBeGreaterThan(30);
    const { normalized, rejected } = normalizeAll(activitySource, claimed);
    for (const { file, record, error } of rejected) {
      expect(error.message, file).toMatch(/no usable event time|no operation/);
      expect(record.time === undefined || record.operationName === undefined, file).toBe(true);
    }
    expect(normalized.length).toBeGreaterThan(20);
  });
});

describe('signin source: public samples', () => {
  it('normalizes every sign-in record, rejecting only those without a time or an operation', () => {
    const claimed = claimedBy(signinSource, records);
    expect(claimed.length).toBeGreaterThan(80);
    const { normalized, rejected } = normalizeAll(signinSource, claimed);
    for (const { file, record, error } of rejected) {
      expect(error.message, file).toMatch(/no usable event time|no operation/);
      // Only fragments are rejected: records with no properties at all.
      expect(record.properties, file).toBeUndefined();
    }
    expect(normalized.length).toBeGreaterThan(60);
  });
});

describe('ai source: public samples', () => {
  it('normalizes every Azure OpenAI / AI Foundry sample', () => {
    const claimed = claimedBy(aiSource, records);
    const { normalized, rejected } = normalizeAll(aiSource, claimed);
    expect(rejected).toEqual([]);
    expect(normalized.length).toBeGreaterThanOrEqual(7);
    // API Management gateway logs in front of Azure OpenAI are another service's records.
    expect(records.some(({ record }) => record.category === 'GatewayLogs')).toBe(true);
    expect(claimed.some(({ record }) => record.category === 'GatewayLogs')).toBe(false);
    for (const { event } of normalized) {
      if (event.category === 'RequestResponse') expect(event).toMatchObject({ principalType: 'key', details: { authType: 'key' } });
      if (event.category === 'Audit') expect(event.principalId).toBe('b610ab05-ce06-4cc1-a6dd-174b9f80468a');
    }
    expect(normalized.some(({ event }) => event.details.deployment === 'gpt-chat-pilot' && event.details.model === 'gpt-35-turbo')).toBe(true);
  });
});

describe('keyvault source: public samples', () => {
  it('normalizes every AuditEvent sample or rejects it with InvalidRecordError', () => {
    const claimed = claimedBy(keyvaultSource, records);
    const { normalized, rejected } = normalizeAll(keyvaultSource, claimed);
    expect(claimed.length).toBeGreaterThanOrEqual(6);
    // The documented VaultGet: long-URI claims with a UPN, durationMs as a string, upper-case resource id.
    const vaultGet = normalized.find(({ event }) => event.operation === 'VAULTGET')?.event;
    expect(vaultGet).toMatchObject({
      principalType: 'user',
      principalName: 'live.com#username@outlook.com',
      resourceType: 'microsoft.keyvault/vaults',
      details: { vault: 'contosokeyvault', durationMs: 78, statusCode: 200 },
    });
    // The 4-field minimal records carry no identity: events keyed unknown, not dead letters.
    expect(rejected).toEqual([]);
    expect(normalized.filter(({ event }) => event.principalId.startsWith('unknown:')).length).toBeGreaterThanOrEqual(3);
  });
});

describe('storage source: public samples', () => {
  it('normalizes every blob log sample', () => {
    const { normalized, rejected } = normalizeAll(storageSource, claimedBy(storageSource, records));
    expect(rejected).toEqual([]);
    expect(normalized.length).toBeGreaterThanOrEqual(2);
    const putBlob = normalized.find(({ event }) => event.operation === 'PUTBLOB')?.event;
    expect(putBlob).toMatchObject({ principalType: 'key', ip: '192.168.0.1', details: { statusCode: 201, container: 'cont1', blob: 'blobname' } });
    const listBlobs = normalized.find(({ event }) => event.operation === 'LISTBLOBS')?.event;
    expect(listBlobs).toMatchObject({ result: 'failure', details: { authType: 'SAS' }, principalId: 'abcdef12-3456-7890-abcd-ef1234567890' });
    for (const { event } of normalized) expect(JSON.stringify(event)).not.toMatch(/[?&]sig=(?!REDACTED)/);
  });
});

describe('parseTime: public time-format corner cases', () => {
  it('reads every line of each corner-case file as 2007-01-09T09:41:00Z, whatever its format', () => {
    const AT = Date.UTC(2007, 0, 9, 9, 41, 0);
    const corner = records.filter(({ file }) => file.includes('time-formats-corner-cases'));
    expect(new Set(corner.map(({ file }) => file)).size).toBeGreaterThanOrEqual(4);
    for (const { file, at, record } of corner) {
      const ms = parseTime(record.time);
      expect(ms, `${file}:${at} ${String(record.time)}`).toBeGreaterThanOrEqual(AT);
      expect(ms, `${file}:${at} ${String(record.time)}`).toBeLessThan(AT + 1000);
    }
  });
});

describe('directory source: public Entra audit samples', () => {
  it('reads every AuditLogs record as an event, rejecting only fragments without an operation', () => {
    const claimed = claimedBy(directorySource, records);
    expect(claimed.length).toBeGreaterThanOrEqual(26);
    const { normalized, rejected } = normalizeAll(directorySource, claimed);
    for (const { file, record, error } of rejected) {
      // The time-format corner cases are a time and a category, nothing else.
      expect(error.message, file).toMatch(/no operation/);
      expect(record.operationName, file).toBeUndefined();
    }
    expect(normalized.length).toBeGreaterThanOrEqual(15);
    // The documented credential rotation: a managed identity's certificate added to its service principal.
    const added = normalized.find(({ event }) => event.operation === 'ADD SERVICE PRINCIPAL CREDENTIALS')?.event;
    expect(added).toMatchObject({
      principalId: 'b9814691-9ca1-4e55-a1ac-8ef5dd010ec0',
      principalType: 'servicePrincipal',
      details: {
        targetId: 'a7d5dcbe-0627-4ddf-a2f4-86b6785bcc42',
        targetType: 'ServicePrincipal',
        addedKeyIds: 'd747da7e-e11b-4af2-aede-0487c44067af',
        addedKeyTypes: 'AsymmetricX509Cert',
      },
    });
    // A user-initiated device update and a failed role assignment are read too.
    expect(normalized.some(({ event }) => event.principalType === 'user' && event.details.targetType === 'Device')).toBe(true);
    expect(normalized.some(({ event }) => event.operation === 'ADD MEMBER TO ROLE' && event.result === 'failure')).toBe(true);
  });
});
