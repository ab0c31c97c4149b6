// Run by worker-imports.test.ts under plain `node --import tsx`: a worker's sink restarted on a lake with earlier parts
// (argv[2]) and compaction on, with encoder threads, commits its first checkpoint (epoch argv[3]), then prints the merges
// it made and whether this (the main) thread loaded apache-arrow and parquet-wasm.
import { loadedArrowParquet } from "../../src/sinks/parquet-arrow.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { allTypesTable } from "../sinks/lake-fixtures.ts";

const sink = new ParquetSink({
  path: process.argv[2],
  tables: [allTypesTable],
  writerId: "w",
  compression: "zstd",
  compaction: { minParts: 2, targetRows: 1_000, mergesPerCheckpoint: 2 },
  useWorkerThread: true,
  log: (line) => console.error(line),
});
await sink.ready();
const pending = await sink.prepare(Number(process.argv[3]));
await sink.commit(pending);
await sink.close();
let loadedHere = true;
try {
  loadedArrowParquet();
} catch {
  loadedHere = false;
}
console.log(JSON.stringify({ merges: pending.merges?.map((merge) => [merge.output, merge.rows]) ?? [], loadedHere }));
