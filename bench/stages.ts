// Per-stage CPU breakdown without NATS: the same published events through decode, each operator added in turn, and
// the Parquet sink, in one process; `npm run bench` runs it in a child (BENCH_STAGES=0 skips it).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tableToIPC } from "apache-arrow";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePipelineText } from "../src/config/load.ts";
import type { PipelineConfig } from "../src/config/pipeline.ts";
import { decodeForOperators, decodeRecord, isDecodeFailure } from "../src/events/decode.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { EdgeProcessor } from "../src/ingest/edge.ts";
import { Metrics } from "../src/metrics/registry.ts";
import { createOperator } from "../src/operators/index.ts";
import { Pipeline, type RowSink } from "../src/runtime/pipeline.ts";
import { operatorEnvironment } from "../src/runtime/worker.ts";
import { ParquetSink } from "../src/sinks/parquet.ts";
import { loadArrowParquet, sealedBatchToArrow } from "../src/sinks/parquet-arrow.ts";
import { ColumnBatchBuilder, encodeSealedBatch, encoderReady, type ParquetCompression } from "../src/sinks/parquet-encoder.ts";
import { writeParquetFile } from "../src/sinks/parquet-writer.ts";
import { sessionsTable } from "../src/operators/sessionize-table.ts";
import { botsTable, invalidEventsTable, lateEventsTable } from "../src/sinks/system-tables.ts";
import type { Row } from "../src/sinks/table.ts";
import { ROOT, runJsonChild } from "./bench-kit.ts";
import type { EncoderThreadsResult } from "./encoder-threads.ts";
import { benchPipeline } from "./pipeline.ts";

export interface StageMeasurement {
  stage: string;
  /** CPU seconds of this process for the whole stage (cumulative: each stage includes the ones before it). */
  cpuSeconds: number;
  eventsPerCpuSecond: number;
  rows?: number;
}

const VISITORS = Number(process.env.BENCH_VISITORS ?? 50_000);
const DAYS = Number(process.env.BENCH_DAYS ?? 3);
const BATCH = 100;

/** Counts rows and drops them: the operators' cost without the sink's. */
class CountingSink implements RowSink {
  rows = 0;
  append(_table: string, _row: Row): void {
    this.rows++;
  }
  markSuccess(): void {}
}

function cpuSecondsOf(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

/** The lines as the stream holds them: decoded, edge-processed, serialized (what `clickpipe publish` sends). */
function publishedLines(config: PipelineConfig): string[] {
  const edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: process.env });
  const lines: string[] = [];
  for (const line of generateLines({ visitors: VISITORS, days: DAYS, seed: 42 })) {
    const decoded = decodeRecord(line, Date.now());
    if (!decoded.ok) continue;
    const result = edge.process(decoded.event);
    if (result.kind === "filtered") continue;
    if (result.kind === "bot") result.event.is_bot = true;
    lines.push(JSON.stringify(result.event));
  }
  return lines;
}

function runPipeline(config: PipelineConfig, lines: readonly string[], operatorCount: number, sink: RowSink & { rows?: number }): void {
  const environment = operatorEnvironment(config);
  const operators = config.operators.slice(0, operatorCount).map((operator) => createOperator(operator, environment));
  const pipeline = new Pipeline({ operators, sink, metrics: new Metrics(), bots: config.ingest.bots });
  const receivedAt = Date.now();
  for (let start = 0; start < lines.length; start += BATCH) {
    const origin = { partition: 0, sequence: start / BATCH + 1 };
    for (let i = start; i < Math.min(lines.length, start + BATCH); i++) {
      const decoded = decodeForOperators(lines[i], receivedAt);
      if (!isDecodeFailure(decoded)) pipeline.processShapedEvent(decoded, origin);
    }
  }
  pipeline.end();
}

export interface StagesResult {
  events: number;
  stages: StageMeasurement[];
  /** All buffered rows of the run encoded to Parquet and written (fsynced .inprogress parts), in this thread. */
  parquetEncode: { rows: number; cpuSeconds: number; seconds: number; rowsPerSecond: number };
  /** The `sessions` rows of the run through each step of the encoder, rows per CPU second (best of 3). */
  parquetSteps?: {
    table: string;
    rows: number;
    columns: number;
    toArrowIpc: number;
    wasmFromIpc: number;
    writeZstd: number;
    writeUncompressed: number;
    /**
     * The whole encode from our buffers as the sink runs it (encodeSealedBatch) with the configured codec, and the
     * TypeScript writer with snappy; `defaultWriter` says which writer the configured codec takes on this Node.
     */
    writeJs?: { defaultCodec: ParquetCompression; defaultWriter: "typescript" | "parquet-wasm"; default: number; snappy: number };
    /**
     * Off the event loop as the sink runs it: the rows sealed in parts of `partRows` and encoded with the configured
     * codec by the sink's encoder pool (`threads` worker threads; and by one thread), rows per second of wall time
     * from the first part sent to the last one back, best of 5 after a warm-up round.
     */
    encoderThreads?: EncoderThreadsResult;
  };
}

export async function measureStages(): Promise<StagesResult> {
  const loaded = parsePipelineText(benchPipeline("nats://127.0.0.1:4222", "BENCH_STAGES", "/nonexistent"), "bench.yaml", process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const config = loaded.config;
  const lines = publishedLines(config);
  const stages: StageMeasurement[] = [];
  const record = (stage: string, cpuSeconds: number, rows?: number) => {
    stages.push({ stage, cpuSeconds, eventsPerCpuSecond: lines.length / cpuSeconds, rows });
    console.error(`stage ${stage}: ${Math.round(lines.length / cpuSeconds).toLocaleString("en")} events per CPU second`);
  };
  // Warm-up: the first pass pays for compilation, for every stage alike.
  runPipeline(config, lines.slice(0, 50_000), config.operators.length, new CountingSink());

  record("JSON.parse", cpuSecondsOf(() => lines.forEach((line) => JSON.parse(line))));
  record("decode (JSON.parse + validation)", cpuSecondsOf(() => runPipeline(config, lines, 0, new CountingSink())));
  for (let count = 1; count <= config.operators.length; count++) {
    const sink = new CountingSink();
    const names = config.operators.slice(0, count).map((operator) => operator.type).join(" + ");
    record(`decode + ${names}`, cpuSecondsOf(() => runPipeline(config, lines, count, sink)), sink.rows);
  }
  const environment = operatorEnvironment(config);
  const tables = [
    ...config.operators.flatMap((operator) => createOperator(operator, environment).tables),
    invalidEventsTable,
    lateEventsTable,
    botsTable,
  ];
  const out = await mkdtemp(join(tmpdir(), "clickpipe-stages-"));
  try {
    const parquet = new ParquetSink({ path: out, tables, useWorkerThread: false });
    record("all operators + Parquet append (columnar buffers)", cpuSecondsOf(() => runPipeline(config, lines, config.operators.length, parquet)), parquet.bufferedRows());
    // Encoding, on this thread for the measurement (the worker runs it in a worker thread): rows per CPU second.
    const rows = parquet.bufferedRows();
    const before = process.cpuUsage();
    const started = performance.now();
    await parquet.prepare(1);
    const used = process.cpuUsage(before);
    const encode = { rows, cpuSeconds: (used.user + used.system) / 1e6, seconds: (performance.now() - started) / 1000 };
    console.error(`Parquet encode + fsync: ${Math.round(rows / encode.seconds).toLocaleString("en")} rows/s (${rows} rows)`);
    const parquetSteps = await measureParquetSteps(config, lines);
    return { events: lines.length, stages, parquetEncode: { ...encode, rowsPerSecond: rows / encode.seconds }, parquetSteps };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** Keeps the rows of one table. */
class TableRowsSink implements RowSink {
  readonly kept: Row[] = [];
  constructor(private readonly table: string) {}
  append(table: string, row: Row): void {
    if (table === this.table) this.kept.push(row);
  }
  markSuccess(): void {}
}

/**
 * Where Parquet encoding's time goes, step by step, on the widest table: our columnar buffers → Arrow IPC (JS),
 * IPC → parquet-wasm's table (copied into wasm memory), and parquet-wasm's writer itself (zstd, and uncompressed);
 * then the TypeScript writer, which goes from our buffers to Parquet bytes in one step.
 */
async function measureParquetSteps(config: PipelineConfig, lines: readonly string[]): Promise<StagesResult["parquetSteps"]> {
  const sink = new TableRowsSink(sessionsTable.name);
  runPipeline(config, lines, 1, sink);
  const columns = sessionsTable.columns;
  const batch = () => {
    const builder = new ColumnBatchBuilder(columns);
    for (const row of sink.kept) builder.append(row);
    return builder.seal();
  };
  const rows = sink.kept.length;
  const defaultCodec = config.sinks.find((sinkConfig) => sinkConfig.type === "parquet")?.compression ?? "snappy";
  const best = { toArrowIpc: 0, wasmFromIpc: 0, writeZstd: 0, writeUncompressed: 0, writeJsDefault: 0, writeJsSnappy: 0 };
  const keep = (key: keyof typeof best, cpuSeconds: number) => (best[key] = Math.max(best[key], rows / cpuSeconds));
  await loadArrowParquet();
  await encoderReady(defaultCodec);
  for (let round = 0; round < 5; round++) {
    const sealed = batch();
    // The TypeScript writer before the wasm steps. With the default codec (snappy) the whole encode is the same call
    // as the writer's: measured twice it gave 0.2–0.35M and 0.67–0.76M rows per CPU s in the same rounds (the process's
    // CPU includes whatever garbage collection runs meanwhile), so it is measured once.
    keep("writeJsSnappy", cpuSecondsOf(() => writeParquetFile(sealed, { compression: "snappy", rowGroupSize: 100_000 })));
    if (defaultCodec !== "snappy") keep("writeJsDefault", cpuSecondsOf(() => encodeSealedBatch(sealed, { compression: defaultCodec, rowGroupSize: 100_000 })));
    let ipc: Uint8Array = new Uint8Array();
    keep("toArrowIpc", cpuSecondsOf(() => (ipc = tableToIPC(sealedBatchToArrow(sealed), "stream"))));
    for (const [key, compression] of [["writeZstd", Compression.ZSTD], ["writeUncompressed", Compression.UNCOMPRESSED]] as const) {
      let table: WasmTable | undefined;
      keep("wasmFromIpc", cpuSecondsOf(() => (table = WasmTable.fromIPCStream(ipc))));
      const properties = new WriterPropertiesBuilder().setCompression(compression).setMaxRowGroupSize(100_000).build();
      keep(key, cpuSecondsOf(() => writeParquet(table!, properties)));
    }
  }
  console.error(`Parquet steps on ${rows} sessions rows (rows per CPU s): ${JSON.stringify(best)}`);
  if (defaultCodec === "snappy") best.writeJsDefault = best.writeJsSnappy;
  const { writeJsDefault, writeJsSnappy, ...wasmSteps } = best;
  const defaultWriter = defaultCodec !== "zstd" ? "typescript" : "parquet-wasm";
  const writeJs = { defaultCodec, defaultWriter, default: writeJsDefault, snappy: writeJsSnappy } as const;
  // Off the event loop, in a fresh process (bench/encoder-threads.ts): this one's heap holds the stages' garbage.
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-encoder-threads-"));
  let encoderThreads: EncoderThreadsResult;
  try {
    const rowsPath = join(directory, "rows.ndjson");
    await writeFile(rowsPath, sink.kept.map((row) => JSON.stringify(row)).join("\n"));
    encoderThreads = await runJsonChild<EncoderThreadsResult>(join(ROOT, "bench", "encoder-threads.ts"), [rowsPath, JSON.stringify(columns), defaultCodec]);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  console.error(`Parquet in encoder threads on ${rows} sessions rows (rows/s): ${JSON.stringify(encoderThreads)}`);
  return { table: sessionsTable.name, rows, columns: columns.length, ...wasmSteps, writeJs, encoderThreads };
}

/** BENCH_PROFILE_OPERATORS=n: only the first n operators (plus the Parquet append when BENCH_PROFILE_PARQUET=1), for --cpu-prof. */
async function profileRun(operatorCount: number): Promise<void> {
  const loaded = parsePipelineText(benchPipeline("nats://127.0.0.1:4222", "BENCH_STAGES", "/nonexistent"), "bench.yaml", process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const config = loaded.config;
  const lines = publishedLines(config);
  const environment = operatorEnvironment(config);
  const tables = [...config.operators.flatMap((operator) => createOperator(operator, environment).tables), invalidEventsTable, lateEventsTable, botsTable];
  for (let round = 0; round < 3; round++) {
    const sink = process.env.BENCH_PROFILE_PARQUET === "1" ? new ParquetSink({ path: "/nonexistent", tables, useWorkerThread: false }) : new CountingSink();
    const cpu = cpuSecondsOf(() => runPipeline(config, lines, operatorCount, sink));
    console.error(`round ${round}: ${Math.round(lines.length / cpu).toLocaleString("en")} events per CPU second`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.env.BENCH_PROFILE_OPERATORS !== undefined) await profileRun(Number(process.env.BENCH_PROFILE_OPERATORS));
  else process.stdout.write(JSON.stringify(await measureStages()) + "\n");
}
