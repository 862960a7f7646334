import { defineRule, resourceName, tunable } from '../src/engine/api.js';

/** Data-plane calls to a model (chat, completions, embeddings, images, audio, assistants …) are logged in this category. */
const REQUEST_RESPONSE = 'requestresponse';

/**
 * A stolen credential or key used to resell or burn model capacity ("LLMjacking"), or an agent
 * stuck in a loop, shows as a caller suddenly making many times its usual number of calls to an
 * AI account. Each principal is compared with its own history for that account, so a busy front
 * end calling steadily all day is normal, and a quiet pipeline that suddenly calls 20× as often is
 * not. API-key calls carry no identity: they are counted per account (`key:<account>`).
 */
export default defineRule({
  id: 'ai-invocation-rate-anomaly',
  version: '1',
  name: "AI model calls far above the caller's own baseline",
  description:
    'A principal (or an API key of an account) called an Azure OpenAI / AI services account far more often than its own learned baseline for that account. ' +
    'Typical causes: a stolen credential or key used to resell model capacity, or a runaway agent or retry loop. ' +
    "Check the caller IPs and user agents in the evidence against the principal's usual ones, the deployments called and the throttling (429) share; " +
    'if the caller is not the workload, disable the credential or rotate the keys.',
  severity: 'Medium',
  tactics: ['Impact', 'InitialAccess'],
  techniques: ['T1496.004', 'T1078.004'],
  sources: ['ai'],
  tags: ['ai', 'rate', 'non-human-identity'],
  where: (e) => e.category.toLowerCase() === REQUEST_RESPONSE,
  // Per principal and AI account: a caller's baseline for one account says nothing about another.
  groupBy: (e) => (e.resourceId ? `${e.principalId}|${e.resourceId}` : undefined),
  kind: 'anomaly',
  bucket: tunable('5m', 'Bucket of event time the calls are counted in'),
  warmup: tunable(24, 'Buckets of history (2 hours of 5-minute buckets) before a caller may alert'),
  factor: tunable(5, 'Alert when the bucket holds at least this many times the baseline mean…'),
  zScore: tunable(4, '…and this many standard deviations above it'),
  minCount: tunable(50, 'Fewest calls in a bucket for an alert, whatever the baseline (quiet callers stay quiet)'),
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    deployments: [...new Set(events.map((e) => e.details.deployment).filter((d) => d !== undefined))],
    callerIps: [...new Set(events.map((e) => e.ip).filter((ip) => ip !== undefined))],
    throttledInSample: events.filter((e) => e.details.statusCode === 429).length,
  }),
  title: ({ principal, events, evidence: { count, bucket, rate, baselineMean } }) =>
    `${count} AI calls in ${bucket} by ${principal} to ${resourceName(events[0]?.resourceId) ?? 'an AI account'}: ` +
    (rate === null ? `its baseline is 0 per ${bucket}` : `${rate.toFixed(1)}× its baseline of ${baselineMean.toFixed(1)} per ${bucket}`),
  // A flood spans several buckets: one alert per caller and account per hour.
  suppress: '1h',
});
