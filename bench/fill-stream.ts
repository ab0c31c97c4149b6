// Profiling helper: fills a named stream with generated traffic once and writes the bench pipeline YAML for it,
// so `node --cpu-prof --import tsx bench/drain-child.ts "$(cat <yaml>)"` can be repeated against the same input.
import { writeFile } from "node:fs/promises";
import { ensureFilledStream } from "./filled-stream.ts";
import { benchPipeline } from "./pipeline.ts";

const [stream, out, yamlPath] = process.argv.slice(2);
if (stream === undefined || out === undefined || yamlPath === undefined) {
  throw new Error("usage: fill-stream.ts <stream> <parquet dir> <pipeline.yaml to write>");
}
const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const visitors = Number(process.env.BENCH_VISITORS ?? 10_000);
const days = Number(process.env.BENCH_DAYS ?? 3);
const count = await ensureFilledStream(url, stream, { visitors, days, refill: true });
await writeFile(yamlPath, benchPipeline(url, stream, out));
console.error(`published ${count} events into ${stream}; pipeline in ${yamlPath}`);
