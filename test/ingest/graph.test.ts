import { describe, expect, it } from 'vitest';
import { SourceRegistry } from '../../src/ingest/registry.js';
import { graphRequest, graphSource } from '../../src/ingest/sources/graph.js';
import { signinSource } from '../../src/ingest/sources/signin.js';
import type { RawRecord } from '../../src/ingest/types.js';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SP = '5D6E7F80-91A2-4B3C-8D4E-5F6071829304';
const APP_ID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

/** An app-only token listing service principals, as the Entra diagnostic setting streams Graph activity. */
function listServicePrincipals(overrides: Record<string, unknown> = {}): RawRecord {
  return {
    time: '2025-03-04T12:00:05.1234567Z',
    resourceId: `/tenants/${TENANT}/providers/Microsoft.aadiam`,
    operationName: 'Microsoft Graph Activity',
    operationVersion: 'beta',
    category: 'MicrosoftGraphActivityLogs',
    resultSignature: '200',
    durationMs: '84',
    callerIpAddress: '198.51.100.77',
    level: 'Informational',
    location: 'West Europe',
    properties: {
      timeGenerated: '2025-03-04T12:00:04.9876543Z',
      location: 'West Europe',
      requestId: 'A4C3B2D1-1111-4222-8333-944455556666',
      operationId: 'a4c3b2d1-1111-4222-8333-944455556666',
      clientRequestId: 'a4c3b2d1-1111-4222-8333-944455556666',
      apiVersion: 'v1.0',
      requestMethod: 'GET',
      responseStatusCode: 200,
      tenantId: TENANT,
      durationMs: 84,
      responseSizeBytes: 18432,
      signInActivityId: 'qW3rTyUiOp1234567890AB',
      roles: 'Application.Read.All Directory.Read.All',
      appId: APP_ID,
      servicePrincipalId: SP,
      ipAddress: '198.51.100.77',
      userAgent: 'AzureHound/2.1.7',
      requestUri: 'https://graph.microsoft.com/v1.0/servicePrincipals?$select=id,appId&$top=999',
      clientAuthMethod: 1,
      identityProvider: `https://sts.windows.net/${TENANT}/`,
      tokenIssuedAt: '2025-03-04T11:58:00Z',
      ...overrides,
    },
  };
}

/** The same request as a MicrosoftGraphActivityLogs row. */
function listServicePrincipalsRow(): RawRecord {
  return {
    TenantId: '0d9c8b7a-6f5e-4d3c-2b1a-098f7e6d5c4b',
    AadTenantId: TENANT,
    TimeGenerated: '2025-03-04T12:00:04.9876543Z',
    Location: 'West Europe',
    RequestId: 'A4C3B2D1-1111-4222-8333-944455556666',
    OperationId: 'a4c3b2d1-1111-4222-8333-944455556666',
    ClientRequestId: 'a4c3b2d1-1111-4222-8333-944455556666',
    ApiVersion: 'v1.0',
    RequestMethod: 'GET',
    ResponseStatusCode: 200,
    DurationMs: 84,
    ResponseSizeBytes: 18432,
    SignInActivityId: 'qW3rTyUiOp1234567890AB',
    Roles: 'Application.Read.All Directory.Read.All',
    AppId: APP_ID,
    ServicePrincipalId: SP,
    IPAddress: '198.51.100.77',
    UserAgent: 'AzureHound/2.1.7',
    RequestUri: 'https://graph.microsoft.com/v1.0/servicePrincipals?$select=id,appId&$top=999',
    ClientAuthMethod: 1,
    Type: 'MicrosoftGraphActivityLogs',
  };
}

function normalize(record: RawRecord, shape: 'stream' | 'table' = 'stream'): NormalizedEvent {
  return NormalizedEventSchema.parse(graphSource.normalize(record, shape));
}

describe('graph source (Microsoft Graph activity)', () => {
  it('keys an app-only request on its service principal, with what it asked for and how it authenticated', () => {
    expect(normalize(listServicePrincipals())).toEqual({
      id: 'a4c3b2d1-1111-4222-8333-944455556666',
      time: Date.parse('2025-03-04T12:00:04.987Z'),
      source: 'graph',
      category: 'MicrosoftGraphActivityLogs',
      operation: 'GET',
      result: 'success',
      principalId: SP.toLowerCase(),
      principalType: 'servicePrincipal',
      appId: APP_ID,
      ip: '198.51.100.77',
      tenantId: TENANT,
      correlationId: 'a4c3b2d1-1111-4222-8333-944455556666',
      details: {
        method: 'GET',
        requestUri: 'https://graph.microsoft.com/v1.0/servicePrincipals',
        resourceKind: 'servicePrincipals',
        apiVersion: 'v1.0',
        statusCode: 200,
        responseBytes: 18432,
        durationMs: 84,
        userAgent: 'AzureHound/2.1.7',
        roles: 'Application.Read.All Directory.Read.All',
        clientAuthMethod: 1,
        signInActivityId: 'qW3rTyUiOp1234567890AB',
        servicePrincipalId: SP.toLowerCase(),
        requestId: 'a4c3b2d1-1111-4222-8333-944455556666',
      },
    });
  });

  it('gives the same event from the Log Analytics row', () => {
    expect(normalize(listServicePrincipalsRow(), 'table')).toEqual(normalize(listServicePrincipals()));
  });

  it('is chosen by the registry for its category and table', () => {
    const registry = new SourceRegistry();
    expect(registry.route(listServicePrincipals())).toMatchObject({ kind: 'normalize', normalizer: { source: 'graph' } });
    expect(registry.route(listServicePrincipalsRow())).toMatchObject({ kind: 'normalize', normalizer: { source: 'graph' }, shape: 'table' });
  });

  it('keys a delegated request on the user, and a 403 as a failure', () => {
    const event = normalize(listServicePrincipals({ userId: 'AAAA1111-2222-4333-8444-555566667777', scopes: 'User.Read', responseStatusCode: '403' }));
    expect(event).toMatchObject({
      principalId: 'aaaa1111-2222-4333-8444-555566667777',
      principalType: 'user',
      result: 'failure',
      details: { scopes: 'User.Read', statusCode: 403 },
    });
  });

  it('rejects a request without a method as a fragment', () => {
    expect(() => graphSource.normalize(listServicePrincipals({ requestMethod: null }), 'stream')).toThrow(/no operation in 'requestMethod'/);
  });
});

describe('Graph request URIs', () => {
  it('names the collection addressed, with or without a version, keys or casts', () => {
    expect(graphRequest("https://graph.microsoft.com/beta/users('a@b.example')/memberOf")).toMatchObject({ apiVersion: 'beta', resourceKind: 'users' });
    expect(graphRequest('https://graph.microsoft.com/v1.0/groups/x/members?$top=5#f')).toEqual({
      requestUri: 'https://graph.microsoft.com/v1.0/groups/x/members',
      apiVersion: 'v1.0',
      resourceKind: 'groups',
    });
    expect(graphRequest('/v1.0/me')).toEqual({ requestUri: '/v1.0/me' });
  });
});

describe('sign-in fields for non-human identities', () => {
  it('reads the credential thumbprint, federated credential, ASN, token id and agent fields in both shapes', () => {
    const stream = signinSource.normalize(
      {
        time: '2025-03-04T11:58:00Z',
        category: 'ServicePrincipalSignInLogs',
        operationName: 'Sign-in activity',
        resultType: '0',
        tenantId: TENANT,
        properties: {
          id: 'F1E2D3C4-0000-4000-8000-000000000001',
          createdDateTime: '2025-03-04T11:58:00Z',
          servicePrincipalId: SP,
          appId: APP_ID,
          ipAddress: '198.51.100.77',
          status: { errorCode: 0 },
          servicePrincipalCredentialKeyId: 'D747DA7E-E11B-4AF2-AEDE-0487C44067AF',
          servicePrincipalCredentialThumbprint: 'AB12CD34',
          clientCredentialType: 'federatedIdentityCredential',
          federatedCredentialId: 'FIC-1',
          autonomousSystemNumber: 64500,
          uniqueTokenIdentifier: 'qW3rTyUiOp1234567890AB',
          agent: { agentType: 'agentIdentity', parentAppId: 'BEEF0000-0000-4000-8000-000000000001' },
        },
      },
      'stream',
    );
    expect(stream.details).toMatchObject({
      credentialKeyId: 'd747da7e-e11b-4af2-aede-0487c44067af',
      certificateThumbprint: 'ab12cd34',
      clientCredentialType: 'federatedIdentityCredential',
      federatedCredentialId: 'fic-1',
      asn: 64500,
      signInActivityId: 'qW3rTyUiOp1234567890AB',
      agentType: 'agentIdentity',
      agentParentAppId: 'beef0000-0000-4000-8000-000000000001',
    });
    const row = signinSource.normalize(
      {
        Type: 'AADServicePrincipalSignInLogs',
        TimeGenerated: '2025-03-04T11:58:00Z',
        CreatedDateTime: '2025-03-04T11:58:00Z',
        OperationName: 'Sign-in activity',
        ResultType: '0',
        AADTenantId: TENANT,
        Id: 'F1E2D3C4-0000-4000-8000-000000000001',
        ServicePrincipalId: SP,
        AppId: APP_ID,
        IPAddress: '198.51.100.77',
        ServicePrincipalCredentialKeyId: 'D747DA7E-E11B-4AF2-AEDE-0487C44067AF',
        ServicePrincipalCredentialThumbprint: 'AB12CD34',
        ClientCredentialType: 'federatedIdentityCredential',
        FederatedCredentialId: 'FIC-1',
        AutonomousSystemNumber: '64500',
        UniqueTokenIdentifier: 'qW3rTyUiOp1234567890AB',
        Agent: '{"agentType":"agentIdentity","parentAppId":"BEEF0000-0000-4000-8000-000000000001"}',
      },
      'table',
    );
    expect(row.details).toEqual(stream.details);
    // An agent's sign-in also reaches its blueprint's key (rules keyed on the target learn per blueprint).
    expect(stream.targetPrincipalId).toBe('beef0000-0000-4000-8000-000000000001');
    expect(row.targetPrincipalId).toBe(stream.targetPrincipalId);
    // …and not its own app id's: an agent has no application object of its own to plant a credential on.
    expect(stream.principalAppId).toBeUndefined();
    // An ordinary sign-in says `notAgentic`: no agent type recorded.
    const ordinary = signinSource.normalize(
      {
        time: '2025-03-04T11:58:00Z',
        category: 'ServicePrincipalSignInLogs',
        operationName: 'Sign-in activity',
        properties: { servicePrincipalId: SP, agent: { agentType: 'notAgentic' } },
      },
      'stream',
    );
    expect(ordinary.details.agentType).toBeUndefined();
    expect(ordinary.targetPrincipalId).toBeUndefined();
  });
});
