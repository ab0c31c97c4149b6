// Run by part-temporaries.test.ts under `node --import tsx` with CLICKPIPE_CRASH_AT=rewrite-written: rewrites the part
// argv[2] without the rows whose id is argv[3], and is SIGKILLed once the rewrite's temporary file is written.
import { removeRowsFromPart } from "../../src/sinks/parquet-rewrite.ts";

await removeRowsFromPart(process.argv[2], (row) => row.id === process.argv[3], { compression: "snappy", rowGroupSize: 100_000 }, ["id"]);
console.log("the rewrite finished: no crash was injected");
