import { describe, expect, it } from 'vitest';
import { keyvaultSource } from '../../src/ingest/sources/keyvault.js';
import { InvalidRecordError, type RawRecord } from '../../src/ingest/types.js';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';

const RESOURCE_ID = '/SUBSCRIPTIONS/6B1F3D2A-0C4E-4F5A-9B8C-7D6E5F4A3B2C/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/PROD-KV';
const SECRET_URL = 'https://prod-kv.vault.azure.net/secrets/db-password/0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const TENANT_CLAIM = 'http://schemas.microsoft.com/identity/claims/tenantid';

/** A service principal reading a secret through the .NET SDK, as diagnostic settings stream it. */
function secretGet(overrides: RawRecord = {}): RawRecord {
  return {
    time: '2025-01-07T20:00:00.0483028Z',
    resourceId: RESOURCE_ID,
    operationName: 'SecretGet',
    operationVersion: '7.4',
    category: 'AuditEvent',
    resultType: 'Success',
    resultSignature: 'OK',
    resultDescription: '',
    durationMs: '16',
    callerIpAddress: '20.61.12.7:50432',
    correlationId: '4c1a8f9e-2b3d-4e5f-8a7b-6c5d4e3f2a1b',
    identity: {
      claim: {
        oid: 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D',
        appid: 'F0E1D2C3-B4A5-4968-8776-655443322110',
        appidacr: '2',
        idtyp: 'app',
        [TENANT_CLAIM]: '72F988BF-86F1-41AF-91AB-2D7CD011DB47',
      },
    },
    properties: {
      id: SECRET_URL,
      clientInfo: 'azsdk-net-Security.KeyVault.Secrets/4.5.0 (.NET 8.0.1; Linux)',
      requestUri: 'https://prod-kv.vault.azure.net/secrets/db-password/?api-version=7.4',
      httpStatusCode: 200,
      isAccessPolicyMatch: true,
      tlsVersion: 'TLS1_3',
    },
    ...overrides,
  };
}

/** The same request as a Log Analytics AzureDiagnostics row. */
function secretGetRow(overrides: RawRecord = {}): RawRecord {
  return {
    TenantId: '0d9c8b7a-6f5e-4d3c-2b1a-098f7e6d5c4b',
    TimeGenerated: '2025-01-07T20:00:00.0483028Z',
    ResourceId: RESOURCE_ID,
    Category: 'AuditEvent',
    ResourceGroup: 'PROD-RG',
    SubscriptionId: '6b1f3d2a-0c4e-4f5a-9b8c-7d6e5f4a3b2c',
    ResourceProvider: 'MICROSOFT.KEYVAULT',
    Resource: 'PROD-KV',
    ResourceType: 'VAULTS',
    OperationName: 'SecretGet',
    ResultType: 'Success',
    CorrelationId: '4c1a8f9e-2b3d-4e5f-8a7b-6c5d4e3f2a1b',
    ResultDescription: '',
    requestUri_s: 'https://prod-kv.vault.azure.net/secrets/db-password/?api-version=7.4',
    DurationMs: 16,
    CallerIPAddress: '20.61.12.7',
    OperationVersion: '7.4',
    ResultSignature: 'OK',
    id_s: SECRET_URL,
    clientInfo_s: 'azsdk-net-Security.KeyVault.Secrets/4.5.0 (.NET 8.0.1; Linux)',
    httpStatusCode_d: 200,
    identity_claim_appid_g: 'f0e1d2c3-b4a5-4968-8776-655443322110',
    identity_claim_oid_g: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    identity_claim_appidacr_s: '2',
    identity_claim_idtyp_s: 'app',
    identity_claim_http_schemas_microsoft_com_identity_claims_tenantid_g: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    isAccessPolicyMatch_b: true,
    tlsVersion_s: 'TLS1_3',
    Type: 'AzureDiagnostics',
    _ResourceId: RESOURCE_ID.toLowerCase(),
    ...overrides,
  };
}

function normalize(record: RawRecord, shape: 'stream' | 'table' = 'stream'): NormalizedEvent {
  expect(keyvaultSource.accepts?.(record, shape)).toBe(true);
  const event = keyvaultSource.normalize(record, shape);
  expect(NormalizedEventSchema.parse(event)).toEqual(event);
  return event;
}

describe('keyvault source: a secret read', () => {
  const expected: Omit<NormalizedEvent, 'id'> = {
    time: Date.UTC(2025, 0, 7, 20, 0, 0, 48),
    source: 'keyvault',
    category: 'AuditEvent',
    operation: 'SECRETGET',
    result: 'success',
    principalId: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    principalType: 'servicePrincipal',
    appId: 'f0e1d2c3-b4a5-4968-8776-655443322110',
    ip: '20.61.12.7',
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    subscriptionId: '6b1f3d2a-0c4e-4f5a-9b8c-7d6e5f4a3b2c',
    resourceId: RESOURCE_ID.toLowerCase(),
    resourceType: 'microsoft.keyvault/vaults',
    correlationId: '4c1a8f9e-2b3d-4e5f-8a7b-6c5d4e3f2a1b',
    details: {
      vault: 'prod-kv',
      secretName: 'db-password',
      statusCode: 200,
      durationMs: 16,
      userAgent: 'azsdk-net-Security.KeyVault.Secrets/4.5.0 (.NET 8.0.1; Linux)',
    },
  };

  it('normalizes the stream record: every field, port stripped, string duration, upper-case ids lowered', () => {
    const event = normalize(secretGet());
    expect(event).toEqual({ ...expected, id: event.id });
    expect(event.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('gives the Log Analytics row of the same request the same event, id included', () => {
    expect(normalize(secretGetRow(), 'table')).toEqual(normalize(secretGet()));
    // Whether the query SDK hands TimeGenerated over as 7-digit text or as a Date, the id is the same.
    expect(normalize(secretGetRow({ TimeGenerated: new Date('2025-01-07T20:00:00.048Z') }), 'table').id).toBe(normalize(secretGet()).id);
  });

  it('reads properties sent as a JSON-encoded string', () => {
    const record = secretGet();
    expect(normalize({ ...record, properties: JSON.stringify(record.properties) })).toEqual(normalize(record));
  });

  it('accepts the Date objects the Log Analytics query SDK returns for TimeGenerated', () => {
    const event = normalize(secretGetRow({ TimeGenerated: new Date('2025-01-07T20:00:00.048Z') }), 'table');
    expect(event.time).toBe(expected.time);
  });
});

describe('keyvault source: who called', () => {
  it('reads long URI claim names and takes a UPN to mean a user', () => {
    const event = normalize(
      secretGet({
        identity: {
          claim: {
            'http://schemas.microsoft.com/identity/claims/objectidentifier': 'D9DA5048-2737-4770-BD64-0123456789AB',
            'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'alice@contoso.com',
            appid: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
          },
        },
      }),
    );
    expect(event).toMatchObject({
      principalId: 'd9da5048-2737-4770-bd64-0123456789ab',
      principalType: 'user',
      principalName: 'alice@contoso.com',
      appId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
    });
    expect(event.tenantId).toBeUndefined();
  });

  it('reads the long-URI object id and UPN columns of a Log Analytics row', () => {
    const row = secretGetRow({
      identity_claim_oid_g: undefined,
      identity_claim_idtyp_s: undefined,
      identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g: 'd9da5048-2737-4770-bd64-0123456789ab',
      identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s: 'alice@contoso.com',
    });
    expect(normalize(row, 'table')).toMatchObject({
      principalId: 'd9da5048-2737-4770-bd64-0123456789ab',
      principalType: 'user',
      principalName: 'alice@contoso.com',
    });
  });

  it('recognises a managed identity by xms_mirid and names it after the identity resource', () => {
    const mirid =
      '/subscriptions/6b1f3d2a-0c4e-4f5a-9b8c-7d6e5f4a3b2c/resourcegroups/prod-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-api-id';
    const claim = { oid: '11111111-2222-4333-8444-555555555555', appid: '66666666-7777-4888-9999-000000000000', idtyp: 'app', xms_mirid: mirid };
    const stream = normalize(secretGet({ identity: { claim } }));
    expect(stream).toMatchObject({ principalId: claim.oid, principalType: 'managedIdentity', principalName: 'orders-api-id', appId: claim.appid });
    const row = normalize(secretGetRow({ identity_claim_oid_g: claim.oid, identity_claim_appid_g: claim.appid, identity_claim_xms_mirid_s: mirid }), 'table');
    expect(row).toMatchObject({ principalType: 'managedIdentity', principalName: 'orders-api-id' });
    expect(normalize(secretGet({ identity: { claim: { oid: claim.oid, xms_az_mirid: mirid } } })).principalType).toBe('managedIdentity');
  });

  it('falls back to the app id when the token has no object id', () => {
    const event = normalize(secretGet({ identity: { claim: { appid: 'F0E1D2C3-B4A5-4968-8776-655443322110' } } }));
    expect(event).toMatchObject({ principalId: 'f0e1d2c3-b4a5-4968-8776-655443322110', principalType: 'servicePrincipal' });
  });

  it("keys the unauthenticated 401 challenge before an SDK client's first call as unknown, not a dead letter", () => {
    const challenge = secretGet({ identity: {}, resultSignature: 'Unauthorized', properties: { requestUri: SECRET_URL, httpStatusCode: 401 } });
    const event = normalize(challenge);
    expect(event).toMatchObject({
      principalId: expect.stringMatching(/^unknown:/),
      principalType: 'unknown',
      ip: '20.61.12.7',
      result: 'failure',
      operation: 'SECRETGET',
    });
    expect(event.appId).toBeUndefined();
    // The authenticated retry that follows under the same client correlation id is another event.
    expect(normalize(secretGet()).id).not.toBe(event.id);
    const row = secretGetRow({ identity_claim_oid_g: undefined, identity_claim_appid_g: undefined, identity_claim_idtyp_s: undefined, httpStatusCode_d: 401 });
    expect(normalize(row, 'table')).toMatchObject({ principalId: expect.stringMatching(/^unknown:/), id: event.id });
  });
});

describe('keyvault source: what was touched and how it went', () => {
  it.each([
    ['https://prod-kv.vault.azure.net/keys/signing-key/a1b2c3?api-version=7.4', 'keyName', 'signing-key'],
    ['https://prod-kv.vault.azure.net/keys/wrap-key/sign?api-version=7.4', 'keyName', 'wrap-key'],
    ['https://prod-kv.vault.azure.net/certificates/tls-cert/policy?api-version=7.4', 'certificateName', 'tls-cert'],
    ['https://prod-kv.vault.azure.net/deletedsecrets/old-secret?api-version=7.4', 'secretName', 'old-secret'],
  ])('names the object of %s', (requestUri, key, name) => {
    const event = normalize(secretGet({ properties: { requestUri, httpStatusCode: 200 } }));
    expect(event.details[key]).toBe(name);
  });

  it('names no object for a list request', () => {
    const event = normalize(
      secretGet({ operationName: 'SecretList', properties: { requestUri: 'https://prod-kv.vault.azure.net/secrets?api-version=7.4', httpStatusCode: 200 } }),
    );
    expect(event.operation).toBe('SECRETLIST');
    expect(event.details).not.toHaveProperty('secretName');
    expect(event.details.vault).toBe('prod-kv');
  });

  it('takes the HTTP status over resultType, which Key Vault logs as Success even for denied requests', () => {
    const denied = normalize(secretGet({ resultSignature: 'Forbidden', properties: { requestUri: SECRET_URL, httpStatusCode: 403 } }));
    expect(denied.result).toBe('failure');
    expect(denied.details.statusCode).toBe(403);
    expect(normalize(secretGetRow({ httpStatusCode_d: 401, ResultSignature: 'Unauthorized' }), 'table').result).toBe('failure');
    expect(normalize(secretGet({ properties: {}, resultType: 'Failed' })).result).toBe('failure');
    expect(normalize(secretGet({ properties: {}, resultType: undefined })).result).toBe('unknown');
  });

  it('finds the vault from the object URL when the resource id is not an ARM id', () => {
    const event = normalize(secretGet({ resourceId: '/RESOURCE_ID' }));
    expect(event.details.vault).toBe('prod-kv');
    expect(event.resourceId).toBe('/resource_id');
    expect(event.resourceType).toBeUndefined();
    expect(event.subscriptionId).toBeUndefined();
  });
});

describe('keyvault source: event ids', () => {
  it('never uses the repeating secret URL: two reads of one secret get two ids', () => {
    const first = normalize(secretGet());
    const second = normalize(secretGet({ correlationId: '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b', time: '2025-01-07T20:00:05.1234567Z' }));
    expect(first.details.secretName).toBe(second.details.secretName);
    expect(first.id).not.toBe(second.id);
  });

  it('tells apart requests under one client correlation id and millisecond by their operation and object', () => {
    const a = normalize(secretGet());
    const other = 'https://prod-kv.vault.azure.net/secrets/api-key/1a2b3c?api-version=7.4';
    expect(normalize(secretGet({ properties: { requestUri: other, httpStatusCode: 200 } })).id).not.toBe(a.id);
    expect(normalize(secretGet({ operationName: 'SecretSet' })).id).not.toBe(a.id);
    // Sub-millisecond digits are not identifying: a Log Analytics Date holds milliseconds only.
    expect(normalize(secretGet({ time: '2025-01-07T20:00:00.0483999Z' })).id).toBe(a.id);
  });

  it('hashes the identifying fields when the record has no correlation id, stably', () => {
    const a = normalize(secretGet({ correlationId: '' }));
    expect(a.id).toBe(
      normalize(
        secretGet({ correlationId: '', durationMs: '99', properties: { ...(secretGet().properties as RawRecord), clientInfo: 'other', tlsVersion: 'TLS1_2' } }),
      ).id,
    );
    expect(a.id).not.toBe(normalize(secretGet({ correlationId: '', time: '2025-01-07T20:00:01.0483028Z' })).id);
    expect(a.correlationId).toBeUndefined();
  });
});

describe('keyvault source: bad records', () => {
  it.each([
    ['no time', { time: undefined }, /no usable event time in 'time'/],
    ['an unparseable time', { time: 'yesterday' }, /no usable event time/],
    ['no operation', { operationName: undefined }, /no operation in 'operationName'/],
    ['properties that are not JSON', { properties: 'clientInfo=x' }, /properties/],
  ])('rejects a record with %s', (_what, overrides, reason) => {
    expect(() => keyvaultSource.normalize(secretGet(overrides), 'stream')).toThrow(InvalidRecordError);
    expect(() => keyvaultSource.normalize(secretGet(overrides), 'stream')).toThrow(reason);
  });

  it('rejects a row without TimeGenerated, naming the column', () => {
    expect(() => keyvaultSource.normalize(secretGetRow({ TimeGenerated: null }), 'table')).toThrow(/'TimeGenerated'/);
  });
});

describe('keyvault source: which records it claims', () => {
  it('claims AuditEvent from vaults and from ids that name no provider, not from other services', () => {
    expect(keyvaultSource.streamCategories).toEqual(['AuditEvent']);
    expect(keyvaultSource.accepts?.(secretGet(), 'stream')).toBe(true);
    expect(keyvaultSource.accepts?.(secretGet({ resourceId: '/RESOURCE_ID' }), 'stream')).toBe(true);
    const managedHsm = '/subscriptions/6b1f3d2a-0c4e-4f5a-9b8c-7d6e5f4a3b2c/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/hsm1';
    expect(keyvaultSource.accepts?.(secretGet({ resourceId: managedHsm }), 'stream')).toBe(true);
    const other = '/subscriptions/6b1f3d2a-0c4e-4f5a-9b8c-7d6e5f4a3b2c/resourceGroups/rg/providers/Microsoft.Attestation/attestationProviders/a1';
    expect(keyvaultSource.accepts?.(secretGet({ resourceId: other }), 'stream')).toBe(false);
  });

  it('claims AzureDiagnostics rows of Key Vault audit events only', () => {
    expect(keyvaultSource.tables).toEqual(['AzureDiagnostics']);
    expect(keyvaultSource.accepts?.(secretGetRow(), 'table')).toBe(true);
    expect(keyvaultSource.accepts?.(secretGetRow({ ResourceProvider: 'MICROSOFT.COGNITIVESERVICES' }), 'table')).toBe(false);
    expect(keyvaultSource.accepts?.(secretGetRow({ Category: 'AzurePolicyEvaluationDetails' }), 'table')).toBe(false);
    expect(keyvaultSource.accepts?.(secretGetRow({ ResourceProvider: undefined }), 'table')).toBe(true);
  });
});
