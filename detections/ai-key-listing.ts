import { defineRule, resourceName } from '../src/engine/api.js';

const LIST_KEYS = 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION';
const REGENERATE_KEY = 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/REGENERATEKEY/ACTION';
/** The AI services Audit log's name for the same control-plane call. */
const AUDIT_LIST_KEY = 'LISTKEY';

/**
 * API keys of an Azure OpenAI / AI services account work from anywhere and are not tied to an
 * identity in the request logs: whoever reads them can use (and bill) the models unseen. Reading
 * them is rare outside deployment pipelines, which deployers allow-list by principal or app id.
 */
export default defineRule({
  id: 'ai-key-listing',
  version: '1',
  name: 'AI account keys listed or regenerated',
  title: ({ principal, events }) => {
    const account = resourceName(events[0]?.resourceId) ?? 'an AI account';
    const verb = events.some((e) => e.operation === REGENERATE_KEY) ? 'regenerated' : 'listed';
    const denied = events.every((e) => e.result === 'failure') ? ' (denied)' : '';
    return `AI account keys ${verb}${denied} on ${account} by ${principal}`;
  },
  description:
    'A principal listed or regenerated the API keys of an Azure OpenAI / AI services account. ' +
    'Account keys bypass Entra ID: anyone holding one can call the deployments from anywhere, and key use is not attributed to an identity. ' +
    "Check the caller is a known deployment pipeline; if not, rotate the keys and review the account's requests since.",
  severity: 'Medium',
  tactics: ['CredentialAccess', 'Persistence'],
  techniques: ['T1552', 'T1098.001'],
  sources: ['activity', 'ai'],
  operations: [LIST_KEYS, REGENERATE_KEY, AUDIT_LIST_KEY],
  tags: ['ai', 'keys', 'non-human-identity'],
  kind: 'match',
  // Activity logs a call as Start then Success: one alert per principal and hour is enough.
  suppress: '1h',
});
