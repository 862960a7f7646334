import { defineRule, FIRST_PARTY_NOISE_APPS, tunable } from '../src/engine/api.js';

/**
 * Exfiltration from storage is bytes: a principal (or an account's key/SAS use) reading far more
 * than it usually does from an account, whether in a few large blobs or many small ones. Each
 * reader is compared with its own history for that account, so a nightly export that always reads
 * gigabytes stays quiet; Azure Backup is on the first-party allow-list.
 */
export default defineRule({
  id: 'storage-read-volume-anomaly',
  version: '1',
  name: "Bytes read from a storage account far above the reader's own baseline",
  title: ({ principal, events, evidence: { count, bucket, rate } }) =>
    `${(count / 1e6).toFixed(1)} MB read in ${bucket} by ${principal} from ${events[0]?.details.account ?? 'a storage account'}` +
    (rate === null ? '' : `: ${rate.toFixed(1)}× its baseline`),
  description:
    'A principal, or an account key / SAS (keyed by account), read far more bytes from a storage account than its own learned baseline. ' +
    'Typical causes: data exfiltration with a stolen credential or leaked SAS, or a job that changed. ' +
    "Check the containers and IPs in the evidence against the reader's usual ones.",
  severity: 'Medium',
  tactics: ['Exfiltration', 'Collection'],
  techniques: ['T1530', 'T1567'],
  sources: ['storage'],
  tags: ['storage', 'volume', 'exfiltration'],
  allowPrincipals: FIRST_PARTY_NOISE_APPS,
  where: (e) => e.category.toLowerCase() === 'storageread' && e.result === 'success',
  groupBy: (e) => (e.details.account ? `${e.principalId}|${e.details.account}` : undefined),
  kind: 'anomaly',
  measure: (e) => e.details.bytes,
  bucket: tunable('15m', 'Bucket of event time the bytes are added up in'),
  warmup: tunable(16, 'Buckets of history (4 hours of 15-minute buckets) before a reader may alert'),
  factor: tunable(10, "Alert when the bucket's bytes are at least this many times the baseline mean…"),
  zScore: tunable(4, '…and this many standard deviations above it'),
  minCount: tunable(500_000_000, 'Fewest bytes in a bucket for an alert, whatever the baseline'),
  evidence: ({ events }) => ({
    containers: [...new Set(events.map((e) => e.details.container).filter((c) => c !== undefined))],
    callerIps: [...new Set(events.map((e) => e.ip).filter((ip) => ip !== undefined))],
  }),
  suppress: '1h',
});
