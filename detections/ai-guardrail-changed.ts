import { defineRule, resourceName } from '../src/engine/api.js';

/** Content filters (RAI policies) and blocklists: deleting or rewriting them weakens the guardrails. */
const GUARDRAIL: Readonly<Record<string, string>> = {
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/DELETE': 'content filter deleted',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/WRITE': 'content filter changed',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIBLOCKLISTS/DELETE': 'blocklist deleted',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIBLOCKLISTS/WRITE': 'blocklist changed',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIBLOCKLISTS/RAIBLOCKLISTITEMS/DELETE': 'blocklist item deleted',
};

/**
 * An attacker who wants the model to answer what it refuses switches the guardrails off: the
 * deployment's content filter (RAI policy) rewritten to annotate-only or deleted, a blocklist
 * emptied. The Activity Log carries no body, so every change is reported; changes come from the
 * platform team's pipeline, which deployers allow-list.
 */
export default defineRule({
  id: 'ai-guardrail-changed',
  version: '1',
  name: 'AI content filter or blocklist changed or deleted',
  title: ({ principal, events }) => {
    const e = events[events.length - 1];
    return `${GUARDRAIL[e?.operation ?? ''] ?? 'guardrail changed'}: ${resourceName(e?.resourceId) ?? '(unknown)'} by ${principal}`;
  },
  description:
    'A principal changed or deleted a content filter (RAI policy) or a blocklist of an Azure OpenAI / AI services account. ' +
    'Weakening the filters lets a stolen key or a compromised app generate what the guardrails block, and hides jailbreaks from the content-filter results. ' +
    "Check the change came from the platform team's pipeline; if not, restore the policy and review the account's calls since.",
  severity: 'High',
  tactics: ['DefenseEvasion', 'Impact'],
  techniques: ['T1562.001'],
  sources: ['activity'],
  operations: Object.keys(GUARDRAIL),
  tags: ['ai', 'guardrails', 'defense-evasion'],
  // A change counts once it succeeded (Start is followed by Success).
  where: (e) => e.result === 'success',
  kind: 'match',
  evidence: ({ events }) => ({
    changes: [...new Set(events.map((e) => GUARDRAIL[e.operation]))],
    policy: resourceName(events[events.length - 1]?.resourceId),
  }),
  // Rewriting a filter is a few writes: one incident per principal and hour.
  suppress: '1h',
});
