import type { Alert, NormalizedEvent, StreamEvent } from '../../src/model/index.js';
import { AlertSchema } from '../../src/model/index.js';
import { Detector, defineRule, type DetectorOptions } from '../../src/engine/index.js';
import type { Rule } from '../../src/engine/index.js';
import type { Tunable } from '../../src/engine/rule.js';
import type { SourceEvent } from '../../src/engine/api.js';
import { PartitionRouter } from '../../src/eventhubs/partitioning.js';

export const T0 = Date.parse('2025-03-01T00:00:00Z');
export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export const SP = '11111111-1111-4111-8111-111111111111';
export const SP2 = '22222222-2222-4222-8222-222222222222';
export const SUB_A = 'aaaaaaaa-0000-4000-8000-000000000001';
export const SUB_B = 'bbbbbbbb-0000-4000-8000-000000000002';

let counter = 0;

/** A normalized event with sensible defaults; `at` is ms after T0. */
export function ev(at: number, over: Partial<NormalizedEvent> = {}): NormalizedEvent {
  counter++;
  return {
    id: `evt-${counter}`,
    time: T0 + at,
    source: 'activity',
    category: 'Administrative',
    operation: 'MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION',
    result: 'success',
    principalId: SP,
    principalType: 'servicePrincipal',
    subscriptionId: SUB_A,
    resourceId: `/subscriptions/${SUB_A}/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/oai1`,
    details: {},
    ...over,
  };
}

/** Route events into stream events as the keyed bus does (one router per simulated run). */
export function stream(events: NormalizedEvent[], router = new PartitionRouter(1), arrivedAt = T0): StreamEvent[] {
  return router.routeAll(events, arrivedAt);
}

/** Run a detector over batches (flushing after each); returns every alert, each validated against the Alert contract. */
export async function run(rules: Rule[], batches: StreamEvent[][], options: DetectorOptions = {}): Promise<{ alerts: Alert[]; detector: Detector }> {
  const detector = new Detector(rules, { now: () => T0 + DAY * 30, ...options });
  const alerts: Alert[] = [];
  for (const batch of batches) {
    alerts.push(...(await detector.process(batch)));
    await detector.flush();
  }
  for (const a of alerts) AlertSchema.parse(a);
  return { alerts, detector };
}

/** Drive one detector over batches as the detect function handles each: evaluate, then write the changed state. */
export async function drive(detector: Detector, batches: StreamEvent[][]): Promise<Alert[]> {
  const alerts: Alert[] = [];
  for (const batch of batches) {
    alerts.push(...(await detector.process(batch)));
    await detector.flush();
  }
  return alerts;
}

/** Split into batches of n. */
export function batches<T>(items: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/**
 * The anomaly rule the engine tests share: AI calls per hour against the principal's learned rate
 * (4 hours of warm-up, at least 10 calls, 3× the mean). Tests change only what they are about.
 */
export function requestBurst(
  id = 'test-anomaly',
  over: { title?: string; alpha?: number; minCount?: number; factor?: number; measure?: (e: SourceEvent<'ai'>) => number | undefined } = { alpha: 0.5 },
): Rule {
  return defineRule({
    id,
    version: '1',
    title: 'request burst',
    description: 'test rule',
    severity: 'Medium',
    tactics: ['Impact'],
    techniques: ['T1496'],
    sources: ['ai'],
    kind: 'anomaly',
    bucket: '1h',
    warmup: 4,
    minCount: 10,
    factor: 3,
    ...over,
  });
}

/** The threshold rule the engine tests share: `threshold` key listings by one principal within 10 minutes. */
export function keysListed(threshold: number | Tunable<number> = 3): Rule {
  return defineRule({
    id: 'test-threshold',
    version: '1',
    title: 'keys listed repeatedly',
    description: 'test rule',
    severity: 'Medium',
    tactics: ['CredentialAccess'],
    techniques: ['T1552'],
    sources: ['activity'],
    kind: 'threshold',
    window: '10m',
    threshold,
  });
}

/** The sequence rule the engine tests share: a blob read in one subscription, then a blob written into another within 10 minutes. */
export const readThenWriteElsewhere: Rule = defineRule({
  id: 'test-sequence-cross-sub',
  version: '1',
  description: 'test rule',
  severity: 'High',
  tactics: ['Exfiltration'],
  techniques: ['T1537'],
  sources: ['storage'],
  kind: 'sequence',
  within: '10m',
  steps: {
    read: { where: (e) => e.operation === 'GETBLOB' },
    write: {
      name: 'write elsewhere',
      where: (e) => e.operation === 'PUTBLOB',
      relate: (e, { read }) => !!e.subscriptionId && e.subscriptionId !== read.subscriptionId,
    },
  },
  title: ({ steps: { read, write } }) => `read in ${read.subscriptionId}, wrote in ${write.subscriptionId}`,
});

/** A storage event of SP: `operation` (GETBLOB, PUTBLOB) on account st in `subscriptionId`, of blob `name` when given. */
export function blob(at: number, operation: string, subscriptionId: string, name?: string): NormalizedEvent {
  return ev(at, {
    source: 'storage',
    category: operation === 'GETBLOB' ? 'StorageRead' : 'StorageWrite',
    operation,
    subscriptionId,
    resourceId: `/subscriptions/${subscriptionId}/resourcegroups/rg/providers/microsoft.storage/storageaccounts/st`,
    details:
      name === undefined
        ? {}
        : { authType: 'OAuth', account: 'st', container: 'data', blob: name, statusCode: 200, uri: `https://st.blob.core.windows.net/data/${name}` },
  });
}
