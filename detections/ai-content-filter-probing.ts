import { defineRule, resourceName, tunable } from '../src/engine/api.js';

const REQUEST_RESPONSE = 'requestresponse';

/**
 * Azure OpenAI answers 400 to a prompt its content filter rejects, and logs no prompt: a burst of
 * 400s that is a large share of a caller's calls is the only trace the logs keep of jailbreak
 * attempts. A front end sees a few 400s among thousands of calls (malformed requests, the odd
 * rejected prompt); a prober sees mostly 400s. Throttling (429) is not a rejection.
 */
export default defineRule({
  id: 'ai-content-filter-probing',
  version: '1',
  name: 'Burst of rejected prompts (HTTP 400) from one caller: content-filter probing',
  title: ({ principal, events, evidence: { matching, count, window } }) =>
    `${matching} of ${count} calls by ${principal} to ${resourceName(events[0]?.resourceId) ?? 'an AI account'} rejected (400) within ${window}: content-filter probing?`,
  description:
    "Many of a caller's model calls to an account were rejected with HTTP 400 within minutes, and they were a large share of its calls. " +
    'Azure OpenAI rejects prompts its content filter blocks with 400; the logs keep no prompt, so this burst is the trace of jailbreak or abuse attempts. ' +
    "A broken client sends malformed requests the same way: check the deployment's content filter results (abuse monitoring) and the caller.",
  severity: 'Medium',
  tactics: ['DefenseEvasion', 'Discovery'],
  techniques: ['T1562', 'T1595'],
  sources: ['ai'],
  tags: ['ai', 'content-filter', 'jailbreak'],
  where: (e) => e.category.toLowerCase() === REQUEST_RESPONSE,
  groupBy: (e) => (e.resourceId ? `${e.principalId}|${e.resourceId}` : undefined),
  kind: 'threshold',
  shareOf: (e) => e.details.statusCode === 400,
  threshold: tunable(15, 'Rejected calls (400)…'),
  window: tunable('10m', '…within this window…'),
  minShare: tunable(0.3, "…that are at least this share of the caller's calls to the account"),
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    deployments: [...new Set(events.map((e) => e.details.deployment).filter((d) => d !== undefined))],
  }),
  // A probing session runs on: one incident per caller and account per hour.
  suppress: '1h',
});
