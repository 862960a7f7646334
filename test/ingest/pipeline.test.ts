import { describe, expect, it } from 'vitest';
import { DeadLetterSchema, type NormalizedEvent, type Source } from '../../src/model/index.js';
import { SourceRegistry } from '../../src/ingest/registry.js';
import { IngestTotals, ingestBody, type IngestResult } from '../../src/ingest/pipeline.js';
import { InvalidRecordError, type RawRecord, type SourceNormalizer } from '../../src/ingest/types.js';
import { SOURCE_NORMALIZERS } from '../../src/ingest/sources/index.js';

/** A small but working normalizer: the registry and pipeline are tested against what they route to. */
function source(name: Source, spec: Partial<SourceNormalizer> = {}): SourceNormalizer {
  return {
    source: name,
    streamCategories: [],
    tables: [],
    normalize(record: RawRecord, shape): NormalizedEvent {
      if (typeof record.time !== 'string') throw new InvalidRecordError('no time');
      return {
        id: `${name}:${String(record.id)}`,
        time: Date.parse(record.time),
        source: name,
        category: String(record.category ?? record.Type),
        operation: shape.toUpperCase(),
        result: 'success',
        principalId: String((record.who as string | undefined) ?? 'someone'),
        principalType: 'unknown',
        details: {},
      };
    },
    ...spec,
  };
}

const ai = source('ai', {
  streamCategories: ['Audit', 'RequestResponse'],
  tables: ['AzureDiagnostics'],
  accepts: (r) =>
    String(r.resourceId ?? r.ResourceProvider)
      .toUpperCase()
      .includes('COGNITIVESERVICES'),
});
const keyvault = source('keyvault', {
  streamCategories: ['AuditEvent'],
  tables: ['AzureDiagnostics'],
  accepts: (r) =>
    String(r.resourceId ?? r.ResourceProvider)
      .toUpperCase()
      .includes('KEYVAULT'),
});
const signin = source('signin', { streamCategories: ['ServicePrincipalSignInLogs'], tables: ['AADServicePrincipalSignInLogs'] });
const registry = new SourceRegistry([ai, keyvault, signin]);

const t = '2025-01-01T00:00:00Z';

describe('SourceRegistry', () => {
  it('routes stream records by category, case-insensitively, also under PascalCase `Category`', () => {
    expect(registry.route({ category: 'servicePRINCIPALsigninlogs' })).toMatchObject({ kind: 'normalize', normalizer: signin, shape: 'stream' });
    expect(registry.route({ Category: 'ServicePrincipalSignInLogs' })).toMatchObject({ kind: 'normalize', normalizer: signin });
  });

  it('asks `accepts` when sources share a category or table, and skips when none claims the record', () => {
    expect(registry.route({ category: 'AuditEvent', resourceId: '/x/providers/Microsoft.KeyVault/vaults/kv' })).toMatchObject({ normalizer: keyvault });
    expect(registry.route({ Type: 'AzureDiagnostics', ResourceProvider: 'MICROSOFT.COGNITIVESERVICES' })).toMatchObject({ normalizer: ai, shape: 'table' });
    expect(registry.route({ Type: 'AzureDiagnostics', ResourceProvider: 'MICROSOFT.KEYVAULT' })).toMatchObject({ normalizer: keyvault, shape: 'table' });
    expect(registry.route({ Type: 'AzureDiagnostics', ResourceProvider: 'MICROSOFT.SQL' })).toEqual({ kind: 'skip', category: 'AzureDiagnostics' });
  });

  it('skips categories and tables no source handles, by their name', () => {
    expect(registry.route({ category: 'FunctionAppLogs' })).toEqual({ kind: 'skip', category: 'FunctionAppLogs' });
    expect(registry.route({ Type: 'AzureMetrics' })).toEqual({ kind: 'skip', category: 'AzureMetrics' });
  });

  it("uses the caller's table for rows without a Type column, and the row's own Type over it", () => {
    expect(registry.route({ TimeGenerated: t }, 'AADServicePrincipalSignInLogs')).toMatchObject({ normalizer: signin, shape: 'table' });
    expect(registry.route({ Type: 'AzureMetrics' }, 'AADServicePrincipalSignInLogs')).toEqual({ kind: 'skip', category: 'AzureMetrics' });
  });

  it('dead-letters records with no category, a category that is not text, and query rows with no table', () => {
    expect(registry.route({ message: 'hello' })).toEqual({ kind: 'deadLetter', reason: 'no category: not an Azure Monitor record' });
    expect(registry.route({ category: '' })).toEqual({ kind: 'deadLetter', reason: 'no category: not an Azure Monitor record' });
    expect(registry.route({ category: 7 })).toEqual({ kind: 'deadLetter', reason: 'category is number, not a string' });
    expect(registry.route({ Category: 'ServicePrincipalSignInLogs' }, undefined, true)).toMatchObject({
      kind: 'deadLetter',
      reason: expect.stringMatching(/without a Type column/),
    });
  });

  it('dead-letters a record whose `accepts` check throws', () => {
    const throwing = new SourceRegistry([
      source('ai', {
        streamCategories: ['Audit'],
        accepts: () => {
          throw new TypeError('boom');
        },
      }),
    ]);
    expect(throwing.route({ category: 'Audit' })).toEqual({ kind: 'deadLetter', reason: 'ai: cannot tell whether the record is its own: boom' });
  });

  it('the built-in sources do not claim the same category twice without an `accepts` check', () => {
    const claims = new Map<string, SourceNormalizer[]>();
    for (const n of SOURCE_NORMALIZERS) {
      for (const c of [...n.streamCategories.map((x) => `stream:${x}`), ...n.tables.map((x) => `table:${x}`)]) {
        claims.set(c.toLowerCase(), [...(claims.get(c.toLowerCase()) ?? []), n]);
      }
    }
    for (const [name, sources] of claims) {
      if (sources.length > 1)
        expect(
          sources.every((s) => s.accepts !== undefined),
          `${name} is shared by ${sources.map((s) => s.source).join(',')}`,
        ).toBe(true);
    }
  });
});

function invariant(r: IngestResult) {
  const skipped = Object.values(r.skippedByCategory).reduce((a, b) => a + b, 0);
  expect(r.records).toBe(r.events.length + skipped + r.deadLetters.length + r.deadLettersNotKept);
}

describe('ingestBody', () => {
  const body = JSON.stringify({
    records: [
      { category: 'ServicePrincipalSignInLogs', time: t, id: 1, who: 'app-1' },
      { category: 'AuditEvent', time: t, id: 2, resourceId: '/subscriptions/s/providers/Microsoft.KeyVault/vaults/kv', who: 'mi-1' },
      { category: 'FunctionAppLogs', time: t },
      { category: 'FunctionAppLogs', time: t },
      { category: 'ServicePrincipalSignInLogs', id: 3 },
      { operationName: 'no category' },
      42,
    ],
  });
  const where = { partitionId: '2', sequenceNumber: 9, enqueuedTime: t };

  it('normalizes, skips and dead-letters every record of a body, and accounts for all of them', () => {
    const r = ingestBody(body, where, { registry });
    invariant(r);
    expect(r.records).toBe(7);
    expect(r.events.map((e) => [e.event.id, e.location])).toEqual([
      ['signin:1', { ...where, index: 0 }],
      ['keyvault:2', { ...where, index: 1 }],
    ]);
    expect({ ...r.bySource }).toEqual({ signin: 1, keyvault: 1 });
    expect({ ...r.skippedByCategory }).toEqual({ FunctionAppLogs: 2 });
    expect(r.deadLetters.map((d) => [d.reason, d.location.index])).toEqual([
      ['record is a number, not a JSON object', 6],
      ['signin: no time', 4],
      ['no category: not an Azure Monitor record', 5],
    ]);
    for (const d of r.deadLetters) {
      expect(() => DeadLetterSchema.parse(d)).not.toThrow();
      expect(d.location).toMatchObject(where);
    }
    expect(JSON.parse(r.deadLetters[1].raw)).toEqual({ category: 'ServicePrincipalSignInLogs', id: 3 });
  });

  it('dead-letters what a normalizer throws that is not InvalidRecordError, and events missing key fields, as bugs', () => {
    const broken = new SourceRegistry([
      source('storage', {
        streamCategories: ['StorageRead'],
        normalize: () => {
          throw new TypeError("Cannot read properties of undefined (reading 'x')");
        },
      }),
      source('activity', { streamCategories: ['Administrative'], normalize: () => ({ id: 'a', time: 1 }) as NormalizedEvent }),
      source('ai', {
        streamCategories: ['Audit'],
        normalize: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- a normalizer that throws a non-Error is what this test is about
          throw 'a string';
        },
      }),
    ]);
    const r = ingestBody([{ category: 'StorageRead' }, { category: 'Administrative' }, { category: 'Audit' }], {}, { registry: broken });
    invariant(r);
    expect(r.events).toEqual([]);
    expect(r.deadLetters.map((d) => d.reason)).toEqual([
      "storage normalizer failed (a bug to report): Cannot read properties of undefined (reading 'x')",
      'activity normalizer returned an event without principalId (a bug to report)',
      'ai normalizer failed (a bug to report): a string',
    ]);
  });

  it('passes the table hint to routing (a backtest knows the table it queried)', () => {
    const rows = {
      tables: [
        {
          name: 'PrimaryResult',
          columns: [
            { name: 'time', type: 'string' },
            { name: 'id', type: 'string' },
          ],
          rows: [[t, 'r1']],
        },
      ],
    };
    expect(ingestBody(rows, {}, { registry, table: 'AADServicePrincipalSignInLogs' }).events.map((e) => e.event.operation)).toEqual(['TABLE']);
    const noTable = ingestBody(rows, {}, { registry });
    expect(noTable.deadLetters.map((d) => d.reason)).toEqual(['Log Analytics row without a Type column: name the table it came from']);
  });
});

describe('IngestTotals', () => {
  it('adds bodies up without keeping their events; the summary is sorted and counts any category name', () => {
    const totals = new IngestTotals();
    totals.add(ingestBody({ records: [{ category: 'FunctionAppLogs' }, { category: '__proto__' }, { category: 'constructor' }] }, {}, { registry }));
    totals.add(ingestBody({ category: 'ServicePrincipalSignInLogs', time: t, id: 1 }, {}, { registry }));
    totals.add(ingestBody('not json', {}, { registry }));
    const s = totals.summary();
    expect(JSON.parse(JSON.stringify(s))).toEqual({
      records: 5,
      events: 1,
      deadLettered: 1,
      skipped: 3,
      bySource: { signin: 1 },
      // Written as JSON: in an object literal `__proto__` would set the prototype.
      skippedByCategory: JSON.parse('{"FunctionAppLogs":1,"__proto__":1,"constructor":1}'),
    });
    expect(Object.keys(s.skippedByCategory)).toEqual(['FunctionAppLogs', '__proto__', 'constructor']);
  });
});
