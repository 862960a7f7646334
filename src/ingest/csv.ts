import type { RawRecord } from './types.js';

/**
 * The Log Analytics portal's "Export to CSV": a header of column names (` [UTC]` after datetime
 * columns, a `$table` column naming the table), RFC 4180 quoting (dynamic columns are JSON text
 * with doubled quotes and line breaks), CRLF, often a byte-order mark. Each line is one row.
 */

/** A header cell: a column name, optionally ` [UTC]`, or `$table`. */
const COLUMN = /^(?:\$table|[A-Za-z_][\w.]*(?: \[UTC\])?)$/;
const UTC_SUFFIX = ' [UTC]';

/** Whether `text` starts with a CSV header of Log Analytics column names (two or more). */
export function looksLikeCsv(text: string): boolean {
  const end = text.indexOf('\n');
  const header = (end < 0 ? text : text.slice(0, end)).replace(/\r$/, '');
  const cells = header.split(',');
  return cells.length >= 2 && cells.every((c) => COLUMN.test(c.trim()));
}

/** The cells of every line; a quoted cell may hold commas, doubled quotes and line breaks. */
function parseCells(text: string): Array<{ cells: string[]; line: number }> {
  const out: Array<{ cells: string[]; line: number }> = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      cells.push(cell);
      if (cells.length > 1 || cells[0] !== '') out.push({ cells, line: start });
      cells = [];
      cell = '';
      start = ++line;
    } else cell += c;
  }
  if (cell !== '' || cells.length) {
    cells.push(cell);
    out.push({ cells, line: start });
  }
  return out;
}

export interface CsvRow {
  /** The row as a record: `$table` becomes `Type`, ` [UTC]` is taken off column names, empty cells are left out. */
  record?: RawRecord;
  /** Why the line is not a row (a cell count that does not match the header). */
  error?: string;
  /** 1-based line the row starts on. */
  line: number;
  text: string;
}

export function parseCsv(text: string): CsvRow[] {
  const [header, ...rows] = parseCells(text);
  if (!header) return [];
  const names = header.cells.map((c) => {
    const name = c.trim();
    if (name === '$table') return 'Type';
    return name.endsWith(UTC_SUFFIX) ? name.slice(0, -UTC_SUFFIX.length) : name;
  });
  return rows.map(({ cells, line }) => {
    const text = cells.join(',');
    if (cells.length !== names.length) return { line, text, error: `CSV line ${line} has ${cells.length} cells for ${names.length} columns` };
    // No prototype: a column named `__proto__` is a column.
    const record = Object.create(null) as RawRecord;
    // A CSV cannot tell an empty string from a missing value; missing is what the portal wrote.
    for (let c = 0; c < names.length; c++) if (cells[c] !== '') record[names[c]] = cells[c];
    return { record, line, text };
  });
}
