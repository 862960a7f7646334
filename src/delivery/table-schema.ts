import { z } from 'zod';
import { WardenError } from '../common/errors.js';
import { AlertSchema } from '../model/index.js';

/** Column types a Log Analytics custom table and a DCR stream declaration both accept. */
export type ColumnType = 'string' | 'datetime' | 'int' | 'long' | 'real' | 'boolean' | 'dynamic';

export interface TableColumn {
  name: string;
  type: ColumnType;
}

/** A schema field whose zod type has no agreed column type yet: a gap in Warden, not in what the user gave. */
export class UnmappedFieldTypeError extends WardenError {
  readonly userFixable = false;
  constructor(field: string, zodType: string) {
    super(
      `Field "${field}" has zod type "${zodType}", which has no Log Analytics column type: ` +
        'add a mapping in src/delivery/table-schema.ts, then run `npm run infra:sync`',
    );
    this.name = 'UnmappedFieldTypeError';
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function columnType(field: string, schema: z.ZodType): ColumnType {
  // Optional/nullable/default only change presence, not the column's type.
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) {
    return columnType(field, schema.unwrap() as z.ZodType);
  }
  if (schema instanceof z.ZodISODateTime) return 'datetime';
  if (schema instanceof z.ZodString || schema instanceof z.ZodEnum) return 'string';
  if (schema instanceof z.ZodBoolean) return 'boolean';
  if (schema instanceof z.ZodNumber) {
    if (!schema.isInt) return 'real';
    // Kusto int is 32-bit: only integers bounded inside that range fit; counts go to long.
    const min = schema.minValue ?? -Infinity;
    const max = schema.maxValue ?? Infinity;
    return min >= INT32_MIN && max <= INT32_MAX ? 'int' : 'long';
  }
  if (schema instanceof z.ZodArray || schema instanceof z.ZodObject || schema instanceof z.ZodRecord) return 'dynamic';
  throw new UnmappedFieldTypeError(field, schema._zod.def.type);
}

/** The Log Analytics columns of a flat object schema, in the schema's field order. */
export function tableColumnsOf(schema: z.ZodObject): TableColumn[] {
  return Object.entries(schema.shape).map(([name, field]) => ({ name, type: columnType(name, field as z.ZodType) }));
}

/**
 * The WardenAlerts_CL columns, derived from the Alert contract. infra/main.json carries a copy
 * (the table and the DCR stream) because ARM cannot read TypeScript; `npm run infra:sync`
 * rewrites it and test/infra fails when the two drift.
 */
export function alertTableColumns(): TableColumn[] {
  return tableColumnsOf(AlertSchema);
}
