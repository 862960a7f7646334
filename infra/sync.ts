/**
 * `npm run infra:sync`: rewrite the WardenAlerts_CL columns in infra/main.json from the Alert
 * schema. The table and the DCR stream both read variables.alertColumns, so one copy is kept.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { alertTableColumns, type TableColumn } from '../src/delivery/table-schema.js';

export const MAIN_TEMPLATE = fileURLToPath(new URL('./main.json', import.meta.url));

interface TemplateWithColumns {
  variables: { alertColumns: TableColumn[] } & Record<string, unknown>;
}

/** Put `columns` into the template; says whether anything changed. */
export function syncAlertColumns(template: TemplateWithColumns, columns: TableColumn[]): boolean {
  const changed = JSON.stringify(template.variables.alertColumns) !== JSON.stringify(columns);
  template.variables.alertColumns = columns;
  return changed;
}

function main(): void {
  const template = JSON.parse(readFileSync(MAIN_TEMPLATE, 'utf8')) as TemplateWithColumns;
  const columns = alertTableColumns();
  const changed = syncAlertColumns(template, columns);
  if (changed) writeFileSync(MAIN_TEMPLATE, `${JSON.stringify(template, null, 2)}\n`);
  process.stdout.write(`infra/main.json: ${columns.length} WardenAlerts_CL columns, ${changed ? 'updated' : 'already in sync'}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
