// Benchmark child: Parquet encoding off the event loop as the sink runs it, in a fresh process whose own heap is small
// (measured inside bench/stages.ts, the stages' million events and their garbage made the main isolate's GC threads
// compete with the encoder threads for the two cores). Reads the rows of one table from an NDJSON file, seals them in
// the sink's parts and encodes them with the sink's encoder pool; prints one JSON line.
import { readFileSync } from "node:fs";
import { ColumnBatchBuilder, type ParquetCompression, type SealedBatch } from "../src/sinks/parquet-encoder.ts";
import { DEFAULT_ENCODE_EARLY_ROWS, defaultEncoderThreads, ENCODER_THREADS_MANY_CORES, EncoderPool } from "../src/sinks/parquet.ts";
import type { ColumnSpec, Row } from "../src/sinks/table.ts";

export interface EncoderThreadsResult {
  threads: number;
  partRows: number;
  /** Rows per second of wall time from the first part sent to the last one back, best of 5 after a warm-up round. */
  rowsPerSecond: number;
  oneThreadRowsPerSecond: number;
  /** Where the sink runs fewer (two cores or fewer): the rate with the threads it runs on more cores. */
  manyCoresThreads?: number;
  manyCoresRowsPerSecond?: number;
}

/** Rows per wall second of an encoder pool over the parts, every part in flight at once; best of 5 after a warm-up. */
async function encoderPoolRate(threads: number, parts: () => SealedBatch[], compression: ParquetCompression): Promise<number> {
  const pool = new EncoderPool(threads);
  try {
    let best = 0;
    for (let round = 0; round < 6; round++) {
      const sealed = parts();
      const rows = sealed.reduce((sum, part) => sum + part.length, 0);
      const started = performance.now();
      await Promise.all(sealed.map((part) => pool.encode(part, { compression, rowGroupSize: 100_000 })));
      // Round 0 loads the threads and compiles their code: the sink starts its pool with the first row, ahead of this.
      if (round > 0) best = Math.max(best, rows / ((performance.now() - started) / 1000));
    }
    return best;
  } finally {
    await pool.close();
  }
}

const [rowsPath, columnsJson, compression] = process.argv.slice(2) as [string, string, ParquetCompression];
const columns = JSON.parse(columnsJson) as ColumnSpec[];
const rows = readFileSync(rowsPath, "utf8")
  .split("\n")
  .filter((line) => line !== "")
  .map((line) => JSON.parse(line) as Row);
const parts = () => {
  const sealed: SealedBatch[] = [];
  for (let start = 0; start < rows.length; start += DEFAULT_ENCODE_EARLY_ROWS) {
    const builder = new ColumnBatchBuilder(columns);
    for (let i = start; i < Math.min(rows.length, start + DEFAULT_ENCODE_EARLY_ROWS); i++) builder.append(rows[i]);
    sealed.push(builder.seal());
  }
  return sealed;
};
const threads = defaultEncoderThreads();
const rowsPerSecond = await encoderPoolRate(threads, parts, compression);
const result: EncoderThreadsResult = {
  threads,
  partRows: DEFAULT_ENCODE_EARLY_ROWS,
  rowsPerSecond,
  // The sink runs one thread on two cores or fewer: that figure is the one-thread figure.
  oneThreadRowsPerSecond: threads === 1 ? rowsPerSecond : await encoderPoolRate(1, parts, compression),
};
if (threads < ENCODER_THREADS_MANY_CORES) {
  result.manyCoresThreads = ENCODER_THREADS_MANY_CORES;
  result.manyCoresRowsPerSecond = await encoderPoolRate(ENCODER_THREADS_MANY_CORES, parts, compression);
}
process.stdout.write(JSON.stringify(result) + "\n");
