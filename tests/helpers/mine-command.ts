// For tests of `clickpipe mine`: the command run in this process, temporary folders, sessions tables written as the
// sessionize sink writes them, DuckDB in memory, and DuckDB SQL that counts contiguous runs as an oracle.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll } from "vitest";
import { runMine } from "../../src/cli/mine.ts";
import { sessionsTable } from "../../src/operators/sessionize-table.ts";
import type { SessionRecord } from "../../src/runtime/operator.ts";
import { encodeParquet } from "../../src/sinks/parquet-encoder.ts";
import type { Row } from "../../src/sinks/table.ts";

/**
 * Registers the calling file's afterAll (call it at the top of a test file) and returns a function that makes a
 * temporary folder, removed once the file's tests are done.
 */
export function scratchDirectoriesRemovedAfterAll(): (prefix: string) => string {
  const scratch: string[] = [];
  afterAll(() => {
    for (const directory of scratch) rmSync(directory, { recursive: true, force: true });
  });
  return (prefix) => {
    const directory = mkdtempSync(join(tmpdir(), prefix));
    scratch.push(directory);
    return directory;
  };
}

/** `clickpipe mine <argv>` in this process: its exit code and what it wrote. */
export async function mine(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runMine(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } });
  return { code, stdout, stderr };
}

export type JsonRows = Record<string, unknown>[];

/** A fresh in-memory DuckDB for `use`; `run` gives rows as JSON values (lists as arrays, BIGINTs as text unless cast). */
export async function withDuckDb<T>(use: (run: (sql: string) => Promise<JsonRows>) => Promise<T>): Promise<T> {
  const connection = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    return await use(async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJson() as JsonRows);
  } finally {
    connection.closeSync();
  }
}

/** One query's rows as JSON values, in a DuckDB of its own. */
export function queryJson(sql: string): Promise<JsonRows> {
  return withDuckDb((run) => run(sql));
}

/**
 * A sessions table folder (the real table's columns, one dt partition, one part) holding `rows` in this order,
 * `rowGroupSize` rows to a row group. Returns the table's folder.
 */
export async function writeSessionsTable(directory: string, rows: readonly SessionRecord[], rowGroupSize: number): Promise<string> {
  const table = join(directory, "sessions");
  mkdirSync(join(table, "dt=2024-03-01"), { recursive: true });
  const parquet = await encodeParquet(sessionsTable.columns, rows as unknown as Row[], { compression: "none", rowGroupSize });
  writeFileSync(join(table, "dt=2024-03-01", "part-0.parquet"), parquet);
  return table;
}

export interface MinedRun {
  items: string[];
  length: number;
  support: number;
}

/** The rows of `mine patterns` CSV output (header dropped) as items, length and support. */
export function minedRuns(stdout: string): MinedRun[] {
  return stdout
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((line) => {
      const [, , length, support] = line.split(",");
      const items = JSON.parse(line.slice(line.indexOf('"[')).slice(1, -1).replaceAll('""', '"')) as string[];
      return { items, length: Number(length), support: Number(support) };
    });
}

/**
 * DuckDB SQL for what `mine patterns --kind contiguous` should find in a sessions table: over the current truth (per
 * session_id its highest version, unless retracted or a crawler's), each distinct run of 1..maxLength consecutive
 * pages (every length when undefined) once per session, kept at support ≥ ceil(minSupport × sessions); by support
 * (desc), then items item by item (chr(1) between them), the command's order.
 */
export function contiguousRunsOracleSql(table: string, maxLength: number | undefined, minSupport: number): string {
  const lengths = maxLength === undefined ? "(SELECT max(len(page_items)) FROM current_truth)" : String(maxLength);
  return `
    WITH latest AS (
      SELECT * FROM read_parquet('${table}/**/*.parquet') QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1
    ), current_truth AS (SELECT session_id, page_items FROM latest WHERE NOT retracted AND NOT is_bot),
    starts AS (SELECT session_id, page_items, unnest(range(1, len(page_items) + 1)) AS start FROM current_truth),
    lengths AS (SELECT unnest(range(1, ${lengths} + 1)) AS n),
    runs AS (SELECT DISTINCT session_id, page_items[start : start + n - 1] AS run
             FROM starts, lengths WHERE start + n - 1 <= len(page_items))
    SELECT run AS items, len(run)::INTEGER AS length, count(*)::INTEGER AS support FROM runs GROUP BY run
    HAVING count(*) >= (SELECT ceil(${minSupport}::DOUBLE * count(*)) FROM current_truth)
    ORDER BY support DESC, array_to_string(run, chr(1))`;
}
