import { defineRule, FIRST_PARTY_NOISE_APPS, tunable } from '../src/engine/api.js';

/**
 * One principal deleting many resources within minutes is destruction (T1485), or an attacker
 * removing what would record or stop them. A release pipeline tearing down an ephemeral
 * environment does the same: its principal is allow-listed, or the threshold set above its size.
 */
export default defineRule({
  id: 'mass-resource-deletion',
  version: '1',
  name: 'One principal deletes many resources in minutes',
  title: ({ principal, evidence: { count, window } }) => `${principal} deleted ${count} resources within ${window}`,
  description:
    'A principal deleted many distinct Azure resources within a few minutes (successful Activity Log deletes). ' +
    'Attackers destroy data and infrastructure for ransom or sabotage, or delete what would record them. ' +
    'Check whether a release pipeline tore down a known environment; if not, disable the principal and restore from soft delete or backup.',
  severity: 'High',
  tactics: ['Impact'],
  techniques: ['T1485', 'T1578.003'],
  sources: ['activity'],
  tags: ['impact', 'destruction'],
  allowPrincipals: FIRST_PARTY_NOISE_APPS,
  where: (e) => e.result === 'success' && e.operation.endsWith('/DELETE') && e.category.toLowerCase() === 'administrative',
  kind: 'threshold',
  distinct: 'resourceId',
  threshold: tunable(10, 'Distinct resources deleted…'),
  window: tunable('10m', '…within this window'),
  // A teardown that goes on makes one incident per principal and hour.
  suppress: '1h',
});
