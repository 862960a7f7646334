import { defineRule, resourceName } from '../src/engine/api.js';

const LIST_KEYS = 'MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION';
const REGENERATE_KEY = 'MICROSOFT.STORAGE/STORAGEACCOUNTS/REGENERATEKEY/ACTION';

/**
 * A storage account key is full control of every blob, queue and table in the account, from
 * anywhere, with no identity in the data-plane logs (requests show as `key:<account>`). Listing
 * keys is routine only for a few platform identities, which deployers allow-list.
 */
export default defineRule({
  id: 'storage-key-listing',
  version: '1',
  name: 'Storage account keys listed by a principal not on the allow-list',
  title: ({ principal, events }) => {
    const verb = events.some((e) => e.operation === REGENERATE_KEY) ? 'regenerated' : 'listed';
    const denied = events.every((e) => e.result === 'failure') ? ' (denied)' : '';
    return `Storage account keys ${verb}${denied} on ${resourceName(events[0]?.resourceId) ?? 'a storage account'} by ${principal}`;
  },
  description:
    'A user or service principal listed (or regenerated) the access keys of a storage account. ' +
    'Whoever holds a key can read, write and delete all data in the account from anywhere, and its use is logged only as key access. ' +
    'Check the caller is a known automation (then allow-list it); if not, rotate both keys and review key-authenticated requests to the account since.',
  severity: 'Medium',
  tactics: ['CredentialAccess', 'Collection'],
  techniques: ['T1552', 'T1530'],
  sources: ['activity'],
  operations: [LIST_KEYS, REGENERATE_KEY],
  tags: ['storage', 'keys'],
  // Platform-written records name Azure itself (`azure:…`), not a user or service principal.
  where: (e) => !e.principalId.startsWith('azure:'),
  // Per principal and account: keys of a second account are a second finding.
  groupBy: (e) => `${e.principalId}|${e.resourceId ?? ''}`,
  kind: 'match',
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    callerRole: events.find((e) => e.details.callerRole !== undefined)?.details.callerRole,
  }),
  // The activity log writes Start then Success: one alert per principal, account and hour.
  suppress: '1h',
});
