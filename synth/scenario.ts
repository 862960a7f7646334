import type { PrincipalType } from '../src/model/index.js';
import { Rng } from './random.js';
import {
  activityOperation,
  aiAuditRecord,
  aiRequestRecord,
  ArmOperations,
  blobUrl,
  credentialAddedRecord,
  graphRequestRecord,
  keyVaultRecord,
  sasQuery,
  signinRecord,
  storageCopy,
  storageRecord,
  type StreamRecord,
  type SynthContext,
} from './records.js';
import {
  addPrincipal,
  buildTenant,
  NETWORKS,
  WELL_KNOWN_APPS,
  type AiAccount,
  type KeyVault,
  type ModelDeployment,
  type Principal,
  type StorageAccount,
  type Tenant,
} from './tenant.js';

/**
 * Scenarios over the synthetic tenant: the one-hour demo (benign traffic plus one compromised
 * service principal) and the benchmark workload (thousands of principals, a few attack bursts).
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const DEMO_SEED = 20250602;
export const DEMO_START = Date.parse('2025-06-02T09:00:00Z');

/** The attack, step by step, in the order the compromised principal performs it. */
export const ATTACK_STEPS = [
  'signInFromNewIp',
  'listKeys',
  'secretSweep',
  'modelFlood',
  'probeOtherModel',
  'grantDataRole',
  'crossSubscriptionCopy',
  'disableMonitoring',
] as const;
export type AttackStep = (typeof ATTACK_STEPS)[number];

/** The second chain's steps, in order. */
export const KEY_CHAIN_STEPS = ['harvestSecrets', 'keyFromNewNetwork', 'volumeDrain'] as const;
export type KeyChainStep = (typeof KEY_CHAIN_STEPS)[number];

/** The third chain's steps, in order. */
export const CREDENTIAL_CHAIN_STEPS = ['addSecret', 'secretFromNewIp', 'graphRecon'] as const;
export type CredentialChainStep = (typeof CREDENTIAL_CHAIN_STEPS)[number];

/** Where the stolen key is used from: a VPN exit no workload of the tenant uses. */
const KEY_THIEF_NETWORK = '100.64.23';
/** Where the planted secret is used from: another VPN exit, apart from the other attackers' networks. */
const PLANTED_SECRET_NETWORK = '100.64.77';

export interface AttackPlan {
  attacker: Principal;
  /** Address the attacker works from: never seen for this principal before. */
  ip: string;
  start: number;
  account: AiAccount;
  deployment: ModelDeployment;
  vault: KeyVault;
  /** Distinct secrets read in the sweep (≥ 15 makes it a sweep). */
  secrets: number;
  /** Model calls per minute during the flood: about 20× the principal's usual rate. */
  floodPerMinute: number;
  source: { account: StorageAccount; container: string };
  /** Must be in another subscription than the source. */
  destination: { account: StorageAccount; container: string };
  copies: number;
  /** An AI account the principal has never called: the attacker tries what else the credential reaches. */
  probe: { account: AiAccount; deployment: ModelDeployment; calls: number };
  /** A data-plane role the attacker grants its own identity at a broad scope (a subscription), for the copies. */
  grant: { scope: string; role: { name: string; definitionId: string } };
  /** The resource whose diagnostic setting the attacker deletes at the end, blinding the pipeline. */
  blind: { target: string; setting: string };
}

const ATTACKER_AGENT = 'python-requests/2.32.3';
/** From the new sign-in to the deleted diagnostic setting. */
const ATTACK_DURATION_MS = 14 * MINUTE;

/** Built-in role the attacker grants itself (id from the Azure built-in roles reference). */
export const STORAGE_BLOB_DATA_CONTRIBUTOR = { name: 'Storage Blob Data Contributor', definitionId: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' };

/**
 * The compromised principal's records: sign-in from a new address, list the AI account's keys,
 * sweep the vault's secrets, flood the model, probe another AI account, grant itself a data role
 * on another subscription, copy blobs into it, and delete the diagnostic setting that logs them.
 * Returns the records (unsorted) and when each step began.
 */
export function attackRecords(ctx: SynthContext, plan: AttackPlan): { records: StreamRecord[]; steps: { step: AttackStep; time: number }[] } {
  const { rng } = ctx;
  const { attacker, ip } = plan;
  const t0 = plan.start + rng.next() * 2_000;
  const out: StreamRecord[] = [];
  const steps: { step: AttackStep; time: number }[] = [];
  const signin = (time: number, resource: { id: string; name: string }) =>
    out.push(signinRecord(ctx, { time, principal: attacker, ip, resource, userAgent: ATTACKER_AGENT }));

  steps.push({ step: 'signInFromNewIp', time: t0 });
  signin(t0, WELL_KNOWN_APPS.management);
  signin(t0 + 20_000, WELL_KNOWN_APPS.keyVault);

  const listAt = t0 + MINUTE + rng.next() * 5_000;
  steps.push({ step: 'listKeys', time: listAt });
  const [started, succeeded] = activityOperation(ctx, { time: listAt, principal: attacker, ip, ...ArmOperations.listKeys(plan.account), durationMs: 240 });
  out.push(started, succeeded, aiAuditRecord(ctx, { time: listAt + 1_200, account: plan.account, principal: attacker }));

  const sweepAt = t0 + 2 * MINUTE + rng.next() * 5_000;
  steps.push({ step: 'secretSweep', time: sweepAt });
  out.push(keyVaultRecord(ctx, { time: sweepAt, vault: plan.vault, principal: attacker, ip, operation: 'SecretList', userAgent: ATTACKER_AGENT }));
  const names = rng.sample(plan.vault.secrets, plan.secrets);
  names.forEach((name, i) => {
    const time = sweepAt + 5_000 + (i * 4 * MINUTE) / names.length + rng.int(0, 3_000);
    out.push(keyVaultRecord(ctx, { time, vault: plan.vault, principal: attacker, ip, operation: 'SecretGet', name, userAgent: ATTACKER_AGENT }));
  });

  signin(t0 + 2.5 * MINUTE, WELL_KNOWN_APPS.cognitiveServices);
  const floodAt = t0 + 3 * MINUTE;
  let firstCall = Infinity;
  for (let minute = 0; minute < 6; minute++) {
    const calls = rng.poisson(plan.floodPerMinute);
    for (let i = 0; i < calls; i++) {
      const time = floodAt + minute * MINUTE + rng.next() * MINUTE;
      firstCall = Math.min(firstCall, time);
      out.push(
        aiRequestRecord(ctx, { time, account: plan.account, deployment: plan.deployment, principal: attacker, ip, statusCode: rng.chance(0.08) ? 429 : 200 }),
      );
    }
  }

  steps.push({ step: 'modelFlood', time: firstCall });

  const probeAt = t0 + 9.3 * MINUTE;
  steps.push({ step: 'probeOtherModel', time: probeAt });
  for (let i = 0; i < plan.probe.calls; i++) {
    out.push(
      aiRequestRecord(ctx, {
        time: probeAt + i * 8_000 + rng.int(0, 2_000),
        account: plan.probe.account,
        deployment: plan.probe.deployment,
        principal: attacker,
        ip,
      }),
    );
  }

  const grantAt = t0 + 10.2 * MINUTE;
  steps.push({ step: 'grantDataRole', time: grantAt });
  out.push(
    ...activityOperation(ctx, {
      time: grantAt,
      principal: attacker,
      ip,
      role: 'Owner',
      ...ArmOperations.roleAssignmentWrite(rng, plan.grant.scope, attacker, plan.grant.role),
    }),
  );

  signin(t0 + 10 * MINUTE, WELL_KNOWN_APPS.storage);
  const copyAt = t0 + 10.5 * MINUTE;
  for (let i = 0; i < plan.copies; i++) {
    const time = copyAt + (i * 2.5 * MINUTE) / plan.copies + rng.int(0, 4_000);
    if (i === 0) steps.push({ step: 'crossSubscriptionCopy', time });
    const blob = `export-${new Date(t0).toISOString().slice(0, 10)}/customers-${String(i + 1).padStart(3, '0')}.parquet`;
    const sourceUri = blobUrl(plan.source.account, plan.source.container, blob, sasQuery(rng, time));
    out.push(
      ...storageCopy(ctx, {
        time,
        account: plan.destination.account,
        container: plan.destination.container,
        blob: `loot/${blob}`,
        auth: attacker,
        ip,
        sourceUri,
        bytes: rng.int(20_000_000, 250_000_000),
        userAgent: ATTACKER_AGENT,
      }),
    );
  }

  const blindAt = t0 + 13.4 * MINUTE;
  steps.push({ step: 'disableMonitoring', time: blindAt });
  out.push(
    ...activityOperation(ctx, {
      time: blindAt,
      principal: attacker,
      ip,
      role: 'Owner',
      ...ArmOperations.diagnosticSettingDelete(plan.blind.target, plan.blind.setting),
    }),
  );
  return { records: out, steps };
}

/** Calls `emit` about `perMinute` times in every minute of [from, to), at random moments. */
function steady(rng: Rng, from: number, to: number, perMinute: number, emit: (time: number) => void): void {
  for (let minute = from; minute < to; minute += MINUTE) {
    const n = rng.poisson(perMinute);
    for (let i = 0; i < n; i++) emit(minute + rng.next() * Math.min(MINUTE, to - minute));
  }
}

/** Calls `emit` every `period` (± jitter) in [from, to). */
function every(rng: Rng, from: number, to: number, period: number, jitter: number, emit: (time: number) => void): void {
  for (let t = from; t < to; t += period) emit(Math.min(to - 1, t + rng.next() * jitter));
}

/** The Event Hubs namespace the tenant's diagnostic settings stream to (in the shared subscription). */
function logsHub(tenant: Tenant, hub: string): { namespaceRuleId: string; hub: string } {
  return {
    namespaceRuleId: `/subscriptions/${tenant.subscriptions[2].id}/resourceGroups/rg-warden/providers/Microsoft.EventHub/namespaces/evhns-contoso-logs/authorizationRules/RootManageSharedAccessKey`,
    hub,
  };
}

const byTime = (a: StreamRecord, b: StreamRecord) => ((a.time as string) < (b.time as string) ? -1 : (a.time as string) > (b.time as string) ? 1 : 0);

export interface ManifestPrincipal {
  name: string;
  principalType: PrincipalType;
  /** What Warden reports as the principal: the object id, or `key:<account>` for key/SAS calls. */
  principalId: string;
  appId?: string;
  /** What it does in the scenario, in a few words. */
  does: string;
}

export interface DemoManifest {
  seed: number;
  start: string;
  end: string;
  tenantId: string;
  recordCount: number;
  attacker: ManifestPrincipal & { usualIp: string; attackIp: string; steps: { step: AttackStep; time: string }[] };
  benign: ManifestPrincipal[];
  /**
   * The second, independent chain: a CI principal's credential lists an AI project's connection
   * secrets, and the API key found there is used from a new network for a volume drain.
   */
  keyChain: { harvester: ManifestPrincipal; key: ManifestPrincipal; network: string; steps: { step: KeyChainStep; time: string }[] };
  /**
   * The third chain: a user adds a client secret to the app registration of a service principal that reads the directory,
   * and the secret signs it in from elsewhere and enumerates the directory through Graph.
   */
  credentialChain: {
    adder: ManifestPrincipal;
    target: ManifestPrincipal & { usualIp: string; attackIp: string };
    steps: { step: CredentialChainStep; time: string }[];
  };
  /** Expected, approved activity that looks like an attack step and belongs on an allow list. */
  allowListed: { principalId: string; operation: string; resourceId: string; reason: string }[];
}

export interface Demo {
  /** Stream-shape records, sorted by time. */
  records: StreamRecord[];
  manifest: DemoManifest;
  tenant: Tenant;
}

function manifestEntry(p: Principal, does: string): ManifestPrincipal {
  const entry: ManifestPrincipal = { name: p.upn ?? p.name, principalType: p.kind, principalId: p.objectId, does };
  if (p.kind !== 'user') entry.appId = p.appId;
  return entry;
}

const keyEntry = (account: string, does: string): ManifestPrincipal => ({ name: `key:${account}`, principalType: 'key', principalId: `key:${account}`, does });

/**
 * One hour of a small tenant: people, apps and managed identities going about their work, and
 * `sp-etl-pipeline`, whose credential is stolen: after 45 minutes of normal pipeline traffic it
 * signs in from a new address and runs the attack (attackRecords).
 */
export function generateDemo(options: { seed?: number; start?: number } = {}): Demo {
  const seed = options.seed ?? DEMO_SEED;
  const start = options.start ?? DEMO_START;
  const end = start + HOUR;
  const tenant = buildTenant(seed, { users: 0, servicePrincipals: 0, managedIdentities: 0 });
  const rng = new Rng(seed).fork('demo');
  const ctx: SynthContext = { tenant, rng };
  const out: StreamRecord[] = [];
  const push = (...records: StreamRecord[]) => out.push(...records);

  const [prodAi, devAi] = tenant.aiAccounts;
  const [prodVault, sharedVault] = tenant.keyVaults;
  const [prodData, archive, devScratch, shared] = tenant.storageAccounts;
  const [chat, embeddings] = prodAi.deployments;
  const office = () => rng.ipIn(NETWORKS.office);

  const alice = addPrincipal(tenant, rng, 'user', 'Alice Nguyen', { ips: [office()] });
  const bob = addPrincipal(tenant, rng, 'user', 'Bob Kowalski', { ips: [office()] });
  const carol = addPrincipal(tenant, rng, 'user', 'Carol Silva', { ips: [rng.ipIn(NETWORKS.home)] });
  const dan = addPrincipal(tenant, rng, 'user', 'Dan Okafor', { ips: [office()] });
  const chatFrontend = addPrincipal(tenant, rng, 'managedIdentity', 'mi-chat-frontend');
  const ragIndexer = addPrincipal(tenant, rng, 'managedIdentity', 'mi-rag-indexer');
  const archiver = addPrincipal(tenant, rng, 'managedIdentity', 'mi-archiver');
  const backup = addPrincipal(tenant, rng, 'servicePrincipal', 'sp-backup-job');
  const platform = addPrincipal(tenant, rng, 'servicePrincipal', 'sp-platform-keyrotation');
  const etl = addPrincipal(tenant, rng, 'servicePrincipal', 'sp-etl-pipeline');
  const attackIp = rng.ipIn(NETWORKS.unfamiliar);
  const ip = (p: Principal) => p.ips[0];
  /** A planned moment, give or take a few seconds: nothing real happens on the exact second. */
  const at = (time: number) => time + rng.next() * 5_000;

  // People: sign in, administer a little, read and write some data.
  for (const user of [alice, bob, carol, dan]) {
    const first = start + rng.int(1, 14) * MINUTE + rng.next() * MINUTE;
    if (user === bob)
      push(
        signinRecord(ctx, {
          time: first - 40_000,
          principal: user,
          ip: ip(user),
          resource: WELL_KNOWN_APPS.management,
          errorCode: 50126,
          failureReason: 'Error validating credentials due to invalid username or password.',
        }),
      );
    push(signinRecord(ctx, { time: first, principal: user, ip: ip(user), resource: WELL_KNOWN_APPS.management }));
    push(signinRecord(ctx, { time: first + rng.int(20, 40) * MINUTE, principal: user, ip: ip(user), resource: WELL_KNOWN_APPS.management }));
  }
  const openAiUser = { name: 'Cognitive Services OpenAI User', definitionId: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd' };
  push(
    ...activityOperation(ctx, {
      time: at(start + 16 * MINUTE),
      principal: alice,
      ip: ip(alice),
      role: 'Owner',
      ...ArmOperations.roleAssignmentWrite(rng, prodAi.id, chatFrontend, openAiUser),
    }),
  );
  push(
    ...activityOperation(ctx, {
      time: at(start + 25 * MINUTE),
      principal: alice,
      ip: ip(alice),
      role: 'Owner',
      ...ArmOperations.diagnosticSettingWrite(prodVault.id, 'to-warden', logsHub(tenant, 'resource-logs'), ['AuditEvent']),
    }),
  );
  push(...activityOperation(ctx, { time: at(start + 33 * MINUTE), principal: alice, ip: ip(alice), role: 'Owner', ...ArmOperations.write(shared.id) }));
  steady(rng, start + 10 * MINUTE, end, 0.25, (time) =>
    push(
      storageRecord(ctx, {
        time,
        account: prodData,
        operation: rng.chance(0.7) ? 'GetBlob' : 'PutBlob',
        auth: bob,
        ip: ip(bob),
        container: 'curated',
        blob: `reports/q2/sales-${rng.int(1, 40)}.csv`,
        bytes: rng.int(20_000, 4_000_000),
      }),
    ),
  );
  push(
    storageRecord(ctx, {
      time: at(start + 11 * MINUTE),
      account: prodData,
      operation: 'ListBlobs',
      auth: bob,
      ip: ip(bob),
      container: 'curated',
      bytes: rng.int(2_000, 40_000),
    }),
  );
  steady(rng, start + 15 * MINUTE, end, 0.3, (time) =>
    push(aiRequestRecord(ctx, { time, account: devAi, deployment: devAi.deployments[0], principal: carol, ip: ip(carol), streaming: true })),
  );
  push(
    keyVaultRecord(ctx, {
      time: at(start + 15.5 * MINUTE),
      vault: sharedVault,
      principal: carol,
      ip: ip(carol),
      operation: 'SecretGet',
      name: sharedVault.secrets[0],
    }),
  );
  push(keyVaultRecord(ctx, { time: at(start + 30 * MINUTE), vault: prodVault, principal: dan, ip: ip(dan), operation: 'SecretList' }));
  for (const name of prodVault.secrets.slice(0, 2))
    push(keyVaultRecord(ctx, { time: start + 31 * MINUTE + rng.next() * MINUTE, vault: prodVault, principal: dan, ip: ip(dan), operation: 'SecretGet', name }));

  // Managed identities: the chat front end calls its model every minute, the indexer embeds and reads.
  push(signinRecord(ctx, { time: at(start + 0.4 * MINUTE), principal: chatFrontend, ip: ip(chatFrontend), resource: WELL_KNOWN_APPS.cognitiveServices }));
  steady(rng, start + MINUTE, end, 6, (time) =>
    push(aiRequestRecord(ctx, { time, account: prodAi, deployment: chat, principal: chatFrontend, ip: ip(chatFrontend) })),
  );
  push(signinRecord(ctx, { time: at(start + 0.6 * MINUTE), principal: ragIndexer, ip: ip(ragIndexer), resource: WELL_KNOWN_APPS.cognitiveServices }));
  push(signinRecord(ctx, { time: at(start + 0.7 * MINUTE), principal: ragIndexer, ip: ip(ragIndexer), resource: WELL_KNOWN_APPS.storage }));
  steady(rng, start + MINUTE, end, 10, (time) =>
    push(aiRequestRecord(ctx, { time, account: prodAi, deployment: embeddings, principal: ragIndexer, ip: ip(ragIndexer) })),
  );
  steady(rng, start + MINUTE, end, 2, (time) =>
    push(
      storageRecord(ctx, {
        time,
        account: prodData,
        operation: 'GetBlob',
        auth: ragIndexer,
        ip: ip(ragIndexer),
        container: 'curated',
        blob: `kb/article-${rng.int(1, 900)}.md`,
        bytes: rng.int(2_000, 90_000),
      }),
    ),
  );

  // The archiver copies curated data into the archive account, inside the prod subscription.
  push(signinRecord(ctx, { time: at(start + 2 * MINUTE), principal: archiver, ip: ip(archiver), resource: WELL_KNOWN_APPS.storage }));
  every(rng, start + 5 * MINUTE, end, 15 * MINUTE, 30_000, (time) => {
    for (let i = 0; i < 2; i++) {
      const blob = `daily/${new Date(time).toISOString().slice(0, 10)}/batch-${rng.int(100, 999)}.parquet`;
      push(
        ...storageCopy(ctx, {
          time: time + i * 4_000,
          account: archive,
          container: 'archive',
          blob,
          auth: archiver,
          ip: ip(archiver),
          sourceUri: blobUrl(prodData, 'curated', blob),
          bytes: rng.int(1_000_000, 60_000_000),
        }),
      );
    }
  });

  // The backup job reads the same secret every ten minutes, then writes a backup.
  push(signinRecord(ctx, { time: at(start + 0.2 * MINUTE), principal: backup, ip: ip(backup), resource: WELL_KNOWN_APPS.keyVault }));
  push(signinRecord(ctx, { time: at(start + 0.3 * MINUTE), principal: backup, ip: ip(backup), resource: WELL_KNOWN_APPS.storage }));
  every(rng, start + 0.5 * MINUTE, end, 10 * MINUTE, 20_000, (time) => {
    push(keyVaultRecord(ctx, { time, vault: prodVault, principal: backup, ip: ip(backup), operation: 'SecretGet', name: 'backup-storage-conn' }));
    push(
      storageRecord(ctx, {
        time: time + rng.int(5_000, 40_000),
        account: archive,
        operation: 'PutBlob',
        auth: backup,
        ip: ip(backup),
        container: 'backups',
        blob: `sql/${new Date(time).toISOString().slice(0, 16).replace(':', '')}.bak`,
        bytes: rng.int(50_000_000, 400_000_000),
      }),
    );
  });

  // The platform team's key rotation app lists AI account keys: expected, to be allow-listed.
  const rotateAt = at(start + 20 * MINUTE);
  push(signinRecord(ctx, { time: rotateAt - 30_000, principal: platform, ip: ip(platform), resource: WELL_KNOWN_APPS.management }));
  for (const [i, account] of [prodAi, devAi].entries()) {
    const time = rotateAt + i * MINUTE;
    push(
      ...activityOperation(ctx, { time, principal: platform, ip: ip(platform), ...ArmOperations.listKeys(account), role: 'Cognitive Services Contributor' }),
    );
    push(aiAuditRecord(ctx, { time: time + 1_000, account, principal: platform }));
  }

  // Legacy callers with keys: an app on the dev AI account, a report reader on the shared account.
  steady(rng, start, end, 1, (time) => push(aiRequestRecord(ctx, { time, account: devAi, deployment: devAi.deployments[0], ip: '10.30.4.17' })));
  every(rng, start + 3 * MINUTE, end, 5 * MINUTE, 30_000, (time) =>
    push(
      storageRecord(ctx, {
        time,
        account: shared,
        operation: 'GetBlob',
        auth: 'AccountKey',
        ip: '10.30.4.17',
        container: 'reports',
        blob: 'weekly/summary.xlsx',
        bytes: rng.int(200_000, 900_000),
      }),
    ),
  );

  // sp-etl-pipeline: its normal pipeline traffic, all hour, from its usual address…
  const etlBaselinePerMinute = 2;
  push(signinRecord(ctx, { time: at(start + MINUTE), principal: etl, ip: ip(etl), resource: WELL_KNOWN_APPS.keyVault }));
  push(signinRecord(ctx, { time: at(start + 1.1 * MINUTE), principal: etl, ip: ip(etl), resource: WELL_KNOWN_APPS.cognitiveServices }));
  push(signinRecord(ctx, { time: at(start + 1.2 * MINUTE), principal: etl, ip: ip(etl), resource: WELL_KNOWN_APPS.storage }));
  every(rng, start + 2 * MINUTE, end, 15 * MINUTE, 20_000, (time) =>
    push(keyVaultRecord(ctx, { time, vault: prodVault, principal: etl, ip: ip(etl), operation: 'SecretGet', name: 'etl-sql-connection' })),
  );
  steady(rng, start + 2 * MINUTE, end, etlBaselinePerMinute, (time) =>
    push(aiRequestRecord(ctx, { time, account: prodAi, deployment: chat, principal: etl, ip: ip(etl) })),
  );
  steady(rng, start + 2 * MINUTE, end, 1, (time) =>
    push(
      storageRecord(ctx, {
        time,
        account: prodData,
        operation: rng.chance(0.65) ? 'GetBlob' : 'PutBlob',
        auth: etl,
        ip: ip(etl),
        container: rng.chance(0.65) ? 'raw' : 'curated',
        blob: `orders/${rng.int(1, 5000)}.json`,
        bytes: rng.int(5_000, 800_000),
      }),
    ),
  );
  // …and, from T+45 min, the attacker holding its credential.
  const attack = attackRecords(ctx, {
    attacker: etl,
    ip: attackIp,
    start: start + 45 * MINUTE,
    account: prodAi,
    deployment: chat,
    vault: prodVault,
    secrets: 18,
    floodPerMinute: 20 * etlBaselinePerMinute,
    source: { account: prodData, container: 'customer-exports' },
    destination: { account: devScratch, container: 'tmp' },
    copies: 8,
    probe: { account: devAi, deployment: devAi.deployments[0], calls: 5 },
    grant: { scope: `/subscriptions/${devScratch.subscriptionId}`, role: STORAGE_BLOB_DATA_CONTRIBUTOR },
    blind: { target: `${devScratch.id}/blobServices/default`, setting: 'to-warden' },
  });
  push(...attack.records);
  const keyChain = keyChainRecords(tenant, seed, start, devAi, prodAi);
  push(...keyChain.records);
  const credentialChain = credentialChainRecords(tenant, seed, start);
  push(...credentialChain.records);

  out.sort(byTime);
  const manifest: DemoManifest = {
    seed,
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    tenantId: tenant.id,
    recordCount: out.length,
    attacker: {
      ...manifestEntry(etl, 'ETL pipeline; its credential is used by an attacker from T+45 min'),
      usualIp: ip(etl),
      attackIp,
      steps: attack.steps.map((s) => ({ step: s.step, time: new Date(s.time).toISOString() })),
    },
    benign: [
      manifestEntry(alice, 'administrator: role assignment, diagnostic setting, tags'),
      manifestEntry(bob, 'data engineer: reads and writes curated data'),
      manifestEntry(carol, 'developer: chats with the dev model'),
      manifestEntry(dan, 'security analyst: lists and reads two secrets'),
      manifestEntry(chatFrontend, 'chat front end: about 6 model calls a minute'),
      manifestEntry(ragIndexer, 'RAG indexer: embeddings and blob reads'),
      manifestEntry(archiver, 'copies curated blobs to the archive account, same subscription'),
      manifestEntry(backup, 'backup job: reads one secret every 10 minutes'),
      manifestEntry(platform, 'platform key rotation: lists AI account keys'),
      keyEntry(shared.name, 'report reader using the storage account key'),
      keyEntry(prodAi.name, 'busy app calling the prod model with an API key, ~20 calls a minute from its usual network'),
    ],
    keyChain: keyChain.manifest,
    credentialChain: credentialChain.manifest,
    allowListed: [prodAi, devAi].map((account) => ({
      principalId: platform.objectId,
      operation: ArmOperations.listKeys(account).operation.toUpperCase(),
      resourceId: account.id.toLowerCase(),
      reason: 'scheduled key rotation by the platform team',
    })),
  };
  return { records: out, manifest, tenant };
}

/**
 * The second chain, on its own random stream so the first chain's records stay as they were: a
 * busy app calls the prod AI account with its key all hour (benign, one /24); sp-foundry-ci's
 * credential lists the connection secrets of the AI project at T+36 min, which hold the dev AI
 * account's key (otherwise used by a legacy app, once a minute from 10.30.4.17); from T+38 that
 * key is used from a VPN network, then drains the account with long prompts and generations.
 */
function keyChainRecords(tenant: Tenant, seed: number, start: number, devAi: AiAccount, prodAi: AiAccount) {
  const rng = new Rng(seed).fork('demo-key-chain');
  const ctx: SynthContext = { tenant, rng };
  const end = start + HOUR;
  const out: StreamRecord[] = [];
  const busyNetwork = '10.30.8';
  steady(rng, start, end, 20, (time) =>
    out.push(aiRequestRecord(ctx, { time, account: prodAi, deployment: prodAi.deployments[0], ip: rng.ipIn(busyNetwork) })),
  );

  const ci = addPrincipal(tenant, rng, 'servicePrincipal', 'sp-foundry-ci');
  const thiefIp = rng.ipIn(KEY_THIEF_NETWORK);
  // Its usual run: signs in from its build agents' address and deploys nothing this hour.
  out.push(signinRecord(ctx, { time: start + 3 * MINUTE + rng.next() * MINUTE, principal: ci, ip: ci.ips[0], resource: WELL_KNOWN_APPS.management }));
  const project = `/subscriptions/${devAi.subscriptionId}/resourceGroups/rg-ai-dev/providers/Microsoft.MachineLearningServices/workspaces/proj-contoso-assistant`;
  const harvestAt = start + 36 * MINUTE + rng.next() * 5_000;
  for (const [i, connection] of ['aoai-dev-key', 'search-dev'].entries()) {
    out.push(
      ...activityOperation(ctx, {
        time: harvestAt + i * 20_000,
        principal: ci,
        ip: thiefIp,
        role: 'Contributor',
        operation: 'Microsoft.MachineLearningServices/workspaces/connections/listsecrets/action',
        resourceId: `${project}/connections/${connection}`,
      }),
    );
  }
  const keyAt = start + 38 * MINUTE + rng.next() * 5_000;
  const deployment = devAi.deployments[0];
  for (let i = 0; i < 3; i++) out.push(aiRequestRecord(ctx, { time: keyAt + i * 15_000, account: devAi, deployment, ip: thiefIp }));
  const drainAt = start + 41 * MINUTE;
  let firstDrain = Infinity;
  steady(rng, drainAt, drainAt + 10 * MINUTE, 30, (time) => {
    firstDrain = Math.min(firstDrain, time);
    out.push(
      aiRequestRecord(ctx, { time, account: devAi, deployment, ip: thiefIp, requestLength: rng.int(40_000, 90_000), responseLength: rng.int(8_000, 16_000) }),
    );
  });
  const steps: { step: KeyChainStep; time: string }[] = [
    { step: 'harvestSecrets', time: new Date(harvestAt).toISOString() },
    { step: 'keyFromNewNetwork', time: new Date(keyAt).toISOString() },
    { step: 'volumeDrain', time: new Date(firstDrain).toISOString() },
  ];
  return {
    records: out,
    manifest: {
      harvester: manifestEntry(ci, "AI project CI; its credential lists the project's connection secrets from T+36 min"),
      key: keyEntry(devAi.name, "dev AI account key (a legacy app's, once a minute from 10.30.4.17), stolen and used from a VPN network from T+38 min"),
      network: `${KEY_THIEF_NETWORK}.0/24`,
      steps,
    },
  };
}

/** Collections an attacker maps first with a directory-reading app's credential (AzureHound, ROADrecon). */
const RECON_PATHS = [
  'organization',
  'users?$top=999&$select=id,userPrincipalName,accountEnabled',
  'groups?$top=999',
  'applications?$top=999',
  'servicePrincipals?$top=999',
  'directoryRoles?$expand=members',
  'roleManagement/directory/roleAssignments?$top=999',
  'policies/conditionalAccessPolicies',
  'devices?$top=999',
];

/**
 * The third chain, on its own random stream so the other chains' records stay as they were:
 * sp-hr-directory-sync signs in with its certificate every 10 minutes and reads users through
 * Graph; at T+33 min frank.moreau (a helpdesk admin whose session is in an attacker's hands) adds
 * a client secret to its app registration (the audit entry names the application, not the
 * service principal); at T+42 that secret signs it in from an address it never used, and the
 * token maps the directory through Graph.
 */
function credentialChainRecords(tenant: Tenant, seed: number, start: number) {
  const rng = new Rng(seed).fork('demo-credential-planting');
  const ctx: SynthContext = { tenant, rng };
  const end = start + HOUR;
  const out: StreamRecord[] = [];
  const sync = addPrincipal(tenant, rng, 'servicePrincipal', 'sp-hr-directory-sync');
  const frank = addPrincipal(tenant, rng, 'user', 'Frank Moreau', { ips: [rng.ipIn(NETWORKS.office)] });
  const certificate = { keyId: rng.guid(), type: 'certificate' as const };
  const roles = 'User.Read.All Directory.Read.All';
  const syncIp = sync.ips[0];
  const attackIp = rng.ipIn(PLANTED_SECRET_NETWORK);

  // A sign-in whose token Graph requests name: Entra's token ids are 22 base64url characters.
  const tokenSignin = (options: Parameters<typeof signinRecord>[1]): { record: StreamRecord; token: string } => {
    const record = signinRecord(ctx, options);
    const token = Buffer.from(rng.hex(32), 'hex').toString('base64url').slice(0, 22);
    (record.properties as { uniqueTokenIdentifier: string }).uniqueTokenIdentifier = token;
    return { record, token };
  };
  // Its usual run: a token every 10 minutes from its host, users read every 5 minutes with the latest one.
  const tokens: Array<{ time: number; token: string }> = [];
  every(rng, start + MINUTE, end, 10 * MINUTE, 20_000, (time) => {
    const { record, token } = tokenSignin({ time, principal: sync, ip: syncIp, resource: WELL_KNOWN_APPS.graph, credential: certificate });
    tokens.push({ time, token });
    out.push(record);
  });
  const tokenAt = (time: number) => tokens.filter((t) => t.time <= time).at(-1)!.token;
  every(rng, start + 2 * MINUTE, end, 5 * MINUTE, 30_000, (time) =>
    out.push(
      graphRequestRecord(ctx, {
        time,
        principal: sync,
        ip: syncIp,
        path: 'users/delta?$select=id,displayName,department',
        signInActivityId: tokenAt(time),
        roles,
        clientAuthMethod: 2,
      }),
    ),
  );

  const addAt = start + 33 * MINUTE + rng.next() * 5_000;
  const secret = { keyId: rng.guid(), type: 'Password' as const, name: 'sync-fallback' };
  out.push(signinRecord(ctx, { time: addAt - 2 * MINUTE, principal: frank, ip: frank.ips[0], resource: WELL_KNOWN_APPS.azurePortal }));
  out.push(
    credentialAddedRecord(ctx, {
      time: addAt,
      actor: frank,
      ip: frank.ips[0],
      target: sync,
      // From its own fork: the chain's other random values stay as they were.
      applicationObjectId: new Rng(seed).fork('demo-credential-planting-application').guid(),
      before: [{ keyId: certificate.keyId, type: 'AsymmetricX509Cert', name: 'CN=sp-hr-directory-sync' }],
      added: secret,
    }),
  );

  const useAt = start + 42 * MINUTE + rng.next() * 5_000;
  const { record: stolen, token } = tokenSignin({
    time: useAt,
    principal: sync,
    ip: attackIp,
    resource: WELL_KNOWN_APPS.graph,
    credential: { keyId: secret.keyId, type: 'clientSecret' },
    userAgent: ATTACKER_AGENT,
  });
  out.push(stolen);
  const reconAt = useAt + 20_000;
  RECON_PATHS.forEach((path, i) =>
    out.push(
      graphRequestRecord(ctx, {
        time: reconAt + i * 15_000 + rng.int(0, 5_000),
        principal: sync,
        ip: attackIp,
        path,
        signInActivityId: token,
        roles,
        userAgent: ATTACKER_AGENT,
        clientAuthMethod: 1,
      }),
    ),
  );
  const steps: { step: CredentialChainStep; time: string }[] = [
    { step: 'addSecret', time: new Date(addAt).toISOString() },
    { step: 'secretFromNewIp', time: new Date(useAt).toISOString() },
    { step: 'graphRecon', time: new Date(reconAt).toISOString() },
  ];
  return {
    records: out,
    manifest: {
      adder: manifestEntry(frank, "helpdesk admin whose session adds a client secret to sp-hr-directory-sync's app registration at T+33 min"),
      target: {
        ...manifestEntry(
          sync,
          'HR directory sync: certificate sign-ins, reads users through Graph; the added secret signs it in from a new IP at T+42 min and maps the directory',
        ),
        usualIp: syncIp,
        attackIp,
      },
      steps,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Benchmark workload
// ---------------------------------------------------------------------------------------------

export interface WorkloadOptions {
  seed: number;
  /** Records to produce (the last body may hold one or two more, to keep a copy's records together). */
  records: number;
  /** Principals in the tenant (users, service principals and managed identities). */
  principals: number;
  start?: number;
  durationMs?: number;
  recordsPerBody?: number;
  /** Compromised service principals, each running the attack once. */
  attackBursts?: number;
}

export interface Workload {
  /** `{"records":[...]}` bodies as Event Hubs delivers them, in time order. */
  bodies: string[];
  totalBytes: number;
  recordCount: number;
  /** Object ids of the compromised service principals. */
  attackers: string[];
  start: number;
  end: number;
}

/** What one principal usually touches. */
interface Profile {
  principal: Principal;
  ip: string;
  ai: AiAccount;
  deployment: ModelDeployment;
  vault: KeyVault;
  secrets: string[];
  storage: StorageAccount;
  container: string;
  /** Another account in the same subscription, for its routine copies. */
  copyTarget: StorageAccount;
}

function profileFor(rng: Rng, tenant: Tenant, principal: Principal): Profile {
  const ai = rng.pick(tenant.aiAccounts);
  const vault = rng.pick(tenant.keyVaults);
  const storage = rng.pick(tenant.storageAccounts);
  const sameSubscription = tenant.storageAccounts.filter((s) => s.subscriptionId === storage.subscriptionId && s !== storage);
  return {
    principal,
    ip: principal.ips[0],
    ai,
    deployment: rng.chance(0.7) ? ai.deployments[0] : ai.deployments[1],
    vault,
    secrets: rng.sample(vault.secrets, rng.int(1, 3)),
    storage,
    container: rng.pick(storage.containers),
    copyTarget: sameSubscription.length ? rng.pick(sameSubscription) : storage,
  };
}

const STORAGE_READER = { name: 'Storage Blob Data Reader', definitionId: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' };
const SIGNIN_RESOURCE = [WELL_KNOWN_APPS.management, WELL_KNOWN_APPS.keyVault, WELL_KNOWN_APPS.storage, WELL_KNOWN_APPS.cognitiveServices];

/**
 * The address of the app holding an account's key or SAS: fixed per account (no random draw, so
 * the workload's other records stay as they were), as a real key holder calls from its egress.
 */
function keyHolderIp(account: string): string {
  let h = 0;
  for (let i = 0; i < account.length; i++) h = (h * 31 + account.charCodeAt(i)) >>> 0;
  return `10.40.${h % 250}.${((h >>> 8) % 250) + 1}`;
}

/** One routine call by `f`: the source mix is mostly AI requests, then storage, sign-ins, Key Vault, ARM. */
function routine(ctx: SynthContext, f: Profile, time: number, room: number, out: StreamRecord[]): void {
  const { rng } = ctx;
  const p = f.principal;
  const r = rng.next();
  if (r < 0.47 || room < 3) {
    // A few calls use the account's API key: they come from the one app that holds it, on its network.
    const byKey = rng.chance(0.05);
    out.push(
      aiRequestRecord(ctx, {
        time,
        account: f.ai,
        deployment: f.deployment,
        principal: byKey ? undefined : p,
        ip: byKey ? keyHolderIp(f.ai.name) : f.ip,
        statusCode: rng.chance(0.01) ? 429 : 200,
      }),
    );
  } else if (r < 0.72) {
    const s = rng.next();
    if (s < 0.05) {
      const blob = `batch/${rng.int(1, 99_999)}.parquet`;
      const copy = {
        time,
        account: f.copyTarget,
        container: f.copyTarget.containers[0],
        blob,
        auth: p,
        ip: f.ip,
        sourceUri: blobUrl(f.storage, f.container, blob),
        bytes: rng.int(100_000, 50_000_000),
      };
      if (s < 0.03) out.push(...storageCopy(ctx, copy));
      else out.push(storageRecord(ctx, { ...copy, operation: 'PutBlobFromURL' }));
    } else {
      const operation = s < 0.6 ? 'GetBlob' : s < 0.88 ? 'PutBlob' : 'ListBlobs';
      const bySas = rng.chance(0.04);
      out.push(
        storageRecord(ctx, {
          time,
          account: f.storage,
          operation,
          auth: bySas ? 'SAS' : p,
          ip: bySas ? keyHolderIp(f.storage.name) : f.ip,
          container: f.container,
          blob: operation === 'ListBlobs' ? undefined : `data/${rng.int(1, 50_000)}.json`,
          bytes: rng.int(1_000, 2_000_000),
        }),
      );
    }
  } else if (r < 0.87) {
    const failed = rng.chance(0.03);
    out.push(
      signinRecord(ctx, {
        time,
        principal: p,
        ip: f.ip,
        resource: p.kind === 'user' ? WELL_KNOWN_APPS.management : rng.pick(SIGNIN_RESOURCE),
        errorCode: failed ? (p.kind === 'user' ? 50126 : 7000215) : 0,
      }),
    );
  } else if (r < 0.97) {
    const k = rng.next();
    out.push(
      keyVaultRecord(ctx, {
        time,
        vault: f.vault,
        principal: p,
        ip: f.ip,
        operation: k < 0.85 ? 'SecretGet' : k < 0.95 ? 'SecretList' : 'KeyGet',
        name: k < 0.95 ? rng.pick(f.secrets) : f.vault.keys[0],
      }),
    );
  } else {
    const a = rng.next();
    const operation =
      a < 0.9
        ? ArmOperations.write(f.storage.id)
        : a < 0.95
          ? ArmOperations.roleAssignmentWrite(rng, f.storage.id, ctx.tenant.principals[rng.int(0, ctx.tenant.principals.length - 1)], STORAGE_READER)
          : ArmOperations.diagnosticSettingWrite(f.storage.id, 'to-warden', logsHub(ctx.tenant, 'resource-logs'), [
              'StorageRead',
              'StorageWrite',
              'StorageDelete',
            ]);
    out.push(...activityOperation(ctx, { time, principal: p, ip: f.ip, ...operation }));
  }
}

/**
 * A benchmark input: `records` stream records from `principals` identities, each calling at its
 * own steady rate, plus `attackBursts` compromised service principals running the attack,
 * packed into `{"records":[...]}` bodies of about 100 records. Deterministic for a seed.
 */
export function generateWorkload(options: WorkloadOptions): Workload {
  const { seed, records, principals } = options;
  const start = options.start ?? DEMO_START;
  const durationMs = options.durationMs ?? HOUR;
  const perBody = options.recordsPerBody ?? 100;
  const bursts = options.attackBursts ?? 3;
  const users = Math.round(principals * 0.3);
  const managedIdentities = Math.round(principals * 0.3);
  const tenant = buildTenant(seed, { users, servicePrincipals: principals - users - managedIdentities, managedIdentities });
  const rng = new Rng(seed).fork('workload');
  const ctx: SynthContext = { tenant, rng };

  const profiles = tenant.principals.map((p) => profileFor(rng, tenant, p));
  // Steady but unequal rates: a few busy principals, a long tail of quiet ones.
  const cumulative = new Float64Array(profiles.length);
  let sum = 0;
  for (let i = 0; i < profiles.length; i++) cumulative[i] = sum += Math.exp(rng.normal(0, 1));

  const attacks: StreamRecord[] = [];
  const attackers: string[] = [];
  let end = start + durationMs;
  const victims = rng.sample(
    profiles.filter((f) => f.principal.kind === 'servicePrincipal'),
    bursts,
  );
  victims.forEach((f, i) => {
    const destination = tenant.storageAccounts.find((s) => s.subscriptionId !== f.storage.subscriptionId)!;
    // A sweep needs a vault with many secrets; the prod vault has them.
    const vault = f.vault.secrets.length >= 16 ? f.vault : tenant.keyVaults[0];
    attackers.push(f.principal.objectId);
    const other = tenant.aiAccounts.find((a) => a !== f.ai)!;
    // Its usual sign-in early on, so the attacker's address is new for it.
    attacks.push(signinRecord(ctx, { time: start + rng.next() * 5 * MINUTE, principal: f.principal, ip: f.ip, resource: WELL_KNOWN_APPS.management }));
    const plan: AttackPlan = {
      attacker: f.principal,
      ip: rng.ipIn(NETWORKS.unfamiliar),
      start: start + (durationMs * (i + 1)) / (bursts + 1),
      account: f.ai,
      deployment: f.ai.deployments[0],
      vault,
      secrets: 16,
      floodPerMinute: 40,
      source: { account: f.storage, container: f.container },
      destination: { account: destination, container: destination.containers[0] },
      copies: 6,
      probe: { account: other, deployment: other.deployments[0], calls: 4 },
      grant: { scope: `/subscriptions/${destination.subscriptionId}`, role: STORAGE_BLOB_DATA_CONTRIBUTOR },
      blind: { target: `${destination.id}/blobServices/default`, setting: 'to-warden' },
    };
    attacks.push(...attackRecords(ctx, plan).records);
    end = Math.max(end, plan.start + ATTACK_DURATION_MS);
  });
  attacks.sort(byTime);

  const bodies: string[] = [];
  let totalBytes = 0;
  let batch: StreamRecord[] = [];
  const flush = () => {
    const body = JSON.stringify({ records: batch });
    bodies.push(body);
    totalBytes += Buffer.byteLength(body);
    batch = [];
  };
  const add = (record: StreamRecord) => {
    batch.push(record);
    if (batch.length >= perBody) flush();
  };

  const routineTarget = Math.max(0, records - attacks.length);
  const meanGap = durationMs / Math.max(1, routineTarget);
  const pending: StreamRecord[] = [];
  let nextAttack = 0;
  let emitted = 0;
  let time = start;
  while (emitted < routineTarget) {
    time += rng.exponential(meanGap);
    const x = rng.next() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    routine(ctx, profiles[lo], time, routineTarget - emitted, pending);
    const stamp = pending[0].time as string;
    while (nextAttack < attacks.length && (attacks[nextAttack].time as string) <= stamp) add(attacks[nextAttack++]);
    for (const record of pending) add(record);
    emitted += pending.length;
    pending.length = 0;
  }
  while (nextAttack < attacks.length) add(attacks[nextAttack++]);
  if (batch.length) flush();
  return { bodies, totalBytes, recordCount: emitted + attacks.length, attackers, start, end: Math.max(end, time) };
}
