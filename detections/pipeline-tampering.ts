import { defineRule, resourceName, tunable } from '../src/engine/api.js';

const DIAGNOSTIC_DELETE = 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE';
const SETTING = '/providers/microsoft.insights/diagnosticsettings/';
/** What carries logs to Warden and Sentinel, and what silences the alerts, by operation. */
const TAMPERING: Readonly<Record<string, string>> = {
  'MICROSOFT.EVENTHUB/NAMESPACES/DELETE': 'Event Hubs namespace deleted',
  'MICROSOFT.EVENTHUB/NAMESPACES/EVENTHUBS/DELETE': 'event hub deleted',
  'MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES/WRITE': 'namespace authorization rule changed',
  'MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES/DELETE': 'namespace authorization rule deleted',
  'MICROSOFT.EVENTHUB/NAMESPACES/EVENTHUBS/AUTHORIZATIONRULES/WRITE': 'event hub authorization rule changed',
  'MICROSOFT.EVENTHUB/NAMESPACES/EVENTHUBS/AUTHORIZATIONRULES/DELETE': 'event hub authorization rule deleted',
  [DIAGNOSTIC_DELETE]: 'diagnostic setting deleted',
  'MICROSOFT.ALERTSMANAGEMENT/ACTIONRULES/WRITE': 'alert processing (suppression) rule created or changed',
  'MICROSOFT.INSIGHTS/DATACOLLECTIONRULES/DELETE': 'data collection rule deleted',
};

/**
 * The log path is the attacker's first target once in: delete the Event Hub the diagnostic
 * settings stream to, change its authorization rules (a new listen key to read the logs, or a
 * send key revoked), delete a diagnostic setting anywhere, mute alerts with a suppression rule, or
 * delete a data collection rule. Diagnostic settings of AI, Key Vault and Storage resources are
 * left to monitoring-disabled-on-ai-resource, so each deletion makes one incident.
 */
export default defineRule({
  id: 'pipeline-tampering',
  version: '1',
  name: 'The log pipeline attacked: Event Hub, diagnostic setting, alert suppression or data collection rule',
  title: ({ principal, events }) => {
    const e = events[events.length - 1];
    return `${TAMPERING[e?.operation ?? ''] ?? 'log pipeline changed'}: ${resourceName(e?.resourceId) ?? '(unknown)'} by ${principal}`;
  },
  description:
    'A principal deleted an Event Hubs namespace or event hub, changed or deleted its authorization rules, deleted a diagnostic setting, ' +
    'created an alert processing rule that suppresses alerts, or deleted a data collection rule. These carry the logs Warden and Sentinel read, or silence the alerts: ' +
    "attackers blind them before acting. Check the change was planned (an infrastructure pipeline's deployment); if not, restore the path and review what went unlogged.",
  severity: 'High',
  tactics: ['DefenseEvasion'],
  techniques: ['T1562.008', 'T1562.006'],
  sources: ['activity'],
  operations: Object.keys(TAMPERING),
  tags: ['defense-evasion', 'logging', 'pipeline'],
  tunables: {
    eventHubNamespaces: tunable([] as string[], 'Event Hubs namespaces of the diagnostic path (names); empty: every namespace counts'),
    diagnosticTypesElsewhere: tunable(
      [
        'microsoft.cognitiveservices/accounts',
        'microsoft.machinelearningservices/workspaces',
        'microsoft.keyvault/vaults',
        'microsoft.storage/storageaccounts',
      ],
      'Resource types whose diagnostic-setting deletions monitoring-disabled-on-ai-resource reports (left out here)',
    ),
  },
  where: (e, { eventHubNamespaces, diagnosticTypesElsewhere }) => {
    // A change counts once it succeeded (the Start record is followed by its Success).
    if (e.result !== 'success') return false;
    const id = e.resourceId ?? '';
    if (e.operation === DIAGNOSTIC_DELETE) {
      const at = id.indexOf(SETTING);
      const target = at > 0 ? id.slice(0, at) : id;
      return !diagnosticTypesElsewhere.some((t) => target.includes(`/providers/${t.toLowerCase()}/`));
    }
    if (e.operation.startsWith('MICROSOFT.EVENTHUB/') && eventHubNamespaces.length) {
      const ns = id.match(/\/providers\/microsoft\.eventhub\/namespaces\/([^/]+)/)?.[1];
      return ns !== undefined && eventHubNamespaces.some((n) => n.toLowerCase() === ns);
    }
    return true;
  },
  kind: 'match',
  evidence: ({ events }) => ({
    changes: [...new Set(events.map((e) => TAMPERING[e.operation]))],
    resources: [...new Set(events.map((e) => e.resourceId).filter((r) => r !== undefined))].slice(0, 10),
  }),
  // Tearing a path down is several deletions: one incident per principal and hour.
  suppress: '1h',
});
