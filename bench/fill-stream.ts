// Profiling helper: fills a named stream with generated traffic once and writes the bench pipeline YAML for it,
// so `node --cpu-prof --import tsx bench/drain-child.ts "$(cat <yaml>)"` can be repeated against the same input.
import { writeFile } from "node:fs/promises";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { parsePipelineText } from "../src/config/load.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { ensureStream } from "../src/transport/stream.ts";
import { benchPipeline } from "./pipeline.ts";
import { streamRecordPublisher } from "../src/ingest/stream-record-publisher.ts";

const [stream, out, yamlPath] = process.argv.slice(2);
if (stream === undefined || out === undefined || yamlPath === undefined) {
  throw new Error("usage: fill-stream.ts <stream> <parquet dir> <pipeline.yaml to write>");
}
const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const visitors = Number(process.env.BENCH_VISITORS ?? 10_000);
const days = Number(process.env.BENCH_DAYS ?? 3);
const text = benchPipeline(url, stream, out);
const loaded = parsePipelineText(text, "bench.yaml", process.env);
if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
const connection = await connect({ servers: url });
const manager = await jetstreamManager(connection);
await manager.streams.delete(stream).catch(() => undefined);
await ensureStream(manager, stream);
const publisher = streamRecordPublisher({ config: loaded.config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: stream });
let count = 0;
for (const line of generateLines({ visitors, days, seed: 42 })) {
  await publisher.publishJsonLine(line, Date.now());
  count++;
}
await publisher.flush();
await connection.drain();
await writeFile(yamlPath, text);
console.error(`published ${count} events into ${stream}; pipeline in ${yamlPath}`);
