// Benchmark inputs: generated traffic as the stream holds it (decoded, edge-processed, serialized) and the bench pipeline's config.
import { parsePipelineText } from "../src/config/load.ts";
import type { PipelineConfig } from "../src/config/pipeline.ts";
import { decodeRecord } from "../src/events/decode.ts";
import type { ClickEvent } from "../src/events/event.ts";
import { EdgeProcessor } from "../src/ingest/edge.ts";
import { generateLines } from "../src/ingest/generate.ts";
import { benchPipeline } from "./pipeline.ts";

/** The bench pipeline's config (the demo operators), for in-process benchmarks that need no NATS. */
export function benchConfig(): PipelineConfig {
  const loaded = parsePipelineText(benchPipeline("nats://127.0.0.1:4222", "BENCH_INPROCESS", "/nonexistent"), "bench.yaml", process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

/** Generated events after edge processing (page_item from the bench urlRules, bot flags), serialized as published. */
export function publishedLines(config: PipelineConfig, visitors: number, days: number, seed = 42): string[] {
  const edge = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: process.env });
  const lines: string[] = [];
  const receivedAt = Date.now();
  for (const line of generateLines({ visitors, days, seed })) {
    const decoded = decodeRecord(line, receivedAt);
    if (!decoded.ok) continue;
    const result = edge.process(decoded.event);
    if (result.kind === "filtered") continue;
    lines.push(JSON.stringify(result.event));
  }
  return lines;
}

/** Decodes lines as the worker does; invalid lines are left out. */
export function decodedEvents(lines: readonly string[]): ClickEvent[] {
  const receivedAt = Date.now();
  const events: ClickEvent[] = [];
  for (const line of lines) {
    const decoded = decodeRecord(line, receivedAt);
    if (decoded.ok) events.push(decoded.event);
  }
  return events;
}
