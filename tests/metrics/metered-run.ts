// Test driver: NDJSON lines through decode, the real operators, Pipeline and ParquetSink, updating a Metrics registry as the worker does.
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { decodeRecord } from "../../src/events/decode.ts";
import type { Metrics } from "../../src/metrics/registry.ts";
import { createOperator } from "../../src/operators/index.ts";
import { Pipeline } from "../../src/runtime/pipeline.ts";
import { operatorEnvironment } from "../../src/runtime/worker.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { botsTable, invalidEventsTable, lateEventsTable } from "../../src/sinks/system-tables.ts";

/** All four operators; windows close within two days of traffic, and minSupport 0.1 keeps pattern output (and the test) small. */
export function meteredPipelineConfig(sinkPath: string): PipelineConfig {
  const text = [
    "name: metered",
    "nats: { url: nats://127.0.0.1:4222, stream: METERED }",
    "operators:",
    "  - { type: sessionize, gap: 30m, maxDuration: 12h, outOfOrderness: 1m, allowedLateness: 10m }",
    "  - { type: sequencePatterns, window: 6h, item: page_item, maxLength: 3, minSupport: 0.1 }",
    "  - { type: basket, window: 1d, minSupport: 0.01, minConfidence: 0.3 }",
    "  - { type: churnFeatures, snapshotEvery: 1d, outOfOrderness: 1m, allowedLateness: 10m }",
    "sinks:",
    `  - { type: parquet, path: "${sinkPath}" }`,
  ].join("\n");
  const loaded = parsePipelineText(text, "metered.yaml", {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

export interface MeteredRunSummary {
  events: number;
  invalid: number;
}

/**
 * Runs `lines` as one drained stream: decode as the worker does, operators, end of input, one Parquet commit.
 * `beforeEvents` runs once the pipeline is up and its state gauges set, as a worker sets them when it starts reading.
 */
export async function runMeteredPipeline(
  lines: Iterable<string>,
  metrics: Metrics,
  sinkPath: string,
  beforeEvents?: () => Promise<void>,
): Promise<MeteredRunSummary> {
  const config = meteredPipelineConfig(sinkPath);
  const environment = operatorEnvironment(config);
  const operators = config.operators.map((operatorConfig) => createOperator(operatorConfig, environment));
  const sink = new ParquetSink({
    path: sinkPath,
    tables: [...operators.flatMap((op) => op.tables), invalidEventsTable, lateEventsTable, botsTable],
    metrics,
    useWorkerThread: false,
  });
  const pipeline = new Pipeline({ operators, sink, metrics });
  pipeline.reportState(metrics);
  await beforeEvents?.();
  const summary: MeteredRunSummary = { events: 0, invalid: 0 };
  let sequence = 0;
  let lastTs = 0;
  for (const line of lines) {
    sequence++;
    metrics.eventsReceived.inc({ source: "nats" });
    const decoded = decodeRecord(line, lastTs);
    if (!decoded.ok) {
      summary.invalid++;
      metrics.eventsInvalid.inc({ reason: decoded.reason });
      sink.append("invalid_events", { received_at: lastTs, reason: decoded.reason, raw: line });
      continue;
    }
    summary.events++;
    lastTs = decoded.event.ts;
    pipeline.processEvent(decoded.event, { partition: 0, sequence });
    metrics.eventLatency.observe(0.05);
  }
  pipeline.reportState(metrics);
  pipeline.end();
  const started = performance.now();
  await sink.commit(await sink.prepare(1));
  metrics.checkpointDuration.observe((performance.now() - started) / 1000);
  metrics.lastCheckpoint.set(Date.now() / 1000);
  metrics.consumerPending.set(0);
  metrics.watermarkLag.set(0);
  await sink.close();
  return summary;
}
