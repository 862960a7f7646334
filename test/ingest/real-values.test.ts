import { describe, expect, it } from 'vitest';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { NormalizedEvent } from '../../src/model/index.js';

/** Values as real exports and forwarders write them (issue #14 item 3), on the project's own records. */

const SUB = 'e7513b8c-2688-46e5-adc0-b529bcb1555f';
const ACCOUNT = `/subscriptions/${SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdata`;

function one(record: Record<string, unknown>, rows = false): NormalizedEvent {
  const result = ingestBody(JSON.stringify(rows ? [record] : { records: [record] }), {}, { rows });
  expect(result.deadLetters.map((d) => d.reason)).toEqual([]);
  expect(result.events).toHaveLength(1);
  return result.events[0].event;
}

const activity = (overrides: Record<string, unknown>) => ({
  time: '2025-05-12T08:05:00Z',
  resourceId: ACCOUNT,
  operationName: 'MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION',
  category: 'Administrative',
  resultType: 'Success',
  callerIpAddress: '203.0.113.9',
  identity: { claims: { oid: 'bdee79f1-7859-4b3a-9a9b-34f5b93987f3' } },
  ...overrides,
});

const blobRead = (overrides: Record<string, unknown>, properties: Record<string, unknown> = {}) => ({
  time: '2025-05-12T08:05:00Z',
  resourceId: `${ACCOUNT}/blobServices/default`,
  category: 'StorageRead',
  operationName: 'GetBlob',
  callerIpAddress: '203.0.113.9:50412',
  uri: 'https://stdata.blob.core.windows.net/reports/q1.csv',
  identity: { type: 'SAS' },
  properties: { accountName: 'stdata', objectKey: '/stdata/reports/q1.csv', ...properties },
  ...overrides,
});

describe('values as real logs write them', () => {
  it('reads a result with trailing punctuation or other casing', () => {
    expect(one(activity({ resultType: 'Succeeded.' })).result).toBe('success');
    expect(one(activity({ resultType: 'FAILED' })).result).toBe('failure');
    expect(one(activity({ resultType: ' Start ' })).result).toBe('start');
  });

  it("takes a storage request's result from metricResponseType when it logs no status", () => {
    expect(one(blobRead({}, { metricResponseType: 'SASSuccess' })).result).toBe('success');
    expect(one(blobRead({}, { metricResponseType: 'AuthorizationError' })).result).toBe('failure');
    expect(one(blobRead({})).result).toBe('unknown');
  });

  it('drops an address that is not an IP (a GUID), keeping real and masked ones', () => {
    expect(one(activity({ callerIpAddress: '8f2d6c1e-4b3a-4f5e-9d8c-7b6a5f4e3d2c' })).ip).toBeUndefined();
    expect(one(activity({ callerIpAddress: '81.2.69.***' })).ip).toBe('81.2.69.***');
    expect(one(activity({ callerIpAddress: '[2001:db8::7]:443' })).ip).toBe('2001:db8::7');
    expect(one(blobRead({})).ip).toBe('203.0.113.9');
  });

  it('reads times as the Log Analytics portal exports them', () => {
    const row = {
      Type: 'AzureActivity',
      TimeGenerated: '4/28/2021, 2:32:14.029 PM',
      OperationNameValue: 'MICROSOFT.WEB/SITES/DELETE',
      CategoryValue: 'Administrative',
      ActivityStatusValue: 'Success',
      _ResourceId: ACCOUNT,
      Caller: 'adele@contoso.com',
    };
    expect(one(row, true).time).toBe(Date.UTC(2021, 3, 28, 14, 32, 14, 29));
  });
});
