import { AlertSchema, type Alert } from '../../src/model/index.js';

/**
 * A valid Alert (checked against the contract), distinct per `n`; `evidenceChars` pads Evidence to
 * make large rows. TimeGenerated is `n` seconds after a fixed start unless given.
 */
export function makeAlert(n: number, options: { evidenceChars?: number; timeGenerated?: string } = {}): Alert {
  const time = options.timeGenerated ?? new Date(Date.UTC(2025, 5, 1, 12, 0, 0) + n * 1000).toISOString();
  return AlertSchema.parse({
    TimeGenerated: time,
    AlertId: `a${n.toString(16).padStart(31, '0')}`,
    RuleId: 'ai-key-listing',
    RuleVersion: '1.0.0',
    Title: `AI account keys listed by sp-${n}`,
    Description: 'A service principal listed the keys of an Azure OpenAI account.',
    Severity: 'Medium',
    Tactics: ['CredentialAccess'],
    Techniques: ['T1555'],
    PrincipalId: `0000000${n % 10}-1111-2222-3333-444444444444`,
    PrincipalType: 'servicePrincipal',
    PrincipalName: `sp-${n} (ünïcode ✓)`,
    SubscriptionIds: ['aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'],
    ResourceIds: ['/subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/oai'],
    IpAddresses: ['203.0.113.7'],
    FirstEventTime: time,
    LastEventTime: time,
    EventCount: 1 + (n % 5),
    Entities: [
      { Type: 'account', AadUserId: '00000000-1111-2222-3333-444444444444' },
      { Type: 'ip', Address: '203.0.113.7' },
    ],
    Evidence: { count: n, correlationIds: [`c-${n}`], ...(options.evidenceChars ? { padding: 'e'.repeat(options.evidenceChars) } : {}) },
    DetectionLatencyMs: 1234,
  });
}
