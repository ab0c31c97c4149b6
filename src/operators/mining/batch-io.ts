// File edges of batch mining: sequence and basket databases from SPMF/CSV text or Parquet, results to CSV/Parquet.
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { encodeParquet } from "../../sinks/parquet-encoder.ts";
import { readParquetFile, readParquetTable } from "../../sinks/parquet-reader.ts";
import type { Row, TableSpec } from "../../sinks/table.ts";
import { sessionSequence, type Itemset } from "./itemset-sequence.ts";
import { MiningInputError, parseBasketCsv, parseSpmfSequences, parseSpmfTransactions } from "./spmf-format.ts";

/** The rows of a Parquet file, or of every `*.parquet` under a table folder (Hive partitions included); `checkColumns` sees the first row before the rest are read (the wrong table fails at once, not after filling the heap). */
async function readParquetRows(path: string, checkColumns: (row: Row) => void): Promise<Row[]> {
  if ((await stat(path)).isFile()) {
    const rows = await readParquetFile(path);
    if (rows.length > 0) checkColumns(rows[0]);
    return rows;
  }
  const rows: Row[] = [];
  for await (const row of readParquetTable(path)) {
    if (rows.length === 0) checkColumns(row);
    rows.push(row);
  }
  return rows;
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
  if (await isParquetInput(path)) return currentSessionSequences(await readParquetRows(path, (row) => checkSessionColumns(row, item)), item);
  const text = await readTextInput(path);
  if (extname(path).toLowerCase() === ".csv") return parseBasketCsv(text).map((items) => sessionSequence(items));
  return parseSpmfSequences(text);
}

/**
 * A sessions table's current truth (ARCHITECTURE: the highest version per session_id whose retracted is false),
 * crawlers' left out: the highest version per session_id wins; a retracted winner removes the session, and so does
 * one flagged is_bot (crawlers' paths are not customers': the sequencePatterns operator leaves them out too).
 */
export function currentSessionRows(rows: readonly Row[]): Row[] {
  const latest = new Map<string, Row>();
  for (const row of rows) {
    const id = row.session_id;
    if (typeof id !== "string") throw new MiningInputError(`sessions input: a row has no session_id column`);
    const seen = latest.get(id);
    if (seen === undefined || Number(row.version ?? 0) > Number(seen.version ?? 0)) latest.set(id, row);
  }
  return [...latest.values()].filter((row) => row.retracted !== true && row.is_bot !== true);
}

/** One sequence per session of the sessions table's current truth (currentSessionRows), from the `item` list column. */
export function currentSessionSequences(rows: readonly Row[], item: "page_items" | "page_path"): Itemset[][] {
  return currentSessionRows(rows).map((row) => {
    const items = row[item];
    if (!Array.isArray(items)) throw new MiningInputError(`sessions input: column ${item} is missing or not a list`);
    return sessionSequence(items.map(String));
  });
}

/**
 * A basket database: one-basket-per-line CSV (`.csv`), SPMF transactions (`.txt` and anything else), or a Parquet
 * table with either a list column `items` (one order per row) or one row per item (`order_id` plus `itemColumn`).
 * A sessions table (`--item page_items`: one basket per session) is read as its current truth (basketsFromRows).
 */
export async function readBasketDatabase(path: string, itemColumn?: string): Promise<string[][]> {
  if (await isParquetInput(path)) return basketsFromRows(await readParquetRows(path, (row) => basketColumn(row, itemColumn)), itemColumn);
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

export function basketsFromRows(tableRows: readonly Row[], itemColumn?: string): string[][] {
  // Every row of a sessions table is one version of a session: a basket per row counted a session once per version,
  // retracted ones and crawlers' included. Its current truth has one row per session, as `mine patterns` reads it.
  const rows = isSessionsTable(tableRows) ? currentSessionRows(tableRows) : tableRows;
  if (rows.length === 0) return [];
  const listColumn = itemColumn ?? "items";
  if (isListColumn(rows, listColumn)) {
    const byOrder = new Map<unknown, string[]>();
    rows.forEach((row, index) => {
      const key = row.order_id ?? index;
      const items = row[listColumn];
      // A null list is no basket and a null element no item, as rows with a null item are skipped below.
      if (!Array.isArray(items) || byOrder.has(key)) return;
      byOrder.set(key, items.filter((item) => item !== null && item !== undefined).map(String));
    });
    return [...byOrder.values()];
  }
  const column = basketColumn(rows[0], itemColumn);
  const byOrder = new Map<unknown, Set<string>>();
  for (const row of rows) {
    const value = row[column];
    if (value === null || value === undefined) continue;
    const basket = byOrder.get(row.order_id) ?? new Set<string>();
    basket.add(String(value));
    byOrder.set(row.order_id, basket);
  }
  return [...byOrder.values()].map((basket) => [...basket]);
}

/**
 * A sessions table's rows, whose versions replace one another, unlike an orders table's: session_id, version and
 * retracted, and no order_id. An orders table may carry a session_id (the order's web session) and a version of its
 * own; read as sessions, its rows collapsed to one per session_id and a null session_id failed the command.
 */
function isSessionsTable(rows: readonly Row[]): boolean {
  if (rows.length === 0) return false;
  const row = rows[0];
  return "session_id" in row && "version" in row && "retracted" in row && !("order_id" in row);
}

/** Whether `column` holds lists: its first value that is not null decides. */
function isListColumn(rows: readonly Row[], column: string): boolean {
  for (const row of rows) {
    const value = row[column];
    if (value !== null && value !== undefined) return Array.isArray(value);
  }
  return false;
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
