import { defineRule, tunable, type SourceEvent } from '../src/engine/api.js';

/** Azure built-in roles that control a scope, by role definition id (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles). */
const AZURE_ROLES: Record<string, string> = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9': 'User Access Administrator',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  'f58310d9-a9f6-439a-9e8d-f62e7b41a168': 'Role Based Access Control Administrator',
};

/** Entra built-in roles by template id, for audit entries that log the id but not the name. */
const ENTRA_ROLES: Record<string, string> = {
  '62e90394-69f5-4237-9190-012177145e10': 'Global Administrator',
  'e8611ab8-c189-46e8-94e1-60213ab1f814': 'Privileged Role Administrator',
  '7be44c8a-adaf-4e2a-84d6-ab2649e08a13': 'Privileged Authentication Administrator',
  '9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3': 'Application Administrator',
  '158c047a-c907-4556-b7ef-446551a6b5f7': 'Cloud Application Administrator',
  '194ae4cb-b126-40b2-bd5b-6091b380977d': 'Security Administrator',
  'fe930be7-5e62-47db-91af-98c3a49a38b1': 'User Administrator',
  '8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2': 'Hybrid Identity Administrator',
  'b1be1c3e-b65d-4f19-8427-f6fa0d97feb9': 'Conditional Access Administrator',
  'c4e39bd9-1100-46d3-8c65-fb160da0071f': 'Authentication Administrator',
  '9360feb5-f418-4baa-8175-e2a00bac4301': 'Directory Writers',
};

const ROLE_ADDED = new Set(['ADD MEMBER TO ROLE', 'ADD ELIGIBLE MEMBER TO ROLE', 'ADD MEMBER TO ROLE COMPLETED (PIM ACTIVATION)']);
const ROLE_ASSIGNMENT_WRITE = 'MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE';

/** The role a grant names, and whether its assignee is a non-human identity; undefined for anything else. */
function grantOf(e: SourceEvent<'directory' | 'activity'>): { role: string; assignee?: string; scope: string } | undefined {
  if (e.source === 'directory') {
    if (!ROLE_ADDED.has(e.operation) || e.details.targetType?.toLowerCase() !== 'serviceprincipal') return undefined;
    const role = e.details.roleName ?? (e.details.roleId ? ENTRA_ROLES[e.details.roleId] : undefined);
    return role ? { role, assignee: e.details.targetName ?? e.details.targetId, scope: 'directory' } : undefined;
  }
  if (e.operation !== ROLE_ASSIGNMENT_WRITE || e.details.assigneePrincipalType?.toLowerCase() !== 'serviceprincipal') return undefined;
  const role = e.details.roleDefinitionId ? AZURE_ROLES[e.details.roleDefinitionId] : undefined;
  return role ? { role, assignee: e.details.assigneePrincipalId, scope: e.details.scope ?? '(unknown scope)' } : undefined;
}

/**
 * A service principal or managed identity with a privileged directory role, or Owner / User Access
 * Administrator / Contributor on Azure, holds the tenant or the subscription with a credential no
 * one types and few watch. Attackers who plant a credential on an app grant it such a role next.
 */
export default defineRule({
  id: 'nhi-privileged-role-assigned',
  version: '1',
  name: 'Privileged Entra or Azure role granted to a non-human identity',
  description:
    'A privileged Entra directory role (Global Administrator, Privileged Role Administrator, Application Administrator…) or an Azure Owner, ' +
    'User Access Administrator or Contributor role was granted to a service principal or managed identity. ' +
    "Check the change request behind it; if there is none, remove the assignment, then review the identity's credentials (one may have just been added) and its sign-ins.",
  severity: 'High',
  tactics: ['PrivilegeEscalation', 'Persistence'],
  techniques: ['T1098.003'],
  sources: ['directory', 'activity'],
  tags: ['entra', 'rbac', 'non-human-identity'],
  tunables: {
    entraRoles: tunable(Object.values(ENTRA_ROLES), 'Entra directory roles reported (display names, case-insensitive)'),
    azureRoles: tunable(Object.values(AZURE_ROLES), 'Azure built-in roles reported (names as in the built-in roles list)'),
  },
  where: (e, t) => {
    if (e.result === 'failure') return false;
    const grant = grantOf(e);
    if (!grant) return false;
    const listed = e.source === 'directory' ? t.entraRoles : t.azureRoles;
    return listed.some((r) => r.toLowerCase() === grant.role.toLowerCase());
  },
  groupBy: (e) => {
    const grant = grantOf(e);
    return `${e.principalId}|${grant?.assignee}|${grant?.role}|${grant?.scope}`;
  },
  kind: 'match',
  evidence: ({ events }) => {
    const grant = grantOf(events[0]);
    return { role: grant?.role, assignee: grant?.assignee, scope: grant?.scope };
  },
  title: ({ principal, evidence }) => `${evidence.role} granted to non-human identity ${evidence.assignee} on ${evidence.scope} by ${principal}`,
  suppress: '1h',
});
