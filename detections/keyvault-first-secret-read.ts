import { defineRule, keyVaultObject, tunable } from '../src/engine/api.js';

/**
 * A workload identity reads the same secrets for as long as it lives: the backup job reads its
 * connection string every hour. A secret it has never read — after its learning period — is
 * the first sign of a credential used beyond its job.
 */
export default defineRule({
  id: 'keyvault-first-secret-read',
  version: '1',
  name: 'A principal reads a Key Vault secret it has never read',
  title: ({ principal, events }) =>
    `${principal} read secret ${events[0]?.details.secretName ?? '(unknown)'} of ${events[0]?.details.vault ?? 'a Key Vault'} for the first time`,
  description:
    'A principal read the value of a Key Vault secret it had not read within the horizon, after its own learning period. ' +
    'Workload identities read a fixed set of secrets; a new one means the identity is used for something else, or the workload changed. ' +
    "Check the caller IP and user agent against the principal's usual ones and whether a release explains it; if not, rotate the secret.",
  severity: 'Low',
  tactics: ['CredentialAccess'],
  techniques: ['T1555.006'],
  sources: ['keyvault'],
  operations: ['SECRETGET'],
  tags: ['keyvault', 'secrets', 'first-seen'],
  where: (e) => e.result === 'success',
  kind: 'firstSeen',
  // `vault/name` of the secret (SECRETGET names a secret only).
  value: keyVaultObject,
  horizon: tunable('30d', 'How long a secret stays known after the principal last read it'),
  learning: tunable('7d', 'Nothing is new until the principal has been watched this long'),
  evidence: ({ events }) => ({
    vault: events[0]?.details.vault,
    secretName: events[0]?.details.secretName,
    userAgent: events[0]?.details.userAgent,
  }),
  // Several new secrets in a row are one finding (keyvault-mass-secret-read counts them).
  suppress: '1h',
});
