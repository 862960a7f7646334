import { defineRule, resourceName } from '../src/engine/api.js';

const ACCOUNT_WRITE = 'MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE';
const CONTAINER_WRITE = 'MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/CONTAINERS/WRITE';

/**
 * Anonymous blob access is an exfiltration channel that needs no credential at all: turn it on
 * for the account, set a container to `Blob` or `Container`, and anyone with the URL reads the
 * data (training sets, model files, prompts logged to storage). Rarely needed for AI data; the
 * Activity Log's request body says which way a write set it, so writes that disable it stay silent.
 */
export default defineRule({
  id: 'storage-public-access-enabled',
  version: '1',
  name: 'Anonymous blob access turned on for a storage account or container',
  title: ({ principal, events }) => {
    const e = events[events.length - 1];
    const what =
      e?.operation === CONTAINER_WRITE
        ? `container ${resourceName(e.resourceId)} set to public access '${e.details.publicAccess}'`
        : `anonymous blob access enabled on ${resourceName(e?.resourceId)}`;
    return `${what} by ${principal}`;
  },
  description:
    "A principal enabled anonymous (public) blob access on a storage account, or set a container's public access level to Blob or Container. " +
    'Anyone with the URL can then read the data without a credential, unseen by Entra ID. ' +
    'Check the account is meant to serve public content; if not, disable public access and review the anonymous reads (authType Anonymous) since.',
  severity: 'High',
  tactics: ['Exfiltration', 'DefenseEvasion'],
  techniques: ['T1530', 'T1567'],
  sources: ['activity'],
  operations: [ACCOUNT_WRITE, CONTAINER_WRITE],
  tags: ['storage', 'exfiltration', 'public-access'],
  // The Start record carries the request body; the Success that follows does not.
  where: (e) => e.result !== 'failure' && (e.details.publicAccess === 'Enabled' || e.details.publicAccess === 'Blob' || e.details.publicAccess === 'Container'),
  groupBy: (e) => `${e.principalId}|${e.resourceId ?? ''}`,
  kind: 'match',
  evidence: ({ events }) => ({ publicAccess: events[events.length - 1]?.details.publicAccess, resource: resourceName(events[events.length - 1]?.resourceId) }),
  suppress: '1h',
});
