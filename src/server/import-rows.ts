/**
 * Parsing of item and customer imports (JSON array or CSV) into validated
 * records. Every row is checked before anything is written; any bad row fails
 * the whole import with IMPORT_INVALID and `details.rows = [{ line, code,
 * message }]` (the first 100). `line` is the file line for CSV (the header is
 * line 1) and the 1-based array position for JSON.
 *
 * CSV: RFC 4180 (comma separated, double-quoted fields with "" escapes, CRLF or
 * LF). Items: header `id,sku,name,barcodes,price,taxRate` (barcodes separated
 * by `|`). Customers: header `id,name,phone,email,openingBalance`, optional
 * columns may be empty; openingBalance in cents.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { z } from 'zod';
import { parse as parseCsvText } from 'csv-parse/sync';
import { isTillsyncError, TillsyncError } from '../errors.ts';
import { assertNoCardData } from '../events/card-data.ts';
import { cents, customerUpsertedBody, itemUpsertedBody, type CustomerRecord, type ItemRecord } from '../events/event-types.ts';
import { assertSafeShape, parseWith } from '../events/validate.ts';

export const MAX_IMPORT_ROWS = 200_000;
const MAX_REPORTED = 100;

function tooManyRows(): TillsyncError {
  return new TillsyncError('IMPORT_INVALID', `more than ${MAX_IMPORT_ROWS} rows`, { details: { rows: [] } });
}

/**
 * Counts an import body's rows while it streams in (a JSON array's top-level
 * elements, or a CSV's non-empty lines past the header) and fails the stream
 * with IMPORT_INVALID as soon as there are more than `max`: an oversized import
 * is refused without being buffered whole or parsed. It may count more rows than
 * the parse finds (a CSV newline inside quotes), never fewer.
 */
export class RowCounter extends Transform {
  private rows = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private lineHasContent = false;
  private prevCr = false;

  constructor(private readonly format: 'json' | 'csv', private readonly max = MAX_IMPORT_ROWS) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const over = this.format === 'json' ? this.json(chunk) : this.csv(chunk);
    if (over) return done(tooManyRows());
    done(null, chunk);
  }

  /** JSON: commas at depth 1 outside strings separate rows. */
  private json(b: Buffer): boolean {
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
      } else if (c === 0x22) this.inString = true;
      else if (c === 0x5b || c === 0x7b) {
        if (this.depth === 0 && c === 0x5b) this.rows = 0;
        this.depth++;
        if (this.depth === 2 && this.rows === 0) this.rows = 1;
      } else if (c === 0x5d || c === 0x7d) this.depth--;
      else if (c === 0x2c && this.depth === 1 && ++this.rows > this.max) return true;
    }
    return false;
  }

  /** CSV: every non-empty line is a row, the header one more. */
  private csv(b: Buffer): boolean {
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (c === 0x0a || c === 0x0d) {
        if (c === 0x0a && this.prevCr) {
          this.prevCr = false;
          continue;
        }
        this.prevCr = c === 0x0d;
        if (this.lineHasContent && ++this.rows > this.max + 1) return true;
        this.lineHasContent = false;
      } else {
        this.prevCr = false;
        this.lineHasContent = true;
      }
    }
    return false;
  }
}

export interface CustomerImportRow {
  customer: CustomerRecord;
  openingBalance: number | undefined;
}

const customerImportSchema = customerUpsertedBody.extend({ openingBalance: cents.optional() });

interface RawRow {
  line: number;
  value: unknown;
}

/**
 * RFC 4180 CSV → rows of fields, each with the line it starts on (csv-parse;
 * a BOM is skipped, empty lines are skipped, a quote inside an unquoted field
 * is kept as a character, rows may differ in length: csvRows names them).
 */
export function parseCsv(text: string): Array<{ line: number; fields: string[] }> {
  let records: Array<{ info: { lines: number }; raw: string; record: string[] }>;
  try {
    records = parseCsvText(text, { bom: true, record_delimiter: ['\r\n', '\n', '\r'], relax_column_count: true, relax_quotes: true, skip_empty_lines: true, info: true, raw: true }) as unknown as typeof records;
  } catch (err) {
    const line = (err as { lines?: number }).lines ?? 1;
    const message = (err as { code?: string }).code === 'CSV_QUOTE_NOT_CLOSED' ? 'unterminated quoted field' : 'not valid CSV';
    throw new TillsyncError('IMPORT_INVALID', `${message} (line ${line})`, {
      details: { rows: [{ line, code: 'VALIDATION_FAILED', message }] },
      cause: err,
    });
  }
  return records.map(({ info, raw, record }) => {
    // info.lines is where the record ends; its raw text (without the empty lines before it
    // and its own line break) says how many lines it spans.
    const body = raw.replace(/^(\r?\n|\r)+/, '').replace(/(\r?\n|\r)$/, '');
    const spans = body.split(/\r?\n|\r/).length - 1;
    return { line: info.lines - spans, fields: record };
  });
}

const INT = /^-?\d+$/;

function csvRows(text: string, columns: readonly string[], required: readonly string[], build: (rec: Record<string, string>) => unknown): RawRow[] {
  const rows = parseCsv(text);
  const header = rows.shift();
  if (!header) return [];
  const names = header.fields.map((f) => f.trim());
  const bad = names.filter((n) => !columns.includes(n));
  const missing = required.filter((n) => !names.includes(n));
  if (bad.length > 0 || missing.length > 0 || new Set(names).size !== names.length) {
    throw new TillsyncError('IMPORT_INVALID', `bad CSV header: expected columns ${columns.join(',')}`, {
      details: { rows: [{ line: header.line, code: bad.length > 0 ? 'UNKNOWN_FIELD' : 'VALIDATION_FAILED', message: `unknown ${bad.join(',')} missing ${missing.join(',')}` }] },
    });
  }
  return rows.map((r) => {
    if (r.fields.length !== names.length) {
      return { line: r.line, value: new TillsyncError('VALIDATION_FAILED', `expected ${names.length} fields, found ${r.fields.length}`) };
    }
    const rec: Record<string, string> = Object.create(null) as Record<string, string>;
    names.forEach((n, i) => {
      rec[n] = r.fields[i]!;
    });
    return { line: r.line, value: build(rec) };
  });
}

function num(s: string | undefined): number | string | undefined {
  if (s === undefined || s === '') return undefined;
  return INT.test(s.trim()) ? Number(s.trim()) : s; // a non-integer stays a string and fails the schema
}
function money(s: string | undefined): number | string | undefined {
  if (s === undefined || s === '') return undefined;
  const t = s.trim();
  if (INT.test(t)) return Number(t);
  if (/^-?\d*\.\d+$/.test(t)) return Number(t); // fails as MONEY_NOT_INTEGER
  return t;
}
const opt = <T>(k: string, v: T | undefined): Record<string, T> => (v === undefined || v === '' ? {} : { [k]: v });

function jsonRows(body: unknown): RawRow[] {
  assertSafeShape(body);
  const arr = parseWith(z.array(z.unknown()).max(MAX_IMPORT_ROWS), body, 'body');
  return arr.map((value, i) => ({ line: i + 1, value }));
}

function validate<T>(rows: RawRow[], parse: (v: unknown) => T, idOf: (t: T) => string): Array<{ line: number; value: T }> {
  if (rows.length > MAX_IMPORT_ROWS) throw tooManyRows();
  const problems: Array<{ line: number; code: string; message: string }> = [];
  const out: Array<{ line: number; value: T }> = [];
  const seen = new Map<string, number>();
  for (const r of rows) {
    try {
      if (r.value instanceof TillsyncError) throw r.value;
      assertNoCardData(r.value);
      const value = parse(r.value);
      const id = idOf(value);
      const first = seen.get(id);
      if (first !== undefined) throw new TillsyncError('VALIDATION_FAILED', `id ${id} repeats line ${first}`);
      seen.set(id, r.line);
      out.push({ line: r.line, value });
    } catch (err) {
      if (!isTillsyncError(err)) throw err;
      problems.push({ line: r.line, code: err.code, message: err.message });
    }
  }
  if (problems.length > 0) {
    throw new TillsyncError('IMPORT_INVALID', `${problems.length} bad row(s), first on line ${problems[0]!.line}; nothing was imported`, {
      details: { count: problems.length, rows: problems.slice(0, MAX_REPORTED) },
    });
  }
  return out;
}

export function parseItemImport(body: unknown, format: 'json' | 'csv'): ItemRecord[] {
  const rows = format === 'json'
    ? jsonRows(body)
    : csvRows(String(body), ['id', 'sku', 'name', 'barcodes', 'price', 'taxRate'], ['id', 'sku', 'name', 'price'], (r) => ({
        id: r.id, sku: r.sku, name: r.name,
        barcodes: r.barcodes ? r.barcodes.split('|').map((b) => b.trim()).filter(Boolean) : [],
        price: money(r.price), taxRate: num(r.taxRate) ?? 0,
      }));
  return validate(rows, (v) => parseWith(itemUpsertedBody, v, ''), (i) => i.id).map((r) => r.value);
}

export function parseCustomerImport(body: unknown, format: 'json' | 'csv'): CustomerImportRow[] {
  const rows = format === 'json'
    ? jsonRows(body)
    : csvRows(String(body), ['id', 'name', 'phone', 'email', 'openingBalance'], ['id', 'name'], (r) => ({
        id: r.id, name: r.name, ...opt('phone', r.phone), ...opt('email', r.email), ...opt('openingBalance', money(r.openingBalance)),
      }));
  return validate(rows, (v) => parseWith(customerImportSchema, v, ''), (c) => c.id).map(({ value }) => {
    const { openingBalance, ...customer } = value;
    return { customer, openingBalance };
  });
}
