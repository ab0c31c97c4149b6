// Batch mining inputs from Parquet: the wrong table is refused by its first row, before the rest is read.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBasketDatabase, readSequenceDatabase } from "../../../src/operators/mining/batch-io.ts";
import { MiningInputError } from "../../../src/operators/mining/spmf-format.ts";
import { ParquetSink } from "../../../src/sinks/parquet.ts";
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
