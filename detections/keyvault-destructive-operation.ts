import { FIRST_PARTY_NOISE_APPS, defineRule, keyVaultObjectName, resourceName } from '../src/engine/api.js';

/** Key Vault data-plane operations (AuditEvent) that destroy or copy out secrets, keys and certificates. */
const OBJECT_OPERATIONS = [
  'SECRETDELETE',
  'SECRETPURGE',
  'SECRETBACKUP',
  'KEYDELETE',
  'KEYPURGE',
  'KEYBACKUP',
  'CERTIFICATEDELETE',
  'CERTIFICATEPURGE',
  'CERTIFICATEBACKUP',
];
/** The vault itself: the AuditEvent name and the Activity Log's. */
const VAULT_OPERATIONS = ['VAULTDELETE', 'VAULTPURGE', 'MICROSOFT.KEYVAULT/VAULTS/DELETE', 'MICROSOFT.KEYVAULT/LOCATIONS/DELETEDVAULTS/PURGE/ACTION'];

/**
 * Deleting or purging Key Vault objects destroys what workloads need (ransom, sabotage, covering
 * tracks); a backup blob is the whole secret, encrypted for any vault of the same subscription and
 * geography, and so a way to carry it out. Workloads read secrets; they rarely delete, purge or back
 * them up. Azure Backup's own vault backups are left out by the first-party allow-list.
 */
export default defineRule({
  id: 'keyvault-destructive-operation',
  version: '1',
  name: 'Key Vault secrets, keys or certificates deleted, purged or backed up, or a vault deleted',
  title: ({ principal, events }) => {
    const ops = [...new Set(events.map((e) => e.operation.toLowerCase()))].join(', ');
    const names = [...new Set(events.map((e) => (e.source === 'keyvault' ? keyVaultObjectName(e) : undefined)).filter((n) => n !== undefined))];
    return `${ops} on Key Vault ${resourceName(events[0]?.resourceId) ?? '(unknown)'}${names.length ? ` (${names.slice(0, 3).join(', ')})` : ''} by ${principal}`;
  },
  description:
    'A principal deleted, purged or backed up a Key Vault secret, key or certificate, or deleted or purged a vault. ' +
    'Deletion and purge destroy what workloads depend on (sabotage, ransom, covering tracks); a backup blob carries the whole object out of the vault. ' +
    "Check the caller is a known administration pipeline or Azure Backup; if not, recover the soft-deleted objects, rotate what was backed up and review the principal's other activity.",
  severity: 'High',
  tactics: ['Impact', 'CredentialAccess'],
  techniques: ['T1485', 'T1555.006'],
  sources: ['keyvault', 'activity'],
  operations: [...OBJECT_OPERATIONS, ...VAULT_OPERATIONS],
  tags: ['keyvault', 'destruction', 'non-human-identity'],
  allowPrincipals: FIRST_PARTY_NOISE_APPS,
  // A denied attempt says as much about intent; the Activity Log's Start is followed by its Success.
  where: (e) => e.result !== 'start',
  kind: 'match',
  evidence: ({ events }) => ({
    vault: resourceName(events[0]?.resourceId),
    objects: [...new Set(events.map((e) => (e.source === 'keyvault' ? keyVaultObjectName(e) : undefined)).filter((n) => n !== undefined))],
    denied: events.every((e) => e.result === 'failure'),
  }),
  // A clean-up script deletes object after object: one incident per principal and vault per hour.
  groupBy: (e) => `${e.principalId}|${e.resourceId ?? ''}`,
  suppress: '1h',
});
