// The pipeline file of a `clickpipe run` test that tails access logs: NATS in, an accessLog source (behind an HTTP
// collector if asked), parquet out; only what the tests vary is an option.
import { writeFile } from "node:fs/promises";

export interface AccessLogPipeline {
  name: string;
  natsUrl: string;
  stream: string;
  /** As written in the file: a relative path is relative to the worker's working directory. */
  paths: string[];
  /** Left out when absent, so the source's default ("combined") applies. */
  format?: string;
  /** Written in double quotes: "${WEB_HOST}" stays a string for the loader to expand. */
  instance?: string;
  pollInterval: string;
  /** The parquet sink's folder; the tailers' positions live under its _checkpoints. */
  sinkPath: string;
  /** An HTTP collector on 127.0.0.1 as sources[0], the tailer then being sources[1]. */
  collector?: { port: number; writeKeys: string[] };
  /** Operator types, in order. */
  operators?: string[];
  /** A port, or "${METRICS_PORT}" for the loader to expand; the metrics server listens on 127.0.0.1. */
  metricsPort?: number | string;
  checkpointInterval?: string;
}

/** The YAML text of `pipeline`. */
export function accessLogPipelineYaml(pipeline: AccessLogPipeline): string {
  const collector = pipeline.collector;
  return [
    `name: ${pipeline.name}`,
    "nats:",
    `  url: ${pipeline.natsUrl}`,
    `  stream: ${pipeline.stream}`,
    "ingest:",
    "  pages: all",
    "sources:",
    ...(collector
      ? ["  - type: http", `    port: ${collector.port}`, "    host: 127.0.0.1", `    writeKeys: [${collector.writeKeys.join(", ")}]`]
      : []),
    "  - type: accessLog",
    `    paths: [${pipeline.paths.join(", ")}]`,
    ...(pipeline.format === undefined ? [] : [`    format: ${pipeline.format}`]),
    ...(pipeline.instance === undefined ? [] : [`    instance: ${JSON.stringify(pipeline.instance)}`]),
    `    pollInterval: ${pipeline.pollInterval}`,
    ...(pipeline.operators ? ["operators:", ...pipeline.operators.map((type) => `  - type: ${type}`)] : []),
    "sinks:",
    "  - type: parquet",
    `    path: ${pipeline.sinkPath}`,
    ...(pipeline.metricsPort === undefined ? [] : ["metrics:", `  port: ${pipeline.metricsPort}`, "  host: 127.0.0.1"]),
    ...(pipeline.checkpointInterval === undefined ? [] : ["checkpoint:", `  interval: ${pipeline.checkpointInterval}`]),
  ].join("\n");
}

/** Writes `pipeline` to `file`; resolves with `file`. */
export async function writeAccessLogPipeline(file: string, pipeline: AccessLogPipeline): Promise<string> {
  await writeFile(file, accessLogPipelineYaml(pipeline));
  return file;
}
