import { defineRule, tunable } from '../src/engine/api.js';

/**
 * An Entra agent identity is created for one task and reaches the few resources (APIs) its
 * blueprint was built for. Reaching a resource neither it nor any other agent of its blueprint
 * has reached is an agent doing something it was not made for: a prompt-injected or hijacked
 * agent, or a changed blueprint nobody reviewed. Agents come and go; their blueprint stays, so
 * what is normal is learned per blueprint: an agent's sign-in also reaches its blueprint's key
 * (the sign-in's targetPrincipalId), and a new agent doing what its siblings do raises nothing.
 */
export default defineRule({
  id: 'agent-identity-new-resource',
  version: '2',
  name: 'An Entra agent identity reaches a resource never seen for it or its blueprint',
  description:
    'A sign-in of an Entra Agent ID identity (agent type in the sign-in log) requested a token for a resource (Microsoft Graph, Azure Resource Manager, Key Vault, an API…) ' +
    "that neither it nor any agent of its parent blueprint had reached within the horizon, after the blueprint's learning period. Agents run narrow tasks; " +
    'a new resource means the agent is being steered elsewhere (prompt injection, a hijacked tool) or its blueprint changed. ' +
    "Check the agent's parent app (blueprint) and recent prompts or tool calls; if unexplained, disable the agent identity. " +
    'An agent whose sign-in names no blueprint is judged on its own history.',
  severity: 'Medium',
  tactics: ['PrivilegeEscalation', 'Discovery'],
  techniques: ['T1078.004'],
  sources: ['signin'],
  tags: ['ai', 'agent', 'non-human-identity', 'first-seen'],
  where: (e) => e.result === 'success' && e.details.agentType !== undefined && e.details.targetResourceAppId !== undefined,
  // The blueprint: each agent's sign-in reaches its key (targetPrincipalId = the parent app id).
  keyBy: 'target',
  kind: 'firstSeen',
  value: (e) => e.details.targetResourceAppId,
  horizon: tunable('30d', 'How long a resource stays known after the agent last reached it'),
  learning: tunable('3d', 'Nothing is new until the blueprint (or a lone agent) has been watched this long'),
  // Measured from the blueprint's first agent sign-in: a new agent of a known blueprint is judged at once.
  learningFrom: 'key',
  evidence: ({ events }) => ({
    resource: events[0]?.details.targetResourceName ?? events[0]?.details.targetResourceAppId,
    agentType: events[0]?.details.agentType,
    parentAppId: events[0]?.details.agentParentAppId,
    ip: events[0]?.ip,
  }),
  title: ({ principal, evidence }) =>
    `Agent identity ${principal} reached ${evidence.resource}, never reached by it${evidence.parentAppId ? ` or blueprint ${evidence.parentAppId}` : ''}`,
  suppress: '1h',
});
