import { defineRule, resourceName, tunable } from '../src/engine/api.js';

const REQUEST_RESPONSE = 'requestresponse';
const USAGE = 'azureopenairequestusage';

/**
 * What a call costs: its tokens where usage logs carry them, else the request and response bytes
 * (RequestResponse has no tokens). One rule per measure would double the incident; a caller's
 * baseline is learned on whichever its account logs.
 */
function volumeOf(e: { category: string; details: { totalTokens?: number; requestLength?: number; responseLength?: number } }): number | undefined {
  const category = e.category.toLowerCase();
  if (category === USAGE) return e.details.totalTokens;
  if (category !== REQUEST_RESPONSE) return undefined;
  const { requestLength, responseLength } = e.details;
  return requestLength === undefined && responseLength === undefined ? undefined : (requestLength ?? 0) + (responseLength ?? 0);
}

/**
 * Denial of wallet, and exfiltration through the model: a caller whose calls suddenly carry far
 * more (long prompts stuffed with data, long generations) than its own baseline for the account,
 * even at its usual call rate — which ai-invocation-rate-anomaly would not see.
 */
export default defineRule({
  id: 'ai-token-volume-anomaly',
  version: '1',
  name: "AI request and response volume far above the caller's own baseline",
  title: ({ principal, events, evidence: { count, bucket, rate } }) =>
    `${Math.round(count).toLocaleString('en-US')} bytes/tokens of AI traffic in ${bucket} by ${principal} to ${resourceName(events[0]?.resourceId) ?? 'an AI account'}` +
    (rate === null ? '' : `: ${rate.toFixed(1)}× its baseline`),
  description:
    "A caller's request + response volume (tokens where usage logs exist, else bytes) to an AI account was far above its own learned baseline. " +
    'Typical causes: a stolen key or credential burning capacity (denial of wallet), data exfiltrated through prompts or generations, or a runaway agent. ' +
    "Check the deployments and networks in the evidence against the caller's usual ones; rotate keys or disable the credential if it is not the workload.",
  severity: 'Medium',
  tactics: ['Impact', 'Exfiltration'],
  techniques: ['T1496.004', 'T1048'],
  sources: ['ai'],
  tags: ['ai', 'volume', 'denial-of-wallet'],
  groupBy: (e) => (e.resourceId ? `${e.principalId}|${e.resourceId}` : undefined),
  kind: 'anomaly',
  measure: volumeOf,
  bucket: tunable('5m', 'Bucket of event time the volume is added up in'),
  warmup: tunable(24, 'Buckets of history (2 hours of 5-minute buckets) before a caller may alert'),
  factor: tunable(10, "Alert when the bucket's volume is at least this many times the baseline mean…"),
  zScore: tunable(4, '…and this many standard deviations above it'),
  minCount: tunable(2_000_000, 'Least volume (bytes, or tokens) in a bucket for an alert, whatever the baseline'),
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    deployments: [...new Set(events.map((e) => e.details.deployment).filter((d) => d !== undefined))],
    callerIps: [...new Set(events.map((e) => e.ip).filter((ip) => ip !== undefined))],
  }),
  // A drain runs for a while: one incident per caller and account per hour.
  suppress: '1h',
});
