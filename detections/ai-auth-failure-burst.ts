import { defineRule, resourceName, tunable } from '../src/engine/api.js';

const REQUEST_RESPONSE = 'requestresponse';

/** The caller's network as logged (the AI logs mask the last octet, so this is the /24). */
const networkOf = (ip: string | undefined) => ip?.replace(/\.[^.]*$/, '.0/24');

/**
 * Many 401/403 answers to one caller in minutes: someone guessing keys or tokens, or a key that
 * was revoked still being used by whoever stole it. API-key callers carry no identity, so calls
 * are keyed by the caller (principal, or `key:<account>`) and its network. Throttling (429) and
 * server errors are not authentication failures: a retry storm does not count.
 */
export default defineRule({
  id: 'ai-auth-failure-burst',
  version: '1',
  name: 'Burst of authentication failures (401/403) on an AI account',
  title: ({ principal, events, evidence: { count, window } }) =>
    `${count} authentication failures (401/403) within ${window} for ${principal} on ${resourceName(events[0]?.resourceId) ?? 'an AI account'} from ${networkOf(events[0]?.ip) ?? 'an unknown network'}`,
  description:
    'An AI account answered 401 or 403 to many calls from one caller and network within minutes. ' +
    'Typical causes: key or token guessing, or a revoked / regenerated key still used by an attacker who stole it. A misconfigured workload after a rotation looks the same, from its usual network. ' +
    "Check the network against the account's usual callers; block it on the account's network rules if unknown.",
  severity: 'Medium',
  tactics: ['CredentialAccess', 'InitialAccess'],
  techniques: ['T1110', 'T1078.004'],
  sources: ['ai'],
  tags: ['ai', 'brute-force'],
  where: (e) => e.category.toLowerCase() === REQUEST_RESPONSE && (e.details.statusCode === 401 || e.details.statusCode === 403),
  groupBy: (e) => `${e.principalId}|${e.resourceId ?? ''}|${networkOf(e.ip) ?? ''}`,
  kind: 'threshold',
  threshold: tunable(20, 'Failed calls (401/403)…'),
  window: tunable('5m', '…within this window'),
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    network: networkOf(events[0]?.ip),
    statusCodes: [...new Set(events.map((e) => e.details.statusCode))],
  }),
  // Guessing goes on for a while: one incident per caller, account and network per hour.
  suppress: '1h',
});
