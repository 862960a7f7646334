import { defineRule, tunable, type SourceEvent } from '../src/engine/api.js';

/** The ARM operation that adds or changes a federated credential on a user-assigned managed identity. */
const MI_FEDERATED_WRITE = 'MICROSOFT.MANAGEDIDENTITY/USERASSIGNEDIDENTITIES/FEDERATEDIDENTITYCREDENTIALS/WRITE';

/**
 * A federated identity credential lets tokens of an outside issuer (GitHub, a Kubernetes cluster,
 * another tenant) act as the app or managed identity, with no secret to steal or rotate. Adding
 * one whose issuer or subject an attacker controls — their own repository, their own cluster — is
 * the quietest backdoor there is. Deployments add them too, for issuers the team knows: those can
 * be listed; a change to the subject of an existing credential is reported whatever the issuer.
 */
export default defineRule({
  id: 'federated-credential-changed',
  version: '1',
  name: 'Federated identity credential added or changed on an app or managed identity',
  description:
    'A federated identity credential was added to an application or user-assigned managed identity, or an existing one got a new issuer or subject. ' +
    'Whoever controls that issuer and subject can now sign in as the identity without any secret. ' +
    "Check that the issuer and subject belong to your own pipelines or clusters; if not, delete the credential and review the identity's sign-ins since.",
  severity: 'High',
  tactics: ['Persistence', 'PrivilegeEscalation'],
  techniques: ['T1098.001', 'T1484.002'],
  sources: ['directory', 'activity'],
  tags: ['entra', 'federation', 'non-human-identity'],
  tunables: {
    knownIssuers: tunable(
      [] as string[],
      'Issuers (prefixes, case-insensitive) whose new credentials are expected, such as your AKS OIDC issuer; a changed subject is reported anyway',
    ),
  },
  where: (e, t) => {
    if (e.result === 'failure') return false;
    if (e.source === 'activity') return e.operation === MI_FEDERATED_WRITE;
    const change = e.details.federatedChange;
    if (change === 'changed') return true;
    if (change !== 'added') return false;
    const issuer = e.details.federatedIssuer?.toLowerCase() ?? '';
    return !t.knownIssuers.some((known) => issuer.startsWith(known.toLowerCase()));
  },
  groupBy: (e) => `${e.principalId}|${target(e)}`,
  kind: 'match',
  evidence: ({ events }) => {
    const audit = events.find((e): e is SourceEvent<'directory'> => e.source === 'directory');
    return {
      target: target(events[0]),
      change: audit?.details.federatedChange ?? 'written',
      credentialName: audit?.details.federatedName,
      issuer: audit?.details.federatedIssuer,
      subject: audit?.details.federatedSubject,
    };
  },
  title: ({ principal, evidence }) =>
    `Federated credential ${evidence.change} on ${evidence.target} by ${principal}${evidence.subject ? ` (subject ${evidence.subject})` : ''}`,
  suppress: '1h',
});

/** The app or managed identity the credential was put on. */
function target(e: SourceEvent<'directory' | 'activity'>): string {
  if (e.source === 'directory') return e.details.targetName ?? e.details.targetId ?? '(unknown)';
  const id = e.resourceId ?? '';
  const at = id.indexOf('/federatedidentitycredentials/');
  const identity = at >= 0 ? id.slice(0, at) : id;
  return identity.slice(identity.lastIndexOf('/') + 1) || '(unknown)';
}
