import { describe, expect, it } from 'vitest';
import { SourceRegistry } from '../../src/ingest/registry.js';
import { directorySource, federatedCredentials, keyCredentials } from '../../src/ingest/sources/directory.js';
import { InvalidRecordError, type RawRecord } from '../../src/ingest/types.js';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ADMIN = 'C1A2B3C4-D5E6-4F70-8192-A3B4C5D6E7F8';
const SP = '5d6e7f80-91a2-4b3c-8d4e-5f6071829304';
const APP_ID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const APP_OBJECT = '8c9d0e1f-2a3b-4c5d-9e6f-7a8b9c0d1e2f';
const OLD_KEY = 'c9c0b961-a80a-4a71-9c3a-b67b33edf874';
const NEW_KEY = 'D747DA7E-E11B-4AF2-AEDE-0487C44067AF';

/** A user adding a client secret to a service principal, as the Entra diagnostic setting streams it (directoryAudit schema). */
function secretAdded(overrides: RawRecord = {}): RawRecord {
  const key = (id: string, type: string, name: string) => `[KeyIdentifier=${id},KeyType=${type},KeyUsage=Verify,DisplayName=${name}]`;
  return {
    time: '2025-03-04T10:15:02.5168093Z',
    resourceId: `/tenants/${TENANT}/providers/Microsoft.aadiam`,
    operationName: 'Add service principal credentials',
    operationVersion: '1.0',
    category: 'AuditLogs',
    tenantId: TENANT,
    resultSignature: 'None',
    durationMs: 0,
    callerIpAddress: '203.0.113.9',
    correlationId: '53161141-e3f4-4944-85b6-7b953f17265e',
    identity: 'Ada Admin',
    Level: 4,
    properties: {
      id: 'Directory_53161141-e3f4-4944-85b6-7b953f17265e_6X649_134684731',
      category: 'ApplicationManagement',
      correlationId: '53161141-e3f4-4944-85b6-7b953f17265e',
      result: 'success',
      resultReason: '',
      activityDisplayName: 'Add service principal credentials',
      activityDateTime: '2025-03-04T10:15:01.1234567+00:00',
      loggedByService: 'Core Directory',
      operationType: 'Update',
      initiatedBy: { user: { id: ADMIN, displayName: null, userPrincipalName: 'ada@contoso.example', ipAddress: '203.0.113.9' } },
      targetResources: [
        {
          id: SP,
          displayName: 'billing-sync',
          type: 'ServicePrincipal',
          modifiedProperties: [
            {
              displayName: 'KeyDescription',
              oldValue: JSON.stringify([key(OLD_KEY, 'AsymmetricX509Cert', 'CN=billing')]),
              newValue: JSON.stringify([key(OLD_KEY, 'AsymmetricX509Cert', 'CN=billing'), key(NEW_KEY, 'Password', 'backup')]),
            },
            { displayName: 'Included Updated Properties', oldValue: null, newValue: '"KeyDescription"' },
          ],
        },
      ],
      additionalDetails: [
        { key: 'User-Agent', value: 'python-requests/2.31.0' },
        { key: 'AppId', value: APP_ID },
      ],
    },
    ...overrides,
  };
}

/** The same entry as a Log Analytics AuditLogs row (dynamic columns arrive as JSON text from some exports). */
function secretAddedRow(): RawRecord {
  const p = secretAdded().properties as Record<string, unknown>;
  return {
    TenantId: '0d9c8b7a-6f5e-4d3c-2b1a-098f7e6d5c4b',
    AADTenantId: TENANT,
    TimeGenerated: '2025-03-04T10:15:02.5168093Z',
    ActivityDateTime: '2025-03-04T10:15:01.1234567Z',
    OperationName: 'Add service principal credentials',
    ActivityDisplayName: 'Add service principal credentials',
    Category: 'ApplicationManagement',
    AADOperationType: 'Update',
    LoggedByService: 'Core Directory',
    Result: 'success',
    ResultReason: '',
    CorrelationId: '53161141-e3f4-4944-85b6-7b953f17265e',
    Id: p.id,
    Identity: 'Ada Admin',
    InitiatedBy: JSON.stringify(p.initiatedBy),
    TargetResources: JSON.stringify(p.targetResources),
    AdditionalDetails: p.additionalDetails,
    Type: 'AuditLogs',
  };
}

function normalize(record: RawRecord, shape: 'stream' | 'table' = 'stream'): NormalizedEvent {
  return NormalizedEventSchema.parse(directorySource.normalize(record, shape));
}

describe('directory source (Entra audit)', () => {
  it('names the actor, the target and the credential added, never the secret', () => {
    const event = normalize(secretAdded());
    expect(event).toMatchObject({
      id: 'Directory_53161141-e3f4-4944-85b6-7b953f17265e_6X649_134684731',
      source: 'directory',
      category: 'AuditLogs',
      operation: 'ADD SERVICE PRINCIPAL CREDENTIALS',
      result: 'success',
      time: Date.parse('2025-03-04T10:15:01.123Z'),
      principalId: ADMIN.toLowerCase(),
      principalType: 'user',
      principalName: 'ada@contoso.example',
      ip: '203.0.113.9',
      tenantId: TENANT,
      details: {
        auditCategory: 'ApplicationManagement',
        initiatorType: 'user',
        targetId: SP,
        targetType: 'ServicePrincipal',
        targetName: 'billing-sync',
        targetAppId: APP_ID,
        addedKeyIds: NEW_KEY.toLowerCase(),
        addedKeyTypes: 'Password',
        addedKeyNames: 'backup',
        userAgent: 'python-requests/2.31.0',
      },
    });
    expect(event.details.removedKeyIds).toBeUndefined();
    // The service principal changed: the keyed hub routes the event to its key too.
    expect(event.targetPrincipalId).toBe(SP);
  });

  it('gives the same event from the Log Analytics row, id included', () => {
    expect(normalize(secretAddedRow(), 'table')).toEqual(normalize(secretAdded()));
  });

  it('is chosen by the registry for the AuditLogs category and table', () => {
    const registry = new SourceRegistry();
    expect(registry.route(secretAdded())).toMatchObject({ kind: 'normalize', normalizer: { source: 'directory' }, shape: 'stream' });
    expect(registry.route(secretAddedRow())).toMatchObject({ kind: 'normalize', normalizer: { source: 'directory' }, shape: 'table' });
  });

  it('keys an app-initiated change on the service principal, and a removed credential as removed', () => {
    const p = secretAdded().properties as Record<string, unknown>;
    const [target] = p.targetResources as Array<Record<string, unknown>>;
    const [keys] = target.modifiedProperties as Array<Record<string, unknown>>;
    const event = normalize(
      secretAdded({
        properties: {
          ...p,
          initiatedBy: {
            app: {
              appId: null,
              displayName: 'Managed Service Identity',
              servicePrincipalId: 'B9814691-9CA1-4E55-A1AC-8EF5DD010EC0',
              servicePrincipalName: null,
            },
          },
          targetResources: [{ ...target, modifiedProperties: [{ displayName: 'KeyDescription', oldValue: keys.newValue, newValue: keys.oldValue }] }],
        },
      }),
    );
    expect(event).toMatchObject({
      principalId: 'b9814691-9ca1-4e55-a1ac-8ef5dd010ec0',
      principalType: 'servicePrincipal',
      principalName: 'Managed Service Identity',
    });
    expect(event.details).toMatchObject({ initiatorType: 'app', removedKeyIds: NEW_KEY.toLowerCase() });
    expect(event.details.addedKeyIds).toBeUndefined();
  });

  it("keys a secret added to an application object on its app id, where its service principal's sign-ins reach too", () => {
    const base = secretAdded();
    const p = base.properties as Record<string, unknown>;
    const [target] = p.targetResources as Array<Record<string, unknown>>;
    const operation = 'Update application – Certificates and secrets management ';
    const event = normalize({
      ...base,
      operationName: operation,
      properties: { ...p, activityDisplayName: operation, targetResources: [{ ...target, id: APP_OBJECT, type: 'Application' }] },
    });
    expect(event).toMatchObject({
      operation: 'UPDATE APPLICATION – CERTIFICATES AND SECRETS MANAGEMENT',
      principalId: ADMIN.toLowerCase(),
      targetPrincipalId: APP_ID,
    });
    expect(event.details).toMatchObject({
      targetType: 'Application',
      targetId: APP_OBJECT,
      targetAppId: APP_ID,
      addedKeyIds: NEW_KEY.toLowerCase(),
      addedKeyTypes: 'Password',
    });
    expect(event.principalAppId).toBeUndefined();
  });

  it('reads a federated identity credential added, and one whose subject changed', () => {
    const fic = (subject: string) => ({
      Name: 'deploy',
      Issuer: 'https://token.actions.githubusercontent.com',
      Subject: subject,
      Audiences: ['api://AzureADTokenExchange'],
    });
    const update = (oldValue: unknown, newValue: unknown) =>
      normalize(
        secretAdded({
          operationName: 'Update application',
          properties: {
            id: 'Directory_fic',
            activityDisplayName: 'Update application',
            activityDateTime: '2025-03-04T11:00:00Z',
            result: 'success',
            initiatedBy: { user: { id: ADMIN, userPrincipalName: 'ada@contoso.example' } },
            targetResources: [
              {
                id: APP_ID,
                displayName: 'deployer',
                type: 'Application',
                modifiedProperties: [
                  {
                    displayName: 'FederatedIdentityCredentials',
                    oldValue: oldValue === undefined ? null : JSON.stringify(oldValue),
                    newValue: JSON.stringify(newValue),
                  },
                ],
              },
            ],
          },
        }),
      );
    expect(update(undefined, [fic('repo:contoso/app:ref:refs/heads/main')]).details).toMatchObject({
      federatedChange: 'added',
      federatedName: 'deploy',
      federatedIssuer: 'https://token.actions.githubusercontent.com',
      federatedSubject: 'repo:contoso/app:ref:refs/heads/main',
      targetType: 'Application',
    });
    // An application object is keyed on its app id (AdditionalDetails AppId): without one, the entry reaches no other key.
    expect(update(undefined, [fic('repo:contoso/app:ref:refs/heads/main')]).targetPrincipalId).toBeUndefined();
    expect(update([fic('repo:contoso/app:ref:refs/heads/main')], [fic('repo:mallory/fork:ref:refs/heads/x')]).details).toMatchObject({
      federatedChange: 'changed',
      federatedSubject: 'repo:mallory/fork:ref:refs/heads/x',
    });
  });

  it('reads the role granted to a service principal in a role assignment', () => {
    const event = normalize(
      secretAdded({
        operationName: 'Add member to role',
        properties: {
          id: 'Directory_role',
          category: 'RoleManagement',
          activityDisplayName: 'Add member to role',
          activityDateTime: '2025-03-04T12:00:00Z',
          result: 'success',
          operationType: 'Assign',
          initiatedBy: { user: { id: ADMIN, userPrincipalName: 'ada@contoso.example' } },
          targetResources: [
            {
              id: SP,
              displayName: 'billing-sync',
              type: 'ServicePrincipal',
              modifiedProperties: [
                { displayName: 'Role.ObjectID', oldValue: null, newValue: '"4a3b2c1d-0000-4000-8000-000000000001"' },
                { displayName: 'Role.DisplayName', oldValue: null, newValue: '"Global Administrator"' },
                { displayName: 'Role.TemplateId', oldValue: null, newValue: '"62E90394-69F5-4237-9190-012177145E10"' },
              ],
            },
            { id: '4a3b2c1d-0000-4000-8000-000000000001', displayName: null, type: 'Role', modifiedProperties: [] },
          ],
        },
      }),
    );
    expect(event.details).toMatchObject({
      auditCategory: 'RoleManagement',
      targetId: SP,
      targetType: 'ServicePrincipal',
      roleName: 'Global Administrator',
      roleId: '62e90394-69f5-4237-9190-012177145e10',
    });
    // The member granted the role, not the role object, is the target principal.
    expect(event.targetPrincipalId).toBe(SP);
  });

  it('marks a failed change as a failure with its reason', () => {
    const p = secretAdded().properties as Record<string, unknown>;
    const event = normalize(
      secretAdded({ properties: { ...p, result: 'failure', resultReason: 'The directory object quota limit for the tenant has been exceeded.' } }),
    );
    expect(event).toMatchObject({ result: 'failure', details: { resultReason: 'The directory object quota limit for the tenant has been exceeded.' } });
  });

  it('rejects a fragment without an operation, and targetResources of the wrong shape', () => {
    expect(() => directorySource.normalize({ time: '2007-01-09T09:41:00Z', category: 'AuditLogs' }, 'stream')).toThrow(/no operation in 'operationName'/);
    expect(() => directorySource.normalize(secretAdded({ properties: { targetResources: 'nope' } }), 'stream')).toThrow(InvalidRecordError);
  });
});

describe('credential values in audit entries', () => {
  it('reads key ids, types, usages and names from the quoted list Entra logs', () => {
    expect(keyCredentials('["[KeyIdentifier=AB,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=x]"]')).toEqual([
      { keyId: 'ab', type: 'AsymmetricX509Cert', usage: 'Verify', name: 'CN=x' },
    ]);
    expect(keyCredentials(null)).toEqual([]);
    expect(keyCredentials('"[]"')).toEqual([]);
  });

  it('reads federated credentials with camelCase keys too', () => {
    expect(federatedCredentials([{ name: 'a', issuer: 'https://i', subject: 's' }])).toEqual([{ name: 'a', issuer: 'https://i', subject: 's' }]);
  });
});
