import { defineRule, tunable, type RuleContext, type SourceEvent } from '../src/engine/api.js';

const STORAGE_ACCOUNT = 'microsoft.storage/storageaccounts';
/** Server-side copies as the destination logs them (CopyBlobDestination names no source and is skipped). */
const COPIES = ['COPYBLOB', 'COPYBLOBSOURCE', 'COPYBLOBDESTINATION', 'PUTBLOBFROMURL', 'COPYBLOBFROMURL', 'PUTBLOCKFROMURL'];

interface CopyEnds {
  source: string;
  destination: string;
  /** The source account's subscription; undefined when the tenant does not know the account. */
  sourceSubscriptionId?: string;
  destinationSubscriptionId?: string;
}

/** Where a copy reads from and writes to, the source placed with the resource inventory. */
function copyEnds(e: SourceEvent<'storage'>, context: RuleContext): CopyEnds | undefined {
  const { sourceAccount: source, account: destination } = e.details;
  if (source === undefined || destination === undefined) return undefined;
  return {
    source,
    destination,
    sourceSubscriptionId: context.inventory.find(STORAGE_ACCOUNT, source)?.subscriptionId,
    destinationSubscriptionId: e.subscriptionId,
  };
}

/**
 * Copying blobs server-side into an account in another subscription — or from an account the
 * tenant does not know into one it does — moves data across the boundary that owns it, without
 * the data ever passing the copier's network. Where the source account lives comes from the
 * resource inventory: learned from the storage logs seen, and from WARDEN_INVENTORY (an Azure
 * Resource Graph export) for accounts whose logs Warden does not read.
 */
export default defineRule({
  id: 'cross-subscription-data-copy',
  version: '1',
  name: 'Blob copied across subscriptions, or from an account outside the tenant',
  description:
    "A principal copied blobs server-side (CopyBlob, Put Blob/Block From URL) into a storage account of another subscription than the source account's, " +
    "or from an account the tenant does not know (not in the logs seen nor in the inventory). Copies cross the subscription boundary that owns the data and leave no transfer on the copier's network. " +
    'Check the destination is an approved target and the copier a known data pipeline; if not, remove its access to the source and review what was copied (container and blob in the evidence).',
  severity: 'High',
  tactics: ['Exfiltration', 'Collection'],
  techniques: ['T1537', 'T1530'],
  sources: ['storage'],
  operations: COPIES,
  tags: ['storage', 'exfiltration', 'enrichment'],
  tunables: {
    allowSourceAccounts: tunable([] as string[], 'Source accounts copies may come from, wherever they live (public datasets, partner drops)'),
  },
  where: (e, { allowSourceAccounts }, context) => {
    if (e.result === 'failure') return false;
    const ends = copyEnds(e, context);
    if (!ends || ends.source === ends.destination || allowSourceAccounts.some((a) => a.toLowerCase() === ends.source)) return false;
    return ends.sourceSubscriptionId === undefined || ends.sourceSubscriptionId !== ends.destinationSubscriptionId;
  },
  // One finding per copier, source and destination account (a copy logs up to three records).
  groupBy: (e) => `${e.principalId}|${e.details.sourceAccount}|${e.details.account}`,
  kind: 'match',
  evidence: ({ events, context }) => {
    const e = events[events.length - 1];
    const ends = e && copyEnds(e, context);
    return {
      sourceAccount: ends?.source,
      sourceSubscriptionId: ends?.sourceSubscriptionId ?? null,
      sourceKnownToTenant: ends?.sourceSubscriptionId !== undefined,
      destinationAccount: ends?.destination,
      destinationSubscriptionId: ends?.destinationSubscriptionId,
      container: e?.details.container,
      blob: e?.details.blob,
      copySourceUri: e?.details.copySourceUri,
      authType: e?.details.authType,
    };
  },
  title: ({ principal, evidence }) => {
    const from = evidence.sourceSubscriptionId ? `subscription ${evidence.sourceSubscriptionId}` : 'outside the tenant';
    return `Blob copied from ${evidence.sourceAccount} (${from}) to ${evidence.destinationAccount} (subscription ${evidence.destinationSubscriptionId}) by ${principal}`;
  },
  suppress: '1h',
});
