import { defineRule, tunable } from '../src/engine/api.js';

/**
 * Reconnaissance and token-abuse tools for Entra ID and Microsoft Graph announce themselves in
 * their default user agent. Attackers can change it, many do not: a sign-in or Graph call with
 * one of these strings is someone running the tool with a credential of the tenant.
 */
export default defineRule({
  id: 'offensive-tool-user-agent',
  version: '1',
  name: 'Sign-in or Graph call with the user agent of an offensive tool',
  description:
    'A sign-in, or a request to Microsoft Graph, carried the user agent of a known Entra ID attack or reconnaissance tool ' +
    '(AzureHound, ROADtools, TeamFiltration, GraphRunner, AADInternals…). Red teams use them too: check whether an engagement is running; ' +
    "if not, treat the identity's credential as stolen, revoke its sessions and credentials, and review what it read. " +
    'Tools that spoof a browser user agent are not caught here.',
  severity: 'High',
  tactics: ['Discovery', 'CredentialAccess'],
  techniques: ['T1087.004', 'T1069.003', 'T1528'],
  sources: ['signin', 'graph'],
  tags: ['entra', 'graph', 'non-human-identity'],
  tunables: {
    userAgents: tunable(
      ['azurehound', 'roadtools', 'roadrecon', 'roadtx', 'teamfiltration', 'graphrunner', 'aadinternals', 'graphspy', 'tokentactics'],
      'Case-insensitive substrings of user agents that name an offensive tool',
    ),
  },
  where: (e, t) => {
    const agent = e.details.userAgent?.toLowerCase();
    return agent !== undefined && t.userAgents.some((tool) => agent.includes(tool.toLowerCase()));
  },
  groupBy: (e) => `${e.principalId}|${e.details.userAgent?.toLowerCase()}`,
  kind: 'match',
  evidence: ({ events }) => ({
    userAgent: events[0]?.details.userAgent,
    sources: [...new Set(events.map((e) => e.source))],
    callerIps: [...new Set(events.map((e) => e.ip).filter((ip) => ip !== undefined))],
  }),
  title: ({ principal, evidence }) => `${principal} used ${evidence.userAgent} against Entra ID / Microsoft Graph`,
  suppress: '1h',
});
