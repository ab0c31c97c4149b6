// Run by parquet-reader-corrupt.test.ts under `node --import tsx`, so that a WebAssembly panic kills this process and
// not the test's worker: reads argv[3] (a file or a table folder) through readParquetTable (argv[2] "table") or
// readParquetBatches ("batches"), the columns argv[4] (comma-separated) when given, and prints one JSON line: the rows
// read and the error the read rejected with.
import { ParquetReadError, readParquetBatches, readParquetTable } from "../../src/sinks/parquet-reader.ts";

const [how, path, columnList] = process.argv.slice(2);
const options = columnList === undefined ? {} : { columns: columnList.split(",") };
let rows = 0;
try {
  if (how === "table") for await (const _ of readParquetTable(path, options)) rows++;
  else for await (const batch of readParquetBatches(path, options)) for (const _ of batch) rows++;
  console.log(JSON.stringify({ rows }));
} catch (error) {
  const { name, message } = error as Error;
  console.log(JSON.stringify({ rows, error: { name, message, isParquetReadError: error instanceof ParquetReadError, path: (error as ParquetReadError).path } }));
}
