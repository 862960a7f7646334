import { describe, expect, it } from 'vitest';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';
import { ingestBody, type IngestResult } from '../../src/ingest/pipeline.js';

/**
 * The shapes the public samples taught us (../shared/captures/external/SOURCES.md, "Quirks
 * noticed"), on the project's own records, through the whole ingest path. The records are written
 * from the documented schemas (activity log, Entra sign-in log, Key Vault logging, Azure OpenAI and
 * Blob storage monitoring references) with made-up values; the conformance tier runs the public
 * files themselves. Per-field readings of each source are in test/ingest/<source>.test.ts.
 */

const SUB = '0b1f6471-1bf0-4dda-aec3-111122223333';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const VAULT = '/SUBSCRIPTIONS/6B1F3D2A-0C4E-4F5A-9B8C-7D6E5F4A3B2C/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/PROD-KV';
const OPENAI = '/SUBSCRIPTIONS/12CABCB4-86E8-404F-A3D2-1DC9982F45CA/RESOURCEGROUPS/AI-RG/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/CONTOSO-OPENAI';
const BLOBS = `/subscriptions/${SUB}/resourceGroups/data-rg/providers/Microsoft.Storage/storageAccounts/contosodata/blobServices/default`;
const T = '2025-03-04T10:15:30.1234567Z';
const T_MS = Date.parse('2025-03-04T10:15:30.123Z');

/** Every record is accounted for and every event keeps the contract; returns the result. */
function ingest(body: unknown): IngestResult {
  const r = ingestBody(body, { file: 'quirks' });
  const skipped = Object.values(r.skippedByCategory).reduce((a, b) => a + b, 0);
  expect(r.records).toBe(r.events.length + skipped + r.deadLetters.length + r.deadLettersNotKept);
  for (const { event } of r.events) expect(NormalizedEventSchema.safeParse(event).error).toBeUndefined();
  return r;
}

function oneEvent(record: Record<string, unknown>): NormalizedEvent {
  const r = ingest({ records: [record] });
  expect(r.deadLetters.map((d) => d.reason)).toEqual([]);
  expect(r.events).toHaveLength(1);
  return r.events[0].event;
}

describe('bodies as the samples come', () => {
  it('reads bare records one per line (the envelope already removed), `{ "k": v }` spacing, no trailing newline', () => {
    const lines = [
      `{ "time": "${T}", "resourceId": "${VAULT}", "operationName": "SecretGet", "category": "AuditEvent" }`,
      `{"time":"${T}","resourceId":"${OPENAI}","operationName":"ListKey","category":"Audit","properties":{"objectId":"3f2504e0-4f89-41d3-9a0c-0305e82c3301"}}`,
    ];
    const r = ingest(lines.join('\n'));
    expect(r.events.map(({ event }) => event.source)).toEqual(['keyvault', 'ai']);
    expect(ingest(Buffer.from(lines.join('\r\n'))).events.map(({ event }) => event.id)).toEqual(r.events.map(({ event }) => event.id));
  });

  it('dead-letters what is not a record (a broken line, a forwarder wrapper, a fragment) and keeps the rest', () => {
    const body = [
      `{"time":"${T}","category":"FunctionAppLogs","properties":{'appName': 'fn', 'level': 'Information'}}`, // unquoted Python dict: not JSON
      JSON.stringify({ message: JSON.stringify({ time: T, category: 'ApplicationConsole' }), '@timestamp': T }), // a record inside a forwarder's message
      '{"tenantId":"x","properties":{"a":1},', // a documentation fragment, cut off
      `{"time":"${T}","resourceId":"${VAULT}","operationName":"SecretGet","category":"AuditEvent"}`,
    ].join('\n');
    const r = ingest(body);
    expect(r.events).toHaveLength(1);
    const byLine = [...r.deadLetters].sort((x, y) => Number(x.location.line) - Number(y.location.line));
    expect(byLine.map((d) => [d.location.line, d.reason.replace(/( on line \d+)?(:.*)?$/, '')])).toEqual([
      [1, 'invalid JSON'],
      [2, 'no category'],
      [3, 'invalid JSON'],
    ]);
  });

  it('skips, by name, the categories Warden does not read, whatever their properties look like', () => {
    const r = ingest({
      records: [
        { time: T, category: 'FunctionAppLogs', properties: "{'appName': 'fn', 'message': 'Executing'}" },
        { time: '1/9/2007 9:41:00 AM', category: 'UserRiskEvents' },
        {
          time: T,
          category: 'GatewayLogs',
          resourceId: OPENAI.replace('MICROSOFT.COGNITIVESERVICES/ACCOUNTS', 'MICROSOFT.APIMANAGEMENT/SERVICE'),
          operationName: 'Microsoft.ApiManagement/GatewayLogs',
        },
        { timeStamp: T, category: 'ApplicationGatewayAccessLog', properties: { httpStatus: 200, serverStatus: '200', timeTaken: 0.034 } },
      ],
    });
    expect(r.events).toEqual([]);
    expect(r.deadLetters).toEqual([]);
    expect(r.skippedByCategory).toEqual({ FunctionAppLogs: 1, UserRiskEvents: 1, GatewayLogs: 1, ApplicationGatewayAccessLog: 1 });
  });
});

describe('minimal records and fragments', () => {
  it('makes an event keyed unknown of a record with only time, resource, operation and category', () => {
    for (const [category, resourceId, operationName] of [
      ['AuditEvent', VAULT, 'SecretGet'],
      ['Administrative', `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`, 'Microsoft.Compute/virtualMachines/write'],
    ]) {
      const event = oneEvent({ time: T, resourceId, operationName, category });
      // Keyed by what was called, so unrelated anonymous events never share one principal's state.
      expect(event, category).toMatchObject({
        time: T_MS,
        principalId: `unknown:${resourceId.toLowerCase()}`,
        principalType: 'unknown',
        operation: operationName.toUpperCase(),
      });
    }
  });

  it('dead-letters a fragment that has no operation or no time, saying which', () => {
    const r = ingest({
      records: [
        { time: '01/09/2007 09:41:00 AM', category: 'SignInLogs' },
        { time: '2007-01-09T11:41:00+02:00', category: 'Administrative' },
        { category: 'AuditEvent', resourceId: VAULT, operationName: 'SecretGet' },
      ],
    });
    expect(r.events).toEqual([]);
    expect(r.deadLetters.map((d) => d.reason)).toEqual([
      expect.stringMatching(/^signin: no operation in /),
      expect.stringMatching(/^activity: no operation in /),
      expect.stringMatching(/^keyvault: no usable event time/),
    ]);
  });
});

describe('values in unexpected types and spellings', () => {
  const listKeys = {
    time: T,
    resourceId: `/SUBSCRIPTIONS/${SUB.toUpperCase()}/RESOURCEGROUPS/RG-AI/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/CONTOSO-OPENAI`,
    operationName: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION',
    category: 'Administrative',
    resultType: 'Success',
    durationMs: '0',
    callerIpAddress: '203.0.113.9',
    correlationId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
    Level: 4,
    level: 'Informational',
    identity: {
      claims: {
        'http://schemas.microsoft.com/identity/claims/objectidentifier': '4d2c8e71-93b5-4f0a-a6d8-2b7e19c05f3d',
        appid: 'a9f3c2e1-7b64-4d58-8e0f-61c2d3b4a5e6',
        idtyp: 'app',
      },
    },
    properties: { statusCode: 'OK', responseBody: '{"key1":"x"}' },
  };

  it('reads numbers written as strings, an upper-case resource id, and both `Level` and `level` in one record', () => {
    const event = oneEvent(listKeys);
    expect(event).toMatchObject({
      source: 'activity',
      principalId: '4d2c8e71-93b5-4f0a-a6d8-2b7e19c05f3d',
      subscriptionId: SUB,
      resourceId: listKeys.resourceId.toLowerCase(),
      details: { durationMs: 0, level: 'Informational' },
    });
  });

  it('reads the same event from `properties` as a JSON string and as an object', () => {
    const properties = {
      apiName: 'Azure OpenAI API version 2024-02-01',
      objectId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
      modelDeploymentName: 'gpt-chat',
      modelName: 'gpt-4o',
    };
    const chat = {
      time: T,
      resourceId: OPENAI,
      category: 'RequestResponse',
      operationName: 'ChatCompletions_Create',
      resultSignature: '200',
      durationMs: 412,
      callerIpAddress: '81.2.69.***',
      properties,
    };
    const asObject = oneEvent(chat);
    // As text it also carries .NET ticks, 19 digits: more than a JSON number can hold exactly.
    const text = JSON.stringify(properties).replace(/\}$/, ',"requestTime":638481757794854611}');
    expect(oneEvent({ ...chat, properties: text })).toEqual(asObject);
    expect(asObject).toMatchObject({ principalId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', details: { deployment: 'gpt-chat', model: 'gpt-4o' } });
  });

  it('reads the resource id whatever its casing, down to `/TeNaNtS/…/PrOvIdErS/`', () => {
    const resourceId = `/TeNaNtS/${TENANT}/PrOvIdErS/Microsoft.aadiam`;
    const event = oneEvent({ ...listKeys, resourceId, operationName: 'microsoft.aadiam/tenants/write' });
    expect(event).toMatchObject({ resourceId: resourceId.toLowerCase(), operation: 'MICROSOFT.AADIAM/TENANTS/WRITE' });
  });

  it('keeps an event whose identity is a name, or empty, instead of an object of claims', () => {
    for (const identity of ['Michell Lan', {}, '']) {
      const event = oneEvent({ ...listKeys, identity });
      expect(event.operation, JSON.stringify(identity)).toBe('MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION');
      expect(event.principalId).not.toBe('4d2c8e71-93b5-4f0a-a6d8-2b7e19c05f3d');
    }
  });

  it('keeps caller addresses as written (IPv6, masked) but for a port, and drops what is not an address, never the event', () => {
    const ipOf = (callerIpAddress: string) => oneEvent({ ...listKeys, callerIpAddress }).ip;
    expect(ipOf('2001:db8::7')).toBe('2001:db8::7');
    expect(ipOf('203.0.113.9:53124')).toBe('203.0.113.9');
    expect(ipOf('<CALLER IP ADDRESS>')).toBeUndefined();
    // Masked addresses are kept as written: the service's masking still tells one network from another.
    for (const masked of ['81.2.69.***', '87.174.239.XXX', '0.0.0.0']) expect(ipOf(masked)).toBe(masked);
    // A range or a mangled text is not an address a rule could compare: the event stays, without an IP.
    for (const junk of ['127.0.0.0/8', 'XX:2a02:908::1', '3f2504e0-4f89-11d3-9a0c-0305e82c3301']) expect(ipOf(junk)).toBeUndefined();
  });

  it('reads times in each spelling the samples use as the instant written', () => {
    const at = (time: string) => oneEvent({ ...listKeys, time }).time;
    expect(at('Fri, 21 Jul 2017 01:00:51 GMT')).toBe(Date.UTC(2017, 6, 21, 1, 0, 51));
    expect(at('12/12/2025 3:03:58 PM')).toBe(Date.UTC(2025, 11, 12, 15, 3, 58));
    expect(at('1/9/2007 10:41:00 AM +01:00')).toBe(Date.UTC(2007, 0, 9, 9, 41));
    expect(at('2007-01-09T09:41:00')).toBe(Date.UTC(2007, 0, 9, 9, 41));
    expect(at('2007-01-09T09:41:00.535404056Z')).toBe(Date.UTC(2007, 0, 9, 9, 41, 0, 535));
  });

  it('reads a blob read with a SAS: the caller address without its port, the `sig` redacted, a 500 as a failure', () => {
    const event = oneEvent({
      time: T,
      resourceId: BLOBS,
      category: 'StorageRead',
      operationName: 'ListBlobs',
      statusCode: 500,
      statusText: 'InternalError',
      callerIpAddress: '192.168.0.1:11111',
      uri: 'https://contosodata.blob.core.windows.net/cont1?restype=container&comp=list&sv=2021-08-06&sig=c2lnbmF0dXJl',
      identity: {
        type: 'DelegationSAS',
        tokenHash: 'key1(0F0E0D0C)',
        authorization: [{ action: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read', result: 'Granted' }],
        requester: { objectId: 'abcdef12-3456-7890-abcd-ef1234567890' },
      },
      properties: { accountName: 'contosodata', serviceType: 'blob' },
    });
    expect(event).toMatchObject({
      source: 'storage',
      result: 'failure',
      ip: '192.168.0.1',
      principalId: 'abcdef12-3456-7890-abcd-ef1234567890',
      details: { authType: 'SAS', statusCode: 500 },
    });
    expect(JSON.stringify(event)).not.toContain('c2lnbmF0dXJl');
  });

  it('keeps non-ASCII and escaped text as written, the same from a string body and from UTF-8 bytes', () => {
    const signIn = {
      time: T,
      category: 'ServicePrincipalSignInLogs',
      operationName: 'Sign-in activity',
      resultType: '0',
      tenantId: TENANT,
      resourceId: `/tenants/${TENANT}/providers/Microsoft.aadiam`,
      properties: {
        id: '0d4a1f2e-7c3b-4e59-9a68-1b2c3d4e5f60',
        createdDateTime: T,
        appId: 'a9f3c2e1-7b64-4d58-8e0f-61c2d3b4a5e6',
        servicePrincipalId: '4d2c8e71-93b5-4f0a-a6d8-2b7e19c05f3d',
        servicePrincipalName: 'Gäste-WLAN für Büros – sync \\u0026 copy',
        ipAddress: '203.0.113.9',
        status: { errorCode: 0 },
        resourceDisplayName: 'Microsoft Graph',
      },
    };
    const text = JSON.stringify({ records: [signIn] });
    const fromText = ingest(text).events[0].event;
    expect(fromText.principalName).toBe('Gäste-WLAN für Büros – sync \\u0026 copy');
    expect(ingest(Buffer.from(text, 'utf8')).events[0].event).toEqual(fromText);
  });
});
