import { defineRule, keyVaultObjectName, nonHumanSignInFromNewIp, resourceName, trustedIpPrefixesTunable, tunable } from '../src/engine/api.js';

const SECRET_READS = ['SECRETGET', 'KEYGET', 'CERTIFICATEGET', 'SECRETBACKUP', 'KEYBACKUP'];
const KEY_LISTINGS = ['MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION', 'MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION'];

/**
 * Service principals and managed identities sign in from the few addresses their hosts use. A
 * sign-in from an address never seen for the identity, followed within the hour by reading a
 * secret or listing account keys, is the classic use of a leaked client secret: authenticate
 * from the attacker's machine, then go straight for more credentials.
 */
export default defineRule({
  id: 'nhi-new-ip-then-key-access',
  version: '1',
  name: 'Non-human identity signs in from a new IP, then reads a secret or lists keys',
  description:
    'A service principal or managed identity signed in from an IP address never seen for it (after its learning period) and, within the time limit, ' +
    'read a Key Vault secret, key or certificate or listed the keys of an AI or storage account. That is how a leaked client secret is used: sign in from elsewhere, then collect more credentials. ' +
    'Check the address (owner, location) and the credential used (credentialKeyId in the evidence); if it is not the workload, remove that credential and rotate what was read.',
  severity: 'High',
  tactics: ['InitialAccess', 'CredentialAccess'],
  techniques: ['T1078.004', 'T1555.006', 'T1552'],
  sources: ['signin', 'keyvault', 'activity'],
  tags: ['non-human-identity', 'sequence', 'multi-source'],
  tunables: {
    trustedIpPrefixes: trustedIpPrefixesTunable(),
  },
  kind: 'sequence',
  within: tunable('1h', 'Longest time from the sign-in to the secret read or key listing'),
  steps: {
    signin: nonHumanSignInFromNewIp('sign-in from an IP never seen for it'),
    access: {
      name: 'secret read or key listing',
      sources: ['keyvault', 'activity'],
      operations: [...SECRET_READS, ...KEY_LISTINGS],
      where: (e) => e.result !== 'failure',
    },
  },
  evidence: ({ steps: { signin, access } }) => ({
    newIp: signin.ip,
    signInApp: signin.details.targetResourceName,
    // Which client secret or certificate signed in: its id, not the secret.
    credentialKeyId: signin.details.credentialKeyId,
    accessOperation: access.operation,
    accessedResource: resourceName(access.resourceId),
    accessIp: access.ip,
  }),
  title: ({ principal, steps: { signin, access } }) => {
    const what =
      access.source === 'keyvault'
        ? `read ${keyVaultObjectName(access) ?? 'an object'} from ${access.details.vault ?? 'a Key Vault'}`
        : `listed the keys of ${resourceName(access.resourceId) ?? 'an account'}`;
    return `${principal} signed in from new IP ${signin.ip} and then ${what}`;
  },
  suppress: '1h',
});
