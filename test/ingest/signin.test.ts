import { describe, expect, it } from 'vitest';
import { NormalizedEventSchema, type NormalizedEvent } from '../../src/model/index.js';
import { signinSource } from '../../src/ingest/sources/signin.js';
import { InvalidRecordError, type RawRecord } from '../../src/ingest/types.js';

// Records follow https://learn.microsoft.com/entra/identity/monitoring-health/reference-azure-monitor-sign-ins-log-schema
// (stream) and the SigninLogs / AAD*SignInLogs table references (rows); values are made up but shaped like real ones.
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const WORKSPACE = '5b3a1c6e-9d2f-4e8a-b7c1-0f9e8d7c6b5a';
const COGNITIVE_SERVICES_APP = '7d312290-28c8-473c-a0ed-8e53749b6d6d';
const GRAPH_APP = '00000003-0000-0000-c000-000000000000';
const AADIAM = `/tenants/${TENANT}/providers/Microsoft.aadiam`;

const SP_ID = '4d2c8e71-93b5-4f0a-a6d8-2b7e19c05f3d';
const SP_APP = 'a9f3c2e1-7b64-4d58-8e0f-61c2d3b4a5e6';
const SP_KEY = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const SP_SIGNIN_ID = '6b0f3d9e-2c41-4a87-b5e3-9d1c7f2a4e00';
const SP_CORRELATION = '3e7a9c15-8b2d-4f60-a4c1-5d9e0b7f2a36';

/** A service principal signing in with a client secret to get a Cognitive Services token. */
function spStream(overrides: RawRecord = {}, props: RawRecord = {}): RawRecord {
  return {
    time: '2025-03-04T09:58:14.0000000Z',
    resourceId: AADIAM,
    operationName: 'Sign-in activity',
    operationVersion: '1.0',
    category: 'ServicePrincipalSignInLogs',
    tenantId: TENANT,
    resultType: '0',
    resultSignature: 'None',
    durationMs: 0,
    callerIpAddress: '20.42.17.9',
    correlationId: SP_CORRELATION,
    Level: 4,
    location: 'US',
    properties: {
      id: SP_SIGNIN_ID,
      createdDateTime: '2025-03-04T09:58:12.4471230+00:00',
      userId: null,
      appId: SP_APP,
      ipAddress: '20.42.17.9',
      correlationId: SP_CORRELATION,
      conditionalAccessStatus: 'notApplied',
      isInteractive: false,
      tokenIssuerType: 'AzureAD',
      processingTimeInMilliseconds: 0,
      riskDetail: 'none',
      riskLevelAggregated: 'low',
      riskLevelDuringSignIn: 'low',
      riskState: 'none',
      resourceDisplayName: 'Microsoft Cognitive Services',
      resourceId: COGNITIVE_SERVICES_APP,
      resourceTenantId: TENANT,
      servicePrincipalName: 'indexer-prod',
      servicePrincipalId: SP_ID,
      servicePrincipalCredentialKeyId: SP_KEY.toUpperCase(),
      clientCredentialType: 'clientSecret',
      flaggedForReview: false,
      uniqueTokenIdentifier: 'YTA4ODY5YTgtM2IxNS00NmU0LThkZTMtMjczODQ5ZTYwMTAw',
      status: { errorCode: 0 },
      location: { city: 'Boydton', state: 'Virginia', countryOrRegion: 'US' },
      ...props,
    },
    ...overrides,
  };
}

/** The same sign-in as an AADServicePrincipalSignInLogs row (the table has no Status column). */
function spRow(overrides: RawRecord = {}): RawRecord {
  return {
    TenantId: WORKSPACE,
    SourceSystem: 'Azure',
    TimeGenerated: new Date('2025-03-04T09:58:12.447Z'),
    CreatedDateTime: new Date('2025-03-04T09:58:12.447Z'),
    OperationName: 'Sign-in activity',
    OperationVersion: '1.0',
    Category: 'ServicePrincipalSignInLogs',
    ResultType: '0',
    ResultSignature: 'None',
    ResultDescription: '',
    DurationMs: 0,
    CorrelationId: SP_CORRELATION,
    Level: '4',
    Location: 'US',
    AADTenantId: TENANT,
    AppId: SP_APP,
    ConditionalAccessStatus: 'notApplied',
    Id: SP_SIGNIN_ID,
    IPAddress: '20.42.17.9',
    LocationDetails: '{"city":"Boydton","state":"Virginia","countryOrRegion":"US"}',
    ResourceDisplayName: 'Microsoft Cognitive Services',
    ResourceIdentity: COGNITIVE_SERVICES_APP,
    ResourceServicePrincipalId: '9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a',
    ServicePrincipalCredentialKeyId: SP_KEY,
    ServicePrincipalCredentialThumbprint: '',
    ServicePrincipalId: SP_ID,
    ServicePrincipalName: 'indexer-prod',
    ClientCredentialType: 'clientSecret',
    UniqueTokenIdentifier: 'YTA4ODY5YTgtM2IxNS00NmU0LThkZTMtMjczODQ5ZTYwMTAw',
    Type: 'AADServicePrincipalSignInLogs',
    ...overrides,
  };
}

const USER_ID = 'e5c1a2b3-4d5e-4f60-8172-93a4b5c6d7e8';
const USER_SIGNIN_ID = '0231f922-93fa-4005-bb11-b344eca03c01';
const BAD_PASSWORD = { errorCode: 50126, failureReason: 'Error validating credentials due to invalid username or password.' };

/** A user failing an interactive sign-in to the Azure portal with a wrong password. */
function userStream(overrides: RawRecord = {}, props: RawRecord = {}): RawRecord {
  return {
    time: '2025-03-04T08:01:05.1000000Z',
    resourceId: AADIAM,
    operationName: 'Sign-in activity',
    operationVersion: '1.0',
    category: 'SignInLogs',
    tenantId: TENANT,
    resultType: '50126',
    resultSignature: 'None',
    resultDescription: BAD_PASSWORD.failureReason,
    durationMs: 0,
    callerIpAddress: '81.2.69.142',
    correlationId: 'aaaa0000-bb11-2222-33cc-444444dddddd',
    identity: 'Alex Wilber',
    Level: 4,
    location: 'GB',
    properties: {
      id: USER_SIGNIN_ID,
      createdDateTime: '2025-03-04T08:01:04.5522137+00:00',
      userDisplayName: 'Alex Wilber',
      userPrincipalName: 'alex@contoso.com',
      userId: USER_ID,
      appId: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c',
      appDisplayName: 'Azure Portal',
      ipAddress: '81.2.69.142',
      status: BAD_PASSWORD,
      clientAppUsed: 'Browser',
      userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36',
      deviceDetail: { deviceId: '', operatingSystem: 'Windows 10', browser: 'Chrome 122.0' },
      correlationId: 'aaaa0000-bb11-2222-33cc-444444dddddd',
      conditionalAccessStatus: 'failure',
      originalRequestId: USER_SIGNIN_ID,
      isInteractive: true,
      resourceDisplayName: 'Windows Azure Service Management API',
      resourceId: '797f4846-ba00-4fd7-ba43-dac1f8f63013',
      resourceTenantId: TENANT,
      homeTenantId: TENANT,
      servicePrincipalId: '',
      userType: 'Member',
      ...props,
    },
    ...overrides,
  };
}

/** The same sign-in as a SigninLogs row: Status is a dynamic column there. */
function userRow(overrides: RawRecord = {}): RawRecord {
  return {
    TenantId: WORKSPACE,
    SourceSystem: 'Azure',
    TimeGenerated: '2025-03-04T08:01:04.5522137Z',
    CreatedDateTime: '2025-03-04T08:01:04.5522137Z',
    OperationName: 'Sign-in activity',
    Category: 'SignInLogs',
    ResultType: '50126',
    ResultDescription: BAD_PASSWORD.failureReason,
    CorrelationId: 'aaaa0000-bb11-2222-33cc-444444dddddd',
    Identity: 'Alex Wilber',
    AADTenantId: TENANT,
    HomeTenantId: TENANT,
    ResourceTenantId: TENANT,
    Id: USER_SIGNIN_ID,
    UserId: USER_ID,
    UserPrincipalName: 'alex@contoso.com',
    UserDisplayName: 'Alex Wilber',
    UserType: 'Member',
    AppId: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c',
    AppDisplayName: 'Azure Portal',
    IPAddress: '81.2.69.142',
    Status: BAD_PASSWORD,
    ClientAppUsed: 'Browser',
    UserAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36',
    ConditionalAccessStatus: 'failure',
    IsInteractive: true,
    ResourceDisplayName: 'Windows Azure Service Management API',
    ResourceIdentity: '797f4846-ba00-4fd7-ba43-dac1f8f63013',
    ResourceId: AADIAM,
    ServicePrincipalId: '',
    Type: 'SigninLogs',
    ...overrides,
  };
}

function normalize(record: RawRecord, shape: 'stream' | 'table' = 'stream'): NormalizedEvent {
  const event = signinSource.normalize(record, shape);
  NormalizedEventSchema.parse(event);
  return event;
}

function rejection(record: RawRecord, shape: 'stream' | 'table' = 'stream'): string {
  try {
    signinSource.normalize(record, shape);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRecordError);
    return (err as Error).message;
  }
  throw new Error('expected the record to be rejected');
}

describe('sign-in source: stream and Log Analytics rows', () => {
  it('claims the four sign-in categories and their tables', () => {
    expect(signinSource.source).toBe('signin');
    expect(signinSource.streamCategories).toEqual(['SignInLogs', 'NonInteractiveUserSignInLogs', 'ServicePrincipalSignInLogs', 'ManagedIdentitySignInLogs']);
    expect(signinSource.tables).toEqual(['SigninLogs', 'AADNonInteractiveUserSignInLogs', 'AADServicePrincipalSignInLogs', 'AADManagedIdentitySignInLogs']);
  });

  it('normalizes a service principal sign-in, every field, and its AADServicePrincipalSignInLogs row to the same event', () => {
    const event = normalize(spStream());
    expect(event).toEqual({
      id: SP_SIGNIN_ID,
      time: Date.parse('2025-03-04T09:58:12.447Z'),
      source: 'signin',
      category: 'ServicePrincipalSignInLogs',
      operation: 'SIGN-IN ACTIVITY',
      result: 'success',
      principalId: SP_ID,
      principalType: 'servicePrincipal',
      principalName: 'indexer-prod',
      appId: SP_APP,
      ip: '20.42.17.9',
      tenantId: TENANT,
      correlationId: SP_CORRELATION,
      // Its application's key, where changes to the application object are keyed.
      principalAppId: SP_APP,
      details: {
        signInActivityId: 'YTA4ODY5YTgtM2IxNS00NmU0LThkZTMtMjczODQ5ZTYwMTAw',
        signInKind: 'servicePrincipal',
        errorCode: 0,
        targetResourceAppId: COGNITIVE_SERVICES_APP,
        targetResourceName: 'Microsoft Cognitive Services',
        conditionalAccessStatus: 'notApplied',
        credentialKeyId: SP_KEY,
        clientCredentialType: 'clientSecret',
      },
    });
    expect(normalize(spRow(), 'table')).toEqual(event);
  });

  it('normalizes a managed identity sign-in and its AADManagedIdentitySignInLogs row to the same event', () => {
    const MI_ID = '9d370547-cb61-4753-be23-68534909af90';
    const stream = spStream(
      { category: 'ManagedIdentitySignInLogs', callerIpAddress: undefined, location: undefined },
      {
        servicePrincipalId: MI_ID,
        servicePrincipalName: 'id-indexer',
        appId: 'b3b975ac-995b-426e-8b5d-363a165df41c',
        ipAddress: '',
        servicePrincipalCredentialKeyId: undefined,
        clientCredentialType: undefined,
        resourceDisplayName: 'Azure Key Vault',
        resourceId: 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093',
      },
    );
    const event = normalize(stream);
    expect(event).toEqual({
      id: SP_SIGNIN_ID,
      time: Date.parse('2025-03-04T09:58:12.447Z'),
      source: 'signin',
      category: 'ManagedIdentitySignInLogs',
      operation: 'SIGN-IN ACTIVITY',
      result: 'success',
      principalId: MI_ID,
      principalType: 'managedIdentity',
      principalName: 'id-indexer',
      appId: 'b3b975ac-995b-426e-8b5d-363a165df41c',
      tenantId: TENANT,
      correlationId: SP_CORRELATION,
      details: {
        signInActivityId: 'YTA4ODY5YTgtM2IxNS00NmU0LThkZTMtMjczODQ5ZTYwMTAw',
        signInKind: 'managedIdentity',
        errorCode: 0,
        targetResourceAppId: 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093',
        targetResourceName: 'Azure Key Vault',
        conditionalAccessStatus: 'notApplied',
      },
    });
    const row = spRow({
      Category: 'ManagedIdentitySignInLogs',
      Type: 'AADManagedIdentitySignInLogs',
      ServicePrincipalId: MI_ID,
      ServicePrincipalName: 'id-indexer',
      AppId: 'b3b975ac-995b-426e-8b5d-363a165df41c',
      IPAddress: '',
      ServicePrincipalCredentialKeyId: undefined,
      ClientCredentialType: undefined,
      ResourceDisplayName: 'Azure Key Vault',
      ResourceIdentity: 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093',
    });
    expect(normalize(row, 'table')).toEqual(event);
  });

  it('normalizes a failed interactive user sign-in and its SigninLogs row to the same event', () => {
    const event = normalize(userStream());
    expect(event).toEqual({
      id: USER_SIGNIN_ID,
      time: Date.parse('2025-03-04T08:01:04.552Z'),
      source: 'signin',
      category: 'SignInLogs',
      operation: 'SIGN-IN ACTIVITY',
      result: 'failure',
      principalId: USER_ID,
      principalType: 'user',
      principalName: 'alex@contoso.com',
      appId: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c',
      ip: '81.2.69.142',
      tenantId: TENANT,
      correlationId: 'aaaa0000-bb11-2222-33cc-444444dddddd',
      details: {
        signInKind: 'interactive',
        errorCode: 50126,
        failureReason: BAD_PASSWORD.failureReason,
        targetResourceAppId: '797f4846-ba00-4fd7-ba43-dac1f8f63013',
        targetResourceName: 'Windows Azure Service Management API',
        appName: 'Azure Portal',
        userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36',
        conditionalAccessStatus: 'failure',
      },
    });
    expect(normalize(userRow(), 'table')).toEqual(event);
  });

  it('reads a non-interactive row whose Status column is a JSON string', () => {
    const row = userRow({
      Category: 'NonInteractiveUserSignInLogs',
      Type: 'AADNonInteractiveUserSignInLogs',
      Status: JSON.stringify({ errorCode: 0, additionalDetails: 'MFA requirement satisfied by claim in the token' }),
      ResultType: '0',
    });
    const event = normalize(row, 'table');
    expect(event.category).toBe('NonInteractiveUserSignInLogs');
    expect(event.principalType).toBe('user');
    expect(event.result).toBe('success');
    expect(event.details.signInKind).toBe('nonInteractive');
    expect(event.details.errorCode).toBe(0);
    expect(event.details.failureReason).toBeUndefined();
  });

  it('names the category after the table when a row has no Category column', () => {
    const event = normalize(spRow({ Category: undefined, Type: 'AADManagedIdentitySignInLogs' }), 'table');
    expect(event.category).toBe('ManagedIdentitySignInLogs');
    expect(event.principalType).toBe('managedIdentity');
  });

  describe('quirks', () => {
    it('takes the principal name from identity when it is a display-name string and nothing better is there', () => {
      const event = normalize(userStream({}, { userPrincipalName: undefined, userDisplayName: undefined }));
      expect(event.principalName).toBe('Alex Wilber');
      expect(event.principalId).toBe(USER_ID);
    });

    it('strips a port from the caller IP and keeps a masked one', () => {
      expect(normalize(userStream({ callerIpAddress: '81.2.69.142:51034' }, { ipAddress: undefined })).ip).toBe('81.2.69.142');
      expect(normalize(userStream({ callerIpAddress: '81.2.69.***' }, { ipAddress: '81.2.69.***' })).ip).toBe('81.2.69.***');
      expect(normalize(spStream({ callerIpAddress: undefined }, { ipAddress: '' })).ip).toBeUndefined();
    });

    it("keeps the target application's id in details, not in resourceId", () => {
      const event = normalize(userStream({}, { resourceId: GRAPH_APP, resourceDisplayName: 'Microsoft Graph' }));
      expect(event.resourceId).toBeUndefined();
      expect(event.resourceType).toBeUndefined();
      expect(event.subscriptionId).toBeUndefined();
      expect(event.details.targetResourceAppId).toBe(GRAPH_APP);
      expect(event.details.targetResourceName).toBe('Microsoft Graph');
    });

    it('parses properties that arrive as a JSON string', () => {
      const record = spStream();
      const event = normalize({ ...record, properties: JSON.stringify(record.properties) });
      expect(event.principalId).toBe(SP_ID);
      expect(event.details.credentialKeyId).toBe(SP_KEY);
    });

    it('lower-cases ids and reads an error code given as a string', () => {
      const event = normalize(
        spStream({ resultType: '7000215' }, { id: SP_SIGNIN_ID.toUpperCase(), servicePrincipalId: SP_ID.toUpperCase(), status: { errorCode: '7000215' } }),
      );
      expect(event.id).toBe(SP_SIGNIN_ID);
      expect(event.principalId).toBe(SP_ID);
      expect(event.result).toBe('failure');
      expect(event.details.errorCode).toBe(7000215);
    });

    it('keys a sign-in attempt for an unknown user by the name that was tried', () => {
      const event = normalize(
        userStream(
          { resultType: '50034' },
          {
            userId: '',
            userPrincipalName: 'Admin@Contoso.com',
            status: { errorCode: 50034, failureReason: 'The user account does not exist in the directory.' },
          },
        ),
      );
      expect(event.principalId).toBe('admin@contoso.com');
      expect(event.principalName).toBe('Admin@Contoso.com');
      expect(event.result).toBe('failure');
      expect(event.details.failureReason).toBe('The user account does not exist in the directory.');
    });

    it("uses the sign-in's createdDateTime, else the record time", () => {
      expect(normalize(spStream()).time).toBe(Date.parse('2025-03-04T09:58:12.447Z'));
      expect(normalize(spStream({}, { createdDateTime: undefined })).time).toBe(Date.parse('2025-03-04T09:58:14.000Z'));
      expect(normalize(spStream({ time: '11/14/2025 1:48:53 AM' }, { createdDateTime: undefined })).time).toBe(Date.parse('2025-11-14T01:48:53Z'));
    });

    it('takes the result from resultType when there is no status', () => {
      expect(normalize(spStream({ resultType: '0' }, { status: undefined })).result).toBe('success');
      expect(normalize(spStream({ resultType: '700016' }, { status: undefined })).result).toBe('failure');
      expect(normalize(spStream({ resultType: undefined }, { status: undefined })).result).toBe('unknown');
    });
  });

  describe('ids', () => {
    it("uses the sign-in's own id, which the stream and every sign-in table carry", () => {
      expect(normalize(spStream()).id).toBe(SP_SIGNIN_ID);
      expect(normalize(spRow(), 'table').id).toBe(SP_SIGNIN_ID);
      expect(normalize(userRow(), 'table').id).toBe(USER_SIGNIN_ID);
    });

    it('hashes the identifying fields when a sign-in has no id: the same for stream and row, different for different sign-ins', () => {
      const stream = normalize(spStream({}, { id: undefined }));
      expect(stream.id).toMatch(/^[0-9a-f]{32}$/);
      expect(normalize(spRow({ Id: undefined }), 'table').id).toBe(stream.id);
      expect(normalize(spStream({ correlationId: '00000000-8b2d-4f60-a4c1-5d9e0b7f2a36' }, { id: undefined })).id).not.toBe(stream.id);
      expect(normalize(spStream({ resultType: '7000215' }, { id: undefined, status: { errorCode: 7000215 } })).id).not.toBe(stream.id);
    });
  });

  describe('principal policy', () => {
    it('normalizes a sign-in that names no principal as unknown, keeping the display name and the IP', () => {
      const user = normalize(userStream({}, { userId: null, userPrincipalName: '' }));
      expect(user).toMatchObject({
        principalId: expect.stringMatching(/^unknown:/),
        principalType: 'unknown',
        principalName: 'Alex Wilber',
        ip: '81.2.69.142',
        result: 'failure',
      });
      expect(user.details.signInKind).toBe('interactive');
      const sp = normalize(spStream({}, { servicePrincipalId: '', appId: null }));
      expect(sp).toMatchObject({ principalId: expect.stringMatching(/^unknown:/), principalType: 'unknown', principalName: 'indexer-prod', ip: '20.42.17.9' });
    });

    it('names a non-interactive sign-in whose only identity is the display-name string (the shape of a real sample)', () => {
      const event = normalize(
        userStream(
          { category: 'NonInteractiveUserSignInLogs', identity: 'Michell Lan' },
          {
            userId: undefined,
            userPrincipalName: undefined,
            userDisplayName: undefined,
          },
        ),
      );
      expect(event).toMatchObject({
        principalId: expect.stringMatching(/^unknown:/),
        principalType: 'unknown',
        principalName: 'Michell Lan',
        details: { signInKind: 'nonInteractive' },
      });
    });

    it('reads an export that spells the record with PascalCase columns, and keys it unknown when it names nobody', () => {
      const event = normalize({
        Category: 'ServicePrincipalSignInLogs',
        CorrelationId: '83d4a233-76a0-4cc0-bbe6-9ce7ad506fc9',
        CreatedDateTime: '2025-07-01T10:45:17.5824212Z',
        DurationMs: 0,
        OperationName: 'Sign-in activity',
      });
      expect(event).toMatchObject({
        time: Date.parse('2025-07-01T10:45:17.582Z'),
        category: 'ServicePrincipalSignInLogs',
        operation: 'SIGN-IN ACTIVITY',
        principalId: expect.stringMatching(/^unknown:/),
        correlationId: '83d4a233-76a0-4cc0-bbe6-9ce7ad506fc9',
      });
    });

    it('finds no kind of sign-in for a category that names an Object.prototype member', () => {
      const event = normalize(spStream({ category: '__proto__' }, { servicePrincipalId: '', appId: null }));
      expect(event).toMatchObject({ principalId: expect.stringMatching(/^unknown:/), principalType: 'unknown', category: '__proto__' });
      expect(event.details).not.toHaveProperty('signInKind');
    });
  });

  describe('rejections (dead letters)', () => {
    it('rejects a sign-in without a usable time', () => {
      expect(rejection(spStream({ time: undefined }, { createdDateTime: undefined }))).toMatch(/no usable event time in 'createdDateTime or time'/);
      expect(rejection({ Category: 'SignInLogs' })).toMatch(/no usable event time in 'CreatedDateTime or TimeGenerated'/);
    });

    it('rejects a record without an operation: a time and a category alone are a fragment', () => {
      expect(rejection({ time: '2025-03-04T09:58:14Z', category: 'SignInLogs' })).toMatch(/no operation in 'operationName'/);
      expect(rejection(spStream({ operationName: undefined }))).toMatch(/no operation/);
      expect(rejection(spRow({ OperationName: '' }), 'table')).toMatch(/no operation in 'OperationName'/);
    });

    it('rejects fields of the wrong shape, naming them', () => {
      expect(rejection(spStream({}, { status: 'errorCode=0' }))).toMatch(/properties\.status/);
      expect(rejection(spStream({ properties: 42 }))).toMatch(/properties/);
    });
  });
});
