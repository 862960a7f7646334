import { describe, expect, it } from 'vitest';
import { storageSource } from '../../src/ingest/sources/storage.js';
import { InvalidRecordError, type RawRecord } from '../../src/ingest/types.js';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';

const BLOB_SERVICE_ID =
  '/subscriptions/00001111-AAAA-2222-BBBB-3333CCCC4444/resourceGroups/data-rg/providers/Microsoft.Storage/storageAccounts/contosodata/blobServices/default';
const ACCOUNT_ID = '/subscriptions/00001111-aaaa-2222-bbbb-3333cccc4444/resourcegroups/data-rg/providers/microsoft.storage/storageaccounts/contosodata';
const USER = 'AAAAAAAA-0000-1111-2222-BBBBBBBBBBBB';
const AZURE_CLI = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';
const SIGNATURE = 'Zm9vYmFyc2VjcmV0c2lnbmF0dXJlMTIzNDU2Nzg5MA%3D%3D';
const SAS = `sv=2022-11-02&ss=b&srt=co&sp=rl&se=2025-03-05T10%3A00%3A00Z&st=2025-03-04T10%3A00%3A00Z&spr=https&sig=${SIGNATURE}`;

/** A user reading a blob with an Entra token, as diagnostic settings stream it. */
function getBlob(overrides: RawRecord = {}, properties: RawRecord = {}): RawRecord {
  return {
    time: '2025-03-04T10:15:30.1234567Z',
    resourceId: BLOB_SERVICE_ID,
    category: 'StorageRead',
    operationName: 'GetBlob',
    operationVersion: '2023-11-03',
    schemaVersion: '1.0',
    statusCode: 200,
    statusText: 'Success',
    durationMs: 12,
    callerIpAddress: '203.0.113.7:53124',
    correlationId: 'b1d5a6c2-801e-0042-3c1b-8d2f6e000000',
    identity: {
      type: 'OAuth',
      tokenHash: 'B3CC9D5C64B3351573D806751312317FE4E910877E7CBAFA9D95E0BE923DD25C',
      authorization: [
        {
          action: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
          roleAssignmentId: '4e2521b7-13be-4363-aeda-111111111111',
          roleDefinitionId: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1',
          principals: [{ id: USER.toLowerCase(), type: 'User' }],
          denyAssignmentId: '',
          type: 'RBAC',
          result: 'Granted',
          reason: 'Policy',
        },
      ],
      requester: {
        appId: AZURE_CLI,
        audience: 'https://storage.azure.com/',
        objectId: USER,
        tenantId: 'AAAABBBB-0000-CCCC-1111-DDDD2222EEEE',
        tokenIssuer: 'https://sts.windows.net/aaaabbbb-0000-cccc-1111-dddd2222eeee/',
        upn: 'alice@contoso.com',
      },
    },
    location: 'westeurope',
    properties: {
      accountName: 'contosodata',
      userAgentHeader: 'azsdk-python-storage-blob/12.19.0 Python/3.11.4 (Linux)',
      clientRequestId: '5f8c3a7e-1b2d-4c6e-9f0a-3b5d7e9f1a2c',
      etag: '"0x8DC3C5F0A1B2C3D"',
      serviceType: 'blob',
      objectKey: '/contosodata/finance/2025/q1/ledger.csv',
      lastModifiedTime: '3/4/2025 9:00:00 AM',
      metricResponseType: 'Success',
      serverLatencyMs: 8,
      requestHeaderSize: 1024,
      responseHeaderSize: 380,
      responseBodySize: 48213,
      tlsVersion: 'TLS 1.2',
      accessTier: 'Hot',
      ...properties,
    },
    uri: 'https://contosodata.blob.core.windows.net:443/finance/2025/q1/ledger.csv',
    protocol: 'HTTPS',
    resourceType: 'Microsoft.Storage/storageAccounts/blobServices',
    ...overrides,
  };
}

/** The same request as a StorageBlobLogs row. */
function getBlobRow(overrides: RawRecord = {}): RawRecord {
  return {
    TenantId: '0d9c8b7a-6f5e-4d3c-2b1a-098f7e6d5c4b',
    TimeGenerated: '2025-03-04T10:15:30.1234567Z',
    AccountName: 'contosodata',
    Location: 'westeurope',
    Protocol: 'HTTPS',
    OperationName: 'GetBlob',
    AuthenticationType: 'OAuth',
    StatusCode: '200',
    StatusText: 'Success',
    DurationMs: 12,
    ServerLatencyMs: 8,
    Uri: 'https://contosodata.blob.core.windows.net:443/finance/2025/q1/ledger.csv',
    CallerIpAddress: '203.0.113.7:53124',
    CorrelationId: 'b1d5a6c2-801e-0042-3c1b-8d2f6e000000',
    SchemaVersion: '1.0',
    OperationVersion: '2023-11-03',
    AuthenticationHash: 'B3CC9D5C64B3351573D806751312317FE4E910877E7CBAFA9D95E0BE923DD25C',
    RequesterObjectId: USER.toLowerCase(),
    RequesterTenantId: 'aaaabbbb-0000-cccc-1111-dddd2222eeee',
    RequesterAppId: AZURE_CLI,
    RequesterAudience: 'https://storage.azure.com/',
    RequesterTokenIssuer: 'https://sts.windows.net/aaaabbbb-0000-cccc-1111-dddd2222eeee/',
    RequesterUpn: 'alice@contoso.com',
    UserAgentHeader: 'azsdk-python-storage-blob/12.19.0 Python/3.11.4 (Linux)',
    ClientRequestId: '5f8c3a7e-1b2d-4c6e-9f0a-3b5d7e9f1a2c',
    Etag: '"0x8DC3C5F0A1B2C3D"',
    ServiceType: 'blob',
    OperationCount: 0,
    ObjectKey: '"/contosodata/finance/2025/q1/ledger.csv"',
    RequestHeaderSize: 1024,
    ResponseHeaderSize: 380,
    ResponseBodySize: 48213,
    Category: 'StorageRead',
    Type: 'StorageBlobLogs',
    _ResourceId: ACCOUNT_ID,
    ...overrides,
  };
}

function normalize(record: RawRecord, shape: 'stream' | 'table' = 'stream'): NormalizedEvent {
  expect(storageSource.accepts?.(record, shape)).toBe(true);
  const event = storageSource.normalize(record, shape);
  expect(NormalizedEventSchema.parse(event)).toEqual(event);
  return event;
}

/** A SAS signature value anywhere in the event, in any field. */
function leaksSignature(event: NormalizedEvent): boolean {
  const json = JSON.stringify(event);
  return json.includes(SIGNATURE) || /[?&]sig=(?!REDACTED)/i.test(json);
}

describe('storage source: a blob read', () => {
  const expected: Omit<NormalizedEvent, 'id'> = {
    time: Date.UTC(2025, 2, 4, 10, 15, 30, 123),
    source: 'storage',
    category: 'StorageRead',
    operation: 'GETBLOB',
    result: 'success',
    principalId: USER.toLowerCase(),
    principalType: 'user',
    principalName: 'alice@contoso.com',
    appId: AZURE_CLI,
    ip: '203.0.113.7',
    tenantId: 'aaaabbbb-0000-cccc-1111-dddd2222eeee',
    subscriptionId: '00001111-aaaa-2222-bbbb-3333cccc4444',
    resourceId: ACCOUNT_ID,
    resourceType: 'microsoft.storage/storageaccounts',
    correlationId: 'b1d5a6c2-801e-0042-3c1b-8d2f6e000000',
    details: {
      authType: 'OAuth',
      account: 'contosodata',
      container: 'finance',
      blob: '2025/q1/ledger.csv',
      statusCode: 200,
      bytes: 48213,
      userAgent: 'azsdk-python-storage-blob/12.19.0 Python/3.11.4 (Linux)',
      uri: 'https://contosodata.blob.core.windows.net:443/finance/2025/q1/ledger.csv',
    },
  };

  it('normalizes the stream record: every field, the blob service resolved to its account, port stripped', () => {
    const event = normalize(getBlob());
    expect(event).toEqual({ ...expected, id: event.id });
    expect(event.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('gives the StorageBlobLogs row of the same request the same event, id included', () => {
    expect(normalize(getBlobRow(), 'table')).toEqual(normalize(getBlob()));
  });

  it('reads properties sent as a JSON-encoded string', () => {
    const record = getBlob();
    expect(normalize({ ...record, properties: JSON.stringify(record.properties) })).toEqual(normalize(record));
  });

  it('takes container and blob from the URI when there is no object key, decoding the path', () => {
    const event = normalize(
      getBlob(
        { uri: 'https://contosodata.blob.core.windows.net:443/azure-webjobs-eventhub/ns/%24default/checkpoint/0?comp=metadata' },
        { objectKey: undefined },
      ),
    );
    expect(event.details).toMatchObject({ container: 'azure-webjobs-eventhub', blob: 'ns/$default/checkpoint/0' });
  });

  it('names only the container of a container-level request', () => {
    const event = normalize(getBlob({ operationName: 'ListBlobs' }, { objectKey: '/contosodata/finance' }));
    expect(event.details.container).toBe('finance');
    expect(event.details).not.toHaveProperty('blob');
  });
});

describe('storage source: who called', () => {
  it.each([
    ['AccountKey', { type: 'AccountKey', tokenHash: 'key1(4C81DD1772CEA6215A976B5B9C0764F519518B179BA3C7257C7E745D337833E6)' }, 'AccountKey'],
    ['a SAS', { type: 'SAS', tokenHash: 'key1(0A0XE8AADA35),SasSignature(04D64C2B3A70)' }, 'SAS'],
    ['a "SAS Key"', { type: 'SAS Key' }, 'SAS'],
  ])('attributes %s with no identity to the account key', (_what, identity, authType) => {
    const event = normalize(getBlob({ identity }));
    expect(event).toMatchObject({ principalId: 'key:contosodata', principalType: 'key', details: { authType } });
    expect(event.appId).toBeUndefined();
    expect(event.tenantId).toBeUndefined();
  });

  it('does the same for a StorageBlobLogs row', () => {
    const row = getBlobRow({ AuthenticationType: 'AccountKey', RequesterObjectId: null, RequesterAppId: null, RequesterUpn: null, RequesterTenantId: null });
    expect(normalize(row, 'table')).toMatchObject({ principalId: 'key:contosodata', principalType: 'key', details: { authType: 'AccountKey' } });
  });

  it('attributes a user delegation SAS to the principal that delegated it', () => {
    const event = normalize(getBlob({ identity: { type: 'DelegationSAS', requester: { objectId: USER, tenantId: 'AAAABBBB-0000-CCCC-1111-DDDD2222EEEE' } } }));
    expect(event).toMatchObject({ principalId: USER.toLowerCase(), principalType: 'unknown', details: { authType: 'SAS' } });
  });

  it('takes a requester with an app id and no UPN for a service principal', () => {
    const event = normalize(getBlob({ identity: { type: 'OAuth', requester: { objectId: USER, appId: 'F0E1D2C3-B4A5-4968-8776-655443322110' } } }));
    expect(event).toMatchObject({ principalType: 'servicePrincipal', appId: 'f0e1d2c3-b4a5-4968-8776-655443322110' });
    expect(event.principalName).toBeUndefined();
  });

  it('reads the UPN the reference example spells uniqueName', () => {
    const event = normalize(getBlob({ identity: { type: 'OAuth', requester: { objectId: USER, appId: AZURE_CLI, uniqueName: 'someone@example.com' } } }));
    expect(event).toMatchObject({ principalType: 'user', principalName: 'someone@example.com' });
  });

  it('keys anonymous access as unknown: no key signed it, so it is not key use', () => {
    const anonymous = normalize(getBlob({ identity: { type: 'Anonymous' } }));
    expect(anonymous).toMatchObject({
      principalId: expect.stringMatching(/^unknown:anonymous:\/subscriptions\//),
      principalType: 'unknown',
      ip: '203.0.113.7',
      details: { authType: 'Anonymous' },
    });
    // Keyed by the account they read, apart from callers whose identity was not logged.
    expect(anonymous.principalId).toBe(`unknown:anonymous:${anonymous.resourceId}`);
    expect(normalize(getBlob({ identity: { type: 'OAuth' } })).principalId).toBe(`unknown:${anonymous.resourceId}`);
  });

  it('keys an OAuth request that names no requester, or key use with no account, as unknown', () => {
    expect(normalize(getBlob({ identity: { type: 'OAuth' } }))).toMatchObject({
      principalId: expect.stringMatching(/^unknown:/),
      principalType: 'unknown',
      details: { authType: 'OAuth' },
    });
    const noAccount = getBlob({ identity: { type: 'AccountKey' }, resourceId: '/RESOURCE_ID', uri: undefined }, { accountName: undefined });
    expect(normalize(noAccount)).toMatchObject({
      principalId: expect.stringMatching(/^unknown:/),
      principalType: 'unknown',
      details: { authType: 'AccountKey' },
    });
  });

  it('drops a redacted caller address but keeps the rest', () => {
    const event = normalize(getBlob({ callerIpAddress: '<Redacted>:64758' }));
    expect(event.ip).toBeUndefined();
    expect(event.principalId).toBe(USER.toLowerCase());
  });
});

describe('storage source: copies and SAS redaction', () => {
  // A server-side copy logs three records under one request id (shape of a real capture).
  const destination = 'https://contosodata.blob.core.windows.net:443/staging/customers.csv';
  const source = `https://srcacct.blob.core.windows.net/exports/customers.csv?${SAS}`;
  const copy = (operationName: string, objectKey: string, uri: string, operationCount: number): RawRecord =>
    getBlob(
      { category: 'StorageWrite', operationName, statusCode: 202, identity: { type: 'SAS', tokenHash: 'key1(4C81DD17),SasSignature(04D64C2B)' }, uri },
      { objectKey, operationCount, responseBodySize: undefined },
    );
  const records = [
    copy('CopyBlob', '/contosodata/staging/customers.csv', `${destination}?${SAS}`, 0),
    copy('CopyBlobSource', source, source, 1),
    copy('CopyBlobDestination', '/contosodata/staging/customers.csv', destination, 2),
  ];

  it('keeps the three records of one copy apart and names the source on the source record', () => {
    const [copyBlob, copySource, copyDestination] = records.map((r) => normalize(r));
    expect(new Set([copyBlob.id, copySource.id, copyDestination.id]).size).toBe(3);
    // Same request id, time and caller: the operation and the blob tell them apart, and rows agree.
    const row = (r: RawRecord) =>
      getBlobRow({
        Category: 'StorageWrite',
        OperationName: r.operationName,
        StatusCode: '202',
        AuthenticationType: 'SAS',
        Uri: r.uri,
        ObjectKey: (r.properties as RawRecord).objectKey,
        ResponseBodySize: undefined,
        RequesterObjectId: null,
        RequesterAppId: null,
        RequesterUpn: null,
        RequesterTenantId: null,
      });
    expect(records.map((r) => normalize(row(r), 'table').id)).toEqual([copyBlob.id, copySource.id, copyDestination.id]);
    expect(copyBlob.correlationId).toBe(copySource.correlationId);
    expect(copyBlob.details).toMatchObject({ container: 'staging', blob: 'customers.csv', authType: 'SAS' });
    expect(copySource).toMatchObject({
      operation: 'COPYBLOBSOURCE',
      principalId: 'key:contosodata',
      details: {
        container: 'exports',
        blob: 'customers.csv',
        sourceAccount: 'srcacct',
        copySourceUri: expect.stringContaining('https://srcacct.blob.core.windows.net/exports/customers.csv?sv=2022-11-02&ss=b'),
      },
    });
    expect(copyDestination.details).not.toHaveProperty('copySourceUri');
  });

  it('leaves no SAS signature in any field of any copy record', () => {
    for (const record of records) {
      const event = normalize(record);
      expect(leaksSignature(event), JSON.stringify(event)).toBe(false);
    }
    expect(normalize(records[1]).details.copySourceUri).toContain('sig=REDACTED');
  });

  it.each([
    ['sourceUri', { sourceUri: source }],
    ['x-ms-copy-source', { 'x-ms-copy-source': source }],
  ])('reads the copy source of a FromURL operation from properties.%s', (_field, properties) => {
    const event = normalize(getBlob({ category: 'StorageWrite', operationName: 'PutBlobFromURL', statusCode: 201 }, properties));
    expect(event.operation).toBe('PUTBLOBFROMURL');
    expect(event.details.sourceAccount).toBe('srcacct');
    expect(event.details.copySourceUri).toContain('sig=REDACTED');
    expect(leaksSignature(event)).toBe(false);
  });

  it('reads the copy source of a StorageBlobLogs row from SourceUri', () => {
    const row = getBlobRow({ Category: 'StorageWrite', OperationName: 'CopyBlobFromURL', StatusCode: '202', SourceUri: source, Uri: `${destination}?${SAS}` });
    const event = normalize(row, 'table');
    expect(event.details).toMatchObject({ sourceAccount: 'srcacct', uri: expect.stringContaining('sig=REDACTED') });
    expect(leaksSignature(event)).toBe(false);
  });

  it('names no source account for a copy from outside Azure Storage, and redacts its token', () => {
    const event = normalize(getBlob({ operationName: 'PutBlockFromURL' }, { sourceUri: 'https://files.example.net/dump.zip?token=abc123' }));
    expect(event.details.copySourceUri).toBe('https://files.example.net/dump.zip?token=REDACTED');
    expect(event.details).not.toHaveProperty('sourceAccount');
  });
});

describe('storage source: outcomes', () => {
  it('reads status codes logged as numbers or strings, and the status text when the code is Unknown', () => {
    expect(normalize(getBlob({ statusCode: 403, statusText: 'AuthorizationFailure' })).result).toBe('failure');
    expect(normalize(getBlobRow({ StatusCode: '404', StatusText: 'ClientOtherError' }), 'table')).toMatchObject({
      result: 'failure',
      details: { statusCode: 404 },
    });
    expect(normalize(getBlobRow({ StatusCode: 'Unknown', StatusText: 'Success' }), 'table').result).toBe('success');
    expect(normalize(getBlobRow({ StatusCode: 'Unknown', StatusText: 'NetworkError' }), 'table').result).toBe('failure');
  });

  it('counts the bytes a request moved in either direction', () => {
    expect(normalize(getBlob({ operationName: 'PutBlob' }, { requestBodySize: 1000, responseBodySize: 0 })).details.bytes).toBe(1000);
    expect(normalize(getBlob({}, { responseBodySize: undefined })).details).not.toHaveProperty('bytes');
  });

  it('rejects a record without a usable time', () => {
    expect(() => storageSource.normalize(getBlob({ time: 'n/a' }), 'stream')).toThrow(/no usable event time in 'time'/);
  });

  it('rejects a record without an operation, naming the field of its shape', () => {
    expect(() => storageSource.normalize(getBlob({ operationName: undefined }), 'stream')).toThrow(InvalidRecordError);
    expect(() => storageSource.normalize(getBlob({ operationName: '' }), 'stream')).toThrow(/no operation in 'operationName'/);
    expect(() => storageSource.normalize(getBlobRow({ OperationName: null }), 'table')).toThrow(/no operation in 'OperationName'/);
  });
});

describe('storage source: which records it claims', () => {
  it('claims blob-service records of the three storage categories, not file, queue or table ones', () => {
    expect(storageSource.streamCategories).toEqual(['StorageRead', 'StorageWrite', 'StorageDelete']);
    expect(storageSource.accepts?.(getBlob(), 'stream')).toBe(true);
    expect(storageSource.accepts?.(getBlob({ resourceId: BLOB_SERVICE_ID.replace('blobServices', 'fileServices') }), 'stream')).toBe(false);
    expect(storageSource.accepts?.(getBlob({ resourceId: '/RESOURCE_ID' }, { serviceType: 'queue' }), 'stream')).toBe(false);
    expect(storageSource.accepts?.(getBlob({ resourceId: '/RESOURCE_ID' }), 'stream')).toBe(true);
    expect(storageSource.tables).toEqual(['StorageBlobLogs']);
  });
});
