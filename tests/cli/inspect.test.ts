import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runInspect, type TableSummary } from "../../src/cli/inspect.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { invalidEventRow, invalidEventsTable } from "../../src/sinks/system-tables.ts";
import { allTypesRows, allTypesTable, temporaryDirectory } from "../sinks/lake-fixtures.ts";

let root: string;

beforeAll(async () => {
  root = await temporaryDirectory("inspect");
  const sink = new ParquetSink({ path: root, tables: [allTypesTable, invalidEventsTable], useWorkerThread: false, maxRowsPerFile: 2 });
  for (const row of allTypesRows) sink.append("all_types", row);
  sink.append("invalid_events", invalidEventRow(Date.UTC(2024, 0, 2), "bad_ts", "{}"));
  sink.markSuccess("all_types", "2024-03-10");
  await sink.commit(await sink.prepare(1));
  sink.append("invalid_events", invalidEventRow(Date.UTC(2024, 0, 2), "bad_ts", "{}"));
  await sink.prepare(2); // left in progress: visible as such, never counted
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function inspect(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runInspect(argv, { out: (text) => (out += text), err: (text) => (err += text) });
  return { code, out, err };
}

describe("clickpipe inspect", () => {
  it("lists tables, partitions and row counts of committed parts, and each table's schema", async () => {
    const { code, out } = await inspect([root]);
    expect(code).toBe(0);
    expect(out).toBe(
      [
        `${root}: 2 tables`,
        "",
        "all_types: 5 rows in 3 files, 2 partitions",
        "  dt=2024-03-10  2 rows, 1 file, _SUCCESS",
        "  dt=2024-03-11  3 rows, 2 files",
        "  schema:",
        "    id        string           not null",
        "    i32       int32",
        "    i64       int64",
        "    f64       float64",
        "    flag      bool",
        "    seen_at   timestamp (UTC)",
        "    on_day    date",
        "    tags      list<string>",
        "    event_ts  timestamp (UTC)  not null",
        "",
        "invalid_events: 1 row in 1 file, 1 partition",
        "  dt=2024-01-02  1 row, 1 file, 1 in-progress file",
        "  schema:",
        "    received_at  timestamp (UTC)  not null",
        "    reason       string           not null",
        "    raw          string           not null",
        "",
      ].join("\n"),
    );
  });

  it("takes a table folder or a partition folder for one table, the way a reader globs it", async () => {
    const table = await inspect([join(root, "all_types")]);
    expect(table.code).toBe(0);
    expect(table.out.split("\n").slice(0, 5)).toEqual([`${join(root, "all_types")}: 1 table`, "", "all_types: 5 rows in 3 files, 2 partitions", "  dt=2024-03-10  2 rows, 1 file, _SUCCESS", "  dt=2024-03-11  3 rows, 2 files"]);
    const partition = await inspect([join(root, "all_types", "dt=2024-03-11")]);
    expect(partition.out.split("\n").slice(0, 4)).toEqual([`${join(root, "all_types", "dt=2024-03-11")}: 1 table`, "", "dt=2024-03-11: 3 rows in 2 files, 1 partition", "  (root)  3 rows, 2 files"]);
  });

  it("exits 1 for a directory without Parquet tables instead of listing its folders as empty tables", async () => {
    const empty = await temporaryDirectory("inspect-none");
    try {
      await mkdir(join(empty, "etc", "apt"), { recursive: true });
      await writeFile(join(empty, "etc", "readme.txt"), "not parquet");
      const result = await inspect([empty]);
      expect(result).toEqual({ code: 1, out: "", err: `clickpipe inspect: no Parquet table under ${empty} (a sink path holds <table>/<partition>/part-*.parquet)\n` });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("names the part it cannot read as Parquet", async () => {
    const lake = await temporaryDirectory("inspect-corrupt");
    try {
      const part = join(lake, "sessions", "dt=2024-03-10", "part-0.parquet");
      await mkdir(join(lake, "sessions", "dt=2024-03-10"), { recursive: true });
      await writeFile(part, "PAR1 cut short by a full disk");
      await expect(inspect([lake])).rejects.toThrow(`${part}: cannot read it as Parquet (Parquet error: `);
    } finally {
      await rm(lake, { recursive: true, force: true });
    }
  });

  it("prints the same summary as JSON with --json", async () => {
    const { code, out } = await inspect([root, "--json"]);
    const tables = JSON.parse(out).tables as TableSummary[];
    expect(code).toBe(0);
    expect(tables.map((t) => [t.name, t.rows, t.files])).toEqual([
      ["all_types", 5, 3],
      ["invalid_events", 1, 1],
    ]);
    expect(tables[0].partitions[1]).toEqual({ name: "dt=2024-03-11", files: 2, rows: 3, inProgressFiles: 0, success: false });
  });

  it("exits 1 naming a directory that does not exist, or a file given for it, as run, publish and mine exit on a missing path", async () => {
    // It exited 2, a usage error, and said "is not a directory" of a path that was not there at all.
    const missing = join(root, "no-such-lake");
    expect(await inspect([missing])).toEqual({ code: 1, out: "", err: `clickpipe inspect: ${missing}: no such directory (expected a Parquet sink path, e.g. ./data)\n` });
    const file = join(root, "a-file.txt");
    await writeFile(file, "");
    expect(await inspect([file])).toEqual({ code: 1, out: "", err: `clickpipe inspect: ${file}: is a file, not a directory (expected a Parquet sink path, e.g. ./data)\n` });
  });

  it("exits 2 saying what the command line lacks or holds too many of, with the usage line", async () => {
    // The usage line came alone, for a missing folder, two folders and an unknown short option (-j was taken for a folder).
    const usage = "usage: clickpipe inspect <dir> [--json]\n";
    expect(await inspect([])).toEqual({ code: 2, out: "", err: `clickpipe inspect: name the Parquet output folder (a parquet sink's path, e.g. ./data)\n${usage}` });
    expect(await inspect(["a", "b"])).toEqual({ code: 2, out: "", err: `clickpipe inspect: name one folder\n${usage}` });
    expect(await inspect([root, "-j"])).toEqual({ code: 2, out: "", err: `clickpipe inspect: unknown option -j: this command takes --json\n${usage}` });
    expect(await inspect([root, "--jsno"])).toEqual({ code: 2, out: "", err: `clickpipe inspect: unknown option --jsno: did you mean --json?\n${usage}` });
  });
});
