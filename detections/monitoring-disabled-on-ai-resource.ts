import { defineRule, resourceName, tunable, type SourceEvent } from '../src/engine/api.js';

const DELETE = 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE';
const WRITE = 'MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE';
const SETTING = '/providers/microsoft.insights/diagnosticsettings/';

/** The resource a diagnostic setting belongs to: its id up to `/providers/microsoft.insights/…`. */
function monitoredResource(e: SourceEvent<'activity'>): string | undefined {
  const at = e.resourceId?.indexOf(SETTING) ?? -1;
  return at > 0 ? e.resourceId!.slice(0, at) : undefined;
}

/** A write that turns logs off: some categories disabled, or none left enabled. Undefined when the record carries no body. */
function writeDisablesLogs(e: SourceEvent<'activity'>): boolean | undefined {
  const { enabledLogs, disabledLogs } = e.details;
  if (enabledLogs === undefined && disabledLogs === undefined) return undefined;
  return !!disabledLogs || !enabledLogs;
}

/**
 * Warden sees what diagnostic settings stream. Deleting a setting on an AI account, a Key Vault
 * or a storage account — or rewriting it with its logs turned off — blinds the very pipeline
 * that watches the resource, usually just before (or right after) using it.
 */
export default defineRule({
  id: 'monitoring-disabled-on-ai-resource',
  version: '1',
  name: 'Diagnostic setting deleted or logs disabled on an AI, Key Vault or Storage resource',
  description:
    'A principal deleted a diagnostic setting of an Azure OpenAI / AI services account, a Key Vault or a storage account, or rewrote one with log categories disabled. ' +
    "Diagnostic settings are what stream the resource's logs to Warden and Sentinel: without them its use goes unseen. " +
    "Check the change was planned; if not, restore the setting and review the resource's activity around the change, including what was not logged.",
  severity: 'High',
  tactics: ['DefenseEvasion'],
  techniques: ['T1562.008'],
  sources: ['activity'],
  operations: [DELETE, WRITE],
  tags: ['defense-evasion', 'logging'],
  tunables: {
    resourceTypes: tunable(
      [
        'microsoft.cognitiveservices/accounts',
        'microsoft.machinelearningservices/workspaces',
        'microsoft.keyvault/vaults',
        'microsoft.storage/storageaccounts',
      ],
      'Resource types watched: a setting on (or under) one of these is reported',
    ),
  },
  where: (e, { resourceTypes }) => {
    if (e.result === 'failure') return false;
    const target = monitoredResource(e);
    if (!target || !resourceTypes.some((t) => target.includes(`/providers/${t.toLowerCase()}/`))) return false;
    // A delete counts once it succeeded; a write is judged on the record that carries its body (Start).
    return e.operation === DELETE ? e.result === 'success' : writeDisablesLogs(e) === true;
  },
  groupBy: (e) => `${e.principalId}|${monitoredResource(e)}`,
  kind: 'match',
  evidence: ({ events }) => {
    const e = events[events.length - 1];
    const target = e && monitoredResource(e);
    // A storage account's blob logs are set on its blob service: name the account.
    const account = target?.match(/\/providers\/[^/]+\/[^/]+\/([^/]+)/)?.[1];
    return {
      change: e?.operation === DELETE ? 'deleted' : 'logs disabled',
      setting: resourceName(e?.resourceId),
      monitoredResourceId: target,
      resourceName: account ?? resourceName(target),
      disabledLogs: e?.details.disabledLogs,
      enabledLogs: e?.details.enabledLogs,
    };
  },
  title: ({ principal, events, evidence }) => {
    const e = events[events.length - 1];
    const what = e?.operation === DELETE ? 'deleted' : `changed to disable ${evidence.disabledLogs || 'all logs'}`;
    return `Diagnostic setting ${resourceName(e?.resourceId)} ${what} on ${evidence.resourceName} by ${principal}`;
  },
  // The activity log writes Start then Success: one alert per principal, resource and hour.
  suppress: '1h',
});
