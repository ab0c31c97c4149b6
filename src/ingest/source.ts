// The contract of a pipeline `sources:` entry: something that feeds the pipeline's stream while `clickpipe run` runs.
import type { NatsConnection } from "@nats-io/nats-core";
import type { PipelineConfig } from "../config/pipeline.ts";
import type { Metrics } from "../metrics/registry.ts";

export interface SourceDependencies {
  /** The whole pipeline (nats stream, partitions, ingest settings). */
  pipeline: PipelineConfig;
  /** An open connection; the source creates its own JetStream client and publishers from it. */
  connection: NatsConnection;
  metrics: Metrics;
  /** Where a source may keep its own durable position (e.g. tailer offsets): `<sink path>/_checkpoints/<name>/`. */
  stateDirectory: string;
  log: (line: string) => void;
  /** The worker's id (`--worker-id`, else `worker-<pid>`), named in a tailer's claim on its position file. */
  workerId?: string;
  /** Its entry in the pipeline file (`sources[0]`), for messages that name the key to change. */
  place?: string;
}

export interface Source {
  /** Starts accepting or reading records; resolves once it is ready (port bound, files opened). */
  start(): Promise<void>;
  /** Stops intake, publishes what it holds, waits for JetStream acks, and persists its position. */
  stop(): Promise<void>;
}
