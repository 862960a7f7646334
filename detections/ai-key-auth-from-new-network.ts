import { defineRule, resourceName, tunable } from '../src/engine/api.js';

const REQUEST_RESPONSE = 'requestresponse';

/** The /24 a caller's address belongs to, as the AI logs give it (their last octet is masked); IPv6: the first four groups. */
function networkOf(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const v4 = ip.match(/^(\d{1,3}\.\d{1,3}\.\d{1,3})\./);
  if (v4) return `${v4[1]}.0/24`;
  const v6 = ip.split(':');
  return v6.length > 4 ? `${v6.slice(0, 4).join(':')}::/64` : undefined;
}

/**
 * An API key works from anywhere and names nobody: a stolen one ("LLMjacking") shows in the
 * request logs only as key calls to the account from a network its key use never came from.
 * Each account's key use is followed by itself (`key:<account>`), and what it learns is the
 * networks (/24, as logged: the last octet is masked) its keys are called from.
 */
export default defineRule({
  id: 'ai-key-auth-from-new-network',
  version: '1',
  name: 'AI account called with an API key from a network never seen for its key use',
  title: ({ events, evidence: { value, knownValues } }) =>
    `API key of ${resourceName(events[0]?.resourceId) ?? 'an AI account'} used from new network ${value} (${knownValues} known)`,
  description:
    "A model call authenticated with an account API key came from a network (/24 as logged) that the account's key use had not come from within the horizon. " +
    'Keys bypass Entra ID and conditional access: a leaked key ("LLMjacking") is used from the attacker\'s network, often to resell model capacity. ' +
    'Check whether a known workload moved (new egress, new region); if not, regenerate both keys and move callers to Entra ID.',
  severity: 'Medium',
  tactics: ['InitialAccess', 'Impact'],
  techniques: ['T1078.004', 'T1496.004', 'T1552'],
  sources: ['ai'],
  tags: ['ai', 'keys', 'first-seen', 'llmjacking'],
  where: (e) => e.category.toLowerCase() === REQUEST_RESPONSE && e.principalType === 'key',
  kind: 'firstSeen',
  value: (e) => networkOf(e.ip),
  horizon: tunable('30d', "How long a network stays known after the account's keys were last used from it"),
  learning: tunable('7d', "Nothing is new until the account's key use has been watched this long"),
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    deployment: events[0]?.details.deployment,
    statusCode: events[0]?.details.statusCode,
  }),
  // A new network keeps calling: one incident per account and hour (a second new network within it is the same incident).
  suppress: '1h',
});
