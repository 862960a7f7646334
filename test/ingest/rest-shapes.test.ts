import { describe, expect, it } from 'vitest';
import { ingestBody } from '../../src/ingest/pipeline.js';

/** REST shapes (issue #14 item 5), written from the Azure Monitor REST API's EventData and Microsoft Graph's signIn resources. */

const SUB = '6d2f8a41-3c5e-4b7a-9e1d-2f4a6c8b0e13';
const ACCOUNT = `/subscriptions/${SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stfinancedata`;
const localizable = (value: string, localizedValue = value) => ({ value, localizedValue });

/** One event as `az monitor activity-log list` (the REST API's EventData) prints it. */
function restEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    authorization: { action: 'Microsoft.Storage/storageAccounts/listKeys/action', scope: ACCOUNT },
    caller: 'alex.wilber@contoso.com',
    category: localizable('Administrative'),
    claims: {
      oid: '1c5b9f2e-7a4d-4e8b-9c3f-2d6a8b0e4f71',
      upn: 'alex.wilber@contoso.com',
      appid: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
      tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    },
    correlationId: 'c3d9e1f2-4a5b-4c6d-9e7f-8a9b0c1d2e3f',
    eventDataId: '2f3e4d5c-6b7a-4899-8a1b-2c3d4e5f6a7b',
    eventName: localizable('EndRequest', 'End request'),
    eventTimestamp: '2024-03-04T10:17:02.4411235Z',
    httpRequest: { clientIpAddress: '198.51.100.77', clientRequestId: '', method: 'POST' },
    id: `${ACCOUNT}/events/2f3e4d5c-6b7a-4899-8a1b-2c3d4e5f6a7b/ticks/638451610224411235`,
    level: 'Informational',
    operationId: 'c3d9e1f2-4a5b-4c6d-9e7f-8a9b0c1d2e3f',
    operationName: localizable('Microsoft.Storage/storageAccounts/listKeys/action', 'List Storage Account Keys'),
    properties: { statusCode: 'OK', eventCategory: 'Administrative', entity: ACCOUNT, message: 'Microsoft.Storage/storageAccounts/listKeys/action' },
    resourceGroupName: 'rg-data',
    resourceId: ACCOUNT,
    resourceProviderName: localizable('Microsoft.Storage'),
    resourceType: localizable('Microsoft.Storage/storageAccounts'),
    status: localizable('Succeeded'),
    subStatus: localizable('OK'),
    submissionTimestamp: '2024-03-04T10:18:11.2230135Z',
    subscriptionId: SUB,
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    ...overrides,
  };
}

describe('REST shapes', () => {
  it('reads activity events as the REST API and az monitor activity-log list return them', () => {
    const result = ingestBody(JSON.stringify([restEvent()]), {});
    expect(result.deadLetters).toEqual([]);
    expect(result.events[0].event).toMatchObject({
      source: 'activity',
      category: 'Administrative',
      operation: 'MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION',
      result: 'success',
      time: Date.parse('2024-03-04T10:17:02.441Z'),
      principalId: '1c5b9f2e-7a4d-4e8b-9c3f-2d6a8b0e4f71',
      principalType: 'user',
      principalName: 'alex.wilber@contoso.com',
      ip: '198.51.100.77',
      resourceId: ACCOUNT.toLowerCase(),
      subscriptionId: SUB,
    });
  });

  it('names the REST field a broken event lacks', () => {
    const [reason] = ingestBody(JSON.stringify([restEvent({ operationName: localizable('') })]), {}).deadLetters.map((d) => d.reason);
    expect(reason).toBe("activity: no operation in 'operationName.value': a record without one is a fragment, not an event");
  });

  it('dead-letters a Microsoft Graph signIn naming the shape and what to export instead', () => {
    const graph = {
      id: '66ea54eb-6301-4ee5-be62-ff5a759b0100',
      createdDateTime: '2024-03-04T10:17:02Z',
      userPrincipalName: 'alex.wilber@contoso.com',
      appId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
      ipAddress: '198.51.100.77',
      status: { errorCode: 0 },
    };
    const [reason] = ingestBody(JSON.stringify([graph]), {}).deadLetters.map((d) => d.reason);
    expect(reason).toMatch(
      /^no category: a Microsoft Graph signIn \(GET \/auditLogs\/signIns\).*diagnostic setting \(SignInLogs\).*Log Analytics \(SigninLogs\)$/,
    );
    const answer = { '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns', value: [graph] };
    expect(ingestBody(JSON.stringify(answer), {}).deadLetters.map((d) => d.reason)).toEqual([
      expect.stringMatching(/^no category: a Microsoft Graph API answer/),
    ]);
  });
});
