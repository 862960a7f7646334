import { z } from 'zod';
import { WardenError } from '../common/errors.js';
import { AlertSchema, type Alert } from '../model/index.js';

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
 * Column names Log Analytics reserves in custom tables: a table or DCR with one of them fails to
 * deploy (learn.microsoft.com/azure/azure-monitor/logs/create-custom-table).
 */
export const RESERVED_COLUMN_NAMES = ['id', '_ResourceId', '_SubscriptionId', 'TenantId', 'Title', 'Type', 'UniqueId'] as const;

/**
 * Alert fields whose name is reserved, and the WardenAlerts_CL column each is stored in. The sink
 * sends the Alert contract unchanged; the DCR's transformKql renames these on the way in.
 */
export const RENAMED_ALERT_COLUMNS: Readonly<Record<string, string>> = { Title: 'AlertTitle' };

/** An Alert field whose name Log Analytics reserves and that has no column name of its own yet. */
export class ReservedColumnNameError extends WardenError {
  override name = 'ReservedColumnNameError';
  readonly userFixable = true;
  constructor(field: string) {
    super(
      `Alert field "${field}" is a reserved Log Analytics column name: give it a column name in RENAMED_ALERT_COLUMNS (src/delivery/table-schema.ts), then run \`npm run infra:sync\``,
    );
  }
}

/** The DCR stream `Custom-WardenAlerts`: exactly the Alert contract, as the sink sends it. */
export function alertStreamColumns(): TableColumn[] {
  return tableColumnsOf(AlertSchema);
}

/**
 * The WardenAlerts_CL columns: the stream's, with reserved names renamed. infra/main.json carries
 * a copy (the table, the DCR stream and its transform) because ARM cannot read TypeScript;
 * `npm run infra:sync` rewrites it and test/infra fails when the two drift.
 */
export function alertTableColumns(): TableColumn[] {
  const reserved = new Set<string>(RESERVED_COLUMN_NAMES.map((n) => n.toLowerCase()));
  return alertStreamColumns().map(({ name, type }) => {
    const column = RENAMED_ALERT_COLUMNS[name] ?? name;
    if (reserved.has(column.toLowerCase())) throw new ReservedColumnNameError(name);
    return { name: column, type };
  });
}

/** The DCR transform from the stream to the table: `source`, renaming the reserved fields. */
export function alertTransformKql(): string {
  const renames = Object.entries(RENAMED_ALERT_COLUMNS).map(([field, column]) => `${column} = ${field}`);
  return renames.length ? `source | project-rename ${renames.join(', ')}` : 'source';
}

/** The name of an Alert field's column in WardenAlerts_CL. */
export function alertColumnName(field: keyof Alert): string {
  return RENAMED_ALERT_COLUMNS[field] ?? field;
}
