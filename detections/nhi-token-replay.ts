import { defineRule, tunable } from '../src/engine/api.js';

const NON_HUMAN = new Set(['servicePrincipal', 'managedIdentity']);

/**
 * Every Graph request names the sign-in that issued its token (`signInActivityId`, the token's
 * unique identifier). A workload uses its token where it got it; the same token used from another
 * address was copied off the host — stolen from memory, a log or a build cache — and replayed.
 */
export default defineRule({
  id: 'nhi-token-replay',
  version: '1',
  name: "A non-human identity's token used in Graph from another IP than the one it was issued to",
  description:
    'A service principal or managed identity signed in from one IP address, and a Microsoft Graph request carrying the token of that sign-in ' +
    '(its sign-in activity id) came from a different address. Tokens are used where they are issued; one used elsewhere was stolen and replayed. ' +
    "Check both addresses: hosts with several egress addresses belong in the trusted prefixes. Otherwise revoke the identity's tokens and rotate its credentials.",
  severity: 'High',
  tactics: ['CredentialAccess', 'DefenseEvasion'],
  techniques: ['T1550.001', 'T1528'],
  sources: ['signin', 'graph'],
  tags: ['non-human-identity', 'graph', 'sequence', 'multi-source'],
  tunables: {
    trustedIpPrefixes: tunable(
      [] as string[],
      'Address prefixes of the workloads\' own egress (NAT gateways, proxies): a token used from one of them is not replay, e.g. "10.20."',
    ),
  },
  kind: 'sequence',
  within: tunable('2h', 'Longest time from the sign-in to the Graph request (a token lives 60–90 minutes)'),
  steps: {
    signin: {
      name: 'sign-in that issued the token',
      sources: ['signin'],
      where: (e) =>
        e.source === 'signin' && e.result === 'success' && NON_HUMAN.has(e.principalType) && e.ip !== undefined && e.details.signInActivityId !== undefined,
    },
    replay: {
      name: 'Graph request with that token from another IP',
      sources: ['graph'],
      where: (e, { trustedIpPrefixes }) =>
        e.source === 'graph' && e.ip !== undefined && e.details.signInActivityId !== undefined && !trustedIpPrefixes.some((p) => e.ip!.startsWith(p)),
      relate: (e, { signin }) =>
        e.source === 'graph' && signin?.source === 'signin' && e.details.signInActivityId === signin.details.signInActivityId && e.ip !== signin.ip,
    },
  },
  evidence: ({ steps: { signin, replay } }) => ({
    issuedToIp: signin.ip,
    usedFromIp: replay.ip,
    signInActivityId: replay.details.signInActivityId,
    requestUri: replay.details.requestUri,
    userAgent: replay.details.userAgent,
  }),
  title: ({ principal, steps: { signin, replay } }) => `Token issued to ${principal} at ${signin.ip} used in Microsoft Graph from ${replay.ip}`,
  suppress: '1h',
});
