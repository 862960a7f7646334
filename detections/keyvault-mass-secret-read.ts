import type { NormalizedEvent } from '../src/model/index.js';
import { defineRule, isAllowListed, principalLabel } from '../src/engine/index.js';

/** Reads that return secret material or key/certificate data (backups export it whole). */
const READS = ['SECRETGET', 'SECRETBACKUP', 'KEYGET', 'KEYBACKUP', 'CERTIFICATEGET', 'CERTIFICATEBACKUP'];

/** `vault/name` of the object read: the same name in two vaults is two secrets. */
function objectRead(e: NormalizedEvent): string | undefined {
  const name = e.details.secretName ?? e.details.keyName ?? e.details.certificateName;
  return name === undefined ? undefined : `${e.details.vault ?? e.resourceId ?? ''}/${name}`;
}

/**
 * An application reads the few secrets it needs, again and again. Reading many different
 * secrets in minutes is harvesting: a stolen identity dumping a vault, or a tool enumerating it.
 */
export default defineRule({
  id: 'keyvault-mass-secret-read',
  version: '1',
  name: 'One principal reads many different Key Vault secrets in minutes',
  title: ({ principalName, principalId, evidence }) => {
    const vaults = evidence.vaults as string[];
    return `${evidence.count} different Key Vault secrets read in ${Math.round((evidence.spanMs as number) / 1000)}s by ${principalLabel({ principalName, principalId })} from ${vaults.join(', ')}`;
  },
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
  tunables: {
    /** Distinct secrets, keys or certificates read … */
    threshold: 10,
    /** … within this window. */
    window: '10m',
    /** Principal object ids or app ids that legitimately read many secrets (secret sync, backup). */
    allowPrincipals: [] as string[],
  },
  where: (e, { allowPrincipals }) => e.result !== 'failure' && !isAllowListed(e, allowPrincipals),
  kind: 'threshold',
  threshold: (t) => t.threshold,
  window: (t) => t.window,
  distinct: objectRead,
  evidence: ({ events, evidence }) => ({
    vaults: [...new Set(((evidence.values as string[] | undefined) ?? []).map((v) => v.slice(0, v.indexOf('/'))))],
    callerIps: [...new Set(events.map((e) => e.ip).filter((ip) => ip !== undefined))],
    userAgents: [...new Set(events.map((e) => e.details.userAgent).filter((a) => a !== undefined))],
  }),
  suppress: '1h',
  entities: ['account', 'azure-resource', 'ip', 'cloud-application'],
});
