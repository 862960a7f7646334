import { defineRule, tunable, type SourceEvent } from '../src/engine/api.js';

type Access = 'read' | 'write' | 'admin';
const LEVEL: Record<Access, number> = { read: 1, write: 2, admin: 3 };

/** An access level tunable as a number; a misspelt level is an error, not a silent default. */
function level(name: string, tunable: string): number {
  const n = LEVEL[name as Access];
  if (n === undefined) throw new Error(`tunable '${tunable}' is '${name}': use read, write or admin`);
  return n;
}

/**
 * Built-in roles that reach the data of AI, Key Vault and Storage resources, by role definition id
 * (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles). `admin` roles can
 * read the account keys or manage data access, which is all the data.
 */
const DATA_ROLES: Record<string, { name: string; access: Access }> = {
  '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd': { name: 'Cognitive Services OpenAI User', access: 'read' },
  'a001fd3d-188f-4b5d-821b-7da978bf7442': { name: 'Cognitive Services OpenAI Contributor', access: 'write' },
  'a97b65f3-24c7-4388-baec-2e87135dc908': { name: 'Cognitive Services User', access: 'admin' },
  '25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68': { name: 'Cognitive Services Contributor', access: 'admin' },
  'b59867f0-fa02-499b-be73-45a86b5b3e1c': { name: 'Cognitive Services Data Reader', access: 'read' },
  '64702f94-c441-49e6-a78b-ef80e0188fee': { name: 'Azure AI Developer', access: 'write' },
  '4633458b-17de-408a-b874-0445c86b69e6': { name: 'Key Vault Secrets User', access: 'read' },
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': { name: 'Key Vault Secrets Officer', access: 'write' },
  '12338af0-0e69-4776-bea7-57ae8d297424': { name: 'Key Vault Crypto User', access: 'read' },
  'e147488a-f6f5-4113-8e2d-b22465e65bf6': { name: 'Key Vault Crypto Service Encryption User', access: 'read' },
  '14b46e9e-c2b7-41b4-b07b-48a6ebf60603': { name: 'Key Vault Crypto Officer', access: 'write' },
  'a4417e6f-fecd-4de8-b567-7b0420556985': { name: 'Key Vault Certificates Officer', access: 'write' },
  '00482a5a-887f-4fb3-b363-3b7fe8e74483': { name: 'Key Vault Administrator', access: 'admin' },
  '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1': { name: 'Storage Blob Data Reader', access: 'read' },
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': { name: 'Storage Blob Data Contributor', access: 'write' },
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': { name: 'Storage Blob Data Owner', access: 'admin' },
  '17d1049b-9a84-46fb-8f53-869881c3d3ab': { name: 'Storage Account Contributor', access: 'admin' },
  '81a9662b-bebf-436f-a333-f67b29880f12': { name: 'Storage Account Key Operator Service Role', access: 'admin' },
};

/** Resource types a data role on a single resource is reported for. */
const DATA_RESOURCE =
  /\/providers\/(microsoft\.cognitiveservices\/accounts|microsoft\.machinelearningservices\/workspaces|microsoft\.keyvault\/vaults|microsoft\.storage\/storageaccounts)\//;

type ScopeLevel = 'resource' | 'resource group' | 'subscription' | 'management group' | 'root';

function scopeLevel(scope: string): ScopeLevel {
  if (scope === '/' || scope === '') return 'root';
  if (scope.startsWith('/providers/microsoft.management/managementgroups/')) return 'management group';
  if (scope.includes('/providers/')) return 'resource';
  return scope.includes('/resourcegroups/') ? 'resource group' : 'subscription';
}

interface Grant {
  roleDefinitionId: string;
  role: { name: string; access: Access };
  scope: string;
  level: ScopeLevel;
  assignee?: string;
  assigneeType?: string;
}

/** The role assignment a record describes, when its role is a data-plane role (the Start record carries the request body). */
function grantOf(e: SourceEvent<'activity'>): Grant | undefined {
  const { roleDefinitionId, scope, assigneePrincipalId: assignee, assigneePrincipalType: assigneeType } = e.details;
  const role = roleDefinitionId === undefined ? undefined : DATA_ROLES[roleDefinitionId];
  if (!role || scope === undefined) return undefined;
  return { roleDefinitionId: roleDefinitionId!, role, scope, level: scopeLevel(scope), assignee, assigneeType };
}

/**
 * Non-human identities should hold the least data access their job needs, on the one resource
 * they use. A data-plane role that can write or manage data (or read the keys), or any data role
 * at a subscription, resource group or management group — where it reaches every AI account,
 * vault and storage account below — is over-permissioning, and a favourite way to keep access.
 */
export default defineRule({
  id: 'data-plane-role-granted',
  version: '1',
  name: 'Data-plane role on AI, Key Vault or Storage granted to a non-human identity',
  description:
    'A role assignment gave a service principal or managed identity a data-plane role on AI services, Key Vault or Storage ' +
    '(for example Cognitive Services OpenAI Contributor, Key Vault Secrets Officer, Storage Blob Data Contributor or Owner) that writes or manages data, ' +
    'or any such role at a scope above a single resource. ' +
    'Check who asked for it and whether the identity needs more than read access on one resource; if not, remove the assignment and review what the identity did with it.',
  severity: 'Medium',
  tactics: ['Persistence', 'PrivilegeEscalation'],
  techniques: ['T1098.003'],
  sources: ['activity'],
  operations: ['MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE'],
  tags: ['rbac', 'non-human-identity'],
  tunables: {
    assigneeTypes: tunable(
      ['ServicePrincipal'],
      'Assignee types reported (as ARM logs them: ServicePrincipal covers managed identities; add User or Group to widen)',
    ),
    minAccessOnResource: tunable('write', 'On a single resource, report roles with at least this access: read, write or admin'),
    minAccessAboveResource: tunable('read', 'Above a single resource (resource group, subscription, management group), report roles with at least this access'),
  },
  where: (e, t) => {
    if (e.result === 'failure') return false;
    const grant = grantOf(e);
    if (!grant || !t.assigneeTypes.some((type) => type.toLowerCase() === grant.assigneeType?.toLowerCase())) return false;
    if (grant.level === 'resource') {
      return DATA_RESOURCE.test(`${grant.scope}/`) && LEVEL[grant.role.access] >= level(t.minAccessOnResource, 'minAccessOnResource');
    }
    return LEVEL[grant.role.access] >= level(t.minAccessAboveResource, 'minAccessAboveResource');
  },
  groupBy: (e) => `${e.principalId}|${e.details.assigneePrincipalId}|${e.details.roleDefinitionId}|${e.details.scope}`,
  kind: 'match',
  evidence: ({ events }) => {
    const grant = events.map(grantOf).find((g) => g !== undefined);
    return {
      roleName: grant?.role.name,
      roleDefinitionId: grant?.roleDefinitionId,
      access: grant?.role.access,
      scope: grant?.scope,
      scopeLevel: grant?.level,
      scopeName: grant?.scope.slice(grant.scope.lastIndexOf('/') + 1) || '/',
      assigneePrincipalId: grant?.assignee,
      assigneePrincipalType: grant?.assigneeType,
    };
  },
  title: ({ principal, principalId, evidence }) => {
    const assignee = evidence.assigneePrincipalId === principalId ? 'its own identity' : `${evidence.assigneePrincipalType} ${evidence.assigneePrincipalId}`;
    return `${evidence.roleName} granted to ${assignee} on ${evidence.scopeLevel} ${evidence.scopeName} by ${principal}`;
  },
  suppress: '1h',
});
