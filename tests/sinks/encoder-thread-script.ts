// Run by parquet-worker-node.test.ts under plain `node --import tsx`: writes all_types through the worker thread.
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { allTypesRows, allTypesTable } from "./lake-fixtures.ts";

const sink = new ParquetSink({ path: process.argv[2], tables: [allTypesTable], useWorkerThread: true });
for (const row of allTypesRows) sink.append("all_types", row);
await sink.commit(await sink.prepare(1));
await sink.close();
