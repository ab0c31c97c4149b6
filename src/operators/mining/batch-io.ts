// File edges of batch mining: sequence and basket databases from SPMF/CSV text or Parquet, results to CSV/Parquet.
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { encodeParquet } from "../../sinks/parquet-encoder.ts";
import { listParts, readParquetBatches } from "../../sinks/parquet-reader.ts";
import type { Row, TableSpec } from "../../sinks/table.ts";
import { sessionSequence, type Itemset } from "./itemset-sequence.ts";
import { MiningInputError, parseBasketCsv, parseSpmfSequences, parseSpmfTransactions } from "./spmf-format.ts";

/**
 * Feeds `add` the rows of a Parquet file, or of every `*.parquet` under a table folder (Hive partitions included), with
 * only `columns`, one row group at a time: what the caller keeps of them is all that stays. `checkColumns` sees the
 * first row before the rest are read (the wrong table fails at once, not after reading it all).
 */
async function forEachParquetRow(path: string, columns: readonly string[], checkColumns: (row: Row) => void, add: (row: Row) => void): Promise<void> {
  // A folder of no part (a sink path instead of its table folder, a table not written yet) would mine nothing and
  // exit 0, as if the table were empty.
  if ((await stat(path)).isDirectory() && (await listParts(path, undefined)).length === 0) {
    throw new MiningInputError(`${path}: no Parquet part (*.parquet) in it or in its partition folders; pass a table folder, such as <sink path>/sessions or <sink path>/orders`);
  }
  let first = true;
  for await (const rows of readParquetBatches(path, { columns })) {
    for (const row of rows) {
      if (first) checkColumns(row);
      first = false;
      add(row);
    }
  }
}

/**
 * A text database's contents. Bytes that are not UTF-8, or a NUL, mean a binary file (a Parquet part named without
 * `.parquet`, a gzip): read as text it would mine one "order" of junk tokens and exit 0.
 */
async function readTextInput(path: string): Promise<string> {
  const bytes = await readFile(path);
  if (bytes.subarray(0, 4).toString("latin1") === "PAR1") {
    throw new MiningInputError(`${path}: a Parquet file without the .parquet extension; rename it to *.parquet or pass its table folder`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new MiningInputError(`${path}: not UTF-8 text; expected SPMF or CSV text, or a Parquet table (*.parquet or a folder)`);
  }
  if (text.includes("\0")) throw new MiningInputError(`${path}: holds NUL bytes, so it is binary; expected SPMF or CSV text, or a Parquet table`);
  return text;
}

async function isParquetInput(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => {
    throw new MiningInputError(`${path}: no such file or directory`);
  });
  return info.isDirectory() || extname(path).toLowerCase() === ".parquet";
}

/**
 * A sequence database: SPMF sequence text (`.txt` and anything else), CSV (one sequence of one-item steps per line,
 * comma-separated), or a `sessions` Parquet table whose current truth (the highest non-retracted version per
 * session_id, crawlers' left out) gives one sequence per session from the `item` list column.
 */
export async function readSequenceDatabase(path: string, item: "page_items" | "page_path"): Promise<Itemset[][]> {
  if (await isParquetInput(path)) {
    const sequences = sessionSequences(item);
    await forEachParquetRow(path, [...SESSION_COLUMNS, item], (row) => checkSessionColumns(row, item), (row) => sequences.add(row));
    return sequences.finish();
  }
  const text = await readTextInput(path);
  if (extname(path).toLowerCase() === ".csv") return parseBasketCsv(text).map((items) => sessionSequence(items));
  return parseSpmfSequences(text);
}

/** The columns a sessions table's current truth is decided by. */
const SESSION_COLUMNS = ["session_id", "version", "retracted", "is_bot"] as const;

/** Kept for a session whose winning version is retracted or a crawler's: its items are not needed. */
const LEFT_OUT = Symbol("left out");

/**
 * A sessions table's current truth, reduced as its rows arrive (ARCHITECTURE: the highest version per session_id
 * whose retracted is false), crawlers' left out: the highest version per session_id wins, the first read of equal
 * ones; a retracted winner removes the session, and so does one flagged is_bot (crawlers' paths are not customers':
 * the sequencePatterns operator leaves them out too). Per session only the winner's version and `valueOf` its row are
 * kept, not its rows: a table of every version of millions of sessions reduces to what the mining reads.
 */
export class CurrentSessions<T> {
  private readonly indexOf = new Map<string, number>();
  private readonly versions: number[] = [];
  private readonly values: (T | typeof LEFT_OUT)[] = [];

  constructor(private readonly valueOf: (row: Row) => T) {}

  add(row: Row): void {
    const id = row.session_id;
    if (typeof id !== "string") throw new MiningInputError(`sessions input: a row has no session_id column`);
    const version = Number(row.version ?? 0);
    const index = this.indexOf.get(id);
    if (index !== undefined && !(version > this.versions[index])) return;
    const value = row.retracted !== true && row.is_bot !== true ? this.valueOf(row) : LEFT_OUT;
    if (index === undefined) {
      this.indexOf.set(id, this.versions.length);
      this.versions.push(version);
      this.values.push(value);
    } else {
      this.versions[index] = version;
      this.values[index] = value;
    }
  }

  /** The current sessions' values, in the order their session_ids were first read. */
  current(): T[] {
    return this.values.filter((value): value is T => value !== LEFT_OUT);
  }
}

/** A current session's `item` column that is not a list: an error only if the session stays current. */
const NOT_A_LIST = Symbol("not a list");

/**
 * One sequence per session of a sessions table's current truth (CurrentSessions), from the `item` list column. A
 * step is one shared one-item itemset per distinct item, so a million sessions over a few hundred pages hold a few
 * hundred strings, not one per visit.
 */
function sessionSequences(item: "page_items" | "page_path"): { add(row: Row): void; finish(): Itemset[][] } {
  const steps = new Map<string, Itemset>();
  const stepOf = (element: string): Itemset => {
    let step = steps.get(element);
    if (step === undefined) steps.set(element, (step = [element]));
    return step;
  };
  const sessions = new CurrentSessions((row): Itemset[] | typeof NOT_A_LIST => {
    const items = row[item];
    return Array.isArray(items) ? items.map((element) => stepOf(String(element))) : NOT_A_LIST;
  });
  return {
    add: (row) => sessions.add(row),
    finish: () =>
      sessions.current().map((sequence) => {
        if (sequence === NOT_A_LIST) throw new MiningInputError(`sessions input: column ${item} is missing or not a list`);
        return sequence;
      }),
  };
}

/** One sequence per session of the sessions table's current truth (CurrentSessions), from the `item` list column. */
export function currentSessionSequences(rows: Iterable<Row>, item: "page_items" | "page_path"): Itemset[][] {
  const sequences = sessionSequences(item);
  for (const row of rows) sequences.add(row);
  return sequences.finish();
}

/**
 * A basket database: one-basket-per-line CSV (`.csv`), SPMF transactions (`.txt` and anything else), or a Parquet
 * table with either a list column `items` (one order per row) or one row per item (`order_id` plus `itemColumn`).
 * A sessions table (`--item page_items`: one basket per session) is read as its current truth (basketsOfTable).
 */
export async function readBasketDatabase(path: string, itemColumn?: string): Promise<string[][]> {
  if (await isParquetInput(path)) {
    const baskets = basketsOfTable(itemColumn);
    await forEachParquetRow(path, basketInputColumns(itemColumn), (row) => basketColumn(row, itemColumn), (row) => baskets.add(row));
    return baskets.finish();
  }
  const text = await readTextInput(path);
  return extname(path).toLowerCase() === ".csv" ? parseBasketCsv(text) : parseSpmfTransactions(text);
}

function checkSessionColumns(row: Row, item: "page_items" | "page_path"): void {
  if (!("session_id" in row)) throw new MiningInputError(`sessions input: a row has no session_id column`);
  if (!(item in row)) throw new MiningInputError(`sessions input: column ${item} is missing or not a list`);
}

/** The column a basket table's items are in (for one-row-per-order tables, the list column), or a MiningInputError. */
function basketColumn(row: Row, itemColumn?: string): string {
  const listColumn = itemColumn ?? "items";
  // A null `items` (an order without items) says as much as a list does about the table's layout.
  if (Array.isArray(row[listColumn]) || (itemColumn === undefined && listColumn in row && row[listColumn] === null)) return listColumn;
  const column = itemColumn ?? ["item", "sku", "category"].find((name) => name in row);
  if (column === undefined || !("order_id" in row)) {
    throw new MiningInputError("orders input: expected a list column `items`, or `order_id` with an `item`, `sku` or `category` column");
  }
  return column;
}

/** The columns basket mining reads: the items (a list column, or one item per row with order_id), and a sessions table's. */
function basketInputColumns(itemColumn: string | undefined): string[] {
  const items = itemColumn === undefined ? ["items", "item", "sku", "category"] : [itemColumn];
  return [...new Set([...items, "order_id", ...SESSION_COLUMNS])];
}

/**
 * A basket table's baskets, reduced as its rows arrive. Every row of a sessions table (its first row decides) is one
 * version of a session: a basket per row counted a session once per version, retracted ones and crawlers' included.
 * Its current truth has one row per session, as `mine patterns` reads it; only those rows' item columns are kept.
 */
function basketsOfTable(itemColumn: string | undefined): { add(row: Row): void; finish(): string[][] } {
  const intern = interner();
  const baskets = basketsOfRows(itemColumn, intern);
  let sessions: CurrentSessions<Row> | undefined;
  let first = true;
  return {
    add(row) {
      if (first && isSessionsRow(row)) sessions = new CurrentSessions((current) => basketFields(current, itemColumn, intern));
      first = false;
      if (sessions === undefined) baskets.add(row);
      else sessions.add(row);
    },
    finish() {
      if (sessions !== undefined) for (const row of sessions.current()) baskets.add(row);
      return baskets.finish();
    },
  };
}

/** A current session's fields that basketsOfRows reads (present ones only: it asks which are), its strings shared. */
function basketFields(row: Row, itemColumn: string | undefined, intern: (text: string) => string): Row {
  const fields: Row = {};
  for (const name of [itemColumn ?? "items", "item", "sku", "category", "order_id"]) {
    if (!(name in row)) continue;
    const value = row[name];
    fields[name] = Array.isArray(value) ? value.map((item: unknown) => (typeof item === "string" ? intern(item) : item)) : value;
  }
  return fields;
}

/**
 * Baskets of rows, reduced as they arrive: with a list column (`itemColumn`, else `items`; its first value that is not
 * null says so) one basket per order_id (or per row without one), the first row's list; else one row per item,
 * grouped by order_id, in the column basketColumn names for the first row. Items are shared strings (interned).
 */
function basketsOfRows(itemColumn: string | undefined, intern: (text: string) => string): { add(row: Row): void; finish(): string[][] } {
  const listColumn = itemColumn ?? "items";
  let rowCount = 0;
  // Undecided until a list value that is not null arrives: until then no row has a list, so none makes a list basket.
  let holdsLists: boolean | undefined;
  const listBaskets = new Map<unknown, string[]>();
  let itemBaskets: Map<unknown, Set<string>> | undefined = new Map();
  let column: string | undefined;
  let columnError: unknown;
  return {
    add(row) {
      const index = rowCount++;
      const items = row[listColumn];
      if (holdsLists === undefined && items !== null && items !== undefined) {
        holdsLists = Array.isArray(items);
        if (holdsLists) itemBaskets = undefined;
      }
      if (holdsLists === true) {
        const key = row.order_id ?? index;
        // A null list is no basket and a null element no item, as rows with a null item are skipped below.
        if (!Array.isArray(items) || listBaskets.has(key)) return;
        listBaskets.set(key, items.filter((item) => item !== null && item !== undefined).map((item) => intern(String(item))));
        return;
      }
      if (index === 0) {
        try {
          column = basketColumn(row, itemColumn);
        } catch (error) {
          // Only an error if no list turns up: a table of lists never asks for the per-item column.
          columnError = error;
        }
      }
      if (column === undefined || itemBaskets === undefined) return;
      const value = row[column];
      if (value === null || value === undefined) return;
      const basket = itemBaskets.get(row.order_id) ?? new Set<string>();
      basket.add(intern(String(value)));
      itemBaskets.set(row.order_id, basket);
    },
    finish() {
      if (rowCount === 0) return [];
      if (holdsLists === true) return [...listBaskets.values()];
      if (columnError !== undefined) throw columnError;
      return [...itemBaskets!.values()].map((basket) => [...basket]);
    },
  };
}

/** One shared instance per distinct text: a million baskets over a thousand products hold a thousand strings. */
function interner(): (text: string) => string {
  const shared = new Map<string, string>();
  return (text) => {
    const known = shared.get(text);
    if (known !== undefined) return known;
    shared.set(text, text);
    return text;
  };
}

/**
 * Whether a table's (first) row is a sessions table's, whose versions replace one another, unlike an orders table's:
 * session_id, version and retracted, and no order_id. An orders table may carry a session_id (the order's web session)
 * and a version of its own; read as sessions, its rows collapsed to one per session_id and a null session_id failed the command.
 */
function isSessionsRow(row: Row): boolean {
  return "session_id" in row && "version" in row && "retracted" in row && !("order_id" in row);
}

/** RFC 4180 CSV with a header; fields with separators, quotes, line breaks or edge spaces are quoted. */
export function toCsv(columns: readonly string[], rows: readonly Row[]): string {
  const lines = [columns.map(csvField).join(",")];
  for (const row of rows) lines.push(columns.map((column) => csvField(row[column])).join(","));
  return `${lines.join("\n")}\n`;
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  // A list column (items, antecedent_items) as a JSON array: its items may hold commas and the tables' separators.
  const text = Array.isArray(value) ? JSON.stringify(value) : String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Writes `<directory>/<table>.csv` and `<directory>/<table>/part-0000000000-0000.parquet` (written aside, then
 * renamed, so a reader never sees half a file). Returns the two paths.
 */
export async function writeTableDirectory(directory: string, spec: TableSpec, rows: readonly Row[]): Promise<string[]> {
  const tableDirectory = join(directory, spec.name);
  await mkdir(tableDirectory, { recursive: true });
  const csvPath = join(directory, `${spec.name}.csv`);
  const parquetPath = join(tableDirectory, "part-0000000000-0000.parquet");
  await writeAtomically(csvPath, toCsv(spec.columns.map((column) => column.name), rows));
  await writeAtomically(parquetPath, await encodeParquet(spec.columns, rows, { compression: "zstd", rowGroupSize: 100_000 }));
  return [csvPath, parquetPath];
}

export async function writeAtomically(path: string, content: string | Uint8Array): Promise<void> {
  const temporary = `${path}.inprogress`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}
