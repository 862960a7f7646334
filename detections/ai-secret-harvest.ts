import { defineRule, FIRST_PARTY_NOISE_APPS, resourceName } from '../src/engine/api.js';

/** What each operation hands its caller. */
const HARVEST: Readonly<Record<string, string>> = {
  'MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/CONNECTIONS/LISTSECRETS/ACTION': 'connection secrets of an AI Foundry project / ML workspace',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/CONNECTIONS/LISTSECRETS/ACTION': 'connection secrets of an AI Foundry (AI services) account',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/PROJECTS/CONNECTIONS/LISTSECRETS/ACTION': 'connection secrets of an AI Foundry project',
  'MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/LISTKEYS/ACTION': 'keys of an ML workspace (its storage, registry and insights)',
  'MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/LISTSTORAGEACCOUNTKEYS/ACTION': 'storage account keys of an ML workspace',
  'MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/DATASTORES/LISTSECRETS/ACTION': 'datastore secrets of an ML workspace',
};

/**
 * AI projects and workspaces hold the credentials of everything they connect to: the connections'
 * API keys (other AI accounts, search, external model providers), the workspace's storage keys,
 * datastore secrets. One listsecrets call hands them all over. The studio calls these for a user
 * working in it; a service principal listing them is a harvest unless it is the deployment
 * pipeline (allow-list it). AI account keys (listKeys, regenerateKey) are ai-key-listing's.
 */
export default defineRule({
  id: 'ai-secret-harvest',
  version: '1',
  name: 'Secrets listed from an AI project or workspace',
  title: ({ principal, events }) => {
    const e = events[events.length - 1];
    return `${principal} listed ${HARVEST[e?.operation ?? ''] ?? 'secrets'} (${resourceName(e?.resourceId) ?? 'unknown'})`;
  },
  description:
    'A principal listed the secrets of an AI Foundry project or Azure ML workspace: connection secrets, workspace keys, storage account keys or datastore secrets. ' +
    'These are the credentials of every service the project connects to, and bypass Entra ID once read. ' +
    "Check the caller is the deployment pipeline or a user in the studio; if not, rotate the connected services' keys and review the principal's activity since.",
  severity: 'High',
  tactics: ['CredentialAccess'],
  techniques: ['T1552', 'T1555'],
  sources: ['activity'],
  operations: Object.keys(HARVEST),
  tags: ['ai', 'secrets', 'non-human-identity'],
  allowPrincipals: FIRST_PARTY_NOISE_APPS,
  // The Activity Log writes Start then Success; a denied attempt is reported too.
  where: (e) => e.result !== 'start',
  kind: 'match',
  evidence: ({ events }) => ({
    harvested: [...new Set(events.map((e) => HARVEST[e.operation]))],
    target: resourceName(events[0]?.resourceId),
    denied: events.every((e) => e.result === 'failure'),
  }),
  // Harvesting is a handful of calls over the project's connections: one incident per principal and hour.
  suppress: '1h',
});
