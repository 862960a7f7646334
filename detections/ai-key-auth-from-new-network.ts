import { defineRule, resourceName, tunable, type AiDetails } from '../src/engine/api.js';

const REQUEST_RESPONSE = 'requestresponse';
const NETWORK = 'network ';
const MODEL = 'model ';

/** The /24 a caller's address belongs to, as the AI logs give it (their last octet is masked); IPv6: the first four groups. */
function networkOf(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const v4 = ip.match(/^(\d{1,3}\.\d{1,3}\.\d{1,3})\./);
  if (v4) return `${v4[1]}.0/24`;
  const v6 = ip.split(':');
  return v6.length > 4 ? `${v6.slice(0, 4).join(':')}::/64` : undefined;
}

/**
 * The model a call reached, or its deployment when the log names no model. Judged by model, not
 * deployment name: moving an app to a new deployment of the model it already calls (a new model
 * version, a blue/green swap) is how releases roll out, while a key reaching a model its account's
 * key use never reached (the expensive one an attacker resells) is news.
 */
function modelOf(d: AiDetails): string | undefined {
  return (d.model ?? d.deployment)?.toLowerCase();
}

/**
 * An API key works from anywhere and names nobody: a stolen one ("LLMjacking") shows in the
 * request logs only as key calls to the account from a network its key use never came from, or
 * to a model its key use never called. Each account's key use is followed by itself
 * (`key:<account>`), and what it learns is both: the networks (/24, as logged: the last octet is
 * masked) its keys are called from, and the models they call.
 */
export default defineRule({
  id: 'ai-key-auth-from-new-network',
  version: '2',
  name: 'AI account called with an API key from a new network, or on a model its key use never called',
  title: ({ events, evidence: { value, newValues } }) => {
    const d = events[0]?.details;
    const facts = (newValues ?? [value]).map((v) =>
      v.startsWith(NETWORK)
        ? `from new network ${v.slice(NETWORK.length)}`
        : `on model ${v.slice(MODEL.length)} (deployment ${d?.deployment ?? '?'}) never called by key`,
    );
    return `API key of ${resourceName(events[0]?.resourceId) ?? 'an AI account'} used ${facts.join(', ')}`;
  },
  description:
    "A model call authenticated with an account API key came from a network (/24 as logged) that the account's key use had not come from within the horizon, " +
    'or called a model (a deployment of it) that key calls to the account had not called. ' +
    'Keys bypass Entra ID and conditional access: a leaked key ("LLMjacking") is used from the attacker\'s network, often on the most capable model, to resell capacity. ' +
    "Severity is High when the account's keys had hardly been used before (fewer calls than `quietBelow`): a forgotten key is what leaks unnoticed. " +
    'A new deployment of a model the keys already call (a version rollout) is not reported. ' +
    'Check whether a known workload moved (new egress, new region) or started using that model; if not, regenerate both keys and move callers to Entra ID.',
  severity: 'Medium',
  severityOf: ({ evidence: { quiet } }) => (quiet ? 'High' : 'Medium'),
  tactics: ['InitialAccess', 'Impact'],
  techniques: ['T1078.004', 'T1496.004', 'T1552'],
  sources: ['ai'],
  tags: ['ai', 'keys', 'first-seen', 'llmjacking'],
  where: (e) => e.category.toLowerCase() === REQUEST_RESPONSE && e.principalType === 'key',
  kind: 'firstSeen',
  value: (e) => {
    const network = networkOf(e.ip);
    const model = modelOf(e.details);
    if (network && model) return [NETWORK + network, MODEL + model];
    return network ? NETWORK + network : model && MODEL + model;
  },
  horizon: tunable('30d', "How long a network or model stays known after the account's keys were last used from it or on it"),
  learning: tunable('7d', "Nothing is new until the account's key use has been watched this long"),
  quietBelow: tunable(
    20,
    'An account whose keys were called fewer times than this before (since its key use was first seen) was hardly used: its alert is High',
  ),
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    deployment: events[0]?.details.deployment,
    model: events[0]?.details.model,
    statusCode: events[0]?.details.statusCode,
  }),
  // One incident per account and hour: a stolen key keeps calling, and its new network and new
  // model in one call, or a second new network within the hour, are the same incident.
  suppress: '1h',
});
