import { defineRule, resourceName, tunable } from '../src/engine/api.js';

const KEY_AUTH = new Set(['SAS', 'AccountKey']);

/**
 * Account keys and SAS tokens bypass Entra ID and conditional access, and the storage logs name
 * only the account they belong to (`key:<account>`). What is left to judge is where they are used
 * from: blobs read with a key or SAS from an address the account's key use never came from is a
 * leaked SAS URL or key at work. Workloads using keys read from a handful of egress addresses.
 */
export default defineRule({
  id: 'storage-sas-or-key-read-from-new-ip',
  version: '1',
  name: 'Blobs read with a SAS or account key from an IP never seen for that account',
  title: ({ events, evidence: { value } }) =>
    `Blobs of ${resourceName(events[0]?.resourceId) ?? 'a storage account'} read with ${events[0]?.details.authType ?? 'a key'} from new IP ${value}`,
  description:
    "A blob was read with a shared access signature or the account key from an IP address that the account's key and SAS use had not come from within the horizon, after the learning period. " +
    'Keys and SAS tokens work from anywhere and are not tied to an identity: a leaked SAS URL or key shows only as a new address. ' +
    'Check the address against known workloads; if unknown, rotate the account keys (which revokes account SAS) and review what it read.',
  severity: 'Medium',
  tactics: ['Collection', 'InitialAccess'],
  techniques: ['T1530', 'T1078.004'],
  sources: ['storage'],
  tags: ['storage', 'keys', 'sas', 'first-seen'],
  where: (e) => e.category.toLowerCase() === 'storageread' && e.operation === 'GETBLOB' && KEY_AUTH.has(e.details.authType ?? '') && e.result === 'success',
  kind: 'firstSeen',
  value: 'ip',
  horizon: tunable('30d', "How long an IP stays known after the account's key or SAS use last came from it"),
  learning: tunable('7d', "Nothing is new until the account's key and SAS use has been watched this long"),
  evidence: ({ events }) => ({ account: events[0]?.details.account, authType: events[0]?.details.authType, container: events[0]?.details.container }),
  // A leaked URL is read over and over: one incident per account and hour.
  suppress: '1h',
});
