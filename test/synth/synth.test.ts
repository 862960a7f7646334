import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ingestBody } from '../../src/ingest/pipeline.js';
import { DEMO_CAPTURE_FILE, DEMO_MANIFEST_FILE, renderDemoCapture } from '../../synth/demo-capture.js';
import { Rng } from '../../synth/random.js';
import { activityOperation, ArmOperations, keyVaultRecord, signinRecord, storageRecord, type SynthContext } from '../../synth/records.js';
import { ATTACK_STEPS, generateDemo, generateWorkload, type AttackStep, type Demo } from '../../synth/scenario.js';
import { WELL_KNOWN_APPS } from '../../synth/tenant.js';

// The generator is checked against the documented stream schemas and public samples
// (../shared/captures/external), read here field by field, not through Warden's normalizers.

const MINUTE = 60_000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const root = resolve(import.meta.dirname, '../..');

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const timeOf = (r: Rec) => Date.parse(String(r.time).replace(/(\.\d{3})\d+/, '$1'));
const SIGNIN = new Set(['SignInLogs', 'ServicePrincipalSignInLogs', 'ManagedIdentitySignInLogs']);
const isAi = (r: Rec) => r.category === 'RequestResponse';
const isStorage = (r: Rec) => String(r.category).startsWith('Storage');

/** Who made the call, read from the fields each source documents for it. */
function actorOf(r: Rec): string {
  if (r.category === 'Administrative') return r.identity.claims[OID];
  if (SIGNIN.has(r.category)) return r.properties.servicePrincipalId || r.properties.userId;
  if (r.category === 'RequestResponse' || r.category === 'Audit') return r.properties.objectId || `key:${String(r.resourceId).split('/').pop()!.toLowerCase()}`;
  if (r.category === 'AuditEvent') return r.identity.claim.oid ?? r.identity.claim[OID];
  if (isStorage(r)) return r.identity.requester?.objectId ?? `key:${r.properties.accountName}`;
  if (r.category === 'AuditLogs') return r.properties.initiatedBy.user.id;
  if (r.category === 'MicrosoftGraphActivityLogs') return r.properties.servicePrincipalId;
  throw new Error(`unexpected category ${r.category}`);
}

function expectFields(r: Rec, fields: string[], where: string): void {
  // The record's text only for a failure: building it for every field of thousands of records is most of this test's time.
  for (const f of fields) if (r[f] === undefined) expect.fail(`${where}: no ${f} in ${JSON.stringify(r).slice(0, 300)}`);
}

/** Checks one record against its source's documented stream shape. */
function checkSchema(r: Rec): void {
  const c = r.category as string;
  if (c === 'Administrative') {
    expectFields(
      r,
      [
        'time',
        'resourceId',
        'operationName',
        'category',
        'resultType',
        'resultSignature',
        'durationMs',
        'callerIpAddress',
        'correlationId',
        'identity',
        'level',
        'location',
        'properties',
      ],
      c,
    );
    expectFields(r.identity.authorization, ['scope', 'action', 'evidence'], 'authorization');
    expectFields(
      r.identity.authorization.evidence,
      ['role', 'roleAssignmentScope', 'roleAssignmentId', 'roleDefinitionId', 'principalId', 'principalType'],
      'evidence',
    );
    const claims = r.identity.claims;
    expect(claims[OID]).toMatch(GUID);
    expect(claims.appid).toMatch(GUID);
    expect(claims['http://schemas.microsoft.com/identity/claims/tenantid']).toMatch(GUID);
    expect(claims.idtyp).toBe(r.identity.authorization.evidence.principalType === 'User' ? 'user' : 'app');
    expect(['Start', 'Success', 'Failure']).toContain(r.resultType);
    expect(r.operationName).toBe(String(r.operationName).toUpperCase());
  } else if (SIGNIN.has(c)) {
    expectFields(
      r,
      [
        'time',
        'resourceId',
        'operationName',
        'operationVersion',
        'category',
        'tenantId',
        'resultType',
        'resultSignature',
        'durationMs',
        'correlationId',
        'Level',
        'properties',
      ],
      c,
    );
    expect(r.resourceId).toBe(`/tenants/${r.tenantId}/providers/Microsoft.aadiam`);
    expect(r.operationName).toBe('Sign-in activity');
    const p = r.properties;
    expectFields(
      p,
      ['id', 'createdDateTime', 'appId', 'ipAddress', 'status', 'resourceId', 'resourceDisplayName', 'isInteractive', 'correlationId'],
      `${c}.properties`,
    );
    expect(typeof p.status.errorCode).toBe('number');
    expect(r.resultType).toBe(String(p.status.errorCode));
    expect(p.resourceId).toMatch(GUID);
    if (c === 'SignInLogs') {
      expect(typeof r.identity).toBe('string');
      expect(r.callerIpAddress).toBe(p.ipAddress);
      expect(p.userPrincipalName).toMatch(/@/);
      expect(p.userId).toMatch(GUID);
    } else {
      expect(p.servicePrincipalId).toMatch(GUID);
      expect(p.servicePrincipalName).toBeTruthy();
      if (c === 'ServicePrincipalSignInLogs') expect(r.callerIpAddress).toBe(p.ipAddress);
      else expect(p.ipAddress).toBe(''); // managed identity sign-ins carry no caller address
    }
  } else if (c === 'RequestResponse') {
    expectFields(
      r,
      ['time', 'resourceId', 'category', 'operationName', 'callerIpAddress', 'correlationId', 'durationMs', 'resultSignature', 'location', 'properties'],
      c,
    );
    expectFields(
      r.properties,
      ['apiName', 'requestTime', 'responseTime', 'requestLength', 'responseLength', 'objectId', 'modelDeploymentName', 'modelName', 'modelVersion'],
      c,
    );
    expect(r.resourceId).toMatch(/\/PROVIDERS\/MICROSOFT\.COGNITIVESERVICES\/ACCOUNTS\//);
    expect(['ChatCompletions_Create', 'Embeddings_Create']).toContain(r.operationName);
    expect(r.properties.responseTime).toBeGreaterThan(r.properties.requestTime);
    expect(r.callerIpAddress).toMatch(/\.\*\*\*$/);
  } else if (c === 'Audit') {
    expectFields(r, ['time', 'resourceId', 'category', 'operationName', 'properties'], c);
    expect(r.operationName).toBe('ListKey');
    expect(r.properties.objectId).toMatch(GUID);
  } else if (c === 'AuditEvent') {
    expectFields(
      r,
      [
        'time',
        'resourceId',
        'operationName',
        'operationVersion',
        'category',
        'resultType',
        'resultSignature',
        'durationMs',
        'callerIpAddress',
        'correlationId',
        'identity',
        'properties',
      ],
      c,
    );
    expectFields(r.properties, ['id', 'requestUri', 'httpStatusCode', 'clientInfo'], c);
    expect(r.identity.claim.oid ?? r.identity.claim[OID]).toMatch(GUID);
    expect(r.identity.claim.appid).toMatch(GUID);
    const vault = String(r.resourceId).split('/').pop()!.toLowerCase();
    if (r.operationName === 'SecretGet')
      expect(r.properties.id).toMatch(new RegExp(`^https://${vault}\\.vault\\.azure\\.net/secrets/[a-z0-9-]+/[0-9a-f]{32}$`));
    expect(r.properties.requestUri.startsWith(`https://${vault}.vault.azure.net/`) || r.operationName === 'VaultGet').toBe(true);
  } else if (isStorage(r)) {
    expectFields(
      r,
      [
        'time',
        'resourceId',
        'category',
        'operationName',
        'operationVersion',
        'schemaVersion',
        'statusCode',
        'statusText',
        'durationMs',
        'callerIpAddress',
        'correlationId',
        'identity',
        'location',
        'properties',
        'uri',
        'protocol',
      ],
      c,
    );
    expect(r.resourceId).toMatch(/\/providers\/Microsoft\.Storage\/storageAccounts\/[a-z0-9]+\/blobServices\/default$/);
    expect(r.callerIpAddress).toMatch(/:\d+$/);
    expectFields(r.properties, ['accountName', 'serviceType', 'objectKey'], c);
    expect(['OAuth', 'SAS', 'AccountKey']).toContain(r.identity.type);
    if (r.identity.type === 'OAuth') {
      expect(r.identity.requester.objectId).toMatch(GUID);
      expect(r.identity.requester.tenantId).toMatch(GUID);
    }
    if (r.operationName === 'CopyBlob' || r.operationName === 'PutBlobFromURL')
      expect(r.properties.sourceUri).toMatch(/^https:\/\/[a-z0-9]+\.blob\.core\.windows\.net\//);
  } else if (c === 'AuditLogs') {
    expectFields(r, ['time', 'resourceId', 'operationName', 'category', 'tenantId', 'correlationId', 'properties'], c);
    expectFields(
      r.properties,
      [
        'id',
        'category',
        'correlationId',
        'result',
        'activityDisplayName',
        'activityDateTime',
        'loggedByService',
        'operationType',
        'initiatedBy',
        'targetResources',
      ],
      c,
    );
    expect(r.properties.initiatedBy.user.id).toMatch(GUID);
    const [target] = r.properties.targetResources;
    // Added to the app registration, as the portal's Certificates & secrets page logs it: the app id is in AdditionalDetails.
    expect(target.type).toBe('Application');
    expect(r.properties.additionalDetails.find((d: { key: string }) => d.key === 'AppId')?.value).toMatch(GUID);
    expect(target.id).toMatch(GUID);
    // Key credentials as Entra lists them: ids and names, never a secret.
    expect(target.modifiedProperties[0].displayName).toBe('KeyDescription');
    expect(JSON.parse(target.modifiedProperties[0].newValue)[0]).toMatch(/^\[KeyIdentifier=[0-9a-f-]{36},KeyType=\w+,KeyUsage=Verify,DisplayName=[^\]]*\]$/);
  } else if (c === 'MicrosoftGraphActivityLogs') {
    expectFields(r, ['time', 'resourceId', 'operationName', 'category', 'callerIpAddress', 'correlationId', 'properties'], c);
    expectFields(
      r.properties,
      [
        'timeGenerated',
        'requestId',
        'apiVersion',
        'requestMethod',
        'responseStatusCode',
        'signInActivityId',
        'appId',
        'servicePrincipalId',
        'ipAddress',
        'requestUri',
      ],
      c,
    );
    expect(r.properties.requestUri).toMatch(/^https:\/\/graph\.microsoft\.com\/v1\.0\//);
    expect(r.properties.servicePrincipalId).toMatch(GUID);
  } else {
    throw new Error(`unexpected category ${c}`);
  }
  expect(Number.isFinite(timeOf(r))).toBe(true);
}

/**
 * When each attack step first shows in one principal's records (sorted by time), if at all. A new
 * sign-in address counts after `learnedBy`, once the principal has signed in before.
 */
function attackStepTimes(
  records: Rec[],
  start: number,
  subscriptionOfAccount: Map<string, string>,
  learnedBy = start + 30 * MINUTE,
): Partial<Record<AttackStep, number>> {
  const found: Partial<Record<AttackStep, number>> = {};
  const signinIps = new Set<string>();
  const secretReads: { t: number; name: string }[] = [];
  const perMinute = new Map<number, number>();
  const aiAccounts = new Set<string>();
  for (const r of records) {
    const t = timeOf(r);
    if (SIGNIN.has(r.category) && r.properties.ipAddress) {
      if (found.signInFromNewIp === undefined && signinIps.size > 0 && t > learnedBy && !signinIps.has(r.properties.ipAddress)) found.signInFromNewIp = t;
      signinIps.add(r.properties.ipAddress);
    }
    if (found.listKeys === undefined && r.category === 'Administrative' && /\/LISTKEYS\/ACTION$/.test(r.operationName)) found.listKeys = t;
    if (r.category === 'AuditEvent' && r.operationName === 'SecretGet') {
      secretReads.push({ t, name: r.properties.id.split('/')[4] });
      const window = secretReads.filter((s) => s.t > t - 5 * MINUTE);
      if (found.secretSweep === undefined && new Set(window.map((s) => s.name)).size >= 15) found.secretSweep = window[0].t;
    }
    if (isAi(r)) {
      const minute = Math.floor((t - start) / MINUTE);
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
      // An AI account it never called, once it has called others and is past learning.
      const account = String(r.resourceId).toLowerCase();
      if (found.probeOtherModel === undefined && aiAccounts.size > 0 && t > learnedBy && !aiAccounts.has(account)) found.probeOtherModel = t;
      aiAccounts.add(account);
    }
    // A role granted at a scope broader than one resource (a subscription or resource group).
    if (found.grantDataRole === undefined && r.operationName === 'MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE' && r.properties.requestbody) {
      if (!/\/providers\//i.test(JSON.parse(r.properties.requestbody).Properties.Scope)) found.grantDataRole = t;
    }
    if (found.disableMonitoring === undefined && r.operationName === 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE') found.disableMonitoring = t;
    if (found.crossSubscriptionCopy === undefined && (r.operationName === 'CopyBlob' || r.operationName === 'PutBlobFromURL')) {
      const source = new URL(r.properties.sourceUri).hostname.split('.')[0];
      const destination = /\/subscriptions\/([^/]+)/.exec(r.resourceId)![1];
      if (subscriptionOfAccount.get(source) !== destination) found.crossSubscriptionCopy = t;
    }
  }
  // Model flood: a minute with at least 10× the principal's median calls per minute (quiet minutes count as 0).
  const last = Math.max(-1, ...perMinute.keys());
  const counts = Array.from({ length: last + 1 }, (_, m) => perMinute.get(m) ?? 0).sort((a, b) => a - b);
  const median = Math.max(1, counts[counts.length >> 1] ?? 0);
  const floodMinute = [...perMinute.keys()].sort((a, b) => a - b).find((m) => perMinute.get(m)! >= 10 * median);
  if (floodMinute !== undefined) {
    found.modelFlood = Math.min(...records.filter((r) => isAi(r) && Math.floor((timeOf(r) - start) / MINUTE) === floodMinute).map(timeOf));
  }
  return found;
}

function byActor(records: Rec[]): Map<string, Rec[]> {
  const out = new Map<string, Rec[]>();
  for (const r of records) {
    const actor = actorOf(r);
    if (!out.has(actor)) out.set(actor, []);
    out.get(actor)!.push(r);
  }
  return out;
}

/** Builder outputs the scenarios do not produce: failures, deletes and the rarer operations. */
function otherBuilderRecords(demo: Demo): Rec[] {
  const ctx: SynthContext = { tenant: demo.tenant, rng: new Rng(99) };
  const byKind = (kind: string) => demo.tenant.principals.find((p) => p.kind === kind)!;
  const [user, mi, sp] = [byKind('user'), byKind('managedIdentity'), byKind('servicePrincipal')];
  const vault = demo.tenant.keyVaults[0];
  const account = demo.tenant.storageAccounts[0];
  const t = Date.parse(demo.manifest.start) + 5 * MINUTE;
  return [
    ...activityOperation(ctx, { time: t, principal: user, ip: user.ips[0], ...ArmOperations.diagnosticSettingDelete(vault.id, 'to-warden') }),
    ...activityOperation(ctx, { time: t, principal: sp, ip: sp.ips[0], ...ArmOperations.listKeys(account), result: 'Failure' }),
    signinRecord(ctx, { time: t, principal: sp, ip: sp.ips[0], resource: WELL_KNOWN_APPS.keyVault, errorCode: 7000215 }),
    signinRecord(ctx, { time: t, principal: user, ip: user.ips[0], resource: WELL_KNOWN_APPS.management, errorCode: 50126 }),
    keyVaultRecord(ctx, { time: t, vault, principal: mi, ip: mi.ips[0], operation: 'KeyGet', name: vault.keys[0] }),
    keyVaultRecord(ctx, { time: t, vault, principal: user, ip: user.ips[0], operation: 'SecretSet', name: vault.secrets[1], statusCode: 403 }),
    keyVaultRecord(ctx, { time: t, vault, principal: user, ip: user.ips[0], operation: 'VaultGet' }),
    storageRecord(ctx, { time: t, account, operation: 'GetBlobProperties', auth: 'SAS', ip: '203.0.113.9', container: 'raw', blob: 'a.json' }),
    storageRecord(ctx, { time: t, account, operation: 'DeleteBlob', auth: mi, ip: mi.ips[0], container: 'raw', blob: 'a.json' }),
    storageRecord(ctx, {
      time: t,
      account,
      operation: 'PutBlobFromURL',
      auth: sp,
      ip: sp.ips[0],
      container: 'raw',
      blob: 'b.json',
      sourceUri: 'https://example.blob.core.windows.net/c/b.json?sv=2023-11-03&sig=abc',
    }),
  ];
}

const parseBodies = (bodies: string[]) => bodies.flatMap((b) => JSON.parse(b).records as Rec[]);

describe('synthetic tenant generator', () => {
  let demo: Demo;
  let accounts: Map<string, string>;
  beforeAll(() => {
    demo = generateDemo();
    accounts = new Map(demo.tenant.storageAccounts.map((s) => [s.name, s.subscriptionId]));
  });

  it('is deterministic: the same seed gives byte-identical output, another seed different output', () => {
    const a = generateDemo({ seed: 11 });
    const b = generateDemo({ seed: 11 });
    const c = generateDemo({ seed: 12 });
    expect(JSON.stringify(a.records)).toBe(JSON.stringify(b.records));
    expect(a.manifest).toEqual(b.manifest);
    expect(JSON.stringify(c.records)).not.toBe(JSON.stringify(a.records));
    expect(c.manifest.attacker.principalId).not.toBe(a.manifest.attacker.principalId);

    const options = { seed: 5, records: 3_000, principals: 300 };
    const w1 = generateWorkload(options);
    const w2 = generateWorkload(options);
    expect(w1.bodies).toEqual(w2.bodies);
    expect(w1.totalBytes).toBe(w2.totalBytes);
    expect(generateWorkload({ ...options, seed: 6 }).bodies[0]).not.toBe(w1.bodies[0]);
  });

  it('writes records of realistic size (mostly 0.3–3 KB, like Azure’s)', () => {
    const workload = parseBodies(generateWorkload({ seed: 2, records: 5_000, principals: 500 }).bodies);
    for (const records of [demo.records, workload]) {
      const sizes = records.map((r) => Buffer.byteLength(JSON.stringify(r)));
      const inRange = sizes.filter((s) => s >= 300 && s <= 3_000).length;
      expect(inRange / sizes.length).toBeGreaterThan(0.95);
      expect(Math.max(...sizes)).toBeLessThan(6_000);
      const median = sizes.sort((x, y) => x - y)[sizes.length >> 1];
      expect(median).toBeGreaterThan(500);
      expect(median).toBeLessThan(2_000);
    }
  });

  it('gives every record the fields its source’s documented stream schema has', () => {
    const workload = parseBodies(generateWorkload({ seed: 3, records: 4_000, principals: 400 }).bodies);
    const categories = new Set<string>();
    for (const r of [...demo.records, ...workload] as Rec[]) {
      checkSchema(r);
      categories.add(r.category);
    }
    const others = otherBuilderRecords(demo);
    for (const r of others) checkSchema(r);
    expect(others.map((r) => r.resultType ?? r.statusCode)).toEqual([
      'Start',
      'Success',
      'Start',
      'Failure',
      '7000215',
      '50126',
      'Success',
      'Forbidden',
      'Success',
      200,
      200,
      201,
    ]);
    expect(others[3].properties.statusMessage).toMatch(/AuthorizationFailed/);
    expect([...categories].sort()).toEqual(
      [
        'Administrative',
        'Audit',
        'AuditEvent',
        'AuditLogs',
        'ManagedIdentitySignInLogs',
        'MicrosoftGraphActivityLogs',
        'RequestResponse',
        'ServicePrincipalSignInLogs',
        'SignInLogs',
        'StorageRead',
        'StorageWrite',
      ].sort(),
    );
  });

  it('logs ARM operations as Start then Success with one correlationId, and copies as three records with one correlationId', () => {
    const byCorrelation = new Map<string, Rec[]>();
    for (const r of demo.records as Rec[]) {
      if (r.category !== 'Administrative' && !String(r.operationName).startsWith('CopyBlob')) continue;
      if (!byCorrelation.has(r.correlationId)) byCorrelation.set(r.correlationId, []);
      byCorrelation.get(r.correlationId)!.push(r);
    }
    let operations = 0;
    let copies = 0;
    for (const group of byCorrelation.values()) {
      if (group[0].category === 'Administrative') {
        operations++;
        expect(group.map((r) => r.resultType)).toEqual(['Start', 'Success']);
        expect(group[1].identity.claims[OID]).toBe(group[0].identity.claims[OID]);
      } else {
        copies++;
        expect(group.map((r) => r.operationName)).toEqual(['CopyBlob', 'CopyBlobSource', 'CopyBlobDestination']);
        expect(group[1].properties.objectKey).toBe(group[0].properties.sourceUri);
      }
    }
    expect(operations).toBeGreaterThanOrEqual(5);
    expect(copies).toBeGreaterThanOrEqual(10);
    expect(demo.records.some((r: Rec) => r.properties?.requestbody && /PrincipalId/.test(r.properties.requestbody))).toBe(true);
  });

  it('returns the demo sorted by time, one hour long, with every caller named in the manifest', () => {
    const times = demo.records.map((r) => r.time as string);
    expect(times).toEqual([...times].sort());
    const start = Date.parse(demo.manifest.start);
    expect(Date.parse(demo.manifest.end) - start).toBe(60 * MINUTE);
    expect(timeOf(demo.records[0])).toBeGreaterThanOrEqual(start);
    expect(timeOf(demo.records[demo.records.length - 1])).toBeLessThan(start + 60 * MINUTE);
    expect(demo.manifest.recordCount).toBe(demo.records.length);
    const { keyChain, credentialChain } = demo.manifest;
    const named = new Set([
      demo.manifest.attacker.principalId,
      keyChain.harvester.principalId,
      keyChain.key.principalId,
      credentialChain.adder.principalId,
      credentialChain.target.principalId,
      ...demo.manifest.benign.map((b) => b.principalId),
    ]);
    expect(new Set(byActor(demo.records).keys())).toEqual(named);
  });

  it('has sp-etl-pipeline behave normally for 40 minutes, then run the attack steps in order', () => {
    const { attacker } = demo.manifest;
    const start = Date.parse(demo.manifest.start);
    expect(attacker.name).toBe('sp-etl-pipeline');
    const mine = byActor(demo.records).get(attacker.principalId)!;
    const baseline = mine.filter((r) => timeOf(r) < start + 40 * MINUTE);
    expect(baseline.filter(isAi).length).toBeGreaterThanOrEqual(50);
    expect(baseline.filter(isStorage).length).toBeGreaterThanOrEqual(20);
    expect(baseline.filter((r) => r.category === 'AuditEvent').length).toBeGreaterThanOrEqual(2);
    expect(baseline.filter((r) => SIGNIN.has(r.category)).every((r) => r.properties.ipAddress === attacker.usualIp)).toBe(true);
    // The attacker's address appears nowhere before the new sign-in.
    const firstSeen = Math.min(...demo.records.filter((r: Rec) => (r.callerIpAddress ?? '').startsWith(attacker.attackIp.replace(/\.\d+$/, '.'))).map(timeOf));
    expect(firstSeen).toBe(Date.parse(attacker.steps[0].time));

    const found = attackStepTimes(mine, start, accounts);
    expect(Object.keys(found).sort()).toEqual([...ATTACK_STEPS].sort());
    const order = [...ATTACK_STEPS].sort((a, b) => found[a]! - found[b]!);
    expect(order).toEqual([...ATTACK_STEPS]);
    // The manifest's step times are where each step begins (detection here works per minute).
    expect(attacker.steps.map((s) => s.step)).toEqual([...ATTACK_STEPS]);
    for (const { step, time } of attacker.steps) expect(Math.abs(found[step]! - Date.parse(time)), step).toBeLessThan(MINUTE);
    expect(found.signInFromNewIp! - start).toBeGreaterThanOrEqual(44 * MINUTE);
  });

  it('gives benign principals none of the attack steps (key listing only by the allow-listed platform app)', () => {
    const start = Date.parse(demo.manifest.start);
    const actors = byActor(demo.records);
    const allowListed = new Set(demo.manifest.allowListed.map((a) => a.principalId));
    expect(allowListed.size).toBe(1);
    for (const benign of demo.manifest.benign) {
      const found = attackStepTimes(actors.get(benign.principalId) ?? [], start, accounts);
      if (allowListed.has(benign.principalId)) {
        expect(found.listKeys, benign.name).toBeDefined();
        delete found.listKeys;
      }
      expect(found, benign.name).toEqual({});
    }
    // Benign copies stay inside one subscription, and there are some.
    expect(demo.records.filter((r: Rec) => r.operationName === 'CopyBlob' && actorOf(r) !== demo.manifest.attacker.principalId).length).toBeGreaterThan(0);
  });

  it('makes benchmark bodies of ~100 records from thousands of steady principals, mostly AI requests, with attack bursts', () => {
    const workload = generateWorkload({ seed: 4, records: 20_000, principals: 2_000 });
    expect(workload.recordCount).toBe(20_000);
    expect(workload.totalBytes).toBe(workload.bodies.reduce((n, b) => n + Buffer.byteLength(b), 0));
    const bodies = workload.bodies.map((b) => JSON.parse(b).records as Rec[]);
    expect(bodies.slice(0, -1).every((records) => records.length === 100)).toBe(true);
    const records = bodies.flat();
    expect(records.length).toBe(workload.recordCount);
    // In time order, except that an ARM operation's completion trails its start by its duration.
    let latest = 0;
    for (const r of records) {
      expect(timeOf(r)).toBeGreaterThan(latest - 1_000);
      latest = Math.max(latest, timeOf(r));
    }

    const share = (test: (r: Rec) => boolean) => records.filter(test).length / records.length;
    const ai = share(isAi);
    const storage = share(isStorage);
    const signin = share((r) => SIGNIN.has(r.category));
    const keyvault = share((r) => r.category === 'AuditEvent');
    const activity = share((r) => r.category === 'Administrative');
    expect(ai).toBeGreaterThan(0.35);
    expect(ai).toBeGreaterThan(storage);
    expect(storage).toBeGreaterThan(signin);
    expect(signin).toBeGreaterThan(keyvault);
    expect(keyvault).toBeGreaterThan(activity);
    expect(activity).toBeGreaterThan(0.01);

    const actors = byActor(records);
    expect(actors.size).toBeGreaterThan(1_500);
    // Steady: a typical principal's calls spread over the hour, not bunched in one stretch.
    const spans = [...actors.values()].filter((r) => r.length >= 10).map((r) => timeOf(r[r.length - 1]) - timeOf(r[0]));
    expect(spans.sort((a, b) => a - b)[spans.length >> 1]).toBeGreaterThan(30 * MINUTE);

    const tenantAccounts = new Map<string, string>();
    for (const r of records.filter(isStorage)) tenantAccounts.set(r.properties.accountName, /\/subscriptions\/([^/]+)/.exec(r.resourceId)![1]);
    expect(workload.attackers).toHaveLength(3);
    for (const attacker of workload.attackers) {
      const found = attackStepTimes(actors.get(attacker)!, workload.start, tenantAccounts, workload.start);
      expect(Object.keys(found).sort(), attacker).toEqual([...ATTACK_STEPS].sort());
      expect(
        [...ATTACK_STEPS].sort((a, b) => found[a]! - found[b]!),
        attacker,
      ).toEqual([...ATTACK_STEPS]);
    }
  });

  it('ingests every generated record through Warden’s pipeline: no dead letters, no skips', () => {
    const bodies = [
      ...renderDemoCapture().ndjson.trimEnd().split('\n'),
      ...generateWorkload({ seed: 8, records: 6_000, principals: 600 }).bodies,
      JSON.stringify({ records: otherBuilderRecords(demo) }),
    ];
    const sources = new Set<string>();
    let records = 0;
    for (const [i, body] of bodies.entries()) {
      const result = ingestBody(body, { line: i + 1 });
      expect(result.deadLetters.map((d) => d.reason)).toEqual([]);
      expect(result.skippedByCategory).toEqual({});
      expect(result.events.length).toBe(result.records);
      records += result.records;
      for (const { event } of result.events) sources.add(event.source);
    }
    expect(records).toBe(demo.records.length + 6_000 + otherBuilderRecords(demo).length);
    expect([...sources].sort()).toEqual(['activity', 'ai', 'directory', 'graph', 'keyvault', 'signin', 'storage']);
  });

  it('keeps the committed demo capture equal to what `npm run demo:generate` writes', () => {
    const { ndjson, manifest } = renderDemoCapture();
    const gz = readFileSync(resolve(root, DEMO_CAPTURE_FILE));
    expect(gz.length).toBeLessThan(1024 * 1024);
    expect(gunzipSync(gz).toString('utf8')).toBe(ndjson);
    expect(readFileSync(resolve(root, DEMO_MANIFEST_FILE), 'utf8')).toBe(`${JSON.stringify(manifest, null, 2)}\n`);
  });
});
