import { defineRule, tunable } from '../src/engine/api.js';

const NON_HUMAN = new Set(['servicePrincipal', 'managedIdentity']);

/**
 * A workload signs in with the one or two credentials it was given. A client secret it has never
 * used before is a credential someone added — the first use of a planted secret. Certificates and
 * federated credentials rotate on a schedule (a pipeline renewing its own certificate), so by
 * default only new client secrets are reported; the quiet types are a tunable.
 */
export default defineRule({
  id: 'sp-new-credential-first-used',
  version: '1',
  name: 'A non-human identity signs in with a client secret never seen for it',
  description:
    'A service principal signed in successfully with a credential (its key id) not seen for it within the horizon, after its learning period. ' +
    'By default only client secrets are reported: a workload that used certificates or federated credentials and now signs in with a new secret ' +
    'is the typical first use of a secret an attacker added. Check the audit log for who added that key id (credentialKeyId in the evidence); ' +
    'if it was not a planned rotation, delete the credential and review what the identity did since.',
  severity: 'Medium',
  tactics: ['Persistence', 'InitialAccess'],
  techniques: ['T1098.001', 'T1078.004'],
  sources: ['signin'],
  tags: ['non-human-identity', 'first-seen', 'credentials'],
  tunables: {
    quietCredentialTypes: tunable(
      ['certificate', 'federatedIdentityCredential'],
      'Client credential types whose new key ids are routine rotation and not reported (as sign-ins log clientCredentialType)',
    ),
  },
  where: (e, t) =>
    e.result === 'success' &&
    NON_HUMAN.has(e.principalType) &&
    e.details.credentialKeyId !== undefined &&
    !t.quietCredentialTypes.some((q) => q.toLowerCase() === e.details.clientCredentialType?.toLowerCase()),
  kind: 'firstSeen',
  value: (e) => e.details.credentialKeyId,
  horizon: tunable('90d', 'How long a credential stays known after the identity last signed in with it'),
  learning: tunable('7d', 'Nothing is new until the identity has been watched this long'),
  evidence: ({ events }) => ({
    credentialKeyId: events[0]?.details.credentialKeyId,
    credentialType: events[0]?.details.clientCredentialType,
    ip: events[0]?.ip,
    resource: events[0]?.details.targetResourceName,
  }),
  title: ({ principal, evidence }) =>
    `${principal} signed in with ${evidence.credentialType ?? 'a credential'} ${evidence.credentialKeyId} for the first time${evidence.ip ? ` from ${evidence.ip}` : ''}`,
  suppress: '1h',
});
