import { describe, expect, it } from 'vitest';
import { aiSource } from '../../src/ingest/sources/ai.js';
import { InvalidRecordError, type RawRecord } from '../../src/ingest/types.js';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';

const ACCOUNT_ID = '/SUBSCRIPTIONS/12CABCB4-86E8-404F-A3D2-1DC9982F45CA/RESOURCEGROUPS/AI-RG/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/CONTOSO-OPENAI';
const CALLER = '3F2504E0-4F89-41D3-9A0C-0305E82C3301';

function chatProperties(overrides: RawRecord = {}): RawRecord {
  return {
    apiName: 'Azure OpenAI API version 2024-10-21',
    requestLength: 128,
    responseLength: 1411,
    objectId: CALLER,
    streamType: 'Non-Streaming',
    modelDeploymentName: 'gpt-4o-prod',
    modelName: 'gpt-4o',
    modelVersion: '2024-08-06',
    promptTokens: 14,
    completionTokens: 8,
    ...overrides,
  };
}

/** A chat completion by an Entra-authenticated caller, as diagnostic settings stream it. */
function chatCompletion(overrides: RawRecord = {}): RawRecord {
  return {
    Tenant: 'eastus',
    callerIpAddress: '81.2.69.***',
    category: 'RequestResponse',
    correlationId: 'd427a391-2bc7-4f38-9cbc-6560600e0981',
    durationMs: 1021,
    event: 'ShoeboxCallResult',
    location: 'eastus',
    operationName: 'ChatCompletions_Create',
    properties: chatProperties(),
    resourceId: ACCOUNT_ID,
    resultSignature: '200',
    time: '2024-05-24T12:23:02.4350000Z',
    ...overrides,
  };
}

/** The same call as a Log Analytics AzureDiagnostics row: properties kept whole in properties_s. */
function chatCompletionRow(overrides: RawRecord = {}): RawRecord {
  return {
    TenantId: '0d9c8b7a-6f5e-4d3c-2b1a-098f7e6d5c4b',
    TimeGenerated: '2024-05-24T12:23:02.4350000Z',
    ResourceId: ACCOUNT_ID,
    Category: 'RequestResponse',
    ResourceGroup: 'AI-RG',
    SubscriptionId: '12cabcb4-86e8-404f-a3d2-1dc9982f45ca',
    ResourceProvider: 'MICROSOFT.COGNITIVESERVICES',
    Resource: 'CONTOSO-OPENAI',
    ResourceType: 'ACCOUNTS',
    OperationName: 'ChatCompletions_Create',
    ResultSignature: '200',
    DurationMs: 1021,
    CallerIPAddress: '81.2.69.***',
    CorrelationId: 'd427a391-2bc7-4f38-9cbc-6560600e0981',
    properties_s: JSON.stringify(chatProperties()),
    Type: 'AzureDiagnostics',
    _ResourceId: ACCOUNT_ID.toLowerCase(),
    ...overrides,
  };
}

function normalize(record: RawRecord, shape: 'stream' | 'table' = 'stream'): NormalizedEvent {
  expect(aiSource.accepts?.(record, shape)).toBe(true);
  const event = aiSource.normalize(record, shape);
  expect(NormalizedEventSchema.parse(event)).toEqual(event);
  return event;
}

function withoutId(event: NormalizedEvent): Omit<NormalizedEvent, 'id'> {
  const { id: _id, ...rest } = event;
  return rest;
}

describe('ai source: a chat completion', () => {
  const expected: Omit<NormalizedEvent, 'id'> = {
    time: Date.UTC(2024, 4, 24, 12, 23, 2, 435),
    source: 'ai',
    category: 'RequestResponse',
    operation: 'CHATCOMPLETIONS_CREATE',
    result: 'success',
    principalId: CALLER.toLowerCase(),
    principalType: 'unknown',
    ip: '81.2.69.***',
    subscriptionId: '12cabcb4-86e8-404f-a3d2-1dc9982f45ca',
    resourceId: ACCOUNT_ID.toLowerCase(),
    resourceType: 'microsoft.cognitiveservices/accounts',
    correlationId: 'd427a391-2bc7-4f38-9cbc-6560600e0981',
    details: {
      account: 'contoso-openai',
      authType: 'entra',
      deployment: 'gpt-4o-prod',
      model: 'gpt-4o',
      modelVersion: '2024-08-06',
      apiVersion: '2024-10-21',
      streamType: 'Non-Streaming',
      statusCode: 200,
      requestLength: 128,
      responseLength: 1411,
      promptTokens: 14,
      completionTokens: 8,
      totalTokens: 22,
      durationMs: 1021,
    },
  };

  it('normalizes the stream record: every field, the masked caller IP kept as logged', () => {
    const event = normalize(chatCompletion());
    expect(withoutId(event)).toEqual(expected);
    expect(event.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('gives the Log Analytics row of the same call the same event, id included', () => {
    expect(normalize(chatCompletionRow(), 'table')).toEqual(normalize(chatCompletion()));
  });

  it('reads a row whose properties AzureDiagnostics flattened into columns', () => {
    const row = chatCompletionRow({
      properties_s: undefined,
      objectId_g: CALLER.toLowerCase(),
      apiName_s: 'Azure OpenAI API version 2024-10-21',
      modelDeploymentName_s: 'gpt-4o-prod',
      modelName_s: 'gpt-4o',
      modelVersion_s: '2024-08-06',
      streamType_s: 'Non-Streaming',
      requestLength_d: 128,
      responseLength_d: 1411,
      promptTokens_d: 14,
      completionTokens_d: 8,
    });
    expect(normalize(row, 'table')).toEqual(normalize(chatCompletion()));
  });

  it('reads properties sent as a JSON-encoded string and durationMs sent as a string', () => {
    const event = normalize(chatCompletion({ properties: JSON.stringify(chatProperties()), durationMs: '1021' }));
    expect(withoutId(event)).toEqual(expected);
  });

  it('ids differ for the two rows a request can log under one correlation id and time', () => {
    const a = normalize(chatCompletion());
    const b = normalize(chatCompletion({ properties: chatProperties({ modelDeploymentName: 'dall-e-3', modelName: 'dall-e-3' }) }));
    expect(a.id).not.toBe(b.id);
    expect(normalize(chatCompletion()).id).toBe(a.id);
    // The same request in another category (the usage log next to the request log) is another record.
    const usage = normalize(chatCompletion({ category: 'AzureOpenAIRequestUsage' }));
    expect(usage.id).not.toBe(a.id);
    expect(normalize(chatCompletionRow({ Category: 'AzureOpenAIRequestUsage' }), 'table').id).toBe(usage.id);
    // Not identifying: sizes and durations.
    expect(normalize(chatCompletion({ durationMs: 5, properties: chatProperties({ responseLength: 1 }) })).id).toBe(a.id);
  });

  it('drops the negative durations the service sometimes logs', () => {
    expect(normalize(chatCompletion({ durationMs: -1021 })).details).not.toHaveProperty('durationMs');
  });

  it('marks throttled and failed calls as failures with their status code', () => {
    const throttled = normalize(chatCompletion({ resultSignature: '429' }));
    expect(throttled.result).toBe('failure');
    expect(throttled.details.statusCode).toBe(429);
    expect(normalize(chatCompletion({ resultSignature: undefined, resultType: 'Failed' })).result).toBe('failure');
    expect(normalize(chatCompletion({ resultSignature: undefined })).result).toBe('unknown');
  });
});

describe('ai source: key authentication', () => {
  it('attributes a call without a caller object id to the account key', () => {
    const event = normalize(chatCompletion({ properties: JSON.stringify(chatProperties({ objectId: '' })) }));
    expect(event).toMatchObject({ principalId: 'key:contoso-openai', principalType: 'key', details: { authType: 'key', account: 'contoso-openai' } });
    expect(event.principalName).toBeUndefined();
  });

  it('does the same for the Log Analytics row', () => {
    const row = chatCompletionRow({ properties_s: JSON.stringify(chatProperties({ objectId: '' })) });
    expect(normalize(row, 'table')).toMatchObject({ principalId: 'key:contoso-openai', principalType: 'key' });
  });

  it('keys a key call whose resource id names no account as unknown, keeping the IP', () => {
    const record = chatCompletion({ resourceId: undefined, properties: chatProperties({ objectId: '' }) });
    expect(normalize(record)).toMatchObject({
      principalId: expect.stringMatching(/^unknown:/),
      principalType: 'unknown',
      ip: '81.2.69.***',
      details: { deployment: 'gpt-4o-prod' },
    });
  });
});

describe('ai source: other categories', () => {
  const listKey = (properties: RawRecord): RawRecord => ({
    AssetIdentity: '07628fea-67bb-424d-b160-fdc46c82d0b4',
    Tenant: 'eastus',
    category: 'Audit',
    operationName: 'ListKey',
    properties,
    resourceId: ACCOUNT_ID,
    time: '2024-04-17T06:03:30.0000000Z',
  });

  it('normalizes an Audit ListKey to the caller who listed the keys', () => {
    const event = normalize(listKey({ objectId: 'B610AB05-CE06-4CC1-A6DD-174B9F80468A' }));
    expect(event).toEqual({
      id: event.id,
      time: Date.UTC(2024, 3, 17, 6, 3, 30),
      source: 'ai',
      category: 'Audit',
      operation: 'LISTKEY',
      result: 'unknown',
      principalId: 'b610ab05-ce06-4cc1-a6dd-174b9f80468a',
      principalType: 'unknown',
      subscriptionId: '12cabcb4-86e8-404f-a3d2-1dc9982f45ca',
      resourceId: ACCOUNT_ID.toLowerCase(),
      resourceType: 'microsoft.cognitiveservices/accounts',
      details: { account: 'contoso-openai', authType: 'entra' },
    });
  });

  it('keys an Audit record without a caller as unknown: control-plane calls cannot use a key, so it is not key use', () => {
    expect(normalize(listKey({ objectId: '' }))).toMatchObject({
      principalId: expect.stringMatching(/^unknown:/),
      principalType: 'unknown',
      operation: 'LISTKEY',
    });
  });

  it('sums the one-element token arrays of AzureOpenAIRequestUsage and totals them', () => {
    const usage = normalize({
      time: '2024-05-24T12:23:03.1000000Z',
      resourceId: ACCOUNT_ID,
      category: 'AzureOpenAIRequestUsage',
      operationName: 'ChatCompletions_Create',
      correlationId: 'd427a391-2bc7-4f38-9cbc-6560600e0981',
      properties: {
        objectId: CALLER,
        modelDeploymentName: 'gpt-4o-prod',
        modelName: 'gpt-4o',
        modelVersion: '2024-08-06',
        streamType: 'Streaming',
        promptTokens: [138652],
        cachedTokens: [134605],
        generatedTokens: [622],
        timeToFirstTokenMs: 3801.132,
        timeToLastTokenMs: 18085.207,
      },
    });
    expect(usage).toMatchObject({
      category: 'AzureOpenAIRequestUsage',
      principalId: CALLER.toLowerCase(),
      details: { promptTokens: 138652, completionTokens: 622, totalTokens: 139274, deployment: 'gpt-4o-prod', streamType: 'Streaming' },
    });
    expect(usage.result).toBe('unknown');
  });

  it('reads a Trace record of an account like any data-plane record', () => {
    const trace = normalize({
      time: '2024-05-24T12:23:04Z',
      resourceId: ACCOUNT_ID,
      category: 'Trace',
      operationName: 'Assistants_Run',
      properties: { objectId: CALLER },
    });
    expect(trace).toMatchObject({ category: 'Trace', operation: 'ASSISTANTS_RUN', principalId: CALLER.toLowerCase() });
  });

  it('reads caller claims when a record carries identity.claim instead of properties.objectId', () => {
    const event = normalize(
      chatCompletion({
        properties: chatProperties({ objectId: undefined }),
        identity: { claim: { oid: CALLER, upn: 'dev@contoso.com', tid: '72F988BF-86F1-41AF-91AB-2D7CD011DB47' } },
      }),
    );
    expect(event).toMatchObject({
      principalId: CALLER.toLowerCase(),
      principalType: 'user',
      principalName: 'dev@contoso.com',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    });
  });
});

describe('ai source: bad records', () => {
  it('rejects a record without a usable time', () => {
    expect(() => aiSource.normalize(chatCompletion({ time: undefined }), 'stream')).toThrow(/no usable event time in 'time'/);
    expect(() => aiSource.normalize(chatCompletionRow({ TimeGenerated: '' }), 'table')).toThrow(/'TimeGenerated'/);
  });

  it('rejects a record without an operation', () => {
    expect(() => aiSource.normalize(chatCompletion({ operationName: undefined }), 'stream')).toThrow(InvalidRecordError);
    expect(() => aiSource.normalize(chatCompletion({ operationName: '' }), 'stream')).toThrow(/no operation in 'operationName'/);
    expect(() => aiSource.normalize(chatCompletionRow({ OperationName: null }), 'table')).toThrow(/no operation in 'OperationName'/);
  });

  it('rejects properties that are not JSON and token counts that are not numbers', () => {
    expect(() => aiSource.normalize(chatCompletion({ properties: '{apiName:' }), 'stream')).toThrow(/properties/);
    expect(() => aiSource.normalize(chatCompletion({ properties: chatProperties({ promptTokens: { n: 1 } }) }), 'stream')).toThrow(/properties\.promptTokens/);
  });
});

describe('ai source: which records it claims', () => {
  it('claims Audit, Trace and RequestResponse only from Cognitive Services accounts', () => {
    expect(aiSource.streamCategories).toEqual(['Audit', 'RequestResponse', 'Trace', 'AzureOpenAIRequestUsage']);
    const search = '/subscriptions/12cabcb4-86e8-404f-a3d2-1dc9982f45ca/resourceGroups/rg/providers/Microsoft.Search/searchServices/s1';
    expect(aiSource.accepts?.({ ...chatCompletion(), category: 'Audit', resourceId: search }, 'stream')).toBe(false);
    expect(aiSource.accepts?.({ ...chatCompletion(), resourceId: search }, 'stream')).toBe(false);
    expect(aiSource.accepts?.(chatCompletion({ category: 'Trace' }), 'stream')).toBe(true);
  });

  it('claims a record whose resource id names no provider only when its shape is clearly AI', () => {
    expect(aiSource.accepts?.(chatCompletion({ resourceId: '/RESOURCE_ID' }), 'stream')).toBe(true);
    expect(aiSource.accepts?.(chatCompletion({ resourceId: '/RESOURCE_ID', properties: JSON.stringify(chatProperties()) }), 'stream')).toBe(true);
    expect(aiSource.accepts?.({ category: 'Audit', operationName: 'x', resourceId: '/RESOURCE_ID', properties: { objectId: CALLER } }, 'stream')).toBe(false);
    expect(aiSource.accepts?.({ category: 'AzureOpenAIRequestUsage', operationName: 'x' }, 'stream')).toBe(true);
  });

  it('claims AzureDiagnostics rows of Cognitive Services in its four categories only', () => {
    expect(aiSource.tables).toEqual(['AzureDiagnostics']);
    expect(aiSource.accepts?.(chatCompletionRow(), 'table')).toBe(true);
    expect(aiSource.accepts?.(chatCompletionRow({ ResourceProvider: 'MICROSOFT.KEYVAULT' }), 'table')).toBe(false);
    expect(aiSource.accepts?.(chatCompletionRow({ Category: 'ManagedNetworkEvent' }), 'table')).toBe(false);
    expect(aiSource.accepts?.(chatCompletionRow({ ResourceProvider: undefined }), 'table')).toBe(true);
  });
});
