import type { NormalizedEvent } from '../model/index.js';
import { StateFormatError } from './errors.js';
import type { Interner } from './intern.js';

/**
 * Events kept in a key's state as rows: the event's values in its fields' order after a shared
 * shape (the field names), each string that repeats across events (principal, resource,
 * operation, details) held as its one canonical copy. A row is a part of an array that holds
 * other things before it (a sequence candidate's time and mask): `[…, shape, value, value, …]`.
 * The event's `time` is not in the row (its holder keeps it); the event built back from a row is
 * the one put in, field for field and in the same order (fields holding `undefined` left out,
 * as JSON leaves them out).
 */

/** A field of a shape: a scalar field's name, or a record field (the event's details) as [name, ...its keys]. */
type ShapeField = string | readonly string[];

/** The fields of a row, in order: shared by every row of events with the same fields in the same order. */
export interface RowShape {
  readonly fields: readonly ShapeField[];
  /** The shape as stored: JSON of `fields`. */
  readonly json: string;
  /** How many values a row of this shape holds. */
  readonly width: number;
}

/** Fields unique to an event: held as they are, since looking them up would only push shared values out of the table. */
const OWN_FIELDS: ReadonlySet<string> = new Set(['id', 'correlationId']);
/** Shapes compared field by field before one is looked up by its text: nearly every event has one of a few. */
const RECENT_SHAPES = 8;

export class EventRows {
  private readonly recent: RowShape[] = [];

  constructor(
    private readonly strings: Interner<string>,
    private readonly shapes: Interner<RowShape>,
  ) {}

  /** Append the event's shape and values to `row`. */
  append(row: unknown[], e: NormalizedEvent): void {
    const at = row.length;
    row.push(undefined);
    const names: ShapeField[] = [];
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
          row.push(typeof x === 'string' ? this.strings.string(x) : x);
        }
        names.push(keys);
      } else {
        names.push(name);
        row.push(typeof v === 'string' && !OWN_FIELDS.has(name) ? this.strings.string(v) : v);
      }
    }
    row[at] = this.shapeOf(names);
  }

  /** The event the row at `at` of `row` holds, at `time`. */
  event(row: readonly unknown[], at: number, time: number): NormalizedEvent {
    const shape = row[at] as RowShape;
    const out: Record<string, unknown> = {};
    let i = at + 1;
    for (const f of shape.fields) {
      if (typeof f === 'string') out[f] = f === 'time' ? time : row[i++];
      else {
        const record: Record<string, unknown> = {};
        for (let k = 1; k < f.length; k++) record[f[k]] = row[i++];
        out[f[0]] = record;
      }
    }
    return out as unknown as NormalizedEvent;
  }

  /** The shared shape of these fields. */
  shapeOf(fields: readonly ShapeField[]): RowShape {
    for (const shape of this.recent) if (sameFields(shape.fields, fields)) return shape;
    const json = JSON.stringify(fields);
    const shape = this.shapes.get(json, () => ({ fields, json, width: widthOf(fields) }));
    this.recent.unshift(shape);
    if (this.recent.length > RECENT_SHAPES) this.recent.pop();
    return shape;
  }

  /** A string read back from the store, shared with the live rows' copies. */
  string(s: string): string {
    return this.strings.string(s);
  }
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

/**
 * Rows written as one key's state: `shape, value, …` with the shape as its index in the state's
 * list of shapes (`shapesJson`) and each shared string as its index in the state's list of
 * strings (`stringsJson`), so a value repeated in many rows is written once per key; the event's
 * own strings (id, correlation id) as JSON strings, true, false and null as they are, any other
 * value (a number) as `[value]`.
 */
export class RowWriter {
  private readonly stringIndex = new Map<string, number>();
  private readonly shapeIndex = new Map<RowShape, number>();
  private readonly shapeTexts: string[] = [];

  /** The row at `at` of `row` as text (to put in a JSON array). */
  row(row: readonly unknown[], at: number): string {
    const shape = row[at] as RowShape;
    let n = this.shapeIndex.get(shape);
    if (n === undefined) {
      this.shapeIndex.set(shape, (n = this.shapeTexts.length));
      this.shapeTexts.push(shape.json);
    }
    let text = String(n);
    let i = at + 1;
    for (const f of shape.fields) {
      if (typeof f !== 'string') for (let k = 1; k < f.length; k++) text += `,${this.cell(row[i++], false)}`;
      else if (f !== 'time') text += `,${this.cell(row[i++], OWN_FIELDS.has(f))}`;
    }
    return text;
  }

  shapesJson(): string {
    return `[${this.shapeTexts.join(',')}]`;
  }

  stringsJson(): string {
    return JSON.stringify([...this.stringIndex.keys()]);
  }

  private cell(v: unknown, own: boolean): string {
    if (typeof v === 'string') {
      if (own) return JSON.stringify(v);
      let n = this.stringIndex.get(v);
      if (n === undefined) this.stringIndex.set(v, (n = this.stringIndex.size));
      return String(n);
    }
    if (v === true || v === false || v === null) return String(v);
    return `[${JSON.stringify(v)}]`;
  }
}

/** Rows read back from a key's stored state, as RowWriter wrote them; anything else is a StateFormatError. */
export class RowReader {
  private readonly shapes: RowShape[];
  private readonly strings: string[];

  constructor(
    private readonly rows: EventRows,
    shapes: unknown,
    strings: unknown,
  ) {
    if (!Array.isArray(shapes) || !Array.isArray(strings)) throw new StateFormatError('its lists of shapes and strings are not arrays');
    this.shapes = shapes.map((fields: unknown) => {
      if (!isShape(fields)) throw new StateFormatError(`${JSON.stringify(fields)} is not a shape (an array of field names)`);
      return rows.shapeOf(fields);
    });
    this.strings = strings.map((s: unknown) => {
      if (typeof s !== 'string') throw new StateFormatError(`${JSON.stringify(s)} in its list of strings is not a string`);
      return rows.string(s);
    });
  }

  /** Append to `row` the shape and values stored in `cells` from `from` on. */
  read(row: unknown[], cells: readonly unknown[], from: number): void {
    const index = cells[from];
    const shape = Number.isInteger(index) ? this.shapes[index as number] : undefined;
    if (!shape || cells.length - from - 1 !== shape.width)
      throw new StateFormatError(`a row's shape ${JSON.stringify(index)} is not one of its shapes or does not fit the row's ${cells.length - from - 1} values`);
    row.push(shape);
    for (let i = from + 1; i < cells.length; i++) row.push(this.value(cells[i]));
  }

  private value(cell: unknown): unknown {
    if (typeof cell === 'number') {
      const s = this.strings[cell];
      if (s === undefined) throw new StateFormatError(`string ${cell} is not in its list of strings`);
      return s;
    }
    if (Array.isArray(cell)) {
      if (cell.length !== 1) throw new StateFormatError(`${JSON.stringify(cell)} is not a value ([value])`);
      return cell[0] as unknown;
    }
    if (typeof cell === 'string' || typeof cell === 'boolean' || cell === null) return cell;
    throw new StateFormatError(`${JSON.stringify(cell)} is not a value`);
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
