import { Rng } from './random.js';

/**
 * The synthetic tenant the generator logs about: subscriptions, the AI, Key Vault and Storage
 * resources in them, and the people, apps and managed identities that call them.
 */

export interface Subscription {
  id: string;
  name: string;
}

export interface Resource {
  /** ARM resource id, in the casing ARM returns it. */
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
}

export interface ModelDeployment {
  name: string;
  model: string;
  version: string;
  operation: 'ChatCompletions_Create' | 'Embeddings_Create';
}

export interface AiAccount extends Resource {
  deployments: ModelDeployment[];
  /** The service's own id for the account, logged as `AssetIdentity` on Audit records. */
  assetId: string;
}

export interface KeyVault extends Resource {
  secrets: string[];
  keys: string[];
}

export interface StorageAccount extends Resource {
  containers: string[];
}

export type PrincipalKind = 'user' | 'servicePrincipal' | 'managedIdentity';

export interface Principal {
  kind: PrincipalKind;
  /** Display name: the app or identity name, or the user's full name. */
  name: string;
  /** Entra object id (the `oid` claim). */
  objectId: string;
  /** Application (client) id: the app itself for SPs and MIs, the Azure portal for a user. */
  appId: string;
  upn?: string;
  /** ARM id of a user-assigned managed identity (the `xms_mirid` claim). */
  identityResourceId?: string;
  /** Addresses its calls usually come from. */
  ips: string[];
  userAgent: string;
  /** Id of the credential an SP signs in with. */
  credentialKeyId?: string;
}

export interface Tenant {
  id: string;
  domain: string;
  subscriptions: Subscription[];
  aiAccounts: AiAccount[];
  keyVaults: KeyVault[];
  storageAccounts: StorageAccount[];
  principals: Principal[];
}

export interface TenantSize {
  users: number;
  servicePrincipals: number;
  managedIdentities: number;
}

/** First-party application ids that appear in real sign-in and activity logs. */
export const WELL_KNOWN_APPS = {
  azurePortal: { id: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c', name: 'Azure Portal' },
  management: { id: '797f4846-ba00-4fd7-ba43-dac1f8f63013', name: 'Windows Azure Service Management API' },
  keyVault: { id: 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093', name: 'Azure Key Vault' },
  storage: { id: 'e406a681-f3d4-42a8-90b6-c2b029497af1', name: 'Azure Storage' },
  cognitiveServices: { id: '7d312290-28c8-473c-a0ed-8e53749b6d6d', name: 'Azure Cognitive Services' },
  graph: { id: '00000003-0000-0000-c000-000000000000', name: 'Microsoft Graph' },
} as const;

export const DEPLOYMENTS: readonly ModelDeployment[] = [
  { name: 'gpt-4o', model: 'gpt-4o', version: '2024-08-06', operation: 'ChatCompletions_Create' },
  { name: 'text-embedding-3-small', model: 'text-embedding-3-small', version: '1', operation: 'Embeddings_Create' },
];

/** Address blocks: documentation (RFC 5737) ranges for the internet, private ranges inside Azure. */
export const NETWORKS = {
  office: '203.0.113',
  home: '192.0.2',
  azure: '10.20',
  unfamiliar: '198.51.100',
} as const;

const FIRST = [
  'Alice',
  'Bob',
  'Carol',
  'Dan',
  'Erin',
  'Femi',
  'Grace',
  'Hiro',
  'Ines',
  'Jonas',
  'Kavya',
  'Liam',
  'Maya',
  'Noor',
  'Omar',
  'Priya',
  'Quinn',
  'Rosa',
  'Sven',
  'Tariq',
  'Uma',
  'Viktor',
  'Wen',
  'Yara',
  'Zoe',
];
const LAST = [
  'Nguyen',
  'Kowalski',
  'Silva',
  'Okafor',
  'Larsen',
  'Adeyemi',
  'Tanaka',
  'Moreau',
  'Schmidt',
  'Patel',
  'Haddad',
  'Rossi',
  'Kim',
  'Novak',
  'Garcia',
  'Ivanova',
  'Murphy',
  'Berg',
  'Chen',
  'Diallo',
];
const WORKLOADS = [
  'etl',
  'billing',
  'search',
  'chat',
  'ingest',
  'reports',
  'ml',
  'crm',
  'sync',
  'audit',
  'notify',
  'forecast',
  'catalog',
  'ledger',
  'support',
  'docs',
];
const ROLES = ['api', 'worker', 'job', 'pipeline', 'gateway', 'indexer', 'scheduler', 'exporter'];
const REGIONS = ['eastus', 'westeurope', 'swedencentral', 'eastus2'];
const SECRET_NAMES = [
  'sql-connection',
  'storage-connection',
  'openai-api-key',
  'servicebus-connection',
  'cosmos-primary-key',
  'redis-password',
  'smtp-password',
  'stripe-api-key',
  'github-pat',
  'jwt-signing-secret',
  'backup-storage-conn',
  'graph-client-secret',
  'datadog-api-key',
  'pagerduty-token',
  'sftp-password',
  'etl-sql-connection',
  'search-admin-key',
  'eventhub-connection',
  'aks-kubeconfig',
  'vpn-psk',
  'ldap-bind-password',
  'slack-webhook',
  'twilio-auth-token',
  'sendgrid-api-key',
  'acr-admin-password',
  'postgres-admin',
  'mongo-connection',
  'crm-oauth-secret',
];
const USER_AGENTS = {
  user: [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  ],
  servicePrincipal: [
    'azsdk-python-identity/1.17.1 Python/3.11.9 (Linux-5.15.0-1064-azure-x86_64-with-glibc2.35)',
    'azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.6; Linux 5.15.153.1-microsoft-standard-WSL2 #1 SMP)',
    'azsdk-js-keyvault-secrets/4.8.0 core-rest-pipeline/1.16.0 Node/20.14.0 OS/(x64-Linux-5.15.0-1066-azure)',
  ],
  managedIdentity: [
    'azsdk-net-Identity/1.11.4 (.NET 8.0.6; Linux 5.15.164.1-1.cm2 #1 SMP)',
    'azsdk-python-storage-blob/12.20.0 Python/3.11.9 (Linux-5.15.0-1064-azure-x86_64-with-glibc2.35)',
    'azsdk-js-identity/4.3.0 core-rest-pipeline/1.16.0 Node/20.14.0 OS/(x64-Linux-5.15.0-1066-azure)',
  ],
} as const;

function resource(sub: Subscription, rg: string, provider: string, name: string, location: string): Resource {
  return {
    id: `/subscriptions/${sub.id}/resourceGroups/${rg}/providers/${provider}/${name}`,
    name,
    subscriptionId: sub.id,
    resourceGroup: rg,
    location,
  };
}

export function aiAccount(rng: Rng, sub: Subscription, rg: string, name: string, location: string): AiAccount {
  return { ...resource(sub, rg, 'Microsoft.CognitiveServices/accounts', name, location), deployments: [...DEPLOYMENTS], assetId: rng.guid() };
}

export function keyVault(rng: Rng, sub: Subscription, rg: string, name: string, location: string, secrets: number): KeyVault {
  return {
    ...resource(sub, rg, 'Microsoft.KeyVault/vaults', name, location),
    secrets: rng.sample(SECRET_NAMES, Math.min(secrets, SECRET_NAMES.length)),
    keys: ['cmk-storage', 'signing-key'],
  };
}

export function storageAccount(sub: Subscription, rg: string, name: string, location: string, containers: string[]): StorageAccount {
  return { ...resource(sub, rg, 'Microsoft.Storage/storageAccounts', name, location), containers };
}

/** Adds one principal; `ips` defaults to one address in the network its kind usually calls from. */
export function addPrincipal(
  tenant: Tenant,
  rng: Rng,
  kind: PrincipalKind,
  name: string,
  options: { ips?: string[]; upn?: string; identityResourceId?: string } = {},
): Principal {
  const principal: Principal = {
    kind,
    name,
    objectId: rng.guid(),
    appId: kind === 'user' ? WELL_KNOWN_APPS.azurePortal.id : rng.guid(),
    ips: options.ips ?? [rng.ipIn(kind === 'managedIdentity' ? NETWORKS.azure : NETWORKS.office)],
    userAgent: rng.pick(USER_AGENTS[kind]),
  };
  if (kind === 'user') principal.upn = options.upn ?? `${name.toLowerCase().replace(/[^a-z]+/g, '.')}@${tenant.domain}`;
  if (kind === 'servicePrincipal') principal.credentialKeyId = rng.guid();
  if (kind === 'managedIdentity') {
    const sub = tenant.subscriptions[0];
    principal.identityResourceId =
      options.identityResourceId ?? `/subscriptions/${sub.id}/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
  }
  tenant.principals.push(principal);
  return principal;
}

/**
 * A tenant with three subscriptions (prod, dev, shared), their AI, Key Vault and Storage resources,
 * and `size` generated principals. Resource counts grow with the principal count so that a
 * benchmark tenant of thousands of identities spreads its calls over many resources.
 */
export function buildTenant(seed: number, size: TenantSize): Tenant {
  const rng = new Rng(seed).fork('tenant');
  const subscriptions = [
    { id: rng.guid(), name: 'contoso-prod' },
    { id: rng.guid(), name: 'contoso-dev' },
    { id: rng.guid(), name: 'contoso-shared' },
  ];
  const [prod, dev, shared] = subscriptions;
  const tenant: Tenant = {
    id: rng.guid(),
    domain: 'contoso.com',
    subscriptions,
    aiAccounts: [aiAccount(rng, prod, 'rg-ai-prod', 'oai-contoso-prod', 'eastus'), aiAccount(rng, dev, 'rg-ai-dev', 'oai-contoso-dev', 'swedencentral')],
    keyVaults: [
      keyVault(rng, prod, 'rg-security-prod', 'kv-contoso-prod', 'eastus', 24),
      keyVault(rng, shared, 'rg-security-shared', 'kv-contoso-shared', 'westeurope', 10),
    ],
    storageAccounts: [
      storageAccount(prod, 'rg-data-prod', 'stcontosoproddata', 'eastus', ['customer-exports', 'raw', 'curated']),
      storageAccount(prod, 'rg-data-prod', 'stcontosoarchive', 'eastus', ['archive', 'backups']),
      storageAccount(dev, 'rg-dev-sandbox', 'stcontosodevscratch', 'swedencentral', ['scratch', 'tmp']),
      storageAccount(shared, 'rg-shared', 'stcontososhared', 'westeurope', ['reports', 'public']),
    ],
    principals: [],
  };

  const total = size.users + size.servicePrincipals + size.managedIdentities;
  for (let i = tenant.aiAccounts.length; i < Math.ceil(total / 400); i++) {
    const sub = subscriptions[i % 3];
    tenant.aiAccounts.push(aiAccount(rng, sub, `rg-ai-${i}`, `oai-${WORKLOADS[i % WORKLOADS.length]}-${i}`, REGIONS[i % REGIONS.length]));
  }
  for (let i = tenant.keyVaults.length; i < Math.ceil(total / 300); i++) {
    const sub = subscriptions[i % 3];
    tenant.keyVaults.push(keyVault(rng, sub, `rg-security-${i}`, `kv-${WORKLOADS[i % WORKLOADS.length]}-${i}`, REGIONS[i % REGIONS.length], rng.int(6, 20)));
  }
  for (let i = tenant.storageAccounts.length; i < Math.ceil(total / 200); i++) {
    const sub = subscriptions[i % 3];
    tenant.storageAccounts.push(
      storageAccount(sub, `rg-data-${i}`, `st${WORKLOADS[i % WORKLOADS.length]}data${i}`, REGIONS[i % REGIONS.length], ['raw', 'curated', 'exports']),
    );
  }

  for (let i = 0; i < size.users; i++) {
    const name = `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]}`;
    const suffix = i >= FIRST.length * LAST.length ? String(Math.floor(i / (FIRST.length * LAST.length))) : '';
    addPrincipal(tenant, rng, 'user', name, {
      upn: `${name.toLowerCase().replace(' ', '.')}${suffix}@${tenant.domain}`,
      ips: [rng.ipIn(NETWORKS.office), rng.ipIn(NETWORKS.home)],
    });
  }
  for (let i = 0; i < size.servicePrincipals; i++) {
    addPrincipal(tenant, rng, 'servicePrincipal', `sp-${WORKLOADS[i % WORKLOADS.length]}-${ROLES[Math.floor(i / WORKLOADS.length) % ROLES.length]}-${i}`);
  }
  for (let i = 0; i < size.managedIdentities; i++) {
    addPrincipal(tenant, rng, 'managedIdentity', `id-${WORKLOADS[i % WORKLOADS.length]}-${ROLES[(i + 3) % ROLES.length]}-${i}`);
  }
  return tenant;
}
