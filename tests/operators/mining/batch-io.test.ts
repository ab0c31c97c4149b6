// Batch mining inputs: the wrong Parquet table is refused by its first row, before the rest is read; binary files are
// refused as text; a corrupt Parquet part is named; a Parquet table is read by the columns mining needs and reduced to
// one candidate per session as it is read, with the tie rule of the current truth.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentSessionSequences, readBasketDatabase, readSequenceDatabase } from "../../../src/operators/mining/batch-io.ts";
import { encodeParquet } from "../../../src/sinks/parquet-encoder.ts";
import { MiningInputError } from "../../../src/operators/mining/spmf-format.ts";
import { ParquetSink } from "../../../src/sinks/parquet.ts";
import { ParquetReadError, readParquetTable } from "../../../src/sinks/parquet-reader.ts";
import type { ColumnSpec, Row } from "../../../src/sinks/table.ts";
import { invalidEventRow, invalidEventsTable } from "../../../src/sinks/system-tables.ts";
import { temporaryDirectory } from "../../sinks/lake-fixtures.ts";

describe("mining inputs from a Parquet table of another kind", () => {
  let lake: string;
  let table: string;

  beforeAll(async () => {
    lake = await temporaryDirectory("batch-io");
    const sink = new ParquetSink({ path: lake, tables: [invalidEventsTable], useWorkerThread: false });
    sink.append("invalid_events", invalidEventRow(Date.UTC(2024, 0, 2), "bad_ts", "{}"));
    await sink.commit(await sink.prepare(1));
    await sink.close();
    table = join(lake, "invalid_events");
    // A later partition whose file is not Parquet: reading it would fail with another error.
    await mkdir(join(table, "dt=2024-01-03"), { recursive: true });
    await writeFile(join(table, "dt=2024-01-03", "part-x.parquet"), "not parquet");
  });

  afterAll(async () => {
    await rm(lake, { recursive: true, force: true });
  });

  it("refuses it as orders by the first row's columns, without reading the partitions after it", async () => {
    await expect(readBasketDatabase(table)).rejects.toThrow(MiningInputError);
    await expect(readBasketDatabase(table)).rejects.toThrow("orders input: expected a list column `items`, or `order_id` with an `item`, `sku` or `category` column");
  });

  it("refuses it as sessions the same way", async () => {
    await expect(readSequenceDatabase(table, "page_items")).rejects.toThrow("sessions input: a row has no session_id column");
  });
});

describe("mining inputs that are not what they claim", () => {
  let folder: string;

  beforeAll(async () => {
    folder = await temporaryDirectory("batch-io-binary");
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("a file of bytes that are not UTF-8 is refused, not mined as one order of junk", async () => {
    const path = join(folder, "orders.bin");
    await writeFile(path, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x41, 0x0a]));
    await expect(readBasketDatabase(path)).rejects.toThrow(`${path}: not UTF-8 text`);
    await expect(readSequenceDatabase(path, "page_items")).rejects.toThrow(MiningInputError);
  });

  it("a file with NUL bytes is refused as binary", async () => {
    const path = join(folder, "orders.txt");
    await writeFile(path, "1 2 3\n\u0000\u0000\n");
    await expect(readBasketDatabase(path)).rejects.toThrow(`${path}: holds NUL bytes`);
  });

  it("a Parquet file without the .parquet extension is named as such", async () => {
    const path = join(folder, "orders.dat");
    await writeFile(path, "PAR1 and then whatever");
    await expect(readBasketDatabase(path)).rejects.toThrow(`${path}: a Parquet file without the .parquet extension`);
  });

  it("a corrupt Parquet part's error names the part", async () => {
    const table = join(folder, "orders");
    await mkdir(join(table, "dt=2024-01-03"), { recursive: true });
    const part = join(table, "dt=2024-01-03", "part-0.parquet");
    await writeFile(part, "PAR1 truncated");
    await expect(readBasketDatabase(table)).rejects.toThrow(ParquetReadError);
    await expect(readBasketDatabase(table)).rejects.toThrow(`${part}: cannot read it as Parquet (`);
    await expect(readBasketDatabase(part)).rejects.toThrow(`${part}: cannot read it as Parquet (`);
  });
});

describe("a sessions table as a sequence database", () => {
  it("takes each session's highest version, leaving out retracted and crawler (is_bot) sessions, as the operator does", () => {
    const row = (session_id: string, version: number, page_items: string[], extra: Record<string, unknown> = {}) => ({ session_id, version, retracted: false, is_bot: false, page_items, ...extra });
    const sequences = currentSessionSequences(
      [
        row("a", 1, ["/home"]),
        row("a", 2, ["/home", "/cart"]),
        row("b", 1, ["/x"]),
        row("b", 2, ["/x"], { retracted: true }),
        row("bot", 1, ["/p1", "/p2"], { is_bot: true }),
        // Flagged only in its latest version: the whole session goes.
        row("c", 1, ["/p1"]),
        row("c", 2, ["/p1", "/p2"], { is_bot: true }),
      ],
      "page_items",
    );
    expect(sequences).toEqual([[["/home"], ["/cart"]]]);
  });
});

describe("a Parquet table read by the columns mining needs", () => {
  let folder: string;

  beforeAll(async () => {
    folder = await temporaryDirectory("batch-io-columns");
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function writePart(table: string, partition: string, name: string, columns: ColumnSpec[], rows: Row[]): Promise<void> {
    await mkdir(join(table, partition), { recursive: true });
    await writeFile(join(table, partition, name), await encodeParquet(columns, rows, { compression: "none", rowGroupSize: 2 }));
  }

  it("yields only the columns asked for, the partition column when asked, and a part with none of them by its first", async () => {
    const table = join(folder, "projected");
    const abc: ColumnSpec[] = [{ name: "a", type: "string" }, { name: "b", type: "int64" }, { name: "c", type: "list<string>" }];
    await writePart(table, "dt=2024-01-01", "part-0.parquet", abc, [{ a: "x", b: 1, c: ["p"] }, { a: "y", b: 2, c: [] }, { a: "z", b: 3, c: null }]);
    await writePart(table, "dt=2024-01-02", "part-0.parquet", [{ name: "other", type: "string" }, { name: "more", type: "string" }], [{ other: "o", more: "m" }]);
    const rows: Row[] = [];
    for await (const row of readParquetTable(table, { columns: ["c", "b", "dt", "missing"] })) rows.push(row);
    // The file's column order; three rows over two row groups; the second part has neither b nor c.
    expect(rows).toEqual([
      { b: 1, c: ["p"], dt: "2024-01-01" },
      { b: 2, c: [], dt: "2024-01-01" },
      { b: 3, c: null, dt: "2024-01-01" },
      { other: "o", dt: "2024-01-02" },
    ]);
  });

  it("keeps per session the first read of its highest version, across row groups and parts, in first-read order", async () => {
    const table = join(folder, "sessions");
    const columns: ColumnSpec[] = [
      { name: "session_id", type: "string" },
      { name: "version", type: "int32" },
      { name: "retracted", type: "bool" },
      { name: "is_bot", type: "bool" },
      { name: "page_items", type: "list<string>" },
      { name: "title", type: "string" },
    ];
    const row = (session_id: string, version: number, page_items: string[], extra: Row = {}): Row => ({ session_id, version, retracted: false, is_bot: false, page_items, title: "t", ...extra });
    await writePart(table, "dt=2024-01-01", "part-0.parquet", columns, [
      row("b", 2, ["b2-first"]),
      row("a", 1, ["a1"]),
      row("b", 2, ["b2-second"]),
      row("c", 3, ["c3"], { retracted: true }),
      row("d", 1, ["d1"]),
    ]);
    await writePart(table, "dt=2024-01-02", "part-0.parquet", columns, [
      row("a", 2, ["a2", "x"]),
      row("c", 2, ["c2"]),
      row("d", 2, ["d2"], { is_bot: true }),
      row("e", 1, ["a2"]),
      row("b", 1, ["b1"]),
    ]);
    // By hand: b keeps its first v2 (ties keep the first read), a its later v2 in b's-then-a's order of first read;
    // c's v3 is retracted (its lower v2 does not bring it back); d's v2 is a crawler's; e as it is.
    expect(await readSequenceDatabase(table, "page_items")).toEqual([[["b2-first"]], [["a2"], ["x"]], [["a2"]]]);
    expect(await readBasketDatabase(table, "page_items")).toEqual([["b2-first"], ["a2", "x"], ["a2"]]);
  });
});
