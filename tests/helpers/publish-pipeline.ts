// The pipeline file of a `clickpipe publish` test: a fresh stream of two partitions (removed with the file's scratch
// streams), pages answered 4xx filtered out, parquet out; `ingest` lines a test adds go after the page filter.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JetStreamScratch } from "./jetstream-scratch.ts";
import { uniqueStreamName } from "./nats-server.ts";

/** Writes `<name>.yaml` in the scratch folder, its stream named after `name`; resolves with the file and the stream. */
export async function writePublishPipeline(
  scratch: JetStreamScratch,
  pipelineName: string,
  name: string,
  ingest: readonly string[] = [],
): Promise<{ file: string; stream: string }> {
  const stream = uniqueStreamName(name.toUpperCase());
  scratch.streams.push(stream);
  const file = join(scratch.directory, `${name}.yaml`);
  const text = [`name: ${pipelineName}`, "nats:", `  url: ${scratch.natsUrl}`, `  stream: ${stream}`, "  partitions: 2", "ingest:", "  pages: { exclude: [4xx] }", ...ingest];
  await writeFile(file, [...text, "sinks:", "  - type: parquet", `    path: ${join(scratch.directory, name, "out")}`].join("\n"));
  return { file, stream };
}
