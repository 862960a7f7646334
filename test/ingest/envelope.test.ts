import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_RAW_LIMIT, DeadLetterSchema } from '../../src/model/index.js';
import { cutRaw, decodeBody } from '../../src/ingest/envelope.js';

const a = { category: 'AuditEvent', time: '2025-01-01T00:00:00Z', operationName: 'SecretGet' };
const b = { category: 'StorageRead', time: '2025-01-01T00:00:01Z', operationName: 'GetBlob' };
const where = { partitionId: '3', sequenceNumber: 42, enqueuedTime: '2025-01-01T00:00:02Z' };

function categories(body: unknown) {
  return decodeBody(body, where).records.map((r) => r.record.category);
}

describe('decodeBody: body shapes', () => {
  const envelope = JSON.stringify({ records: [a, b] });

  it('reads {"records":[…]} from a Buffer, a string and an already-parsed value alike', () => {
    for (const body of [Buffer.from(envelope), envelope, JSON.parse(envelope), new Uint8Array(Buffer.from(envelope))]) {
      const out = decodeBody(body, where);
      expect(out.deadLetters).toEqual([]);
      expect(out.records.map((r) => r.record)).toEqual([a, b]);
      expect(out.records.map((r) => r.location)).toEqual([
        { ...where, index: 0 },
        { ...where, index: 1 },
      ]);
    }
  });

  it('reads a JSON array of records and a single record', () => {
    expect(categories(JSON.stringify([a, b]))).toEqual(['AuditEvent', 'StorageRead']);
    const single = decodeBody(JSON.stringify(a), where);
    expect(single.records).toEqual([{ record: a, location: { ...where, index: 0 }, text: JSON.stringify(a) }]);
  });

  it('strips a UTF-8 byte order mark', () => {
    expect(categories(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(envelope)]))).toEqual(['AuditEvent', 'StorageRead']);
  });

  it('reads NDJSON: one value per line, CRLF or LF, blank lines ignored, a line may be a whole {"records"} body', () => {
    const text = [JSON.stringify(a), '', JSON.stringify({ records: [b, a] }), JSON.stringify(b)].join('\r\n') + '\n';
    const out = decodeBody(text, { file: 'x.log' });
    expect(out.deadLetters).toEqual([]);
    expect(out.records.map((r) => [r.record.category, r.location])).toEqual([
      ['AuditEvent', { file: 'x.log', line: 1, index: 0 }],
      ['StorageRead', { file: 'x.log', line: 3, index: 0 }],
      ['AuditEvent', { file: 'x.log', line: 3, index: 1 }],
      ['StorageRead', { file: 'x.log', line: 4, index: 0 }],
    ]);
    expect(out.records[0].text).toBe(JSON.stringify(a));
  });

  it('dead-letters a bad NDJSON line with its line number and text, keeping the good lines', () => {
    const bad = '{"category": "AuditEvent", "time": ';
    const out = decodeBody([JSON.stringify(a), bad, JSON.stringify(b)].join('\n'), { file: 'x.ndjson' });
    expect(out.records.map((r) => r.location.line)).toEqual([1, 3]);
    expect(out.deadLetters).toHaveLength(1);
    expect(out.deadLetters[0]).toMatchObject({ location: { file: 'x.ndjson', line: 2 }, raw: bad });
    expect(out.deadLetters[0].reason).toMatch(/^invalid JSON on line 2: /);
  });

  it('keeps a broken pretty-printed document as one dead letter, not one per line', () => {
    const broken = '{\n  "category": "StorageWrite",\n  "properties": {\n    "a": 1,\n  }\n}\n';
    const out = decodeBody(broken, { file: 'doc.json' });
    expect(out.records).toEqual([]);
    expect(out.deadLetters).toHaveLength(1);
    expect(out.deadLetters[0]).toMatchObject({ location: { file: 'doc.json' }, raw: broken });
    expect(out.deadLetters[0].reason).toMatch(/^invalid JSON: /);
  });

  it('turns Log Analytics query output into one object per row, marked as rows', () => {
    const body = {
      tables: [
        {
          name: 'PrimaryResult',
          columns: [
            { name: 'TimeGenerated', type: 'datetime' },
            { name: 'OperationName', type: 'string' },
            { name: 'Type', type: 'string' },
          ],
          rows: [
            ['2025-01-01T00:00:00Z', 'SecretGet', 'AzureDiagnostics'],
            ['2025-01-01T00:00:01Z', 'Sign-in activity', 'SigninLogs'],
          ],
        },
      ],
    };
    const out = decodeBody(JSON.stringify(body), where);
    expect(out.deadLetters).toEqual([]);
    expect(out.records).toEqual([
      { record: { TimeGenerated: '2025-01-01T00:00:00Z', OperationName: 'SecretGet', Type: 'AzureDiagnostics' }, location: { ...where, index: 0 }, row: true },
      { record: { TimeGenerated: '2025-01-01T00:00:01Z', OperationName: 'Sign-in activity', Type: 'SigninLogs' }, location: { ...where, index: 1 }, row: true },
    ]);
  });

  it('dead-letters Log Analytics rows that do not match the columns, and tables without columns', () => {
    const body = {
      tables: [
        {
          name: 'PrimaryResult',
          columns: [
            { name: 'A', type: 'string' },
            { name: 'B', type: 'string' },
          ],
          rows: [['1', '2'], ['only one'], 'not a row'],
        },
        { name: 'Broken', rows: [] },
      ],
    };
    const out = decodeBody(body, {});
    expect(out.records.map((r) => r.record)).toEqual([{ A: '1', B: '2' }]);
    expect(out.deadLetters.map((d) => [d.reason, d.location.index])).toEqual([
      ['Log Analytics row has 1 values for 2 columns', 1],
      ['Log Analytics row has a string for 2 columns', 2],
      ['Log Analytics table without named columns and rows', 3],
    ]);
  });

  it("keeps a column named __proto__ as a column, as JSON.parse would, not as the row object's prototype", () => {
    const body = { tables: [{ columns: [{ name: '__proto__' }, { name: 'Type' }], rows: [[{ Category: 'AuditEvent' }, 'AzureDiagnostics']] }] };
    const [{ record }] = decodeBody(body, {}).records;
    expect(Object.keys(record)).toEqual(['__proto__', 'Type']);
    expect(record.Category).toBeUndefined();
    expect(record).toEqual(JSON.parse('{"__proto__":{"Category":"AuditEvent"},"Type":"AzureDiagnostics"}'));
  });

  it('reads a bare array of Log Analytics row objects as records', () => {
    const rows = [{ TimeGenerated: '2025-01-01T00:00:00Z', Type: 'StorageBlobLogs' }];
    expect(decodeBody(JSON.stringify(rows), {}).records.map((r) => r.record)).toEqual(rows);
  });
});

describe('decodeBody: what is not a record becomes a dead letter, never an exception', () => {
  it('dead-letters non-object records one by one and keeps the rest', () => {
    const out = decodeBody({ records: [a, 42, null, 'text', [a], b] }, where);
    expect(out.records.map((r) => r.location.index)).toEqual([0, 5]);
    expect(out.deadLetters.map((d) => [d.reason, d.location.index, d.raw])).toEqual([
      ['record is a number, not a JSON object', 1, '42'],
      ['record is null, not a JSON object', 2, 'null'],
      ['record is a string, not a JSON object', 3, '"text"'],
      ['record is an array, not a JSON object', 4, JSON.stringify([a])],
    ]);
  });

  it.each([
    ['a number', 42, 'body is a number, not a JSON object or array of records'],
    ['JSON text of a number', '42', 'body is a number, not a JSON object or array of records'],
    ['JSON null', 'null', 'body is null, not a JSON object or array of records'],
    ['a boolean', true, 'body is a boolean, not a JSON object or array of records'],
    ['records that is not an array', { records: 'nope' }, 'body has "records" but it is a string, not an array'],
    ['an empty string', '', 'empty body'],
    ['whitespace', ' \n\t ', 'empty body'],
    ['an empty Buffer', Buffer.alloc(0), 'empty body'],
    ['undefined', undefined, 'empty body'],
    ['null', null, 'empty body'],
  ])('dead-letters %s', (_name, body, reason) => {
    const out = decodeBody(body, where);
    expect(out.records).toEqual([]);
    expect(out.deadLetters.map((d) => d.reason)).toEqual([reason]);
    expect(out.deadLetters[0].location).toEqual(where);
    expect(() => DeadLetterSchema.parse(out.deadLetters[0])).not.toThrow();
  });

  it('keeps undecodable binary as base64 so it can be replayed byte for byte', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x7b]);
    const out = decodeBody(bytes, where);
    expect(out.deadLetters).toHaveLength(1);
    expect(out.deadLetters[0].raw).toBe(`base64:${bytes.toString('base64')}`);
  });

  it('cuts raw text to 64 KiB of UTF-8 on a character boundary', () => {
    const huge = `{"category":"AuditEvent","x":"${'ä€😀'.repeat(40_000)}`; // not closed: invalid JSON
    const out = decodeBody(huge, where);
    const raw = out.deadLetters[0].raw;
    expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(DEAD_LETTER_RAW_LIMIT);
    expect(Buffer.byteLength(raw)).toBeGreaterThan(DEAD_LETTER_RAW_LIMIT - 4);
    expect(huge.startsWith(raw)).toBe(true);
    expect(cutRaw('short')).toBe('short');
  });

  it('redacts SAS signatures in dead-letter text', () => {
    const out = decodeBody('{"uri": "https://acct.blob.core.windows.net/c/b?sv=2022&sig=SECRETSIG123&se=2025"', where);
    expect(out.deadLetters[0].raw).not.toContain('SECRETSIG123');
    expect(out.deadLetters[0].raw).toContain('sig=REDACTED');
  });

  it('leaves undefined location fields out of dead letters so they validate', () => {
    const out = decodeBody('nope', { file: 'f.json', partitionId: undefined, sequenceNumber: undefined });
    expect(out.deadLetters[0].location).toEqual({ file: 'f.json' });
    expect(() => DeadLetterSchema.parse(out.deadLetters[0])).not.toThrow();
  });
});
