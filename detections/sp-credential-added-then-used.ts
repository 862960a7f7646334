import { defineRule, nonHumanSignInFromNewIp, trustedIpPrefixesTunable, tunable, type DirectoryDetails, type SigninDetails } from '../src/engine/api.js';

const FEDERATED_ADDED = new Set(['added', 'changed']);

/**
 * Whether a sign-in used the credential the change added: its key id among the ones added; for a
 * federated credential (the audit entry names it, the sign-in gives its id), a federated sign-in.
 */
function usesAdded(signin: SigninDetails, added: DirectoryDetails): boolean {
  const keyId = signin.credentialKeyId;
  if (keyId && added.addedKeyIds?.split(',').includes(keyId)) return true;
  const federated = signin.federatedCredentialId !== undefined || signin.clientCredentialType?.toLowerCase() === 'federatedidentitycredential';
  return federated && added.federatedChange !== undefined && FEDERATED_ADDED.has(added.federatedChange);
}

/**
 * Planting a credential is how an attacker keeps access to a workload identity (Midnight Blizzard,
 * the SolarWinds actors): add a secret or certificate to an application or service principal that
 * already holds permissions, then sign in as it from their own infrastructure. Each half alone is
 * routine — credentials are rotated, workloads move — but the credential just added signing in
 * from an address the identity never used is the plant being used. The rule keys on the target:
 * an entry about a service principal meets its sign-ins under its object id, an entry about an
 * application (the commoner form) meets its service principal's sign-ins under the app id, as
 * Sentinel joins AuditLogs to service principal sign-ins.
 */
export default defineRule({
  id: 'sp-credential-added-then-used',
  version: '2',
  name: 'A credential added to an application or service principal signs in from an IP never seen for it',
  description:
    'Someone added a client secret, certificate or federated credential to an application (app registration) or a service principal, and within the time limit ' +
    'that credential (its key id, or a federated sign-in) signed the service principal in from an IP address never seen for it. ' +
    'That is a planted credential in use: the attacker added it with one identity and ' +
    'signs in as the workload from their own network. Check who added the credential (addedBy in the evidence) and whether the change was planned; ' +
    "if not, delete the credential, review the sign-ins and what the service principal did since, and the adder's account.",
  severity: 'High',
  tactics: ['Persistence', 'PrivilegeEscalation', 'InitialAccess'],
  techniques: ['T1098.001', 'T1078.004'],
  sources: ['directory', 'signin'],
  tags: ['non-human-identity', 'sequence', 'multi-source', 'credentials', 'target-keyed'],
  keyBy: 'target',
  tunables: {
    trustedIpPrefixes: trustedIpPrefixesTunable(),
  },
  kind: 'sequence',
  within: tunable('7d', 'Longest time from the credential added to its use from a new IP'),
  steps: {
    added: {
      name: 'credential added to the application or service principal',
      sources: ['directory'],
      where: (e) =>
        e.source === 'directory' &&
        e.result === 'success' &&
        e.targetPrincipalId !== undefined &&
        (e.details.addedKeyIds !== undefined || (e.details.federatedChange !== undefined && FEDERATED_ADDED.has(e.details.federatedChange))),
    },
    used: {
      ...nonHumanSignInFromNewIp('that credential signs in from an IP never seen for it'),
      relate: (e, { added }) => e.source === 'signin' && added.source === 'directory' && usesAdded(e.details, added.details),
    },
  },
  evidence: ({ steps: { added, used } }) => ({
    appId: used.appId,
    addedTo: added.details.targetType,
    addedToName: added.details.targetName,
    credentialKeyId: used.details.credentialKeyId ?? used.details.federatedCredentialId,
    type: used.details.clientCredentialType ?? added.details.addedKeyTypes,
    addedName: added.details.addedKeyNames ?? added.details.federatedName,
    change: added.operation,
    addedBy: added.principalName ?? added.principalId,
    addedById: added.principalId,
    addedFromIp: added.ip,
    newIp: used.ip,
    signInResource: used.details.targetResourceName,
  }),
  title: ({ principal, evidence }) =>
    `${principal} signed in from new IP ${evidence.newIp} with the ${evidence.type ?? 'credential'} ${evidence.credentialKeyId ?? ''} that ${evidence.addedBy} added`.replace(
      /\s+/g,
      ' ',
    ),
  suppress: '1h',
});
