import { defineRule, resourceName, tunable } from '../src/engine/api.js';

/** Content filters (RAI policies) and blocklists: deleting or rewriting them weakens the guardrails. */
const GUARDRAIL: Readonly<Record<string, string>> = {
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/DELETE': 'content filter deleted',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/WRITE': 'content filter changed',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIBLOCKLISTS/DELETE': 'blocklist deleted',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIBLOCKLISTS/WRITE': 'blocklist changed',
  'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIBLOCKLISTS/RAIBLOCKLISTITEMS/DELETE': 'blocklist item deleted',
};
/** A model deployment created or changed: it names the model and the content filter the deployment answers through. */
const DEPLOYMENT_WRITE = 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DEPLOYMENTS/WRITE';
const ACCOUNT = /^.*?\/providers\/microsoft\.cognitiveservices\/accounts\/[^/]+/i;

/** The AI account a resource id is in (lower-case, as events carry ids). */
function accountOf(resourceId: string | undefined): string | undefined {
  return resourceId?.match(ACCOUNT)?.[0].toLowerCase();
}

/**
 * An attacker who wants the model to answer what it refuses switches the guardrails off: the
 * deployment's content filter (RAI policy) rewritten to annotate-only or deleted, a blocklist
 * emptied. The Activity Log carries no body, so every filter change is reported; changes come from
 * the platform team's pipeline, which deployers allow-list.
 *
 * A deployment write can do the same (it names the filter the deployment answers through) or stand
 * up a model for a stolen key to use, but deployments are routine for the pipeline that releases
 * them: those are reported only when the principal never deployed on that account before (first
 * seen per principal, the value being the account), once Warden has watched the principal for the
 * learning period. Filter changes and deployments are kept apart (grouped by principal, and by
 * principal and "deployments"), so a first deployment's suppression never holds back a filter
 * deleted minutes later.
 */
export default defineRule({
  id: 'ai-guardrail-changed',
  version: '2',
  name: 'AI content filter or blocklist changed or deleted, or a model deployed by a principal that never deployed on the account',
  evidence: ({ events }) => {
    const e = events[events.length - 1];
    return e?.operation === DEPLOYMENT_WRITE
      ? { change: 'model deployment written', deployment: resourceName(e.resourceId), account: resourceName(accountOf(e.resourceId)) }
      : { change: GUARDRAIL[e?.operation ?? ''] ?? 'guardrail changed', policy: resourceName(e?.resourceId) };
  },
  title: ({ principal, evidence }) =>
    'deployment' in evidence
      ? `first model deployment by ${principal} on ${evidence.account ?? '(unknown)'}: ${evidence.deployment ?? '(unknown)'} written`
      : `${evidence.change}: ${evidence.policy ?? '(unknown)'} by ${principal}`,
  description:
    'A principal changed or deleted a content filter (RAI policy) or a blocklist of an Azure OpenAI / AI services account (High), ' +
    'or created or changed a model deployment on an account it had never deployed on within the horizon, after Warden had watched it for the learning period (Medium). ' +
    'Weakening the filters lets a stolen key or a compromised app generate what the guardrails block, and hides jailbreaks from the content-filter results; ' +
    'a deployment write can swap in a weaker filter or stand up a model for a stolen key. ' +
    "Check the change came from the platform team's pipeline (allow-list it for filter changes; its deployments are learned); " +
    "if not, restore the policy or the deployment's filter and review the account's calls since.",
  severity: 'High',
  severityOf: ({ evidence }) => ('deployment' in evidence ? 'Medium' : 'High'),
  tactics: ['DefenseEvasion', 'Impact'],
  techniques: ['T1562.001'],
  sources: ['activity'],
  operations: [...Object.keys(GUARDRAIL), DEPLOYMENT_WRITE],
  tags: ['ai', 'guardrails', 'defense-evasion', 'first-seen'],
  // A change counts once it succeeded (Start is followed by Success).
  where: (e) => e.result === 'success',
  groupBy: (e) => (e.operation === DEPLOYMENT_WRITE && e.principalId ? `${e.principalId}|deployments` : e.principalId),
  kind: 'firstSeen',
  value: (e) => accountOf(e.resourceId),
  // Filter and blocklist changes alert every time, learning or not; deployments the first time per account.
  alwaysNew: (e) => e.operation !== DEPLOYMENT_WRITE,
  horizon: tunable('90d', 'How long an account stays known after the principal last deployed a model on it (releases can be months apart)'),
  learning: tunable('7d', 'Deployments by a principal Warden has watched for less than this are learned, not reported'),
  // Rewriting a filter is a few writes, a release several deployments: one incident per principal and hour of each.
  suppress: '1h',
});
