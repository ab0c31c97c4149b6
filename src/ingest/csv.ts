// `publish --format csv --map …`: a column-mapping spec compiled into a function from delimited lines to event records.
import { createHash } from "node:crypto";
import { closestMatch } from "../config/did-you-mean.ts";
import { ITEM_FIELDS } from "../events/fields.ts";
import { parseIsoWithOffset } from "../events/time.ts";
import { LocalTimeZone, UnknownTimeZoneError } from "./local-time-zone.ts";
import { compileStrptime, StrptimePatternError, type StrptimePattern } from "./strptime.ts";

export class CsvMappingError extends Error {
  override name = "CsvMappingError";
}

export const VALUE_PARSERS = ["string", "number", "yyyymmdd", "iso", "epoch_ms", "epoch_s"] as const;
/** A parser of --map: one of VALUE_PARSERS, or `strptime(<pattern>)` (its pattern is the mapping's). */
export type ValueParser = (typeof VALUE_PARSERS)[number] | "strptime";

const PARSER_CHOICES = `${VALUE_PARSERS.join(", ")} or strptime(<pattern>), e.g. strptime(%m/%d/%Y %H:%M)`;

export interface CsvMappingOptions {
  /** "," (default), "whitespace" (runs of spaces/tabs, leading ones ignored), "tab", or any single character. */
  delimiter?: string;
  /** Column names; when absent and the spec names columns, line 1 is read as the header. */
  header?: string[];
  /** Mixed into the derived ids so that two different files never share them (e.g. the file name). */
  source?: string;
  /**
   * A field holding exactly this text is NULL, as an empty one is (DuckDB's `nullstr`): exports write `NA`, `NULL` or
   * `\N` for a missing value, and taken as a value `NA` would be one user id shared by every anonymous visitor.
   */
  nullText?: string;
  /**
   * The IANA zone of local date-times (`--timezone`): those read by a strptime pattern without %z, and ISO date-times
   * without an offset (`:iso`). Absent: strptime reads UTC, and `:iso` rejects a date-time without an offset as it
   * always did.
   */
  timeZone?: string;
}

/**
 * `raw` and `lineNumber` are set when the record spans several physical lines (the text and its first line). A rejected
 * row of an order-line file carries its `orderId` when that column could be read, so that its order is rejected too.
 */
export type CsvMapResult = ({ ok: true; record: Record<string, unknown> } | { ok: false; reason: string; orderId?: string }) & {
  raw?: string;
  lineNumber?: number;
};

/**
 * What an order-line spec (one with `items.*` fields) maps, for combining rows into orders (csv-orders.ts): each
 * entry as written, for messages; `revenue` absent means revenue is Σ qty × price over the order's rows.
 */
export interface OrderLineSpec {
  orderId: string;
  revenue?: string;
  price?: string;
  qty?: string;
}

export interface CsvMapping {
  /**
   * One physical line (1-based number) → a record for decodeRecord; undefined for a header line, and for a line that
   * ends inside a quoted field (RFC 4180 §2.6: the record goes on on the next line). Never throws.
   */
  map(line: string, lineNumber: number): CsvMapResult | undefined;
  /** One whole record (its physical lines joined by "\n"), without carrying a quoted field over to the next call. */
  mapRecord(text: string, lineNumber: number): CsvMapResult | undefined;
  /** At the end of the file: the record still waiting for its closing quote, rejected; undefined when none is. */
  end(): CsvMapResult | undefined;
  /**
   * Set when the spec maps `items.*`: each record is one row of an order (its `items` one item, absent when the row's
   * item fields are all empty; no derived ids),
   * and consecutive rows with one order_id are to be combined into one purchase (OrderLineGrouper).
   */
  readonly orderLines?: OrderLineSpec;
  /** Whether any field reads local date-times (strptime without %z, or :iso), the ones --timezone applies to. */
  readonly readsLocalTimes: boolean;
}

/** How local date-times become instants: in `zone`; `given` when --timezone was (`:iso` reads local times only then). */
interface TimeZoneContext {
  zone: LocalTimeZone;
  given: boolean;
}

/**
 * A quoted field still open after this many characters is taken for a stray opening quote: its lines are rejected
 * together and reading starts afresh after them (an event is at most 32 KiB anyway), instead of the rest of the file
 * becoming one record.
 */
const MAX_OPEN_QUOTED_CHARS = 32 * 1024;

type ColumnRef = { column: number } | { name: string };

interface FieldMapping {
  field: string;
  /** A column reference, or a constant. */
  source: ColumnRef | { constant: string };
  parser: ValueParser;
  /** Reads a value with the parser (and the pattern and zone it needs). */
  read: (text: string) => ParsedValue;
  /** A strptime parser's pattern. */
  pattern?: StrptimePattern;
  /** As written in the spec, for error messages. */
  written: string;
  /**
   * A further term of a sum (`ts=$date:iso+$offset`): its value, in milliseconds, is added to the field's value so far;
   * an empty (NULL) term makes the sum NULL, as in SQL.
   */
  addend?: true;
  /** `items.sku=$StockCode`: the field of the row's purchase item (`sku`), not of the event. */
  item?: string;
}

type ParsedValue = { ok: true; value: unknown } | { ok: false; reason: string };

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Compiles `type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3:number,revenue=$dollar_value:number`; throws CsvMappingError. */
export function compileCsvMapping(spec: string, options: CsvMappingOptions = {}): CsvMapping {
  const fields = parseSpec(spec, timeZoneContext(options.timeZone));
  const orderLines = orderLineSpecOf(fields);
  const orderIdIndex = fields.findIndex((field) => field.field === "order_id");
  const split = splitterOf(options.delimiter);
  const quoting = options.delimiter !== "whitespace";
  const delimiter = delimiterCharacter(options.delimiter);
  const namesColumns = fields.some((field) => "name" in field.source);
  const source = options.source ?? "";
  const nullText = options.nullText ?? "";
  let columns = options.header === undefined ? undefined : resolveColumns(fields, options.header.map((name) => name.trim()));
  /** Fields per record, as the header has them (undefined without a header: then only mapped columns must exist). */
  let width = options.header?.length;
  let headerInFile = false;
  /** Blank lines at the top of the file: the line after them is the header, when the file has one. */
  let leadingBlankLines = 0;
  /** A record whose quoted field is still open: its text so far and its first line. */
  let pending: string | undefined;
  let pendingLine = 0;

  const mapOne = (line: string, lineNumber: number): CsvMapResult | undefined => {
    let text = line.endsWith("\r") ? line.slice(0, -1) : line;
    // A UTF-8 byte order mark (Excel's "CSV UTF-8") belongs to the file, not to the first field.
    if (lineNumber === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    // A blank line is no record, as DuckDB's read_csv reads it (and as publish reads NDJSON): the header, if any, is
    // the first line that is not blank.
    if (text.trim() === "") {
      if (lineNumber === leadingBlankLines + 1) leadingBlankLines++;
      return undefined;
    }
    const values = split(text);
    if (!Array.isArray(values)) return { ok: false, reason: values.error };
    if (lineNumber === leadingBlankLines + 1 && options.header === undefined && (headerInFile || namesColumns || looksLikeHeader(values, fields, nullText))) {
      headerInFile = true;
      columns = resolveColumns(fields, values.map((name) => name.trim()));
      width = values.length;
      return undefined;
    }
    if (namesColumns && columns === undefined) {
      return { ok: false, reason: "the spec names columns but no header line was read (the first line that is not blank is the header)" };
    }
    if (columns !== undefined && "error" in columns) return { ok: false, reason: columns.error };
    // As DuckDB's read_csv (strict) and RFC 4180 §2.4: a record has the header's fields, neither padded nor cut.
    if (width !== undefined && values.length !== width) {
      return { ok: false, reason: `the record has ${values.length} fields, the header has ${width}` };
    }
    const mapped = mapFields(fields, values, columns, nullText);
    if (!mapped.ok) {
      if (orderLines !== undefined) return { ...mapped, orderId: orderIdText(fields[orderIdIndex], values, columns?.[orderIdIndex], nullText) };
      return mapped;
    }
    // An order's ids are derived from all of its rows (OrderLineGrouper).
    if (orderLines === undefined) addDerivedIds(mapped.record, fields, `${source}\n${lineNumber}\n${text}`);
    return mapped;
  };

  const spanning = (result: CsvMapResult | undefined, raw: string, lineNumber: number): CsvMapResult | undefined => {
    if (result !== undefined) {
      result.raw = raw;
      result.lineNumber = lineNumber;
    }
    return result;
  };

  return {
    orderLines,
    readsLocalTimes: fields.some((field) => field.parser === "iso" || (field.pattern !== undefined && !field.pattern.readsOffset)),
    map(line, lineNumber) {
      if (pending !== undefined) {
        const text = `${pending}\n${line}`;
        if (quoting && endsInsideQuotes(text, delimiter)) {
          if (text.length <= MAX_OPEN_QUOTED_CHARS) {
            pending = text;
            return undefined;
          }
          pending = undefined;
          return { ok: false, reason: `a quoted field opened on line ${pendingLine} is still open after ${text.length} characters`, raw: text, lineNumber: pendingLine };
        }
        pending = undefined;
        return spanning(mapOne(text, pendingLine), text, pendingLine);
      }
      // Only a line with a quote can open a field that goes on past its end (the common line is not scanned).
      if (quoting && line.includes('"') && endsInsideQuotes(line, delimiter)) {
        pending = line;
        pendingLine = lineNumber;
        return undefined;
      }
      return mapOne(line, lineNumber);
    },
    mapRecord(text, lineNumber) {
      if (quoting && text.includes('"') && endsInsideQuotes(text, delimiter)) {
        return { ok: false, reason: `a quoted field opened on line ${lineNumber} is not closed by the end of the file` };
      }
      return mapOne(text, lineNumber);
    },
    end() {
      if (pending === undefined) return undefined;
      const text = pending;
      pending = undefined;
      return { ok: false, reason: `a quoted field opened on line ${pendingLine} is not closed by the end of the file`, raw: text, lineNumber: pendingLine };
    },
  };
}

/**
 * Whether a line (or lines joined by "\n") of RFC 4180 CSV ends inside a quoted field. A quote opens a field only at
 * the field's start (elsewhere in an unquoted field it is a character, as DuckDB reads it); "" inside is a quote.
 */
export function endsInsideQuotes(text: string, delimiter: string): boolean {
  let quoted = false;
  let fieldStart = true;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quoted) {
      if (char === '"') {
        if (text[index + 1] === '"') index++;
        else quoted = false;
      }
    } else if (char === delimiter) fieldStart = true;
    else {
      if (char === '"' && fieldStart) quoted = true;
      fieldStart = false;
    }
  }
  return quoted;
}

function timeZoneContext(timeZone: string | undefined): TimeZoneContext {
  try {
    return { zone: new LocalTimeZone(timeZone ?? "UTC"), given: timeZone !== undefined };
  } catch (error) {
    if (!(error instanceof UnknownTimeZoneError)) throw error;
    throw new CsvMappingError(`--timezone ${error.message}: give an IANA zone name such as Europe/London, America/New_York or UTC`);
  }
}

const STRPTIME_OPENING = ":strptime(";

/**
 * `text` with the inside of each `:strptime(…)` blanked out (same length), so that the `,` `+` `$` `:` of a pattern
 * (`%b %d, %Y %H:%M`) do not split the spec: a pattern runs to the first `)`.
 */
function withoutPatterns(text: string): string {
  let blanked = "";
  let from = 0;
  for (;;) {
    const opening = text.indexOf(STRPTIME_OPENING, from);
    if (opening === -1) return blanked + text.slice(from);
    const start = opening + STRPTIME_OPENING.length;
    const closing = text.indexOf(")", start);
    const end = closing === -1 ? text.length : closing;
    blanked += text.slice(from, start) + "_".repeat(end - start);
    from = end;
  }
}

/** `text` cut at each match of the global `separator` outside strptime patterns. */
function splitOutsidePatterns(text: string, separator: RegExp): string[] {
  const pieces: string[] = [];
  let from = 0;
  for (const match of withoutPatterns(text).matchAll(separator)) {
    pieces.push(text.slice(from, match.index));
    from = match.index + match[0].length;
  }
  pieces.push(text.slice(from));
  return pieces;
}

/** Only a `+` before a `$` adds: a constant such as 2016-01-03T10:00:00+01:00 keeps its offset. */
const SUM_PLUS = /\+(?=\$)/g;

function parseSpec(spec: string, time: TimeZoneContext): FieldMapping[] {
  const entries = splitOutsidePatterns(spec, /,/g).map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) throw new CsvMappingError(`--map is empty: give field=source pairs, e.g. "type=purchase,user_id=$1,ts=$2:yyyymmdd"`);
  const seen = new Set<string>();
  const fields = entries.flatMap((entry) => {
    const terms = parseEntry(entry, time);
    const field = terms[0].field;
    if (seen.has(field)) throw new CsvMappingError(`--map sets "${field}" twice`);
    seen.add(field);
    return terms;
  });
  for (const required of ["type", "ts"]) {
    if (!seen.has(required)) {
      throw new CsvMappingError(`--map has no ${required}: add e.g. ${required === "type" ? "type=purchase" : "ts=$2:yyyymmdd"}`);
    }
  }
  checkOrderLineSpec(fields);
  return fields;
}

const ORDER_LINE_EXAMPLE = "order_id=$InvoiceNo,items.sku=$StockCode,items.qty=$Quantity,items.price=$UnitPrice";

/** An order-line spec's own rules: rows can only be combined into purchases by an order_id read from each row. */
function checkOrderLineSpec(fields: FieldMapping[]): void {
  const itemFields = fields.filter((field) => field.item !== undefined);
  if (itemFields.length === 0) return;
  const named = itemFields.map((field) => field.field).join(", ");
  const byName = (name: string) => fields.find((field) => field.field === name);
  const type = byName("type")!;
  if (!("constant" in type.source) || type.source.constant !== "purchase") {
    throw new CsvMappingError(`--map maps ${named}, the items of a purchase: set type=purchase (not "${type.written}")`);
  }
  const orderId = byName("order_id");
  if (orderId === undefined) {
    throw new CsvMappingError(
      `--map maps ${named} but no order_id: the rows of one order are combined into one purchase by their order_id; add e.g. order_id=$InvoiceNo`,
    );
  }
  if ("constant" in orderId.source) {
    throw new CsvMappingError(`--map entry "${orderId.written}": with items.* the order_id must be a column (e.g. order_id=$InvoiceNo): a constant makes every row one order`);
  }
  // A row's column differs between an order's rows (a line id), and every order of two rows or more was dead-lettered
  // for it; an order's column adds nothing to the id derived from its rows, as orders dedupe by order_id.
  const eventId = byName("event_id");
  if (eventId !== undefined) {
    throw new CsvMappingError(
      `--map entry "${eventId.written}": with items.* leave event_id unmapped: each order's event_id is derived from its rows ` +
        `(a re-publish is stored once), and ${"constant" in eventId.source ? "a constant would give every order one id" : "a column that differs between an order's rows would dead-letter the order"}`,
    );
  }
  if (byName("items.sku") === undefined && byName("items.category") === undefined) {
    throw new CsvMappingError(`--map maps ${named} but neither items.sku nor items.category (what basket counts): add e.g. items.sku=$StockCode`);
  }
  // Read as text, every row's value failed the sum and each order was dead-lettered as if the column were empty.
  const summedAsText = ["items.price", "items.qty", "revenue"].map(byName).find((field) => field?.parser === "string");
  if (summedAsText !== undefined) {
    throw new CsvMappingError(
      `--map entry "${summedAsText.written}": it is a number (an order's revenue is summed from its rows' numbers): leave out :string, as a number is the default`,
    );
  }
  if (byName("revenue") === undefined && byName("items.price") === undefined) {
    throw new CsvMappingError(
      `--map maps ${named} but neither revenue nor items.price: a purchase needs its revenue; add items.price=$UnitPrice ` +
        "(revenue is then the sum of qty × price over the order's rows) or revenue=$column (summed over the order's rows)",
    );
  }
}

function orderLineSpecOf(fields: FieldMapping[]): OrderLineSpec | undefined {
  if (!fields.some((field) => field.item !== undefined)) return undefined;
  const written = (name: string) => fields.find((field) => field.field === name)?.written;
  return {
    orderId: written("order_id")!,
    revenue: written("revenue"),
    price: written("items.price"),
    qty: written("items.qty"),
  };
}

/** A rejected row's order_id, when its column holds one (the row's order is rejected with it). */
function orderIdText(field: FieldMapping, values: string[], column: number | undefined, nullText: string): string | undefined {
  const index = "column" in field.source ? field.source.column - 1 : column;
  if (index === undefined || index < 0 || index >= values.length) return undefined;
  const text = values[index];
  if (text === "" || text === nullText) return undefined;
  const parsed = field.read(text);
  return parsed.ok ? String(parsed.value) : undefined;
}

/** Names people give the fields of an order line, for a hint: `items.quantity` is `items.qty`. */
const ITEM_FIELD_SYNONYMS: Readonly<Record<string, string>> = {
  quantity: "qty",
  amount: "qty",
  unit_price: "price",
  unitprice: "price",
  product: "sku",
  product_id: "sku",
  stock_code: "sku",
  stockcode: "sku",
};

/** `items.<name>`: one of the purchase item's fields (events/fields.ts), or an error that names the right one. */
function itemFieldOf(entry: string, field: string): string {
  const name = field.slice("items.".length);
  if (Object.hasOwn(ITEM_FIELDS, name)) return name;
  const known = Object.keys(ITEM_FIELDS);
  const meant = ITEM_FIELD_SYNONYMS[name.toLowerCase()] ?? closestMatch(name, known);
  const hint = meant === undefined ? "" : ` (did you mean items.${meant}?)`;
  throw new CsvMappingError(`--map entry "${entry}": a purchase item has no field "${name}"${hint}; its fields are ${known.map((known) => `items.${known}`).join(", ")}`);
}

/** Event fields the schema requires to be numbers: a mapped column is parsed as a number unless the spec says otherwise. */
const NUMERIC_EVENT_FIELDS = new Set(["revenue", "price", "qty"]);
const NUMERIC_ITEM_FIELDS = new Set(["price", "qty"]);

/** Parsers whose values are milliseconds (or plain numbers), so that they can be added up in a sum. */
const SUMMABLE_PARSERS: readonly ValueParser[] = ["number", "yyyymmdd", "iso", "epoch_ms", "epoch_s", "strptime"];

/**
 * One `field=source` entry: one mapping, or for a sum of columns (`ts=$eventdate:iso+$timeframe`: a date plus an offset
 * in milliseconds) one mapping per term, the later ones marked `addend`. A term without a parser is a number.
 */
function parseEntry(entry: string, time: TimeZoneContext): FieldMapping[] {
  const equals = entry.indexOf("=");
  if (equals === -1) throw new CsvMappingError(`--map entry "${entry}" is not field=source (e.g. user_id=$1)`);
  const field = entry.slice(0, equals).trim();
  const value = entry.slice(equals + 1).trim();
  if (field.startsWith("items.")) {
    const item = itemFieldOf(entry, field);
    if (value.startsWith("$") && splitOutsidePatterns(value, SUM_PLUS).length > 1) {
      throw new CsvMappingError(`--map entry "${entry}": only ts can be a sum of columns (e.g. ts=$date:iso+$offset_ms)`);
    }
    return [{ ...parseTerm(entry, field, value, NUMERIC_ITEM_FIELDS.has(item) ? "number" : "string", time), item }];
  }
  if (!FIELD_NAME.test(field)) throw new CsvMappingError(`--map entry "${entry}": "${field}" is not a field name`);
  if (field === "items") {
    throw new CsvMappingError(`--map entry "${entry}": items is the list of an order's rows; map the fields of a row's item instead, e.g. ${ORDER_LINE_EXAMPLE}`);
  }
  const terms = value.startsWith("$") ? splitOutsidePatterns(value, SUM_PLUS).map((term) => term.trim()) : [value];
  if (terms.length === 1) return [parseTerm(entry, field, value, NUMERIC_EVENT_FIELDS.has(field) ? "number" : "string", time)];
  if (field !== "ts") throw new CsvMappingError(`--map entry "${entry}": only ts can be a sum of columns (e.g. ts=$date:iso+$offset_ms)`);
  return terms.map((term, index) => {
    const mapping = parseTerm(entry, field, term, "number", time);
    if (!("constant" in mapping.source) && SUMMABLE_PARSERS.includes(mapping.parser)) return index === 0 ? mapping : { ...mapping, addend: true };
    throw new CsvMappingError(
      `--map entry "${entry}": "${term}" cannot be added: each term of a sum is a $column read as milliseconds (${SUMMABLE_PARSERS.map((name) => `:${name}`).join(", ")}(<pattern>))`,
    );
  });
}

function parseTerm(entry: string, field: string, written: string, defaultParser: ValueParser, time: TimeZoneContext): FieldMapping {
  let value = written;
  let parser: ValueParser = defaultParser;
  let pattern: StrptimePattern | undefined;
  const strptime = value.indexOf(":strptime");
  const colon = value.lastIndexOf(":");
  if (strptime !== -1) {
    parser = "strptime";
    pattern = strptimePatternOf(entry, field, value.slice(strptime + ":strptime".length));
    value = value.slice(0, strptime);
  } else if (colon !== -1) {
    const suffix = value.slice(colon + 1);
    if ((VALUE_PARSERS as readonly string[]).includes(suffix)) {
      parser = suffix as ValueParser;
      value = value.slice(0, colon);
    } else if (value.startsWith("$")) {
      throw new CsvMappingError(`--map entry "${entry}": unknown parser "${suffix}" (use ${PARSER_CHOICES})`);
    }
  }
  const read = readerOf(parser, pattern, time);
  if (!value.startsWith("$")) {
    if (value === "") throw new CsvMappingError(`--map entry "${entry}" has no source (a $column or a constant)`);
    const checked = read(value);
    if (!checked.ok) throw new CsvMappingError(`--map entry "${entry}": ${checked.reason}`);
    return { field, source: { constant: value }, parser, read, pattern, written: entry };
  }
  return { field, source: parseColumnRef(value.slice(1), entry), parser, read, pattern, written: entry };
}

/** The pattern of `:strptime(<pattern>)`, given what follows `:strptime`; throws CsvMappingError naming the fix. */
function strptimePatternOf(entry: string, field: string, rest: string): StrptimePattern {
  const example = `${field}=$InvoiceDate:strptime(%m/%d/%Y %H:%M)`;
  if (!rest.startsWith("(")) throw new CsvMappingError(`--map entry "${entry}": strptime needs its pattern in parentheses, e.g. ${example}`);
  const closing = rest.indexOf(")");
  if (closing === -1) throw new CsvMappingError(`--map entry "${entry}": the pattern of strptime( is not closed: end it with ), e.g. ${example}`);
  const pattern = rest.slice(1, closing);
  if (closing !== rest.length - 1 || pattern.includes("(")) {
    throw new CsvMappingError(`--map entry "${entry}": a strptime pattern cannot hold ( or ), and nothing may follow its closing ), e.g. ${example}`);
  }
  try {
    return compileStrptime(pattern);
  } catch (error) {
    if (error instanceof StrptimePatternError) throw new CsvMappingError(`--map entry "${entry}": strptime ${error.message}`);
    throw error;
  }
}

/** How a field's text is read: the parser, with the zone for local date-times. */
function readerOf(parser: ValueParser, pattern: StrptimePattern | undefined, time: TimeZoneContext): (text: string) => ParsedValue {
  if (parser === "strptime") return (text) => strptimeValue(text, pattern!, time.zone);
  if (parser === "iso" && time.given) return (text) => isoValue(text, time.zone);
  return (text) => parseValue(text, parser);
}

/** A date-time read by a pattern: at its %z offset, else a local time in the zone. */
function strptimeValue(text: string, pattern: StrptimePattern, zone: LocalTimeZone): ParsedValue {
  const read = pattern.parse(text);
  if (!read.ok) return { ok: false, reason: `"${text}" does not match the pattern ${pattern.pattern}: ${read.problem}` };
  const instant = read.offsetMs === undefined ? zone.instantOf(read.wallMs) : read.wallMs - read.offsetMs;
  return instant >= 0 ? { ok: true, value: instant } : { ok: false, reason: `"${text}" is before 1970 (event times start at 1970-01-01)` };
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

function mapFields(fields: FieldMapping[], values: string[], columns: number[] | undefined, nullText = ""): CsvMapResult {
  const record: Record<string, unknown> = {};
  /** The row's purchase item, when the spec maps items.* (an empty field leaves it without that field). */
  let item: Record<string, unknown> | undefined;
  /** A sum with an empty term: NULL whatever its other terms. */
  let nullSum: string | undefined;
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index];
    const source = field.source;
    if (field.addend === true && nullSum === field.field) continue;
    let text: string;
    if ("constant" in source) text = source.constant;
    else {
      const column = "column" in source ? source.column - 1 : columns === undefined ? -1 : columns[index];
      if (column < 0 || column >= values.length) {
        return { ok: false, reason: `${field.field}: the line has ${values.length} columns, ${field.written} needs column ${column + 1}` };
      }
      text = values[column];
      // An empty field is NULL, as DuckDB's read_csv reads it (quoted or not): the field is absent from the record.
      // So is one holding the --null text.
      if (text === "" || text === nullText) {
        if (index + 1 < fields.length && fields[index + 1].addend === true) nullSum = field.field;
        if (field.addend === true) {
          nullSum = field.field;
          delete record[field.field];
        }
        continue;
      }
    }
    const parsed = field.read(text);
    if (!parsed.ok) return { ok: false, reason: `${field.field} (${field.written}): ${parsed.reason}` };
    if (field.item !== undefined) (item ??= {})[field.item] = parsed.value;
    else record[field.field] = field.addend === true ? (record[field.field] as number) + (parsed.value as number) : parsed.value;
  }
  if (item !== undefined) record.items = [item];
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

/**
 * A first line whose every column is neither a number nor a time is a header (as csv.Sniffer guesses). A line with a
 * time in it is a record whose other fields are bad: taken for a header it was dropped without a dead letter.
 */
function looksLikeHeader(values: string[], fields: FieldMapping[], nullText: string): boolean {
  if (mapFields(fields, values, undefined, nullText).ok) return false;
  return values.every((value) => !HEADER_EXCLUDING_PARSERS.some((parser) => parseValue(value, parser).ok));
}

/** What a header's column name never is. */
const HEADER_EXCLUDING_PARSERS: readonly Exclude<ValueParser, "strptime">[] = ["number", "iso", "yyyymmdd"];

export function parseValue(text: string, parser: Exclude<ValueParser, "strptime">): ParsedValue {
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

/**
 * A date (UTC midnight, whatever the zone: a day's label) or a date-time with Z or an offset, read as the event's own
 * `ts` is (events/time.ts: "+05", "z", a space for "T"), so a column gives the instant the same text gives in NDJSON.
 * A date-time without an offset is a local time in `zone` when --timezone is given; without it, it is rejected (its
 * instant is unknown), as before --timezone existed.
 */
function isoValue(text: string, zone?: LocalTimeZone): ParsedValue {
  if (text.length === 10) return dateValue(text, /^(\d{4})-(\d{2})-(\d{2})$/, "ISO 8601 with an offset (e.g. 2015-05-17T10:05:03Z)");
  const value = parseIsoWithOffset(text);
  if (value !== undefined) return { ok: true, value };
  // With a Z added, a date-time without an offset reads as its wall-clock time (one with an offset does not read).
  const wallMs = parseIsoWithOffset(`${text}Z`);
  if (wallMs === undefined) return { ok: false, reason: `"${text}" is not ISO 8601 with an offset (e.g. 2015-05-17T10:05:03Z)` };
  if (zone === undefined) {
    return { ok: false, reason: `"${text}" has no offset: give --timezone <zone> (e.g. --timezone Europe/London) to read it as that zone's local time` };
  }
  const instant = zone.instantOf(wallMs);
  return instant >= 0 ? { ok: true, value: instant } : { ok: false, reason: `"${text}" in ${zone.name} is before 1970` };
}

type SplitResult = string[] | { error: string };

function delimiterCharacter(delimiter: string | undefined): string {
  return delimiter === undefined || delimiter === "comma" ? "," : delimiter === "tab" || delimiter === "\\t" ? "\t" : delimiter;
}

function splitterOf(delimiter: string | undefined): (line: string) => SplitResult {
  if (delimiter === "whitespace") return (line) => (line.trim() === "" ? [] : line.trim().split(/\s+/));
  const character = delimiterCharacter(delimiter);
  if (character.length !== 1 || character === '"') {
    throw new CsvMappingError(`--delimiter "${delimiter}" is not one character, "tab" or "whitespace"`);
  }
  return (line) => splitRecord(line, character);
}

/** One line of RFC 4180 CSV: fields may be quoted, with "" for a quote inside (lenient: see splitRecord for checks). */
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

/**
 * One record of RFC 4180 CSV (its lines joined by "\n"), as DuckDB's read_csv reads it: a quote opens a quoted field
 * only at the field's start (elsewhere it is a character: `5" screen`), "" inside is a quote, and the closing quote
 * must end the field (`"x"y` is an error, not `xy`). Fields are sliced from the line, not built character by character.
 */
export function splitRecord(line: string, delimiter: string): SplitResult {
  if (!line.includes('"')) return line.split(delimiter);
  const values: string[] = [];
  let start = 0;
  for (;;) {
    if (line.charCodeAt(start) !== 34 /* " */) {
      const end = line.indexOf(delimiter, start);
      if (end === -1) {
        values.push(line.slice(start));
        return values;
      }
      values.push(line.slice(start, end));
      start = end + 1;
      continue;
    }
    let value = "";
    let from = start + 1;
    for (;;) {
      const quote = line.indexOf('"', from);
      if (quote === -1) return { error: `field ${values.length + 1}: its quote is not closed` };
      value += line.slice(from, quote);
      if (line.charCodeAt(quote + 1) === 34) {
        value += '"';
        from = quote + 2;
        continue;
      }
      values.push(value);
      const after = quote + 1;
      if (after === line.length) return values;
      if (line[after] !== delimiter) return { error: `field ${values.length}: text after its closing quote` };
      start = after + 1;
      break;
    }
  }
}
