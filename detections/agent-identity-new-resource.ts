import { defineRule, tunable } from '../src/engine/api.js';

/**
 * An Entra agent identity is created for one task and reaches the few resources (APIs) its
 * blueprint was built for. Reaching a resource it has never reached is an agent doing something
 * it was not made for: a prompt-injected or hijacked agent, or a changed blueprint nobody reviewed.
 */
export default defineRule({
  id: 'agent-identity-new-resource',
  version: '1',
  name: 'An Entra agent identity reaches a resource never seen for it',
  description:
    'A sign-in of an Entra Agent ID identity (agent type in the sign-in log) requested a token for a resource (Microsoft Graph, Azure Resource Manager, Key Vault, an API…) ' +
    'it had not reached within the horizon, after its learning period. Agents run narrow tasks; a new resource means the agent is being steered elsewhere ' +
    "(prompt injection, a hijacked tool) or its blueprint changed. Check the agent's parent app (blueprint) and recent prompts or tool calls; " +
    'if unexplained, disable the agent identity. Keyed by the agent identity itself: what its sibling agents of the same blueprint reached is not shared here.',
  severity: 'Medium',
  tactics: ['PrivilegeEscalation', 'Discovery'],
  techniques: ['T1078.004'],
  sources: ['signin'],
  tags: ['ai', 'agent', 'non-human-identity', 'first-seen'],
  where: (e) => e.result === 'success' && e.details.agentType !== undefined && e.details.targetResourceAppId !== undefined,
  kind: 'firstSeen',
  value: (e) => e.details.targetResourceAppId,
  horizon: tunable('30d', 'How long a resource stays known after the agent last reached it'),
  learning: tunable('3d', 'Nothing is new until the agent has been watched this long'),
  evidence: ({ events }) => ({
    resource: events[0]?.details.targetResourceName ?? events[0]?.details.targetResourceAppId,
    agentType: events[0]?.details.agentType,
    parentAppId: events[0]?.details.agentParentAppId,
    ip: events[0]?.ip,
  }),
  title: ({ principal, evidence }) => `Agent identity ${principal} reached ${evidence.resource} for the first time`,
  suppress: '1h',
});
