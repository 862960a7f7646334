import { describe, expect, it } from 'vitest';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';
import { activitySource } from '../../src/ingest/sources/activity.js';
import { InvalidRecordError, type RawRecord } from '../../src/ingest/types.js';

// Records follow https://learn.microsoft.com/azure/azure-monitor/platform/activity-log-schema (stream)
// and the AzureActivity table reference (rows); values are made up but shaped like real ones.
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const WORKSPACE = '5b3a1c6e-9d2f-4e8a-b7c1-0f9e8d7c6b5a';
const SUB = '0b1f6471-1bf0-4dda-aec3-111122223333';
const ACCOUNT = `/subscriptions/${SUB}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/contoso-openai`;
const SP_OBJECT_ID = '4d2c8e71-93b5-4f0a-a6d8-2b7e19c05f3d';
const SP_APP_ID = 'a9f3c2e1-7b64-4d58-8e0f-61c2d3b4a5e6';
const USER_OID = 'e5c1a2b3-4d5e-4f60-8172-93a4b5c6d7e8';
const HIERARCHY = `${TENANT}/mg-prod/${SUB}`;
const TIME = '2025-03-04T10:15:30.1234567Z';
const TIME_MS = Date.parse('2025-03-04T10:15:30.123Z');
const CORRELATION = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

/** An app-only token as ARM logs it: long claim names for object and tenant ids, short for the rest. */
const spClaims = {
  aud: 'https://management.core.windows.net/',
  iss: `https://sts.windows.net/${TENANT}/`,
  iat: '1741082730',
  nbf: '1741082730',
  exp: '1741086630',
  aio: 'k2BgYJi5ZfLnT1r7dbz3pUmkqe4AAA==',
  appid: SP_APP_ID,
  appidacr: '1',
  idtyp: 'app',
  'http://schemas.microsoft.com/identity/claims/identityprovider': `https://sts.windows.net/${TENANT}/`,
  'http://schemas.microsoft.com/identity/claims/objectidentifier': SP_OBJECT_ID,
  'http://schemas.microsoft.com/identity/claims/tenantid': TENANT,
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier': SP_OBJECT_ID,
  uti: 'AbCdEfGhIjKlMnOpQrSt',
  ver: '1.0',
  xms_tcdt: '1391159646',
};

const spAuthorization = {
  action: 'Microsoft.CognitiveServices/accounts/listKeys/action',
  scope: ACCOUNT,
  evidence: {
    role: 'Cognitive Services Contributor',
    roleAssignmentScope: `/subscriptions/${SUB}`,
    roleAssignmentId: '7f6e5d4c3b2a41908f7e6d5c4b3a2918',
    roleDefinitionId: '25fbc0a9bd7c42a3aa1a3b75d497ee68',
    principalId: SP_OBJECT_ID.replaceAll('-', ''),
    principalType: 'ServicePrincipal',
  },
};

const listKeysProperties = {
  statusCode: 'OK',
  serviceRequestId: null,
  eventCategory: 'Administrative',
  entity: ACCOUNT,
  message: 'Microsoft.CognitiveServices/accounts/listKeys/action',
  hierarchy: HIERARCHY,
};

/** A service principal reading an Azure OpenAI account's keys, as diagnostic settings stream it. */
function listKeysStream(overrides: RawRecord = {}): RawRecord {
  return {
    time: TIME,
    resourceId: ACCOUNT.toUpperCase(),
    operationName: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION',
    category: 'Administrative',
    resultType: 'Success',
    resultSignature: 'Succeeded.OK',
    durationMs: '0',
    callerIpAddress: '20.42.17.9',
    correlationId: CORRELATION,
    identity: { authorization: spAuthorization, claims: spClaims },
    level: 'Information',
    location: 'global',
    properties: listKeysProperties,
    tenantId: TENANT,
    ...overrides,
  };
}

/** The same event as an AzureActivity row: dynamic columns next to their string twins, the workspace's TenantId. */
function listKeysRow(overrides: RawRecord = {}): RawRecord {
  return {
    TenantId: WORKSPACE,
    SourceSystem: 'Azure',
    TimeGenerated: new Date(TIME_MS),
    CallerIpAddress: '20.42.17.9',
    CategoryValue: 'Administrative',
    Category: 'Administrative',
    CorrelationId: CORRELATION,
    Authorization: JSON.stringify(spAuthorization),
    Authorization_d: spAuthorization,
    Claims: JSON.stringify(spClaims),
    Claims_d: spClaims,
    Level: 'Informational',
    OperationNameValue: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION',
    OperationName: 'List Keys',
    Properties: JSON.stringify(listKeysProperties),
    Properties_d: listKeysProperties,
    ActivityStatusValue: 'Success',
    ActivityStatus: 'Succeeded',
    ActivitySubstatusValue: 'OK',
    ActivitySubstatus: 'OK (HTTP Status Code: 200)',
    ResourceGroup: 'RG-AI',
    ResourceProviderValue: 'MICROSOFT.COGNITIVESERVICES',
    SubscriptionId: SUB,
    EventSubmissionTimestamp: '2025-03-04T10:17:02.4411235Z',
    EventDataId: '3F2A1B0C-9D8E-4F7A-8B6C-5D4E3F2A1B0C',
    Caller: SP_OBJECT_ID,
    Hierarchy: HIERARCHY,
    HTTPRequest: '{"clientRequestId":"","clientIpAddress":"20.42.17.9","method":"POST"}',
    OperationId: '0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f',
    _ResourceId: ACCOUNT.toLowerCase(),
    Type: 'AzureActivity',
    ...overrides,
  };
}

function normalize(record: RawRecord, shape: 'stream' | 'table' = 'stream'): NormalizedEvent {
  const event = activitySource.normalize(record, shape);
  // Every event honours the contract, whatever the test looks at.
  NormalizedEventSchema.parse(event);
  return event;
}

function rejection(record: RawRecord, shape: 'stream' | 'table' = 'stream'): string {
  try {
    activitySource.normalize(record, shape);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRecordError);
    return (err as Error).message;
  }
  throw new Error('expected the record to be rejected');
}

describe('activity source: stream and AzureActivity rows', () => {
  it('claims the activity categories and the AzureActivity table', () => {
    expect(activitySource.source).toBe('activity');
    for (const c of ['Administrative', 'Security', 'ServiceHealth', 'Alert', 'Recommendation', 'Policy', 'Autoscale', 'ResourceHealth']) {
      expect(activitySource.streamCategories).toContain(c);
    }
    expect(activitySource.tables).toEqual(['AzureActivity']);
  });

  it('normalizes a service principal listing an Azure OpenAI account key, every field', () => {
    const event = normalize(listKeysStream());
    expect(event).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      time: TIME_MS,
      source: 'activity',
      category: 'Administrative',
      operation: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION',
      result: 'success',
      principalId: SP_OBJECT_ID,
      principalType: 'servicePrincipal',
      appId: SP_APP_ID,
      ip: '20.42.17.9',
      tenantId: TENANT,
      subscriptionId: SUB,
      resourceId: ACCOUNT.toLowerCase(),
      resourceType: 'microsoft.cognitiveservices/accounts',
      correlationId: CORRELATION,
      details: {
        status: 'Success',
        subStatus: 'OK',
        level: 'Informational',
        durationMs: 0,
        callerRole: 'Cognitive Services Contributor',
      },
    });
  });

  it('gives the AzureActivity row of the same event the same fields and the same id, and never the workspace id as tenant', () => {
    const fromStream = normalize(listKeysStream());
    const fromRow = normalize(listKeysRow(), 'table');
    // A backtest over AzureActivity must reproduce replay's ids, so the row's EventDataId (which the stream lacks) is not the id.
    expect(fromRow.id).toBe(fromStream.id);
    expect(fromRow.tenantId).toBe(TENANT);
    // AzureActivity has no duration column; everything else agrees.
    const { durationMs: _duration, ...streamDetails } = fromStream.details;
    expect(fromRow).toEqual({ ...fromStream, details: streamDetails });
  });

  it('reads rows whose dynamic columns came back as strings and whose time is ISO text', () => {
    const row = listKeysRow({ TimeGenerated: TIME, Claims_d: undefined, Authorization_d: undefined, Properties_d: {} });
    const event = normalize(row, 'table');
    expect(event.time).toBe(TIME_MS);
    expect(event.principalId).toBe(SP_OBJECT_ID);
    expect(event.appId).toBe(SP_APP_ID);
    expect(event.details.callerRole).toBe('Cognitive Services Contributor');
    expect(event.details.subStatus).toBe('OK');
  });

  it('gives different records different ids, and the same record the same id whatever else it carries', () => {
    const a = normalize(listKeysStream());
    expect(normalize(listKeysStream()).id).toBe(a.id);
    expect(normalize(listKeysStream({ time: '2025-03-04T10:15:31.0000000Z' })).id).not.toBe(a.id);
    expect(normalize(listKeysStream({ correlationId: '0a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' })).id).not.toBe(a.id);
    expect(normalize(listKeysStream({ resourceId: ACCOUNT.replace('contoso-openai', 'contoso-openai-2') })).id).not.toBe(a.id);
    // Not identifying: an eventDataId some exports add, the level, the duration.
    expect(normalize(listKeysStream({ eventDataId: 'B1C2D3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E', level: 'Warning', durationMs: 5 })).id).toBe(a.id);
  });

  it('finds nothing for record text that names an Object.prototype member (`__proto__`, `constructor`)', () => {
    expect(normalize(listKeysStream({ resultType: '__proto__' })).result).toBe('unknown');
    expect(normalize(listKeysStream({ resultType: 'constructor' })).result).toBe('unknown');
    const evidence = { ...spAuthorization.evidence, principalType: 'constructor' };
    expect(normalize(listKeysStream({ identity: { authorization: { ...spAuthorization, evidence } } })).principalType).toBe('unknown');
  });

  describe('principal', () => {
    it('reads the same principal from long and from short claim names', () => {
      const short = {
        oid: SP_OBJECT_ID,
        tid: TENANT,
        appid: SP_APP_ID,
        idtyp: 'app',
      };
      const long = normalize(listKeysStream());
      const fromShort = normalize(listKeysStream({ identity: { claims: short }, tenantId: undefined, properties: { statusCode: 'OK' } }));
      expect(fromShort.principalId).toBe(long.principalId);
      expect(fromShort.principalType).toBe('servicePrincipal');
      expect(fromShort.appId).toBe(SP_APP_ID);
      // No record tenant and no hierarchy: the token's tenant is what is left.
      expect(fromShort.tenantId).toBe(TENANT);
    });

    it('names a user by the UPN, from long or short claims', () => {
      const longUser = {
        'http://schemas.microsoft.com/identity/claims/objectidentifier': USER_OID.toUpperCase(),
        'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'alex@contoso.com',
        'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name': 'alex@contoso.com',
        name: 'Alex Wilber',
        appid: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c',
        'http://schemas.microsoft.com/identity/claims/scope': 'user_impersonation',
      };
      const shortUser = { oid: USER_OID, upn: 'alex@contoso.com', name: 'Alex Wilber', idtyp: 'user', appid: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c' };
      for (const claims of [longUser, shortUser]) {
        const event = normalize(listKeysStream({ identity: { claims } }));
        expect(event.principalId).toBe(USER_OID);
        expect(event.principalType).toBe('user');
        expect(event.principalName).toBe('alex@contoso.com');
        expect(event.appId).toBe('c44b4083-3bb0-49c1-b47d-974e53cbdf3c');
      }
    });

    it('takes the principal from the RBAC evidence when there are no claims, with dashes restored', () => {
      const event = normalize(listKeysStream({ identity: { authorization: spAuthorization } }));
      expect(event.principalId).toBe(SP_OBJECT_ID);
      expect(event.principalType).toBe('servicePrincipal');
      expect(event.appId).toBeUndefined();
      expect(event.details.callerRole).toBe('Cognitive Services Contributor');
    });

    it('does not take a group from the evidence as the caller', () => {
      const viaGroup = { ...spAuthorization, evidence: { ...spAuthorization.evidence, principalType: 'Group' } };
      expect(normalize(listKeysStream({ identity: { authorization: viaGroup } }))).toMatchObject({
        principalId: expect.stringMatching(/^unknown:/),
        principalType: 'unknown',
      });
    });

    it('recognises managed identities by xms_mirid or by the evidence', () => {
      const mirid = `/subscriptions/${SUB}/resourcegroups/rg-ai/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-indexer`;
      const byClaim = normalize(listKeysStream({ identity: { claims: { ...spClaims, xms_mirid: mirid } } }));
      expect(byClaim.principalType).toBe('managedIdentity');
      expect(byClaim.details.managedIdentityResourceId).toBe(mirid.toLowerCase());

      const miEvidence = { ...spAuthorization, evidence: { ...spAuthorization.evidence, principalType: 'ManagedIdentity' } };
      expect(normalize(listKeysStream({ identity: { authorization: miEvidence, claims: spClaims } })).principalType).toBe('managedIdentity');
      expect(normalize(listKeysStream({ identity: { authorization: miEvidence } })).principalType).toBe('managedIdentity');
    });

    it('names the Azure service for platform events that have no caller, and keys administrative ones without a caller as unknown', () => {
      const health = normalize({
        time: '2025-04-24T12:49:14.6241035Z',
        correlationId: 'bfe2c91a-c7aa-4815-bc02-e4ee3485eed0',
        level: 'Informational',
        resultType: 'Active',
        operationName: 'Microsoft.Resourcehealth/healthevent/Activated/action',
        resourceId: ACCOUNT.toUpperCase(),
        properties: { title: 'Unknown', currentHealthStatus: 'Unavailable', previousHealthStatus: 'Available', cause: 'PlatformInitiated' },
        category: 'ResourceHealth',
      });
      expect(health.principalId).toBe('azure:microsoft.resourcehealth');
      expect(health.principalType).toBe('unknown');
      expect(health.result).toBe('unknown');
      expect(health.operation).toBe('MICROSOFT.RESOURCEHEALTH/HEALTHEVENT/ACTIVATED/ACTION');

      const alert = normalize({
        ...listKeysStream({ category: 'Alert', operationName: 'MICROSOFT.INSIGHTS/ALERTRULES/ACTIVATED/ACTION', resultType: 'Activated' }),
        identity: { claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/spn': 'Microsoft.Insights/alertRules' } },
      });
      expect(alert.principalId).toBe('microsoft.insights/alertrules');
      expect(alert.principalName).toBe('Microsoft.Insights/alertRules');

      // A valid operation whose record names nobody is still an event (not a dead letter): time, operation, target and IP are kept.
      const nobody = normalize(listKeysStream({ identity: {} }));
      expect(nobody).toMatchObject({
        principalId: expect.stringMatching(/^unknown:/),
        principalType: 'unknown',
        operation: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION',
        time: TIME_MS,
        ip: '20.42.17.9',
        resourceId: ACCOUNT.toLowerCase(),
      });
      expect(nobody.principalName).toBeUndefined();
      expect(normalize(listKeysStream({ identity: { claims: { name: 'Build Agent' } } }))).toMatchObject({
        principalId: expect.stringMatching(/^unknown:/),
        principalName: 'Build Agent',
      });
    });

    it("uses the row's Caller when a row carries no claims or evidence", () => {
      const row = listKeysRow({ Claims: '{}', Claims_d: {}, Authorization: '{}', Authorization_d: {}, Caller: 'Alex@Contoso.com' });
      const event = normalize(row, 'table');
      expect(event.principalId).toBe('alex@contoso.com');
      expect(event.principalName).toBe('Alex@Contoso.com');
      // A UPN names a user; only users have one.
      expect(event.principalType).toBe('user');
      const byId = normalize(listKeysRow({ Claims: '{}', Claims_d: {}, Authorization: '{}', Authorization_d: {}, Caller: SP_OBJECT_ID }), 'table');
      expect(byId).toMatchObject({ principalId: SP_OBJECT_ID.toLowerCase(), principalType: 'unknown' });
    });
  });

  describe('older AzureActivity rows (no OperationNameValue; OperationName is the display name)', () => {
    const older = (overrides: RawRecord = {}): RawRecord => {
      const row = listKeysRow({ OperationName: 'List Keys', ActivityStatusValue: '', ...overrides });
      delete row.OperationNameValue;
      return row;
    };

    it('reads the operation from the RBAC action in Authorization, as the stream names it', () => {
      const event = normalize(older(), 'table');
      expect(event.operation).toBe('MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION');
      // The empty `…Value` cell an export writes gives way to the older column.
      expect(event.result).toBe('success');
    });

    it('else from the message in Properties, else keeps the display name', () => {
      const fromProperties = normalize(older({ Authorization: '{}', Authorization_d: {} }), 'table');
      expect(fromProperties.operation).toBe('MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION');
      const named = normalize(older({ Authorization: '{}', Authorization_d: {}, Properties: '{}', Properties_d: {} }), 'table');
      expect(named.operation).toBe('LIST KEYS');
    });
  });

  describe('operations with details', () => {
    const ASSIGNEE = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
    const ASSIGNMENT = `/subscriptions/${SUB}/resourceGroups/rg-ai/providers/Microsoft.Authorization/roleAssignments/6e5d4c3b-2a19-4f08-9e7d-6c5b4a392817`;
    const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
    const requestbody = JSON.stringify({
      Id: '6e5d4c3b-2a19-4f08-9e7d-6c5b4a392817',
      Properties: {
        PrincipalId: ASSIGNEE,
        PrincipalType: 'ServicePrincipal',
        RoleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${CONTRIBUTOR}`,
        Scope: `/subscriptions/${SUB}/resourceGroups/rg-ai`,
        Condition: null,
        ConditionVersion: null,
      },
    });
    const responseBody = JSON.stringify({
      properties: {
        roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${CONTRIBUTOR}`,
        principalId: ASSIGNEE,
        principalType: 'ServicePrincipal',
        scope: `/subscriptions/${SUB}/resourceGroups/rg-ai`,
        condition: null,
        createdOn: '2025-03-04T10:20:01.5553109Z',
      },
      id: ASSIGNMENT,
      type: 'Microsoft.Authorization/roleAssignments',
      name: '6e5d4c3b-2a19-4f08-9e7d-6c5b4a392817',
    });
    const userClaims = { oid: USER_OID, upn: 'alex@contoso.com', idtyp: 'user', tid: TENANT };
    const roleAssignment = (overrides: RawRecord): RawRecord =>
      listKeysStream({
        resourceId: ASSIGNMENT.toUpperCase(),
        operationName: 'MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE',
        identity: { claims: userClaims },
        ...overrides,
      });

    it('logs a role assignment as Start then Success under one correlationId, with the role, assignee and scope', () => {
      const start = normalize(
        roleAssignment({
          time: '2025-03-04T10:20:00.9000000Z',
          resultType: 'Start',
          resultSignature: 'Started.',
          properties: { requestbody, hierarchy: HIERARCHY },
        }),
      );
      const success = normalize(
        roleAssignment({
          time: '2025-03-04T10:20:01.6000000Z',
          resultType: 'Success',
          resultSignature: 'Succeeded.Created',
          properties: { statusCode: 'Created', responseBody, hierarchy: HIERARCHY },
        }),
      );
      expect([start.result, success.result]).toEqual(['start', 'success']);
      expect(start.correlationId).toBe(CORRELATION);
      expect(success.correlationId).toBe(CORRELATION);
      expect(start.id).not.toBe(success.id);
      for (const event of [start, success]) {
        expect(event.operation).toBe('MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE');
        expect(event.resourceType).toBe('microsoft.authorization/roleassignments');
        expect(event.principalId).toBe(USER_OID);
        expect(event.details).toMatchObject({
          roleDefinitionId: CONTRIBUTOR,
          assigneePrincipalId: ASSIGNEE,
          assigneePrincipalType: 'ServicePrincipal',
          scope: `/subscriptions/${SUB}/resourcegroups/rg-ai`,
        });
      }
      expect(start.details.subStatus).toBe('Started.');
      expect(success.details.subStatus).toBe('Created');
    });

    it('derives the scope from the assignment id when the body does not name it', () => {
      const body = JSON.stringify({ Properties: { PrincipalId: ASSIGNEE, RoleDefinitionId: CONTRIBUTOR } });
      const event = normalize(roleAssignment({ resultType: 'Start', properties: { requestbody: body } }));
      expect(event.details.scope).toBe(`/subscriptions/${SUB}/resourcegroups/rg-ai`);
      expect(event.details.roleDefinitionId).toBe(CONTRIBUTOR);
      expect(event.details.assigneePrincipalType).toBeUndefined();
    });

    it('reads the same role assignment from an AzureActivity row', () => {
      const props = { requestbody, hierarchy: HIERARCHY, entity: ASSIGNMENT, message: 'Microsoft.Authorization/roleAssignments/write' };
      const event = normalize(
        listKeysRow({
          OperationNameValue: 'MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE',
          ActivityStatusValue: 'Start',
          ActivitySubstatusValue: '',
          _ResourceId: ASSIGNMENT.toLowerCase(),
          Claims: JSON.stringify(userClaims),
          Claims_d: userClaims,
          Properties: JSON.stringify(props),
          Properties_d: props,
        }),
        'table',
      );
      expect(event.result).toBe('start');
      expect(event.details).toMatchObject({ roleDefinitionId: CONTRIBUTOR, assigneePrincipalId: ASSIGNEE, assigneePrincipalType: 'ServicePrincipal' });
    });

    it('reads which logs a diagnostic setting sends and where', () => {
      const WORKSPACE_ID = `/subscriptions/${SUB}/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/law-sentinel`;
      const setting = `/subscriptions/${SUB}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/contoso-openai/providers/microsoft.insights/diagnosticSettings/to-sentinel`;
      const body = {
        id: setting,
        name: 'to-sentinel',
        properties: {
          logs: [
            { category: 'Audit', categoryGroup: null, enabled: true },
            { category: 'RequestResponse', categoryGroup: null, enabled: false },
            { category: null, categoryGroup: 'allLogs', enabled: false },
          ],
          metrics: [],
          workspaceId: WORKSPACE_ID,
        },
      };
      const event = normalize(
        listKeysStream({
          resourceId: setting.toUpperCase(),
          operationName: 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE',
          resultType: 'Start',
          properties: { requestbody: JSON.stringify(body), hierarchy: HIERARCHY },
        }),
      );
      expect(event.resourceType).toBe('microsoft.insights/diagnosticsettings');
      expect(event.details).toMatchObject({ enabledLogs: 'Audit', disabledLogs: 'RequestResponse,allLogs', workspaceId: WORKSPACE_ID.toLowerCase() });

      const deleted = normalize(
        listKeysStream({ resourceId: setting.toUpperCase(), operationName: 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE', properties: { statusCode: 'OK' } }),
      );
      expect(deleted.operation).toBe('MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE');
      expect(deleted.resourceId).toBe(setting.toLowerCase());
      expect(deleted.details.enabledLogs).toBeUndefined();
    });

    it('names the regenerated key of a Cognitive Services or Storage account', () => {
      const storage = `/subscriptions/${SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/contosodata`;
      const cognitive = normalize(
        listKeysStream({ operationName: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/REGENERATEKEY/ACTION', properties: { requestbody: '{"keyName":"Key2"}' } }),
      );
      expect(cognitive.details.keyName).toBe('Key2');
      const blob = normalize(
        listKeysStream({
          resourceId: storage,
          operationName: 'Microsoft.Storage/storageAccounts/regenerateKey/action',
          properties: { requestbody: { keyName: 'key1' } },
        }),
      );
      expect(blob.operation).toBe('MICROSOFT.STORAGE/STORAGEACCOUNTS/REGENERATEKEY/ACTION');
      expect(blob.details.keyName).toBe('key1');
      expect(blob.resourceType).toBe('microsoft.storage/storageaccounts');
      expect(blob.subscriptionId).toBe(SUB);
    });

    it('normalizes any other operation generically', () => {
      const event = normalize(
        listKeysStream({
          operationName: 'Microsoft.Compute/virtualMachines/write',
          resourceId: `/subscriptions/${SUB}/resourceGroups/rg-vm/providers/Microsoft.Compute/virtualMachines/vm1`,
          resultType: 'Accept',
          properties: { statusCode: 'Accepted' },
        }),
      );
      expect(event.operation).toBe('MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE');
      expect(event.result).toBe('start');
      expect(event.resourceType).toBe('microsoft.compute/virtualmachines');
      expect(event.details).toEqual({
        status: 'Accept',
        subStatus: 'Accepted',
        level: 'Informational',
        durationMs: 0,
        callerRole: 'Cognitive Services Contributor',
      });
    });
  });

  describe('quirks', () => {
    it('parses properties and identity that arrive as JSON strings', () => {
      const event = normalize(
        listKeysStream({
          properties: JSON.stringify(listKeysProperties),
          identity: { authorization: JSON.stringify(spAuthorization), claims: JSON.stringify(spClaims) },
        }),
      );
      expect(event.details.subStatus).toBe('OK');
      expect(event.principalId).toBe(SP_OBJECT_ID);
      expect(event.details.callerRole).toBe('Cognitive Services Contributor');
    });

    it('lower-cases an upper-case resourceId and parses the subscription from it', () => {
      const event = normalize(
        listKeysStream({
          resourceId: `/SUBSCRIPTIONS/${SUB.toUpperCase()}/RESOURCEGROUPS/RG-AI/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/CONTOSO-OPENAI`,
        }),
      );
      expect(event.resourceId).toBe(ACCOUNT.toLowerCase());
      expect(event.subscriptionId).toBe(SUB);
      expect(event.resourceType).toBe('microsoft.cognitiveservices/accounts');
    });

    it('strips a port from the caller IP and keeps a masked one as logged', () => {
      expect(normalize(listKeysStream({ callerIpAddress: '20.42.17.9:50312' })).ip).toBe('20.42.17.9');
      expect(normalize(listKeysStream({ callerIpAddress: '[2001:db8::7]:443' })).ip).toBe('2001:db8::7');
      expect(normalize(listKeysStream({ callerIpAddress: '81.2.69.***' })).ip).toBe('81.2.69.***');
      expect(normalize(listKeysStream({ callerIpAddress: undefined })).ip).toBeUndefined();
    });

    it('reads durationMs given as a string or a number', () => {
      expect(normalize(listKeysStream({ durationMs: '2826' })).details.durationMs).toBe(2826);
      expect(normalize(listKeysStream({ durationMs: 2826 })).details.durationMs).toBe(2826);
    });

    it('maps Start, Accept, Success, Failure and platform statuses to results', () => {
      const results = ['Start', 'Accept', 'Success', 'Succeeded', 'Failure', 'Failed', 'Active', 'Resolved'].map(
        (resultType) => normalize(listKeysStream({ resultType })).result,
      );
      expect(results).toEqual(['start', 'start', 'success', 'success', 'failure', 'failure', 'unknown', 'unknown']);
    });

    it('takes a level name over the numeric Level, and names numeric levels', () => {
      expect(normalize(listKeysStream({ level: 'Warning', Level: 4 })).details.level).toBe('Warning');
      expect(normalize(listKeysStream({ level: undefined, Level: 2 })).details.level).toBe('Error');
    });
  });

  describe('rejections (dead letters)', () => {
    it('rejects a record without a usable time, naming the field', () => {
      expect(rejection(listKeysStream({ time: undefined }))).toMatch(/no usable event time in 'time'/);
      expect(rejection(listKeysStream({ time: 'yesterday' }))).toMatch(/no usable event time.*yesterday/);
    });

    it('rejects a record whose fields have the wrong shape, naming the field', () => {
      expect(rejection(listKeysStream({ properties: "{'statusCode': 'OK'}" }))).toMatch(/properties/);
      expect(rejection(listKeysStream({ operationName: 42 }))).toMatch(/operationName/);
      // A localizable `{value}` is the REST shape, read (test/ingest/rest-shapes.test.ts); a list is neither.
      expect(rejection(listKeysStream({ operationName: ['Microsoft.Storage/storageAccounts/listKeys/action'] }))).toMatch(/operationName/);
    });

    it('rejects a record without an operation, whoever the caller is', () => {
      expect(rejection(listKeysStream({ operationName: undefined }))).toMatch(/no operation in 'operationName'/);
      expect(rejection(listKeysStream({ operationName: '  ', identity: {} }))).toMatch(/no operation in 'operationName'/);
      expect(
        rejection(
          listKeysRow({
            OperationNameValue: undefined,
            OperationName: undefined,
            Authorization: '{}',
            Authorization_d: {},
            Properties: '{}',
            Properties_d: {},
          }),
          'table',
        ),
      ).toMatch(/no operation/);
    });

    it('rejects a category-only fragment for its missing time', () => {
      expect(rejection({ category: 'Administrative' })).toMatch(/no usable event time in 'time'/);
    });
  });
});
