import { defineRule, resourceName, tunable } from '../src/engine/api.js';

const REQUEST_RESPONSE = 'requestresponse';

/**
 * Workloads call the same few AI accounts day after day. A principal calling an account it has
 * never called — after its learning period — is a credential reused outside its workload (an
 * attacker trying which models it reaches) or a change nobody announced. API-key callers are
 * left out: a key belongs to one account and cannot call another.
 */
export default defineRule({
  id: 'ai-new-caller',
  version: '1',
  name: 'A principal calls an AI account it has never called',
  title: ({ principal, events }) => `${principal} called AI account ${resourceName(events[0]?.resourceId) ?? '(unknown)'} for the first time`,
  description:
    'A principal made a model call to an Azure OpenAI / AI services account it had not called within the horizon, after its own learning period. ' +
    'Workload identities call a fixed set of accounts, so a new one means the credential is used elsewhere (an attacker probing what it can reach) or the workload changed. ' +
    "Check the caller IP and user agent against the principal's usual ones and whether a deployment explains it.",
  severity: 'Low',
  tactics: ['InitialAccess', 'Impact'],
  techniques: ['T1078.004', 'T1496.004'],
  sources: ['ai'],
  tags: ['ai', 'first-seen', 'non-human-identity'],
  where: (e) => e.category.toLowerCase() === REQUEST_RESPONSE && e.principalType !== 'key',
  kind: 'firstSeen',
  value: 'resourceId',
  horizon: tunable('30d', 'How long an account stays known after the principal last called it'),
  learning: tunable('7d', 'Nothing is new until the principal has been watched this long'),
  evidence: ({ events }) => ({
    account: resourceName(events[0]?.resourceId),
    deployment: events[0]?.details.deployment,
    statusCode: events[0]?.details.statusCode,
  }),
  // A probe of several accounts is one story: one alert per principal per hour.
  suppress: '1h',
});
