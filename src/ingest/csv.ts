// `publish --format csv --map …`: a column-mapping spec compiled into a function from delimited lines to event records.
import { createHash } from "node:crypto";

export class CsvMappingError extends Error {
  override name = "CsvMappingError";
}

export const VALUE_PARSERS = ["string", "number", "yyyymmdd", "iso", "epoch_ms", "epoch_s"] as const;
export type ValueParser = (typeof VALUE_PARSERS)[number];

export interface CsvMappingOptions {
  /** "," (default), "whitespace" (runs of spaces/tabs, leading ones ignored), "tab", or any single character. */
  delimiter?: string;
  /** Column names; when absent and the spec names columns, line 1 is read as the header. */
  header?: string[];
  /** Mixed into the derived ids so that two different files never share them (e.g. the file name). */
  source?: string;
}

export type CsvMapResult = { ok: true; record: Record<string, unknown> } | { ok: false; reason: string };

export interface CsvMapping {
  /** One line (1-based number) → a record for decodeRecord; undefined for a header line. Never throws. */
  map(line: string, lineNumber: number): CsvMapResult | undefined;
}

type ColumnRef = { column: number } | { name: string };

interface FieldMapping {
  field: string;
  /** A column reference, or a constant. */
  source: ColumnRef | { constant: string };
  parser: ValueParser;
  /** As written in the spec, for error messages. */
  written: string;
}

type ParsedValue = { ok: true; value: unknown } | { ok: false; reason: string };

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Compiles `type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3:number,revenue=$dollar_value:number`; throws CsvMappingError. */
export function compileCsvMapping(spec: string, options: CsvMappingOptions = {}): CsvMapping {
  const fields = parseSpec(spec);
  const split = splitterOf(options.delimiter);
  const namesColumns = fields.some((field) => "name" in field.source);
  const source = options.source ?? "";
  let columns = options.header === undefined ? undefined : resolveColumns(fields, options.header.map((name) => name.trim()));
  let headerInFile = false;

  return {
    map(line, lineNumber) {
      const text = line.endsWith("\r") ? line.slice(0, -1) : line;
      if (text.trim() === "") return { ok: false, reason: "empty line" };
      const values = split(text);
      if (lineNumber === 1 && options.header === undefined && (headerInFile || namesColumns || looksLikeHeader(values, fields))) {
        headerInFile = true;
        columns = resolveColumns(fields, values.map((name) => name.trim()));
        return undefined;
      }
      if (namesColumns && columns === undefined) {
        return { ok: false, reason: "the spec names columns but no header line was read (line 1 is the header)" };
      }
      if (columns !== undefined && "error" in columns) return { ok: false, reason: columns.error };
      const mapped = mapRecord(fields, values, columns);
      if (!mapped.ok) return mapped;
      addDerivedIds(mapped.record, fields, `${source}\n${lineNumber}\n${text}`);
      return mapped;
    },
  };
}

function parseSpec(spec: string): FieldMapping[] {
  const entries = spec.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) throw new CsvMappingError(`--map is empty: give field=source pairs, e.g. "type=purchase,user_id=$1,ts=$2:yyyymmdd"`);
  const seen = new Set<string>();
  const fields = entries.map((entry) => {
    const mapping = parseEntry(entry);
    if (seen.has(mapping.field)) throw new CsvMappingError(`--map sets "${mapping.field}" twice`);
    seen.add(mapping.field);
    return mapping;
  });
  for (const required of ["type", "ts"]) {
    if (!seen.has(required)) {
      throw new CsvMappingError(`--map has no ${required}: add e.g. ${required === "type" ? "type=purchase" : "ts=$2:yyyymmdd"}`);
    }
  }
  return fields;
}

/** Event fields the schema requires to be numbers: a mapped column is parsed as a number unless the spec says otherwise. */
const NUMERIC_EVENT_FIELDS = new Set(["revenue", "price", "qty"]);

function parseEntry(entry: string): FieldMapping {
  const equals = entry.indexOf("=");
  if (equals === -1) throw new CsvMappingError(`--map entry "${entry}" is not field=source (e.g. user_id=$1)`);
  const field = entry.slice(0, equals).trim();
  if (!FIELD_NAME.test(field)) throw new CsvMappingError(`--map entry "${entry}": "${field}" is not a field name`);
  let value = entry.slice(equals + 1).trim();
  let parser: ValueParser = NUMERIC_EVENT_FIELDS.has(field) ? "number" : "string";
  const colon = value.lastIndexOf(":");
  if (colon !== -1) {
    const suffix = value.slice(colon + 1);
    if ((VALUE_PARSERS as readonly string[]).includes(suffix)) {
      parser = suffix as ValueParser;
      value = value.slice(0, colon);
    } else if (value.startsWith("$")) {
      throw new CsvMappingError(`--map entry "${entry}": unknown parser "${suffix}" (use ${VALUE_PARSERS.join(", ")})`);
    }
  }
  if (!value.startsWith("$")) {
    if (value === "") throw new CsvMappingError(`--map entry "${entry}" has no source (a $column or a constant)`);
    const checked = parseValue(value, parser);
    if (!checked.ok) throw new CsvMappingError(`--map entry "${entry}": ${checked.reason}`);
    return { field, source: { constant: value }, parser, written: entry };
  }
  return { field, source: parseColumnRef(value.slice(1), entry), parser, written: entry };
}

function parseColumnRef(reference: string, entry: string): ColumnRef {
  const name = reference.startsWith("{") && reference.endsWith("}") ? reference.slice(1, -1) : reference;
  if (/^\d+$/.test(name)) {
    const column = Number(name);
    if (column < 1) throw new CsvMappingError(`--map entry "${entry}": columns are numbered from $1`);
    return { column };
  }
  if (name === "") throw new CsvMappingError(`--map entry "${entry}": $ needs a column number or header name`);
  return { name };
}

type ResolvedColumns = number[] | { error: string };

/** 0-based column index per field (-1 for constants), or why a named column is missing from the header. */
function resolveColumns(fields: FieldMapping[], header: string[]): ResolvedColumns {
  const indexes: number[] = [];
  for (const field of fields) {
    const source = field.source;
    if ("constant" in source) indexes.push(-1);
    else if ("column" in source) indexes.push(source.column - 1);
    else {
      const index = header.indexOf(source.name);
      if (index === -1) return { error: `the header has no column "${source.name}" (it has ${header.map((name) => `"${name}"`).join(", ")})` };
      indexes.push(index);
    }
  }
  return indexes;
}

function mapRecord(fields: FieldMapping[], values: string[], columns: number[] | undefined): CsvMapResult {
  const record: Record<string, unknown> = {};
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index];
    const source = field.source;
    let text: string;
    if ("constant" in source) text = source.constant;
    else {
      const column = "column" in source ? source.column - 1 : columns === undefined ? -1 : columns[index];
      if (column < 0 || column >= values.length) {
        return { ok: false, reason: `${field.field}: the line has ${values.length} columns, ${field.written} needs column ${column + 1}` };
      }
      text = values[column];
    }
    const parsed = parseValue(text, field.parser);
    if (!parsed.ok) return { ok: false, reason: `${field.field} (${field.written}): ${parsed.reason}` };
    record[field.field] = parsed.value;
  }
  return { ok: true, record };
}

/** Deterministic ids from the line's source, number and text: a re-published file gives the same ids. */
function addDerivedIds(record: Record<string, unknown>, fields: FieldMapping[], identity: string): void {
  const mapped = (name: string) => fields.some((field) => field.field === name);
  if (mapped("event_id") && (record.type !== "purchase" || mapped("order_id"))) return;
  const id = createHash("sha256").update(identity).digest("base64url").slice(0, 22);
  if (!mapped("event_id")) record.event_id = id;
  if (record.type === "purchase" && !mapped("order_id")) record.order_id = id;
}

/** A first line whose every column fails to be a number is a header (as csv.Sniffer guesses). */
function looksLikeHeader(values: string[], fields: FieldMapping[]): boolean {
  if (mapRecord(fields, values, undefined).ok) return false;
  return values.every((value) => !parseValue(value, "number").ok);
}

export function parseValue(text: string, parser: ValueParser): ParsedValue {
  switch (parser) {
    case "string":
      return { ok: true, value: text };
    case "number":
      return /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(text)
        ? { ok: true, value: Number(text) }
        : { ok: false, reason: `"${text}" is not a number` };
    case "yyyymmdd":
      return dateValue(text, /^(\d{4})(\d{2})(\d{2})$/, "a date like 19970101");
    case "iso":
      return isoValue(text);
    case "epoch_ms":
      return /^\d+$/.test(text) ? { ok: true, value: Number(text) } : { ok: false, reason: `"${text}" is not epoch milliseconds` };
    case "epoch_s":
      return /^\d+(\.\d+)?$/.test(text)
        ? { ok: true, value: Math.round(Number(text) * 1000) }
        : { ok: false, reason: `"${text}" is not epoch seconds` };
  }
}

function dateValue(text: string, shape: RegExp, expected: string): ParsedValue {
  const match = shape.exec(text);
  if (match === null) return { ok: false, reason: `"${text}" is not ${expected}` };
  const utc = utcDate(Number(match[1]), Number(match[2]), Number(match[3]));
  return Number.isNaN(utc) ? { ok: false, reason: `"${text}" is not a calendar date` } : { ok: true, value: utc };
}

/** Date.UTC of a calendar date, NaN for 2021-02-30 and the like (which Date.UTC would roll over). */
function utcDate(year: number, month: number, day: number): number {
  const utc = Date.UTC(year, month - 1, day);
  const date = new Date(utc);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day ? utc : Number.NaN;
}

/** A date (UTC midnight) or a date-time with Z or an offset: a time without a zone is ambiguous. */
function isoValue(text: string): ParsedValue {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.exec(text);
  if (match === null) return { ok: false, reason: `"${text}" is not ISO 8601 with an offset (e.g. 2015-05-17T10:05:03Z)` };
  if (Number.isNaN(utcDate(Number(match[1]), Number(match[2]), Number(match[3])))) {
    return { ok: false, reason: `"${text}" is not a calendar date` };
  }
  if (match[4] !== undefined && (Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6] ?? 0) > 59)) {
    return { ok: false, reason: `"${text}" has an impossible time of day` };
  }
  const value = Date.parse(text.replace(" ", "T").replace(/([+-]\d{2})(\d{2})$/, "$1:$2"));
  return Number.isNaN(value) ? { ok: false, reason: `"${text}" is not a valid time` } : { ok: true, value };
}

function splitterOf(delimiter: string | undefined): (line: string) => string[] {
  if (delimiter === "whitespace") return (line) => (line.trim() === "" ? [] : line.trim().split(/\s+/));
  const character = delimiter === undefined || delimiter === "comma" ? "," : delimiter === "tab" || delimiter === "\\t" ? "\t" : delimiter;
  if (character.length !== 1 || character === '"') {
    throw new CsvMappingError(`--delimiter "${delimiter}" is not one character, "tab" or "whitespace"`);
  }
  return (line) => splitDelimited(line, character);
}

/** One line of RFC 4180 CSV: fields may be quoted, with "" for a quote inside. */
export function splitDelimited(line: string, delimiter: string): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const values: string[] = [];
  let value = "";
  let quoted = false;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (quoted) {
      if (char !== '"') value += char;
      else if (line[index + 1] === '"') {
        value += '"';
        index++;
      } else quoted = false;
    } else if (char === '"') quoted = true;
    else if (char === delimiter) {
      values.push(value);
      value = "";
    } else value += char;
  }
  values.push(value);
  return values;
}
