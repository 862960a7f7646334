import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { AlertSchema } from '../../src/model/index.js';
import { UnmappedFieldTypeError, alertStreamColumns, alertTableColumns, alertTransformKql, tableColumnsOf } from '../../src/delivery/table-schema.js';

describe('alertTableColumns', () => {
  it('has one column per Alert field, in the contract order; Title, reserved in custom tables, is AlertTitle', () => {
    expect(alertStreamColumns().map((c) => c.name)).toEqual(Object.keys(AlertSchema.shape));
    expect(alertTableColumns().map((c) => c.name)).toEqual(Object.keys(AlertSchema.shape).map((n) => (n === 'Title' ? 'AlertTitle' : n)));
    expect(alertTransformKql()).toBe('source | project-rename AlertTitle = Title');
  });

  it('types the columns so KQL can filter and compare them without casts', () => {
    const types = Object.fromEntries(alertTableColumns().map((c) => [c.name, c.type]));
    expect(types).toMatchObject({
      TimeGenerated: 'datetime',
      FirstEventTime: 'datetime',
      LastEventTime: 'datetime',
      AlertId: 'string',
      Severity: 'string', // enum
      PrincipalType: 'string', // enum
      PrincipalName: 'string', // optional
      EventCount: 'long', // unbounded integer: Kusto int is 32-bit
      DetectionLatencyMs: 'real',
      Tactics: 'dynamic',
      ResourceIds: 'dynamic',
      Entities: 'dynamic',
      Evidence: 'dynamic', // record
    });
  });
});

describe('tableColumnsOf', () => {
  it('keeps integers bounded to 32 bits as int and everything else numeric as long or real', () => {
    const columns = tableColumnsOf(
      z.object({
        percent: z.number().int().min(0).max(100),
        bytes: z.number().int().nonnegative(),
        ratio: z.number(),
        flag: z.boolean().default(false),
        note: z.string().nullable(),
        extras: z.object({ a: z.string() }),
      }),
    );
    expect(columns).toEqual([
      { name: 'percent', type: 'int' },
      { name: 'bytes', type: 'long' },
      { name: 'ratio', type: 'real' },
      { name: 'flag', type: 'boolean' },
      { name: 'note', type: 'string' },
      { name: 'extras', type: 'dynamic' },
    ]);
  });

  it('refuses a field type it has no column type for, naming the field and what to do', () => {
    const schema = z.object({ either: z.union([z.string(), z.number()]) });
    expect(() => tableColumnsOf(schema)).toThrow(UnmappedFieldTypeError);
    expect(() => tableColumnsOf(schema)).toThrow(/"either".*union.*npm run infra:sync/);
  });
});
