/**
 * `npm run infra:sync`: rewrite, in infra/main.json, the DCR stream's columns (the Alert schema),
 * the WardenAlerts_CL columns (reserved names renamed) and the DCR transform that renames them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { alertStreamColumns, alertTableColumns, alertTransformKql, type TableColumn } from '../src/delivery/table-schema.js';

export const MAIN_TEMPLATE = fileURLToPath(new URL('./main.json', import.meta.url));

export interface AlertSchemaVariables {
  alertStreamColumns: TableColumn[];
  alertTableColumns: TableColumn[];
  alertTransformKql: string;
}

interface TemplateWithColumns {
  variables: AlertSchemaVariables & Record<string, unknown>;
}

/** What the Alert schema says the three variables hold. */
export function alertSchemaVariables(): AlertSchemaVariables {
  return { alertStreamColumns: alertStreamColumns(), alertTableColumns: alertTableColumns(), alertTransformKql: alertTransformKql() };
}

/** Put `expected` into the template; says whether anything changed. */
export function syncAlertColumns(template: TemplateWithColumns, expected: AlertSchemaVariables): boolean {
  let changed = false;
  for (const key of Object.keys(expected) as Array<keyof AlertSchemaVariables>) {
    if (JSON.stringify(template.variables[key]) === JSON.stringify(expected[key])) continue;
    (template.variables as Record<string, unknown>)[key] = expected[key];
    changed = true;
  }
  return changed;
}

function main(): void {
  const template = JSON.parse(readFileSync(MAIN_TEMPLATE, 'utf8')) as TemplateWithColumns;
  const expected = alertSchemaVariables();
  const changed = syncAlertColumns(template, expected);
  if (changed) writeFileSync(MAIN_TEMPLATE, `${JSON.stringify(template, null, 2)}\n`);
  process.stdout.write(`infra/main.json: ${expected.alertTableColumns.length} WardenAlerts_CL columns, ${changed ? 'updated' : 'already in sync'}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
