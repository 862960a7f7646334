import { defineRule, tunable } from '../src/engine/api.js';

/**
 * A workload reads the few kinds of directory objects its job needs (users for a sync, groups for
 * an access tool). Listing many different kinds in minutes — users, groups, applications, service
 * principals, roles, policies — is mapping the tenant: what AzureHound and ROADrecon do first with
 * a stolen app credential.
 */
export default defineRule({
  id: 'nhi-graph-recon-burst',
  version: '1',
  name: 'A non-human identity enumerates many kinds of directory objects through Graph',
  description:
    'A service principal or managed identity read many different kinds of directory objects (users, groups, applications, service principals, ' +
    'directory roles, role assignments, policies…) through Microsoft Graph within minutes. Workloads read the same one or two kinds; ' +
    "many kinds at once is reconnaissance with the identity's credential. Check which app it is and whether a new inventory or governance tool explains it; " +
    'if not, rotate its credentials and look at how they were obtained (a credential recently added to it, a new IP).',
  severity: 'Medium',
  tactics: ['Discovery'],
  techniques: ['T1087.004', 'T1069.003', 'T1526'],
  sources: ['graph'],
  tags: ['graph', 'discovery', 'non-human-identity', 'threshold'],
  tunables: {
    objectKinds: tunable(
      [
        'users',
        'groups',
        'applications',
        'servicePrincipals',
        'devices',
        'directoryRoles',
        'roleManagement',
        'organization',
        'domains',
        'policies',
        'oauth2PermissionGrants',
        'identity',
        'administrativeUnits',
        'contacts',
        'directoryObjects',
        'auditLogs',
        'identityProtection',
      ],
      'Graph collections that hold directory objects (case-insensitive)',
    ),
  },
  where: (e, t) => {
    const kind = e.details.resourceKind?.toLowerCase();
    return (
      e.principalType !== 'user' && e.operation === 'GET' && e.result === 'success' && kind !== undefined && t.objectKinds.some((k) => k.toLowerCase() === kind)
    );
  },
  kind: 'threshold',
  threshold: tunable(6, 'Distinct kinds of directory objects read …'),
  window: tunable('10m', '… within this window'),
  distinct: (e) => e.details.resourceKind?.toLowerCase(),
  evidence: ({ events, evidence }) => ({
    objectKinds: evidence.values ?? [],
    callerIps: [...new Set(events.map((e) => e.ip).filter((ip) => ip !== undefined))],
    userAgents: [...new Set(events.map((e) => e.details.userAgent).filter((a) => a !== undefined))],
  }),
  title: ({ principal, evidence }) => `${principal} read ${evidence.count} kinds of directory objects through Graph in ${Math.round(evidence.spanMs / 1000)}s`,
  suppress: '1h',
});
