import { defineRule, isAllowListed, principalLabel, resourceName } from '../src/engine/index.js';

/** Reads that return data: blob contents, secret values, key and certificate material. */
const READS = ['GETBLOB', 'SECRETGET', 'KEYGET', 'CERTIFICATEGET'];
/** Writes of data into a storage account (the source side of a copy is a read, not listed). */
const WRITES = ['PUTBLOB', 'PUTBLOCK', 'PUTBLOCKLIST', 'APPENDBLOCK', 'PUTPAGE', 'COPYBLOB', 'COPYBLOBDESTINATION', 'PUTBLOBFROMURL', 'COPYBLOBFROMURL', 'PUTBLOCKFROMURL'];

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
  title: ({ principalName, principalId, evidence }) =>
    `${principalLabel({ principalName, principalId })} read data in subscription ${evidence.readSubscriptionId} (${evidence.readResource}) ` +
    `then wrote to subscription ${evidence.writeSubscriptionId} (${evidence.writeResource})`,
  description:
    'A principal read data (blobs, secrets, keys) in one subscription and then, within the time limit, wrote data into a storage account of another subscription ' +
    'that it had not written to before (after its learning period). That is how data is staged out of the subscription that owns it. ' +
    'Check whether the destination subscription is an approved target for this workload; if not, review what was written there and disable the credential.',
  severity: 'Medium',
  tactics: ['Collection', 'Exfiltration'],
  techniques: ['T1530', 'T1537'],
  sources: ['storage', 'keyvault'],
  tags: ['storage', 'keyvault', 'sequence', 'exfiltration'],
  tunables: {
    /** Longest time from the read to the write. */
    within: '1h',
    /** How long a subscription stays known to the principal after it last wrote there. */
    horizon: '30d',
    /** Nothing is a new destination until the principal has been watched this long. */
    learning: '7d',
    /** Principal object ids or app ids that move data between subscriptions by design. */
    allowPrincipals: [] as string[],
  },
  kind: 'sequence',
  within: (t) => t.within,
  steps: [
    {
      name: 'read data in a subscription',
      operations: READS,
      where: (e, { allowPrincipals }) => e.result === 'success' && e.subscriptionId !== undefined && !isAllowListed(e, allowPrincipals),
    },
    {
      name: 'write data into a subscription it never wrote to',
      sources: ['storage'],
      operations: WRITES,
      where: (e, { allowPrincipals }) => e.result === 'success' && e.subscriptionId !== undefined && !isAllowListed(e, allowPrincipals),
      relate: (e, [read]) => e.subscriptionId !== read.subscriptionId,
      firstSeen: { value: 'subscriptionId', horizon: (t) => t.horizon, learning: (t) => t.learning },
    },
  ],
  evidence: ({ events }) => {
    const [read, write] = [events[0], events[events.length - 1]];
    return {
      readSubscriptionId: read?.subscriptionId,
      readResource: resourceName(read?.resourceId),
      readOperation: read?.operation,
      writeSubscriptionId: write?.subscriptionId,
      writeResource: resourceName(write?.resourceId),
      writeOperation: write?.operation,
      writtenBlob: write?.details.blob,
    };
  },
  suppress: '1h',
  entities: ['account', 'azure-resource', 'ip', 'cloud-application'],
});
