import type { NormalizedEvent } from '../model/index.js';
import { StateFormatError } from './errors.js';
import type { Interner } from './intern.js';

/**
 * Events kept in a key's state as short texts ("rows"), one per event, against two small tables
 * the key keeps with them: the shapes its events have (the field names, in order) and the strings
 * its events share (principal, resource, operation, user agent, details…). A row is the JSON of
 * a list, without the brackets: `shape, value, …` with the shape as its index in the key's
 * shapes, then the event's values in its fields' order (its `time` left out: the row's holder
 * keeps it), each a shared string as its index in the key's strings, or the value itself (an own
 * string, `true`, `false`, `null`; a number as `[n]`). A row is as stored: written as it is at
 * every write, and read back (JSON.parse) only when the event is needed. The event built back is
 * the one put in, field for field and in the same order (fields holding `undefined` left out, as
 * JSON leaves them out).
 *
 * A string is shared when strings in its place tend to repeat (each shape counts, place by place,
 * how often its strings were already known), else written into the row: a blob's name or a
 * request id is written where it is used, a resource id once per key, its one copy held by all.
 */

/** A field of a shape: a scalar field's name, or a record field (the event's details) as [name, ...its keys]. */
type ShapeField = string | readonly string[];

/** The fields of events, in order: shared by every key holding events with the same fields in the same order. */
export interface RowShape {
  readonly fields: readonly ShapeField[];
  /** The shape as stored: JSON of `fields`. */
  readonly json: string;
  /** How many values a row of this shape holds. */
  readonly width: number;
  /** Per place of a value: strings looked up in the shared table, and how many were known there (halved now and then, so they follow the traffic). */
  readonly tries: Uint32Array;
  readonly known: Uint32Array;
}

/** A string rows share: its one copy, and its JSON (made when first written). */
export class Shared {
  private quoted?: string;

  constructor(readonly text: string) {}

  get json(): string {
    return (this.quoted ??= JSON.stringify(this.text));
  }
}

/** A key's tables: the shapes and the shared strings its rows name by index. */
export interface RowTables {
  shapes: RowShape[];
  strings: Shared[];
  /** Past this many strings, `compact` drops the ones no row names any more. */
  compactAt: number;
}

/** Strings a key's table may hold before rows dropped are looked for; then twice what its rows still name. */
const COMPACT_AT = 32;

export function newTables(): RowTables {
  return { shapes: [], strings: [], compactAt: COMPACT_AT };
}

const share = (text: string) => new Shared(text);

/** Fields unique to an event: always written into its row. */
const OWN_FIELDS: ReadonlySet<string> = new Set(['id', 'correlationId']);
/** Shapes compared field by field before one is looked up by its text: nearly every event has one of a few. */
const RECENT_SHAPES = 8;
/** Strings looked up in a place before it is judged; below one in four known there, its strings are written into rows. */
const JUDGE_AFTER = 64;
/** A place judged unshared still has one string in this many looked up, so it is judged again as traffic changes. */
const PROBE_EVERY = 16;
/** Counts are halved past this many lookups. */
const DECAY_AT = 1 << 16;

export class EventRows {
  private readonly recent: RowShape[] = [];
  /** The event being turned into a row: its field names, its values, and which are its own strings (reused). */
  private readonly names: ShapeField[] = [];
  private readonly values: unknown[] = [];
  private readonly own: boolean[] = [];
  private readonly cells: (string | number)[] = [];
  private probes = 0;

  constructor(
    private readonly strings: Interner<Shared>,
    private readonly shapes: Interner<RowShape>,
  ) {}

  /** The row of an event for a key with `tables` (the shapes and strings it names are added to them). */
  row(e: NormalizedEvent, tables: RowTables): string {
    const { names, values, own } = this;
    names.length = values.length = own.length = 0;
    const fields = e as unknown as Record<string, unknown>;
    for (const name in fields) {
      const v = fields[name];
      if (v === undefined) continue;
      if (name === 'time') names.push(name);
      else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const record = v as Record<string, unknown>;
        const keys = [name];
        for (const key in record) {
          const x = record[key];
          if (x === undefined) continue;
          keys.push(key);
          values.push(x);
          own.push(false);
        }
        names.push(keys);
      } else {
        names.push(name);
        values.push(v);
        own.push(OWN_FIELDS.has(name));
      }
    }
    const shape = this.shapeOf(names);
    // Joined, not concatenated: a row is kept, and a concatenation would keep a tree of its pieces.
    const cells = this.cells;
    cells.length = 0;
    cells.push(indexIn(tables.shapes, shape));
    for (let p = 0; p < values.length; p++) cells.push(own[p] ? JSON.stringify(values[p]) : this.cell(values[p], shape, p, tables.strings));
    return cells.join(',');
  }

  /** The event of a row of a key with `tables`, at `time`. */
  event(row: string, tables: RowTables, time: number): NormalizedEvent {
    const cells = JSON.parse(`[${row}]`) as unknown[];
    const shape = tables.shapes[cells[0] as number];
    const out: Record<string, unknown> = {};
    let i = 1;
    for (const f of shape.fields) {
      if (typeof f === 'string') out[f] = f === 'time' ? time : valueOf(cells[i++], tables.strings);
      else {
        const record: Record<string, unknown> = {};
        for (let k = 1; k < f.length; k++) record[f[k]] = valueOf(cells[i++], tables.strings);
        out[f[0]] = record;
      }
    }
    return out as unknown as NormalizedEvent;
  }

  /**
   * After rows were dropped: once the key's table has grown past its `compactAt`, the rows again
   * against tables holding only what they name (`rows` rewritten in place). Returns the tables to keep.
   */
  compact(rows: string[], tables: RowTables): RowTables {
    if (tables.strings.length <= tables.compactAt) return tables;
    const fresh = newTables();
    for (let r = 0; r < rows.length; r++) {
      const cells = JSON.parse(`[${rows[r]}]`) as unknown[];
      cells[0] = indexIn(fresh.shapes, tables.shapes[cells[0] as number]);
      for (let i = 1; i < cells.length; i++) if (typeof cells[i] === 'number') cells[i] = indexIn(fresh.strings, tables.strings[cells[i] as number]);
      rows[r] = JSON.stringify(cells).slice(1, -1);
    }
    fresh.compactAt = Math.max(COMPACT_AT, 2 * fresh.strings.length);
    return fresh;
  }

  /** The shared shape of these fields. */
  shapeOf(fields: readonly ShapeField[]): RowShape {
    for (const shape of this.recent) if (sameFields(shape.fields, fields)) return shape;
    const json = JSON.stringify(fields);
    const shape = this.shapes.get(json, () => {
      const width = widthOf(fields);
      return { fields: fields.map((f) => (typeof f === 'string' ? f : [...f])), json, width, tries: new Uint32Array(width), known: new Uint32Array(width) };
    });
    this.recent.unshift(shape);
    if (this.recent.length > RECENT_SHAPES) this.recent.pop();
    return shape;
  }

  /** A string read back from the store, shared with the live rows' copies. */
  shared(text: string): Shared {
    return this.strings.get(text, share);
  }

  /** A value of a row as text: a shared string as its index in `strings` (added there), else the value itself. */
  private cell(v: unknown, shape: RowShape, p: number, strings: Shared[]): string {
    if (typeof v !== 'string') return v === true || v === false || v === null ? String(v) : `[${JSON.stringify(v)}]`;
    const tries = shape.tries[p];
    if (tries >= JUDGE_AFTER && shape.known[p] * 4 < tries && ++this.probes % PROBE_EVERY !== 0) return JSON.stringify(v);
    const found = this.strings.find(v);
    if (tries >= DECAY_AT) {
      shape.tries[p] >>= 1;
      shape.known[p] >>= 1;
    }
    shape.tries[p]++;
    if (found) shape.known[p]++;
    return String(indexIn(strings, found ?? this.strings.add(v, new Shared(v))));
  }
}

/** Where `x` is in `list`, added at the end if it is not there. */
function indexIn<T>(list: T[], x: T): number {
  const i = list.indexOf(x);
  return i >= 0 ? i : list.push(x) - 1;
}

function valueOf(cell: unknown, strings: readonly Shared[]): unknown {
  if (typeof cell === 'number') return strings[cell].text;
  return Array.isArray(cell) ? (cell[0] as unknown) : cell;
}

function widthOf(fields: readonly ShapeField[]): number {
  let n = 0;
  for (const f of fields) n += typeof f === 'string' ? (f === 'time' ? 0 : 1) : f.length - 1;
  return n;
}

function sameFields(a: readonly ShapeField[], b: readonly ShapeField[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === 'string' || typeof y === 'string' || x.length !== y.length) return false;
    for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false;
  }
  return true;
}

/** The key's tables as stored: `shapes` and `strings` JSON. */
export function tablesJson(tables: RowTables): { shapes: string; strings: string } {
  let shapes = '';
  for (const s of tables.shapes) shapes += `${shapes ? ',' : ''}${s.json}`;
  let strings = '';
  for (const s of tables.strings) strings += `${strings ? ',' : ''}${s.json}`;
  return { shapes: `[${shapes}]`, strings: `[${strings}]` };
}

/**
 * Rows read back from a key's stored state: its tables (`shapes`, `strings`) and a flat list of
 * cells holding rows one after the other, each after two numbers of its holder's (a candidate's
 * time and mask). Anything that does not fit is a StateFormatError.
 */
export class RowReader {
  readonly tables: RowTables;
  private next = 0;

  constructor(
    rows: EventRows,
    private readonly cells: readonly unknown[],
    shapes: unknown,
    strings: unknown,
  ) {
    if (!Array.isArray(shapes) || !Array.isArray(strings)) throw new StateFormatError('its lists of shapes and strings are not arrays');
    this.tables = {
      compactAt: Math.max(COMPACT_AT, 2 * strings.length),
      shapes: shapes.map((fields: unknown) => {
        if (!isShape(fields)) throw new StateFormatError(`${JSON.stringify(fields)} is not a shape (an array of field names)`);
        return rows.shapeOf(fields);
      }),
      strings: strings.map((s: unknown) => {
        if (typeof s !== 'string') throw new StateFormatError(`${JSON.stringify(s)} in its list of strings is not a string`);
        return rows.shared(s);
      }),
    };
  }

  /** Whether a row is left to read. */
  get more(): boolean {
    return this.next < this.cells.length;
  }

  /** The next number of the list (one of the two of a row's holder's). */
  number(): number {
    const x = this.cells[this.next++];
    if (typeof x !== 'number') throw new StateFormatError(`${JSON.stringify(x)} is not a number`);
    return x;
  }

  /** The next row. */
  row(): string {
    const from = this.next;
    const index = this.cells[from];
    const shape = Number.isInteger(index) ? this.tables.shapes[index as number] : undefined;
    const end = from + 1 + (shape?.width ?? 0);
    if (!shape || end > this.cells.length)
      throw new StateFormatError(`a row's shape ${JSON.stringify(index)} is not one of its shapes or its values are missing`);
    for (let i = from + 1; i < end; i++) {
      const cell = this.cells[i];
      const fits =
        typeof cell === 'number'
          ? Number.isInteger(cell) && cell >= 0 && cell < this.tables.strings.length
          : typeof cell === 'string' || typeof cell === 'boolean' || cell === null || (Array.isArray(cell) && cell.length === 1);
      if (!fits) throw new StateFormatError(`${JSON.stringify(cell)} is not a value of a row`);
    }
    this.next = end;
    return JSON.stringify(this.cells.slice(from, end)).slice(1, -1);
  }
}

function isShape(fields: unknown): fields is ShapeField[] {
  return (
    Array.isArray(fields) &&
    fields.every(
      (f: unknown) => typeof f === 'string' || (Array.isArray(f) && f.length > 0 && f.every((k: unknown) => typeof k === 'string') && f[0] !== 'time'),
    )
  );
}
