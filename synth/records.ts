import { hashSeed, Rng } from './random.js';
import { NETWORKS, WELL_KNOWN_APPS, type AiAccount, type KeyVault, type ModelDeployment, type Principal, type StorageAccount, type Tenant } from './tenant.js';

/**
 * One builder per log source and operation. Each returns a record in Azure Monitor *stream* shape:
 * exactly one element of the `{"records":[...]}` body a diagnostic setting sends to Event Hubs,
 * with the fields, casing and value types the documented schemas and public samples show
 * (see ../shared/captures/external/SOURCES.md).
 */

export type StreamRecord = Record<string, unknown>;

export interface SynthContext {
  tenant: Tenant;
  rng: Rng;
}

/**
 * Azure's timestamp: ISO 8601 with seven fractional digits. `ms` may carry a fraction; it becomes
 * the sub-millisecond digits, so records built a few microseconds apart keep their order.
 */
let clock = { second: NaN, prefix: '' };

export function azureTime(ms: number): string {
  const whole = Math.floor(ms);
  const second = Math.floor(whole / 1000);
  // Records come roughly in time order: format the date part once per second.
  if (second !== clock.second) clock = { second, prefix: new Date(second * 1000).toISOString().slice(0, 20) };
  const digits = String((whole - second * 1000) * 10000 + Math.floor((ms - whole) * 10000)).padStart(7, '0');
  return `${clock.prefix}${digits}Z`;
}

/** .NET ticks (100 ns since 0001-01-01), as the Azure OpenAI RequestResponse log writes times. */
function dotnetTicks(ms: number): number {
  return Math.round(ms * 10000) + 621355968000000000;
}

const seconds = (ms: number) => String(Math.floor(ms / 1000));
const undashed = (guid: string) => guid.replace(/-/g, '');
const tokenHash = (rng: Rng) => rng.hex(64).toUpperCase();

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

/** Random base64url text: token ids, signatures, opaque claim values. */
function base64ish(rng: Rng, length: number): string {
  let s = '';
  while (s.length < length) {
    let v = rng.u32();
    for (let i = 0; i < 5 && s.length < length; i++, v >>>= 6) s += BASE64URL[v & 63];
  }
  return s;
}

/** Where an address is, as Entra's sign-in geolocation reports it. */
function geo(ip: string): { city: string; state: string; countryOrRegion: string; latitude: number; longitude: number } {
  if (ip.startsWith(NETWORKS.office)) return { city: 'Redmond', state: 'Washington', countryOrRegion: 'US', latitude: 47.674, longitude: -122.121 };
  if (ip.startsWith(NETWORKS.home)) return { city: 'Seattle', state: 'Washington', countryOrRegion: 'US', latitude: 47.606, longitude: -122.332 };
  if (ip.startsWith(NETWORKS.unfamiliar)) return { city: 'Bucharest', state: 'Bucuresti', countryOrRegion: 'RO', latitude: 44.435, longitude: 26.103 };
  return { city: '', state: '', countryOrRegion: '', latitude: 0, longitude: 0 };
}

// ---------------------------------------------------------------------------------------------
// Activity log (Administrative), Event Hubs schema
// ---------------------------------------------------------------------------------------------

export interface ActivityOptions {
  time: number;
  principal: Principal;
  ip: string;
  /** ARM operation as authorized, e.g. `Microsoft.CognitiveServices/accounts/listKeys/action`. */
  operation: string;
  /** The resource the operation targets. */
  resourceId: string;
  /** Authorization scope when it differs from the resource (role assignments). */
  scope?: string;
  result?: 'Success' | 'Failure';
  durationMs?: number;
  /** RBAC role that granted the call (`authorization.evidence.role`). */
  role?: string;
  /** Logged on the Start record as the JSON string `properties.requestbody`. */
  requestBody?: unknown;
  /** Logged on the Success record as the JSON string `properties.responseBody`. */
  responseBody?: unknown;
  /** HTTP status word on Success (`OK`, `Created`). */
  statusCode?: string;
}

/** `identity` of an activity record: the ARM token's claims (long URI keys) and the RBAC evidence. */
export function activityIdentity(ctx: SynthContext, o: ActivityOptions): Record<string, unknown> {
  const { tenant, rng } = ctx;
  const p = o.principal;
  const subscriptionId = /\/subscriptions\/([^/]+)/i.exec(o.resourceId)?.[1] ?? tenant.subscriptions[0].id;
  const issued = o.time - rng.int(60_000, 3_000_000);
  const sts = `https://sts.windows.net/${tenant.id}/`;
  const claims: Record<string, string> = {
    aud: 'https://management.core.windows.net/',
    iss: sts,
    iat: seconds(issued),
    nbf: seconds(issued),
    exp: seconds(issued + (p.kind === 'managedIdentity' ? 86_400_000 : 3_600_000 + rng.int(0, 1_800_000))),
    aio: base64ish(rng, 88),
    appid: p.appId,
    appidacr: p.kind === 'user' ? '0' : p.kind === 'managedIdentity' ? '2' : '1',
    'http://schemas.microsoft.com/identity/claims/identityprovider': sts,
    idtyp: p.kind === 'user' ? 'user' : 'app',
    'http://schemas.microsoft.com/identity/claims/objectidentifier': p.objectId,
    rh: `1.${base64ish(rng, 54)}.`,
    'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier': p.kind === 'user' ? base64ish(rng, 43) : p.objectId,
    'http://schemas.microsoft.com/identity/claims/tenantid': tenant.id,
    uti: base64ish(rng, 22),
    ver: '1.0',
  };
  if (p.kind === 'user') {
    const [given, ...rest] = p.name.split(' ');
    Object.assign(claims, {
      'http://schemas.microsoft.com/claims/authnclassreference': '1',
      'http://schemas.microsoft.com/claims/authnmethodsreferences': 'pwd,mfa',
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname': given,
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname': rest.join(' '),
      name: p.name,
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name': p.upn,
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': p.upn,
      ipaddr: o.ip,
      puid: rng.hex(16).toUpperCase(),
      'http://schemas.microsoft.com/identity/claims/scope': 'user_impersonation',
      sid: rng.guid(),
    });
  }
  if (p.identityResourceId) claims.xms_mirid = p.identityResourceId;
  return {
    authorization: {
      scope: o.scope ?? o.resourceId,
      action: o.operation,
      evidence: {
        role: o.role ?? 'Contributor',
        roleAssignmentScope: `/subscriptions/${subscriptionId}`,
        roleAssignmentId: rng.hex(32),
        roleDefinitionId: rng.hex(32),
        principalId: undashed(p.objectId),
        principalType: p.kind === 'user' ? 'User' : 'ServicePrincipal',
      },
    },
    claims,
  };
}

/**
 * One activity record of one phase. The activity log writes an operation twice, `Start` then
 * `Success`/`Failure`, sharing a correlationId and the caller's identity: see activityOperation.
 */
export function activityRecord(
  ctx: SynthContext,
  o: ActivityOptions & { phase: 'Start' | 'Success' | 'Failure'; correlationId: string; identity: Record<string, unknown> },
): StreamRecord {
  const { tenant, rng } = ctx;
  const subscriptionId = /\/subscriptions\/([^/]+)/i.exec(o.resourceId)?.[1] ?? tenant.subscriptions[0].id;
  const properties: Record<string, unknown> = {};
  if (o.phase === 'Start') {
    if (o.requestBody !== undefined) properties.requestbody = JSON.stringify(o.requestBody);
  } else {
    properties.statusCode = o.phase === 'Success' ? (o.statusCode ?? 'OK') : 'Forbidden';
    properties.serviceRequestId = rng.guid();
    if (o.phase === 'Success' && o.responseBody !== undefined) properties.responseBody = JSON.stringify(o.responseBody);
    if (o.phase === 'Failure') {
      properties.statusMessage = JSON.stringify({
        error: { code: 'AuthorizationFailed', message: `The client '${o.principal.objectId}' does not have authorization to perform action '${o.operation}'.` },
      });
    }
  }
  properties.eventCategory = 'Administrative';
  properties.entity = o.resourceId;
  properties.message = o.operation;
  properties.hierarchy = `${tenant.id}/${subscriptionId}`;
  const duration = o.phase === 'Start' ? 0 : (o.durationMs ?? 0);
  return {
    time: azureTime(o.time + duration),
    resourceId: o.resourceId.toUpperCase(),
    operationName: o.operation.toUpperCase(),
    category: 'Administrative',
    resultType: o.phase,
    resultSignature: o.phase === 'Start' ? 'Started.' : o.phase === 'Success' ? `Succeeded.${o.statusCode ?? 'OK'}` : 'Failed.Forbidden',
    durationMs: String(duration),
    callerIpAddress: o.ip,
    correlationId: o.correlationId,
    identity: o.identity,
    level: o.phase === 'Failure' ? 'Error' : 'Information',
    location: 'global',
    properties,
    tenantId: tenant.id,
  };
}

/** An ARM operation as the activity log records it: Start, then Success or Failure, one correlationId. */
export function activityOperation(ctx: SynthContext, o: ActivityOptions): [StreamRecord, StreamRecord] {
  const correlationId = ctx.rng.guid();
  const identity = activityIdentity(ctx, o);
  const durationMs = o.durationMs ?? ctx.rng.int(80, 900);
  return [
    activityRecord(ctx, { ...o, durationMs, phase: 'Start', correlationId, identity }),
    activityRecord(ctx, { ...o, durationMs, phase: o.result ?? 'Success', correlationId, identity }),
  ];
}

/** `…/providers/Microsoft.Storage/storageAccounts/x` → `Microsoft.Storage/storageAccounts`. */
function armType(resourceId: string): string {
  return resourceId.split('/providers/')[1].split('/').slice(0, 2).join('/');
}

/** Ready-made operations: what to pass as `operation`, `resourceId` and bodies. */
export const ArmOperations = {
  listKeys(resource: AiAccount | StorageAccount) {
    return { operation: `${armType(resource.id)}/listKeys/action`, resourceId: resource.id };
  },
  roleAssignmentWrite(rng: Rng, scope: string, assignee: Principal, role: { name: string; definitionId: string }) {
    const subscriptionId = /\/subscriptions\/([^/]+)/i.exec(scope)?.[1];
    const assignmentId = rng.guid();
    const body = {
      Id: assignmentId,
      Properties: {
        PrincipalId: assignee.objectId,
        PrincipalType: assignee.kind === 'user' ? 'User' : 'ServicePrincipal',
        RoleDefinitionId: `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role.definitionId}`,
        Scope: scope,
        Condition: null,
        ConditionVersion: null,
      },
    };
    return {
      operation: 'Microsoft.Authorization/roleAssignments/write',
      resourceId: `${scope}/providers/Microsoft.Authorization/roleAssignments/${assignmentId}`,
      scope,
      requestBody: body,
      responseBody: {
        ...body.Properties,
        CreatedOn: null,
        UpdatedOn: null,
        CreatedBy: null,
        UpdatedBy: null,
        Id: assignmentId,
        Type: 'Microsoft.Authorization/roleAssignments',
      },
      statusCode: 'Created',
    };
  },
  diagnosticSettingWrite(target: string, name: string, eventHub: { namespaceRuleId: string; hub: string }, categories: string[]) {
    return {
      operation: 'microsoft.insights/diagnosticSettings/write',
      resourceId: `${target}/providers/microsoft.insights/diagnosticSettings/${name}`,
      requestBody: {
        id: `${target}/providers/microsoft.insights/diagnosticSettings/${name}`,
        name,
        properties: {
          logs: categories.map((category) => ({ category, categoryGroup: null, enabled: true, retentionPolicy: { days: 0, enabled: false } })),
          metrics: [],
          eventHubAuthorizationRuleId: eventHub.namespaceRuleId,
          eventHubName: eventHub.hub,
        },
      },
    };
  },
  diagnosticSettingDelete(target: string, name: string) {
    return { operation: 'microsoft.insights/diagnosticSettings/delete', resourceId: `${target}/providers/microsoft.insights/diagnosticSettings/${name}` };
  },
  /** A plain resource update, e.g. tags on a storage account. */
  write(resourceId: string) {
    return { operation: `${armType(resourceId)}/write`, resourceId };
  },
};

// ---------------------------------------------------------------------------------------------
// Entra ID sign-in logs (SignInLogs, ServicePrincipalSignInLogs, ManagedIdentitySignInLogs)
// ---------------------------------------------------------------------------------------------

export interface SigninOptions {
  time: number;
  principal: Principal;
  /** Caller address; managed identity sign-ins carry none. */
  ip: string;
  /** The resource the token is for (a first-party app). */
  resource: { id: string; name: string };
  /** Entra error code; 0 or absent means success. */
  errorCode?: number;
  failureReason?: string;
  userAgent?: string;
  /** A service principal's credential when not its usual client secret: a certificate, or a secret added to it. */
  credential?: { keyId: string; type: 'clientSecret' | 'certificate' };
}

const SIGNIN_CATEGORY = { user: 'SignInLogs', servicePrincipal: 'ServicePrincipalSignInLogs', managedIdentity: 'ManagedIdentitySignInLogs' } as const;

export function signinRecord(ctx: SynthContext, o: SigninOptions): StreamRecord {
  const { tenant, rng } = ctx;
  const p = o.principal;
  const errorCode = o.errorCode ?? 0;
  const correlationId = rng.guid();
  const id = rng.guid();
  const ip = p.kind === 'managedIdentity' ? '' : o.ip;
  const where = geo(ip);
  const status: Record<string, unknown> = { errorCode };
  if (errorCode) status.failureReason = o.failureReason ?? 'Invalid client secret provided.';
  const created = azureTime(o.time).replace('Z', '+00:00');
  const properties: Record<string, unknown> = {
    id,
    createdDateTime: created,
    appId: p.appId,
    ipAddress: ip,
    status,
    location: {
      city: where.city,
      state: where.state,
      countryOrRegion: where.countryOrRegion,
      geoCoordinates: { latitude: where.latitude, longitude: where.longitude },
    },
    correlationId,
    conditionalAccessStatus: p.kind === 'user' && !errorCode ? 'success' : 'notApplied',
    appliedConditionalAccessPolicies:
      p.kind === 'user'
        ? [
            {
              id: 'b915a70b-2eee-47b6-85b6-ff4f4a66256d',
              displayName: 'Require MFA for admins',
              enforcedGrantControls: ['Mfa'],
              enforcedSessionControls: [],
              result: errorCode ? 'notApplied' : 'success',
            },
          ]
        : [],
    isInteractive: p.kind === 'user',
    tokenIssuerType: 'AzureAD',
    processingTimeInMilliseconds: rng.int(40, 400),
    riskDetail: 'none',
    riskLevelAggregated: p.kind === 'user' ? 'none' : 'low',
    riskLevelDuringSignIn: p.kind === 'user' ? 'none' : 'low',
    riskState: 'none',
    resourceDisplayName: o.resource.name,
    resourceId: o.resource.id,
    resourceTenantId: tenant.id,
    homeTenantId: tenant.id,
    flaggedForReview: false,
    isTenantRestricted: false,
    crossTenantAccessType: 'none',
    uniqueTokenIdentifier: base64ish(rng, 46),
    incomingTokenType: 'none',
    authenticationProtocol: 'none',
  };
  if (p.kind === 'user') {
    properties.userDisplayName = p.name;
    properties.userPrincipalName = p.upn;
    properties.userId = p.objectId;
    properties.appDisplayName = WELL_KNOWN_APPS.azurePortal.name;
    properties.clientAppUsed = 'Browser';
    properties.userAgent = o.userAgent ?? p.userAgent;
    properties.deviceDetail = { deviceId: '', operatingSystem: 'Windows10', browser: 'Edge 126.0.0' };
    properties.authenticationDetails = [
      {
        authenticationStepDateTime: created,
        authenticationMethod: 'Password',
        succeeded: !errorCode,
        authenticationStepResultDetail: errorCode ? 'Invalid username or password' : 'Correct password',
        authenticationStepRequirement: 'Primary authentication',
      },
    ];
    properties.authenticationRequirement = 'multiFactorAuthentication';
    properties.userType = 'Member';
    properties.autonomousSystemNumber = 8075;
  } else {
    properties.userId = null;
    properties.servicePrincipalName = p.name;
    properties.servicePrincipalId = p.objectId;
    properties.authenticationProcessingDetails = [
      { key: 'Azure AD App Authentication Library', value: 'Family: MSAL Library: MSAL.Python 1.28.0 Platform: Python' },
    ];
    if (p.kind === 'servicePrincipal') {
      properties.servicePrincipalCredentialKeyId = o.credential?.keyId ?? p.credentialKeyId;
      properties.clientCredentialType = o.credential?.type ?? 'clientSecret';
    } else {
      properties.managedServiceIdentity = {
        msiType: 'userAssigned',
        associatedResourceId: p.identityResourceId,
        federatedTokenId: null,
        federatedTokenIssuer: null,
      };
    }
  }
  const record: StreamRecord = {
    time: azureTime(o.time),
    resourceId: `/tenants/${tenant.id}/providers/Microsoft.aadiam`,
    operationName: 'Sign-in activity',
    operationVersion: '1.0',
    category: SIGNIN_CATEGORY[p.kind],
    tenantId: tenant.id,
    resultType: String(errorCode),
    resultSignature: 'None',
  };
  if (errorCode) record.resultDescription = status.failureReason;
  record.durationMs = 0;
  if (ip) record.callerIpAddress = ip;
  record.correlationId = correlationId;
  if (p.kind === 'user') record.identity = p.name;
  record.Level = 4;
  if (where.countryOrRegion) record.location = where.countryOrRegion;
  record.properties = properties;
  return record;
}

// ---------------------------------------------------------------------------------------------
// Entra ID audit log (AuditLogs) and Microsoft Graph activity logs
// ---------------------------------------------------------------------------------------------

/** A key credential as the audit log lists it (ids and names only: the log never holds the secret). */
export interface AuditKeyCredential {
  keyId: string;
  type: 'Password' | 'AsymmetricX509Cert';
  name: string;
}

export interface CredentialAddedOptions {
  time: number;
  /** The user who adds the credential. */
  actor: Principal;
  ip: string;
  /** The service principal whose application (app registration) it is added to, with the credentials it had. */
  target: Principal;
  /** The application object's id: the entry names the application, not the service principal. */
  applicationObjectId: string;
  before: readonly AuditKeyCredential[];
  added: AuditKeyCredential;
  userAgent?: string;
}

const keyDescription = (k: AuditKeyCredential) => `[KeyIdentifier=${k.keyId},KeyType=${k.type},KeyUsage=Verify,DisplayName=${k.name}]`;

/**
 * A client secret or certificate added to an app registration by a user, as the Entra diagnostic
 * setting streams it (directoryAudit schema): "Update application – Certificates and secrets
 * management", the entry the portal's Certificates & secrets page and `az ad app credential reset`
 * leave, about the application object (its object id, its app id in AdditionalDetails).
 */
export function credentialAddedRecord(ctx: SynthContext, o: CredentialAddedOptions): StreamRecord {
  const { tenant, rng } = ctx;
  const correlationId = rng.guid();
  const time = azureTime(o.time);
  const userAgent = o.userAgent ?? o.actor.userAgent;
  // Entra logs the name with an en dash and a trailing space.
  const operation = 'Update application – Certificates and secrets management ';
  return {
    time,
    resourceId: `/tenants/${tenant.id}/providers/Microsoft.aadiam`,
    operationName: operation,
    operationVersion: '1.0',
    category: 'AuditLogs',
    tenantId: tenant.id,
    resultSignature: 'None',
    durationMs: 0,
    callerIpAddress: o.ip,
    correlationId,
    identity: o.actor.name,
    Level: 4,
    properties: {
      id: `Directory_${correlationId}_${rng.hex(5).toUpperCase()}_${rng.int(10_000_000, 99_999_999)}`,
      category: 'ApplicationManagement',
      correlationId,
      result: 'success',
      resultReason: '',
      activityDisplayName: operation,
      activityDateTime: time.replace('Z', '+00:00'),
      loggedByService: 'Core Directory',
      operationType: 'Update',
      initiatedBy: { user: { id: o.actor.objectId, displayName: null, userPrincipalName: o.actor.upn, ipAddress: o.ip, roles: [] } },
      targetResources: [
        {
          id: o.applicationObjectId,
          displayName: o.target.name,
          type: 'Application',
          administrativeUnits: [],
          modifiedProperties: [
            {
              displayName: 'KeyDescription',
              oldValue: JSON.stringify(o.before.map(keyDescription)),
              newValue: JSON.stringify([...o.before, o.added].map(keyDescription)),
            },
            { displayName: 'Included Updated Properties', oldValue: null, newValue: '"KeyDescription"' },
          ],
        },
      ],
      additionalDetails: [
        { key: 'User-Agent', value: userAgent },
        { key: 'AppId', value: o.target.appId },
      ],
    },
  };
}

export interface GraphRequestOptions {
  time: number;
  /** An app-only caller (service principal). */
  principal: Principal;
  ip: string;
  /** The path after the version: `users`, `groups?$top=999` … */
  path: string;
  /** The sign-in that issued the token (its uniqueTokenIdentifier). */
  signInActivityId: string;
  roles: string;
  userAgent?: string;
  /** 1 client secret, 2 certificate. */
  clientAuthMethod: 1 | 2;
}

/** One Microsoft Graph request, as the MicrosoftGraphActivityLogs diagnostic category streams it. */
export function graphRequestRecord(ctx: SynthContext, o: GraphRequestOptions): StreamRecord {
  const { tenant, rng } = ctx;
  const requestId = rng.guid();
  const time = azureTime(o.time);
  const durationMs = rng.int(40, 900);
  return {
    time,
    resourceId: `/tenants/${tenant.id}/providers/Microsoft.aadiam`,
    operationName: 'Microsoft Graph Activity',
    operationVersion: 'v1.0',
    category: 'MicrosoftGraphActivityLogs',
    resultSignature: '200',
    durationMs,
    callerIpAddress: o.ip,
    correlationId: requestId,
    level: 'Informational',
    location: 'West Europe',
    properties: {
      timeGenerated: time,
      location: 'West Europe',
      requestId,
      operationId: requestId,
      clientRequestId: rng.guid(),
      apiVersion: 'v1.0',
      requestMethod: 'GET',
      responseStatusCode: 200,
      tenantId: tenant.id,
      durationMs,
      responseSizeBytes: rng.int(2_000, 400_000),
      signInActivityId: o.signInActivityId,
      roles: o.roles,
      appId: o.principal.appId,
      servicePrincipalId: o.principal.objectId,
      ipAddress: o.ip,
      userAgent: o.userAgent ?? o.principal.userAgent,
      requestUri: `https://graph.microsoft.com/v1.0/${o.path}`,
      tokenIssuedAt: azureTime(o.time - rng.int(30_000, 120_000)),
      identityProvider: `https://sts.windows.net/${tenant.id}/`,
      clientAuthMethod: o.clientAuthMethod,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Azure OpenAI / AI services resource logs (RequestResponse, Audit)
// ---------------------------------------------------------------------------------------------

export interface AiRequestOptions {
  time: number;
  account: AiAccount;
  deployment: ModelDeployment;
  /** Entra caller; absent for API-key calls (the log then carries an empty objectId). */
  principal?: Principal;
  ip: string;
  statusCode?: number;
  streaming?: boolean;
  /** Sizes in bytes, when the scenario needs them (prompts stuffed with data, long generations); random otherwise. */
  requestLength?: number;
  responseLength?: number;
}

/** The service masks the last octet of the caller address (`81.2.69.***`). */
const maskIp = (ip: string) => ip.replace(/\.\d+$/, '.***');

export function aiRequestRecord(ctx: SynthContext, o: AiRequestOptions): StreamRecord {
  const { rng } = ctx;
  const chat = o.deployment.operation === 'ChatCompletions_Create';
  const status = o.statusCode ?? 200;
  const durationMs = status === 429 ? rng.int(5, 30) : chat ? rng.int(450, 6500) : rng.int(35, 280);
  const requestLength = o.requestLength ?? (chat ? rng.int(280, 7000) : rng.int(60, 8000));
  const responseLength = o.responseLength ?? (status !== 200 ? rng.int(180, 420) : chat ? rng.int(350, 4200) : rng.int(32_000, 34_500));
  return {
    Tenant: o.account.location,
    callerIpAddress: maskIp(o.ip),
    category: 'RequestResponse',
    correlationId: rng.guid(),
    durationMs,
    event: 'ShoeboxCallResult',
    location: o.account.location,
    operationName: o.deployment.operation,
    properties: {
      apiName: 'Azure OpenAI API version 2024-10-21',
      requestTime: dotnetTicks(o.time),
      requestLength,
      responseTime: dotnetTicks(o.time + durationMs),
      responseLength,
      objectId: o.principal?.objectId ?? '',
      streamType: o.streaming ? 'Streaming' : 'Non-Streaming',
      modelDeploymentName: o.deployment.name,
      modelName: o.deployment.model,
      modelVersion: o.deployment.version,
    },
    resourceId: o.account.id.toUpperCase(),
    resultSignature: String(status),
    time: azureTime(o.time),
  };
}

/** `ListKey` in the account's Audit log: written when someone lists the account keys through ARM. */
export function aiAuditRecord(_ctx: SynthContext, o: { time: number; account: AiAccount; principal: Principal }): StreamRecord {
  return {
    AssetIdentity: o.account.assetId,
    Tenant: o.account.location,
    category: 'Audit',
    operationName: 'ListKey',
    properties: { objectId: o.principal.objectId },
    resourceId: o.account.id.toUpperCase(),
    time: azureTime(o.time),
  };
}

// ---------------------------------------------------------------------------------------------
// Key Vault AuditEvent
// ---------------------------------------------------------------------------------------------

export type KeyVaultOperation = 'SecretGet' | 'SecretList' | 'SecretSet' | 'KeyGet' | 'VaultGet';

export interface KeyVaultOptions {
  time: number;
  vault: KeyVault;
  principal: Principal;
  ip: string;
  operation: KeyVaultOperation;
  /** Secret or key name (SecretGet, SecretSet, KeyGet). */
  name?: string;
  statusCode?: number;
  userAgent?: string;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  429: 'TooManyRequests',
};
const versionCache = new Map<string, string>();

/** A secret's current version: stable for a vault and name, like the real thing between rotations. */
function objectVersion(vault: string, name: string): string {
  const key = `${vault}/${name}`;
  let v = versionCache.get(key);
  if (!v) versionCache.set(key, (v = new Rng(hashSeed('version', key)).hex(32)));
  return v;
}

export function keyVaultRecord(ctx: SynthContext, o: KeyVaultOptions): StreamRecord {
  const { tenant, rng } = ctx;
  const p = o.principal;
  const status = o.statusCode ?? 200;
  const host = `https://${o.vault.name}.vault.azure.net`;
  const collection = o.operation.startsWith('Key') ? 'keys' : 'secrets';
  let id: string;
  let requestUri: string;
  if (o.operation === 'SecretList') {
    id = `${host}/secrets`;
    requestUri = `${host}/secrets?api-version=7.4&maxresults=25`;
  } else if (o.operation === 'VaultGet') {
    id = `${host}/`;
    requestUri = `https://management.azure.com${o.vault.id}?api-version=2023-07-01`;
  } else {
    const name = o.name ?? o.vault.secrets[0];
    id = `${host}/${collection}/${name}/${objectVersion(o.vault.name, name)}`;
    requestUri = `${host}/${collection}/${name}/?api-version=7.4`;
  }
  // Users' tokens carry the long URI claim names; app tokens the short ones: the log keeps both forms.
  const claim: Record<string, string> =
    p.kind === 'user'
      ? {
          'http://schemas.microsoft.com/identity/claims/objectidentifier': p.objectId,
          'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': p.upn!,
          appid: p.appId,
          'http://schemas.microsoft.com/identity/claims/tenantid': tenant.id,
          ipaddr: o.ip,
        }
      : { oid: p.objectId, appid: p.appId, idtyp: 'app', tid: tenant.id, appidacr: p.kind === 'managedIdentity' ? '2' : '1' };
  if (p.identityResourceId) claim.xms_mirid = p.identityResourceId;
  return {
    time: azureTime(o.time),
    resourceId: o.vault.id.toUpperCase(),
    operationName: o.operation,
    operationVersion: o.operation === 'VaultGet' ? '2023-07-01' : '7.4',
    category: 'AuditEvent',
    resultType: status < 400 ? 'Success' : (STATUS_TEXT[status] ?? 'Failure'),
    resultSignature: STATUS_TEXT[status] ?? String(status),
    resultDescription: '',
    durationMs: String(rng.int(2, 60)),
    callerIpAddress: o.ip,
    correlationId: rng.guid(),
    identity: { claim },
    properties: {
      id,
      clientInfo: o.userAgent ?? p.userAgent,
      httpStatusCode: status,
      requestUri,
      isAccessPolicyMatch: false,
      isRbacAuthorized: status < 400,
      appliedAssignmentId: status < 400 ? rng.hex(32) : '',
      tlsVersion: 'TLS1.2',
      addrAuthType: o.ip.startsWith(NETWORKS.azure) ? 'PrivateEndpoint' : 'PublicIP',
    },
    location: o.vault.location,
    tenantId: tenant.id,
  };
}

// ---------------------------------------------------------------------------------------------
// Storage blob logs (StorageRead / StorageWrite / StorageDelete)
// ---------------------------------------------------------------------------------------------

export type StorageOperation =
  'GetBlob' | 'GetBlobProperties' | 'ListBlobs' | 'PutBlob' | 'PutBlobFromURL' | 'DeleteBlob' | 'CopyBlob' | 'CopyBlobSource' | 'CopyBlobDestination';

/** How the request authenticated: an Entra principal (OAuth), a SAS token, or an account key. */
export type StorageAuth = Principal | 'SAS' | 'AccountKey';

export interface StorageOptions {
  time: number;
  account: StorageAccount;
  operation: StorageOperation;
  auth: StorageAuth;
  ip: string;
  container: string;
  blob?: string;
  /** Bytes read (GetBlob) or written (Put*, copies). */
  bytes?: number;
  /** Copy source (copies and PutBlobFromURL); may carry a SAS. */
  sourceUri?: string;
  statusCode?: number;
  correlationId?: string;
  userAgent?: string;
}

const CATEGORY: Record<StorageOperation, string> = {
  GetBlob: 'StorageRead',
  GetBlobProperties: 'StorageRead',
  ListBlobs: 'StorageRead',
  PutBlob: 'StorageWrite',
  PutBlobFromURL: 'StorageWrite',
  CopyBlob: 'StorageWrite',
  CopyBlobSource: 'StorageWrite',
  CopyBlobDestination: 'StorageWrite',
  DeleteBlob: 'StorageDelete',
};
const ROLE_DEFINITION = { read: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1', write: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' };

/** A service SAS query string, as a client appends it to a blob URL. */
export function sasQuery(rng: Rng, time: number, permissions = 'r'): string {
  const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString().slice(0, 19) + 'Z');
  return `sv=2023-11-03&st=${iso(time - 300_000)}&se=${iso(time + 86_400_000)}&sr=c&sp=${permissions}&spr=https&sig=${encodeURIComponent(base64ish(rng, 43) + '=')}`;
}

export function blobUrl(account: StorageAccount, container: string, blob?: string, query?: string): string {
  return `https://${account.name}.blob.core.windows.net/${container}${blob ? `/${blob}` : ''}${query ? `?${query}` : ''}`;
}

function storageIdentity(ctx: SynthContext, auth: StorageAuth, action: string): Record<string, unknown> {
  const { tenant, rng } = ctx;
  if (auth === 'AccountKey') return { type: 'AccountKey', tokenHash: `key1(${tokenHash(rng)})` };
  if (auth === 'SAS') return { type: 'SAS', tokenHash: `key1(${tokenHash(rng)}),SasSignature(${tokenHash(rng)})` };
  const requester: Record<string, string> = {
    appId: auth.appId,
    audience: 'https://storage.azure.com/',
    objectId: auth.objectId,
    tenantId: tenant.id,
    tokenIssuer: `https://sts.windows.net/${tenant.id}/`,
  };
  if (auth.upn) requester.upn = auth.upn;
  return {
    type: 'OAuth',
    tokenHash: tokenHash(rng),
    authorization: [
      {
        action,
        roleAssignmentId: rng.guid(),
        roleDefinitionId: action.endsWith('/read') ? ROLE_DEFINITION.read : ROLE_DEFINITION.write,
        principals: [{ id: auth.objectId, type: auth.kind === 'user' ? 'User' : 'ServicePrincipal' }],
        denyAssignmentId: '',
        type: 'RBAC',
        result: 'Granted',
        reason: 'Policy',
      },
    ],
    requester,
  };
}

/** `7/5/2022 12:32:21 PM`: the storage log's lastModifiedTime format. */
function storageClock(ms: number): string {
  const d = new Date(ms);
  const h = d.getUTCHours();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h % 12 || 12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'}`;
}

export function storageRecord(ctx: SynthContext, o: StorageOptions): StreamRecord {
  const { rng } = ctx;
  const status = o.statusCode ?? (o.operation.startsWith('Copy') ? 202 : o.operation.startsWith('Put') ? 201 : 200);
  const read = CATEGORY[o.operation] === 'StorageRead';
  const action = `Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${read ? 'read' : o.operation === 'DeleteBlob' ? 'delete' : 'write'}`;
  const sas = o.auth === 'SAS' ? sasQuery(rng, o.time, read ? 'r' : 'rw') : undefined;
  const ownPath = o.blob ? `/${o.account.name}/${o.container}/${o.blob}` : `/${o.account.name}/${o.container}`;
  // CopyBlobSource is the source side of a copy: its object and uri are the source URL.
  const objectKey = o.operation === 'CopyBlobSource' && o.sourceUri ? o.sourceUri : ownPath;
  const uri =
    o.operation === 'CopyBlobSource' && o.sourceUri
      ? o.sourceUri
      : `https://${o.account.name}.blob.core.windows.net:443/${o.container}${o.blob ? `/${o.blob}` : ''}${o.operation === 'ListBlobs' ? '?restype=container&comp=list' : ''}${sas ? `${o.operation === 'ListBlobs' ? '&' : '?'}${sas}` : ''}`;
  const bytes = o.bytes ?? 0;
  const serverLatencyMs = rng.int(2, 40);
  const properties: Record<string, unknown> = {
    accountName: o.account.name,
    userAgentHeader: o.userAgent ?? (typeof o.auth === 'object' ? o.auth.userAgent : 'Azure-Storage/12.20.0 (.NET 8.0.6; Linux 5.15.0-1064-azure)'),
    clientRequestId: rng.guid(),
    etag: `"0x8DC${rng.hex(12).toUpperCase()}"`,
    serviceType: 'blob',
    objectKey,
    lastModifiedTime: storageClock(o.time - rng.int(60_000, 30 * 86_400_000)),
    metricResponseType: status < 400 ? 'Success' : 'ClientOtherError',
    serverLatencyMs,
    operationCount: o.operation === 'CopyBlobSource' ? 1 : o.operation === 'CopyBlobDestination' ? 2 : 0,
    requestHeaderSize: rng.int(480, 2600),
    requestBodySize: read ? 0 : o.operation === 'PutBlob' ? bytes : 0,
    responseHeaderSize: rng.int(220, 420),
    responseBodySize: read ? bytes : 0,
    contentLengthHeader: o.operation === 'PutBlob' ? bytes : 0,
    tlsVersion: 'TLS 1.2',
    accessTier: 'Hot',
  };
  if (o.sourceUri && (o.operation === 'CopyBlob' || o.operation === 'PutBlobFromURL')) properties.sourceUri = o.sourceUri;
  return {
    time: azureTime(o.time),
    resourceId: `${o.account.id}/blobServices/default`,
    category: CATEGORY[o.operation],
    operationName: o.operation,
    operationVersion: '2023-11-03',
    schemaVersion: '1.0',
    statusCode: status,
    statusText: status < 400 ? 'Success' : (STATUS_TEXT[status] ?? 'Error'),
    durationMs: serverLatencyMs + rng.int(0, 12),
    callerIpAddress: `${o.ip}:${rng.int(1025, 65535)}`,
    correlationId: o.correlationId ?? rng.guid(),
    identity: storageIdentity(ctx, o.auth, action),
    location: o.account.location,
    properties,
    uri,
    protocol: 'HTTPS',
    resourceType: 'Microsoft.Storage/storageAccounts/blobServices',
  };
}

/**
 * A server-side copy as the destination account logs it: `CopyBlob`, `CopyBlobSource` and
 * `CopyBlobDestination`, microseconds apart, sharing one correlationId.
 */
export function storageCopy(
  ctx: SynthContext,
  o: Omit<StorageOptions, 'operation' | 'correlationId' | 'sourceUri'> & { sourceUri: string },
): [StreamRecord, StreamRecord, StreamRecord] {
  const correlationId = ctx.rng.guid();
  return [
    storageRecord(ctx, { ...o, operation: 'CopyBlob', correlationId }),
    storageRecord(ctx, { ...o, time: o.time + 0.05, operation: 'CopyBlobSource', correlationId }),
    storageRecord(ctx, { ...o, time: o.time + 0.1, operation: 'CopyBlobDestination', correlationId }),
  ];
}
