import { isUtf8 } from 'node:buffer';
import { DEAD_LETTER_RAW_LIMIT, type DeadLetter, type RecordLocation } from '../model/index.js';
import type { RawRecord } from './types.js';
import { looksLikeCsv, parseCsv } from './csv.js';
import { redactSecrets } from '../common/redact.js';

/** One record taken out of a body, with where it came from. */
export interface DecodedRecord {
  record: RawRecord;
  location: RecordLocation;
  /** The record's text as written, when the body carried it line by line (NDJSON): a dead letter keeps it verbatim. */
  text?: string;
  /** A row of Log Analytics query output (`{"tables":[…]}`): table shape even without a `Type` column. */
  row?: true;
}

/** Dead letters of one body: the first DEAD_LETTERS_PER_BODY kept, the rest counted. */
export interface DeadLetterSample {
  deadLetters: DeadLetter[];
  /** Dead letters past the cap: counted as dead-lettered records, not kept. */
  deadLettersNotKept: number;
}

export interface DecodedBody extends DeadLetterSample {
  records: DecodedRecord[];
}

/**
 * Dead letters kept per body. One 1 MB body of `{"records":[1,1,…]}` is 524 000 records that are
 * not objects: kept one by one they made a 118 MB blob. The first ones show what went wrong.
 */
export const DEAD_LETTERS_PER_BODY = 100;
/** Dead letters kept per Event Hubs batch (each up to 64 KiB of raw text): five bad bodies must not make one blob too big to write. */
export const DEAD_LETTERS_PER_BATCH = 1000;

/** Whether the next dead letter of `into` is kept; when not, it is counted. Call before building one (building costs more than counting). */
export function keepDeadLetter(into: DeadLetterSample): boolean {
  if (into.deadLetters.length < DEAD_LETTERS_PER_BODY) return true;
  into.deadLettersNotKept++;
  return false;
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/**
 * Decode one Event Hubs body: a Buffer, a string, or an already-parsed value (the Functions host
 * parses JSON when the trigger says `dataType: 'string'`). Accepts `{"records":[…]}`, a JSON array
 * of records, one record, NDJSON (each line a record or a `{"records":[…]}` body) and Log Analytics
 * query output (`{"tables":[{columns,rows}]}`). Never throws for bad input: what is not a record
 * becomes a dead letter.
 */
export function decodeBody(body: unknown, location: RecordLocation = {}): DecodedBody {
  const out: DecodedBody = { records: [], deadLetters: [], deadLettersNotKept: 0 };
  if (typeof body === 'string') decodeText(body, body, location, out);
  else if (body instanceof Uint8Array) {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    decodeText(textOf(buf), buf, location, out);
  } else if (body === undefined || body === null) out.deadLetters.push(deadLetter('empty body', location, ''));
  else decodeValue(body, location, out, undefined);
  return out;
}

/** UTF-8, or UTF-16 when a byte-order mark says so (Windows PowerShell 5 writes `Out-File` and `>` as UTF-16LE). */
function textOf(buf: Buffer): string {
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return buf.toString('utf16le');
  if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) return Buffer.from(buf).swap16().toString('utf16le');
  return buf.toString('utf8');
}

function decodeText(text: string, raw: string | Buffer, location: RecordLocation, out: DecodedBody): void {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!text.trim()) {
    if (keepDeadLetter(out)) out.deadLetters.push(deadLetter('empty body', location, raw));
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (looksLikeCsv(text)) {
      decodeCsv(text, location, out);
      return;
    }
    if (!decodeLines(text, location, out)) {
      if (keepDeadLetter(out)) out.deadLetters.push(deadLetter(`invalid JSON: ${(err as Error).message}`, location, raw));
    }
    return;
  }
  decodeValue(value, location, out, text);
}

/**
 * NDJSON: one JSON value per line. Only taken when at least one line parses to an object or
 * array, so a broken pretty-printed document stays one dead letter instead of one per line.
 * Line by line, twice at most, keeping nothing of a bad line but the dead letters kept: a 3 MB
 * body of bad lines once held 107 MB of parsed lines and error texts before the first dead letter.
 */
function decodeLines(text: string, location: RecordLocation, out: DecodedBody): boolean {
  let anyObject = false;
  for (const [line] of linesOf(text)) {
    if (isJsonObjectOrArray(line)) {
      anyObject = true;
      break;
    }
  }
  if (!anyObject) return false;
  for (const [line, number] of linesOf(text)) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (keepDeadLetter(out))
        out.deadLetters.push(deadLetter(`invalid JSON on line ${number}: ${(err as Error).message}`, locate(location, 'line', number), line));
      continue;
    }
    decodeValue(value, locate(location, 'line', number), out, line);
  }
  return true;
}

/** Each line of `text` and its number (from 1), without its line break (LF or CRLF). */
function* linesOf(text: string): Generator<[string, number]> {
  let number = 0;
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    yield [text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end), ++number];
    start = end + 1;
  }
}

/** Whether a line is a JSON object or array: what makes text NDJSON rather than a broken document. */
export function isJsonObjectOrArray(line: string): boolean {
  const c = line.trimStart().charCodeAt(0);
  // `{` or `[`: anything else cannot parse to one, and needs no parse to tell.
  if (c !== 123 && c !== 91) return false;
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

/**
 * `location` with its line or index set, as `{ ...location, [field]: n }` would make it (same keys,
 * same order), for every record: on Node 20 a spread followed by a key the source lacks costs
 * 0.5–1.5 µs, Object.assign then a store under 0.1.
 */
function locate(location: RecordLocation, field: 'line' | 'index', n: number): RecordLocation {
  const at = Object.assign({}, location);
  at[field] = n;
  return at;
}

/** `text` is the value's own source text when known (a whole body or one NDJSON line). */
function decodeValue(value: unknown, location: RecordLocation, out: DecodedBody, text: string | undefined): void {
  if (Array.isArray(value)) {
    pushRecords(value, location, out);
  } else if (isObject(value)) {
    if (Array.isArray(value.records)) pushRecords(value.records, location, out);
    else if (Array.isArray(value.tables)) decodeTables(value.tables, location, out);
    else if ('records' in value && value.category === undefined && value.Category === undefined) {
      if (keepDeadLetter(out))
        out.deadLetters.push(deadLetter(`body has "records" but it is ${describe(value.records)}, not an array`, location, text ?? value));
    } else out.records.push({ record: value, location: locate(location, 'index', 0), text });
  } else {
    if (keepDeadLetter(out))
      out.deadLetters.push(deadLetter(`body is ${describe(value)}, not a JSON object or array of records`, location, text ?? jsonText(value)));
  }
}

function pushRecords(items: unknown[], location: RecordLocation, out: DecodedBody): void {
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (isObject(item)) out.records.push({ record: item, location: locate(location, 'index', i) });
    else if (keepDeadLetter(out))
      out.deadLetters.push(deadLetter(`record is ${describe(item)}, not a JSON object`, locate(location, 'index', i), jsonText(item)));
  }
}

/** A Log Analytics portal CSV export: each line a row (table shape), its table in `$table` when the export has it. */
function decodeCsv(text: string, location: RecordLocation, out: DecodedBody): void {
  for (const row of parseCsv(text)) {
    const at = locate(location, 'line', row.line);
    if (row.record) out.records.push({ record: row.record, location: at, text: row.text, row: true });
    else if (keepDeadLetter(out)) out.deadLetters.push(deadLetter(row.error!, at, row.text));
  }
}

/** Log Analytics query API output: each row becomes an object keyed by column name. */
function decodeTables(tables: unknown[], location: RecordLocation, out: DecodedBody): void {
  let index = 0;
  for (const table of tables) {
    const columns = isObject(table) && Array.isArray(table.columns) ? table.columns.map((c) => (isObject(c) ? c.name : undefined)) : undefined;
    if (!isObject(table) || !columns || !Array.isArray(table.rows) || columns.some((n) => typeof n !== 'string')) {
      const at = locate(location, 'index', index++);
      if (keepDeadLetter(out)) out.deadLetters.push(deadLetter('Log Analytics table without named columns and rows', at, jsonText(table)));
      continue;
    }
    const names = columns as string[];
    for (const row of table.rows as unknown[]) {
      const at = locate(location, 'index', index++);
      if (!Array.isArray(row) || row.length !== names.length) {
        const got = Array.isArray(row) ? `${row.length} values` : describe(row);
        if (keepDeadLetter(out)) out.deadLetters.push(deadLetter(`Log Analytics row has ${got} for ${names.length} columns`, at, jsonText(row)));
        continue;
      }
      // No prototype: a column named `__proto__` is then a column, as JSON.parse would make it, not the record's prototype.
      const record: RawRecord = Object.create(null) as RawRecord;
      for (let c = 0; c < names.length; c++) record[names[c]] = row[c];
      out.records.push({ record, location: at, row: true });
    }
  }
}

/** The message of anything thrown (a normalizer may throw a non-Error). */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return typeof err;
  }
}

/** A dead letter: the reason, where the record came from, and its raw text (secrets redacted, ≤ 64 KiB); `raw` strings are taken as text. */
export function deadLetter(reason: string, location: RecordLocation, raw: unknown, time = new Date().toISOString()): DeadLetter {
  const where: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(location)) if (typeof v === 'string' || typeof v === 'number') where[k] = v;
  return { reason: redactSecrets(reason), location: where, raw: redactSecrets(cutRaw(rawText(raw))), time };
}

function rawText(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (raw instanceof Uint8Array) {
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    // Binary bodies are kept as base64 so they can be inspected and replayed byte for byte.
    return isUtf8(buf) ? buf.toString('utf8') : `base64:${buf.subarray(0, DEAD_LETTER_RAW_LIMIT).toString('base64')}`;
  }
  return jsonText(raw);
}

/** A value as JSON text, for dead letters; never throws (BigInt, cycles). */
function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return messageOf(value);
  }
}

/** Cut to DEAD_LETTER_RAW_LIMIT UTF-8 bytes, on a character boundary. */
export function cutRaw(s: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short strings need no encoding to check.
  if (s.length * 3 <= DEAD_LETTER_RAW_LIMIT) return s;
  let head = s.length > DEAD_LETTER_RAW_LIMIT ? s.slice(0, DEAD_LETTER_RAW_LIMIT) : s;
  const last = head.charCodeAt(head.length - 1);
  if (head !== s && last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1);
  const buf = Buffer.from(head, 'utf8');
  if (buf.length <= DEAD_LETTER_RAW_LIMIT) return head;
  let end = DEAD_LETTER_RAW_LIMIT;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.toString('utf8', 0, end);
}
