// The column builders' strings, past what lake-fixtures' all-types rows hold: thousands of them (the builders' buffers
// grow many times), ASCII and not, short and past the builders' 64-character copy loop, lone surrogates, null items
// and holes, non-string list items, and a row rejected after its strings went in. DuckDB reads the file back as the
// oracle; the expectation is the JavaScript values written out by hand (a lone surrogate is U+FFFD in UTF-8, a hole in
// a list a null item).
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ColumnBatchBuilder, encodeSealedBatch, encoderReady, ParquetEncodeError, type SealedBatch } from "../../src/sinks/parquet-encoder.ts";
import type { ColumnSpec, Row } from "../../src/sinks/table.ts";
import { duckDb, queryJson, temporaryDirectory } from "./lake-fixtures.ts";

const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

const COLUMNS: ColumnSpec[] = [
  { name: "id", type: "string", nullable: false },
  { name: "tags", type: "list<string>" },
  { name: "note", type: "string" },
  { name: "n", type: "int32" },
];

async function readBack(batch: SealedBatch, compression: "snappy" | "zstd"): Promise<Record<string, unknown>[]> {
  const directory = await temporaryDirectory("encoder");
  directories.push(directory);
  const file = join(directory, "part.parquet");
  await encoderReady(compression);
  await writeFile(file, encodeSealedBatch(batch, { compression, rowGroupSize: 1000 }));
  const connection = await duckDb();
  return queryJson(connection, `SELECT id, tags, note, n FROM read_parquet('${file}')`);
}

describe("ColumnBatchBuilder strings", () => {
  // Buffers sized for 64 rows (the default), for 1 and for 4,096 (a part after a sealed one starts with room for a part).
  for (const [compression, expectedRows] of [["snappy", undefined], ["zstd", undefined], ["snappy", 1], ["zstd", 4_096]] as const) {
    it(`writes ASCII and non-ASCII strings, lone surrogates, null items and holes, and drops a rejected row's strings (${compression}, room for ${expectedRows ?? "default"} rows)`, async () => {
      const builder = new ColumnBatchBuilder(COLUMNS, expectedRows);
      const expected: Record<string, unknown>[] = [];
      const append = (row: Row, read: Record<string, unknown>) => {
        builder.append(row);
        expected.push(read);
      };
      for (let i = 0; i < 3_000; i++) {
        const id = i >= 1_500 && i < 2_000 ? `r${i}-ü` : `r${i}`;
        const second = i % 7 === 0 ? null : `u${i}`;
        append({ id, tags: [`t${i}`, second], note: i % 5 === 0 ? null : "", n: i }, { id, tags: [`t${i}`, second], note: i % 5 === 0 ? null : "", n: i });
        if (i === 1_000) {
          // Fails at its last column, after its id, tags and note went into their builders: all of it is undone, and
          // the validity bits its null item and null note cleared are set again for the next row's present values.
          expect(() => builder.append({ id: "rejected", tags: ["x", "y", null], note: null, n: "not a number" })).toThrow(ParquetEncodeError);
        }
      }
      // eslint-disable-next-line no-sparse-arrays
      const withHole = ["\uDFFF", , "x"];
      append({ id: "lone\uD800", tags: withHole, note: "a\uD83D\uDE42b", n: null }, { id: "lone\uFFFD", tags: ["\uFFFD", null, "x"], note: "a🙂b", n: null });
      append({ id: "numbers", tags: [1, 2.5, true], note: "漢字", n: -1 }, { id: "numbers", tags: ["1", "2.5", "true"], note: "漢字", n: -1 });
      append({ id: "empty", tags: [], note: "x".repeat(70_000), n: 0 }, { id: "empty", tags: [], note: "x".repeat(70_000), n: 0 });
      const batch = builder.seal();
      expect(batch.length).toBe(expected.length);
      expect(await readBack(batch, compression)).toEqual(expected);
    });
  }
});
