import { defineRule, keyVaultObject, tunable } from '../src/engine/api.js';

/** Reads that return secret material or key/certificate data (backups export it whole). */
const READS = ['SECRETGET', 'SECRETBACKUP', 'KEYGET', 'KEYBACKUP', 'CERTIFICATEGET', 'CERTIFICATEBACKUP'];

/**
 * An application reads the few secrets it needs, again and again. Reading many different
 * secrets in minutes is harvesting: a stolen identity dumping a vault, or a tool enumerating it.
 */
export default defineRule({
  id: 'keyvault-mass-secret-read',
  version: '1',
  name: 'One principal reads many different Key Vault secrets in minutes',
  description:
    'A principal read (or backed up) many distinct secrets, keys or certificates of Key Vaults within a short window. ' +
    'Applications read the same few secrets repeatedly; many different ones in minutes is credential harvesting. ' +
    'Check whether the caller is a secret-sync or backup tool; if not, treat every secret in the evidence as exposed: rotate them and disable the credential.',
  severity: 'High',
  tactics: ['CredentialAccess'],
  techniques: ['T1555.006'],
  sources: ['keyvault'],
  operations: READS,
  tags: ['keyvault', 'secrets', 'threshold'],
  where: (e) => e.result !== 'failure',
  kind: 'threshold',
  threshold: tunable(10, 'Distinct secrets, keys or certificates read …'),
  window: tunable('10m', '… within this window'),
  // The same name in two vaults is two secrets.
  distinct: keyVaultObject,
  evidence: ({ events, evidence }) => ({
    vaults: [...new Set((evidence.values ?? []).map((v) => v.slice(0, v.indexOf('/'))))],
    callerIps: [...new Set(events.map((e) => e.ip).filter((ip) => ip !== undefined))],
    userAgents: [...new Set(events.map((e) => e.details.userAgent).filter((a) => a !== undefined))],
  }),
  title: ({ principal, evidence }) =>
    `${evidence.count} different Key Vault secrets read in ${Math.round(evidence.spanMs / 1000)}s by ${principal} from ${evidence.vaults.join(', ')}`,
  suppress: '1h',
});
