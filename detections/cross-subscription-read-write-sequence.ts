import { defineRule, resourceName, tunable } from '../src/engine/api.js';

/** Reads that return data: blob contents, secret values, key and certificate material. */
const READS = ['GETBLOB', 'SECRETGET', 'KEYGET', 'CERTIFICATEGET'];
/** Writes of data into a storage account (the source side of a copy is a read, not listed). */
const WRITES = [
  'PUTBLOB',
  'PUTBLOCK',
  'PUTBLOCKLIST',
  'APPENDBLOCK',
  'PUTPAGE',
  'COPYBLOB',
  'COPYBLOBDESTINATION',
  'PUTBLOBFROMURL',
  'COPYBLOBFROMURL',
  'PUTBLOCKFROMURL',
];

/**
 * Data read in one subscription and written into another soon after is how data leaves the
 * boundary that owns it — read from production, staged in a sandbox or an attacker-controlled
 * subscription. Workloads that routinely read in one subscription and write in another (a job
 * reading its secret from a shared vault and writing backups to production) do it into the
 * same subscriptions every day: the write counts only into a subscription the principal has not
 * written to within the horizon, after its learning period.
 */
export default defineRule({
  id: 'cross-subscription-read-write-sequence',
  version: '1',
  name: 'Data read in one subscription, then written into another',
  description:
    'A principal read data (blobs, secrets, keys) in one subscription and then, within the time limit, wrote data into a storage account of another subscription ' +
    'that it had not written to before (after its learning period). That is how data is staged out of the subscription that owns it. ' +
    'Check whether the destination subscription is an approved target for this workload; if not, review what was written there and disable the credential.',
  severity: 'Medium',
  tactics: ['Collection', 'Exfiltration'],
  techniques: ['T1530', 'T1537'],
  sources: ['storage', 'keyvault'],
  tags: ['storage', 'keyvault', 'sequence', 'exfiltration'],
  where: (e) => e.result === 'success' && e.subscriptionId !== undefined,
  kind: 'sequence',
  within: tunable('1h', 'Longest time from the read to the write'),
  steps: {
    read: { name: 'read data in a subscription', operations: READS },
    write: {
      name: 'write data into a subscription it never wrote to',
      sources: ['storage'],
      operations: WRITES,
      relate: (e, { read }) => e.subscriptionId !== read.subscriptionId,
      firstSeen: {
        value: 'subscriptionId',
        horizon: tunable('30d', 'How long a subscription stays known to the principal after it last wrote there'),
        learning: tunable('7d', 'Nothing is a new destination until the principal has been watched this long'),
      },
    },
  },
  evidence: ({ steps: { read, write } }) => ({
    readSubscriptionId: read.subscriptionId,
    readResource: resourceName(read.resourceId),
    readOperation: read.operation,
    writeSubscriptionId: write.subscriptionId,
    writeResource: resourceName(write.resourceId),
    writeOperation: write.operation,
    writtenBlob: write.details.blob,
  }),
  title: ({ principal, evidence }) =>
    `${principal} read data in subscription ${evidence.readSubscriptionId} (${evidence.readResource}) ` +
    `then wrote to subscription ${evidence.writeSubscriptionId} (${evidence.writeResource})`,
  suppress: '1h',
});
