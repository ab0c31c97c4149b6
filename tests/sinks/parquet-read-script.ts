// Run by parquet-reader-corrupt.test.ts under `node --import tsx`, so that a WebAssembly panic kills this process and
// not the test's worker. argv[2] says how argv[3] is read:
// - "table" / "batches": a file or a table folder, through readParquetTable / readParquetBatches, the columns argv[4]
//   (comma-separated) when given; rows: the rows read.
// - "rewrite": a part, by removeRowsFromPart (`clickpipe forget`'s rewrite) reading the columns argv[4] and removing
//   the rows whose id is 5; rows: the rows it removed.
// - "scored": a scores table's parent folder, by scoredModelVersion of the date argv[4]; version: what it returned.
// Prints one JSON line: the outcome and the error the read rejected with.
import { join } from "node:path";
import { ParquetReadError, readParquetBatches, readParquetTable } from "../../src/sinks/parquet-reader.ts";
import { removeRowsFromPart } from "../../src/sinks/parquet-rewrite.ts";
import type { TrainingConfig } from "../../src/training/config.ts";
import { scoredModelVersion } from "../../src/training/scorer.ts";

const [how, path, argument] = process.argv.slice(2);
const options = argument === undefined ? {} : { columns: argument.split(",") };
let rows = 0;
let version: string | undefined;
try {
  if (how === "table") for await (const _ of readParquetTable(path, options)) rows++;
  else if (how === "batches") for await (const batch of readParquetBatches(path, options)) for (const _ of batch) rows++;
  else if (how === "rewrite") rows = (await removeRowsFromPart(path, (row) => row.id === 5, { compression: "snappy", rowGroupSize: 2_048 }, options.columns!))!.rowsRemoved;
  else if (how === "scored") version = await scoredModelVersion({ features: join(path, "customer_features") } as TrainingConfig, argument);
  else throw new Error(`unknown read ${how}`);
  console.log(JSON.stringify({ rows, version }));
} catch (error) {
  const { name, message } = error as Error;
  console.log(JSON.stringify({ rows, version, error: { name, message, isParquetReadError: error instanceof ParquetReadError, path: (error as ParquetReadError).path } }));
}
