// A session stage (sequencePatterns on its own thread) against the same operator on the main thread: same rows, same
// snapshots, and every row a snapshot covers already in the sink when it returns (the checkpoint barrier).
import { afterEach, describe, expect, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { decodeRecord } from "../../src/events/decode.ts";
import { generateLines } from "../../src/ingest/generate.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { createOperator, type OperatorConfig } from "../../src/operators/index.ts";
import type { Operator, SessionRecord } from "../../src/runtime/operator.ts";
import { Pipeline, type RowSink } from "../../src/runtime/pipeline.ts";
import { runsAsSessionStage, SessionStage, SessionStageError, sessionStagesEnabled } from "../../src/runtime/session-stage.ts";
import { operatorEnvironment } from "../../src/runtime/worker.ts";
import type { Row } from "../../src/sinks/table.ts";

const config: PipelineConfig = (() => {
  const text = [
    "name: stage",
    "nats: { url: nats://127.0.0.1:4222, stream: STAGE }",
    "operators:",
    "  - { type: sessionize, gap: 30m, outOfOrderness: 1m, allowedLateness: 10m }",
    "  - { type: sequencePatterns, window: 6h, maxLength: 3, minSupport: 0.1 }",
    "sinks:",
    '  - { type: parquet, path: "/nonexistent" }',
  ].join("\n");
  const loaded = parsePipelineText(text, "stage.yaml", {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
})();

/** Published-looking events: 300 visitors over two days, in time order as a stream of live traffic holds them. */
const events = (() => {
  const decoded = [];
  // Received after the traffic (the watermark never runs ahead of arrival).
  const receivedAt = Date.parse("2026-02-01T00:00:00Z");
  for (const line of generateLines({ visitors: 300, days: 2, seed: 7 })) {
    const result = decodeRecord(line, receivedAt);
    if (result.ok) decoded.push(result.event);
  }
  return decoded.sort((a, b) => a.ts - b.ts);
})();

class CollectingSink implements RowSink {
  readonly rows: [string, Row][] = [];
  readonly markers: string[] = [];
  append(table: string, row: Row): void {
    this.rows.push([table, row]);
  }
  markSuccess(table: string, partition: string): void {
    this.markers.push(`${table}/${partition}`);
  }
  patterns(): Row[] {
    return this.rows.filter(([table]) => table === "patterns").map(([, row]) => row);
  }
}

const stages: SessionStage[] = [];
afterEach(async () => {
  await Promise.all(stages.splice(0).map((stage) => stage.close()));
});

function operators(threaded: boolean, metrics: Metrics): Operator[] {
  const environment = operatorEnvironment(config);
  return config.operators.map((operatorConfig: OperatorConfig) => {
    const operator = createOperator(operatorConfig, environment);
    if (!threaded || !runsAsSessionStage(operatorConfig)) return operator;
    const stage = new SessionStage(operatorConfig, environment, operator, metrics);
    stages.push(stage);
    return stage;
  });
}

/** Runs events [from, to) into a pipeline; returns the patterns rows and state at a snapshot after `to`. */
function run(pipeline: Pipeline, from: number, to: number): void {
  for (let i = from; i < to; i++) pipeline.processEvent(events[i], { partition: 0, sequence: i + 1 });
}

describe("SessionStage", () => {
  it("runs only where there are two cores and CLICKPIPE_SESSION_STAGES is not never, and only for session-only operators", () => {
    expect(sessionStagesEnabled({ CLICKPIPE_SESSION_STAGES: "never" })).toBe(false);
    expect(config.operators.map((operator) => [operator.type, runsAsSessionStage(operator)])).toEqual([
      ["sessionize", false],
      ["sequencePatterns", true],
    ]);
  });

  it("writes the same patterns rows, markers and gauges as the operator on the main thread, and snapshots the same state", () => {
    const results = [false, true].map((threaded) => {
      const metrics = new Metrics();
      const sink = new CollectingSink();
      const pipeline = new Pipeline({ operators: operators(threaded, metrics), sink, metrics });
      const half = Math.floor(events.length / 2);
      run(pipeline, 0, half);
      const middle = pipeline.snapshot();
      // The barrier: every row the snapshot's state has written is in the sink when snapshot() returns.
      const rowsAtMiddle = sink.patterns().length;
      run(pipeline, half, events.length);
      pipeline.end();
      return { middle, rowsAtMiddle, patterns: sink.patterns(), markers: sink.markers, metrics };
    });
    const [inThread, staged] = results;
    expect(inThread.patterns.length).toBeGreaterThan(50);
    expect(inThread.rowsAtMiddle).toBeGreaterThan(0);
    expect(staged.patterns).toEqual(inThread.patterns);
    expect(staged.rowsAtMiddle).toBe(inThread.rowsAtMiddle);
    expect(staged.markers).toEqual(inThread.markers);
    expect(staged.middle).toEqual(inThread.middle);
  });

  it("replays the operator's metric calls on the main thread's registry", async () => {
    const metrics = new Metrics();
    const pipeline = new Pipeline({ operators: operators(true, metrics), sink: new CollectingSink(), metrics });
    run(pipeline, 0, events.length);
    pipeline.end();
    const reference = new Metrics();
    const inThread = new Pipeline({ operators: operators(false, reference), sink: new CollectingSink(), metrics: reference });
    run(inThread, 0, events.length);
    inThread.end();
    const gauges = async (registry: Metrics) => [(await registry.patternsFrequent.get()).values, (await registry.patternsTopSupport.get()).values];
    expect((await gauges(metrics))[0].length).toBeGreaterThan(0);
    expect(await gauges(metrics)).toEqual(await gauges(reference));
  });

  it("fails the next snapshot, not the session it was given, when the operator throws on its thread", () => {
    const pipeline = new Pipeline({ operators: operators(true, new Metrics()), sink: new CollectingSink(), metrics: new Metrics() });
    const broken = { session_id: "s1", version: 1, retracted: false, end_ts: Date.parse("2026-01-05T10:00:00Z"), page_items: null };
    // The operator throws on these items in its thread; here nothing happens until the checkpoint asks for the state.
    expect(() => pipeline.processSession(broken as unknown as SessionRecord)).not.toThrow();
    expect(() => pipeline.snapshot()).toThrow(SessionStageError);
    expect(() => pipeline.snapshot()).toThrow(/session stage sequencePatterns: .*TypeError/);
  });

  it("resolves ready() once its thread has built the operator, which then answers for its state", async () => {
    const metrics = new Metrics();
    const pipeline = new Pipeline({ operators: operators(true, metrics), sink: new CollectingSink(), metrics });
    await expect(pipeline.ready()).resolves.toBeUndefined();
    // The snapshot is a blocking round trip to the thread: the operator built there answers with its empty state.
    const state = pipeline.snapshot() as Record<string, { sessions: unknown[]; watermark: number | null }>;
    expect(state.sequencePatterns).toMatchObject({ sessions: [], watermark: null, ended: false });
  });

  it("rejects ready(), naming the stage and the error, when its thread cannot build the operator", async () => {
    const environment = operatorEnvironment(config);
    const valid = config.operators.find((operatorConfig) => operatorConfig.type === "sequencePatterns")!;
    // every > window: the operator's constructor throws. The template (built here) is valid, the thread's is not.
    const invalid = { ...valid, every: 24 * 3600_000, window: 3600_000 } as OperatorConfig;
    const stage = new SessionStage(invalid, environment, createOperator(valid, environment), new Metrics());
    stages.push(stage);
    await expect(stage.ready()).rejects.toThrow(SessionStageError);
    await expect(stage.ready()).rejects.toThrow(/session stage sequencePatterns: thread failed to start: .*every/);
  });

  it("resumes from a snapshot in a new stage as an uninterrupted run: no row lost, none twice", () => {
    const cut = Math.floor(events.length * 0.6);
    const whole = new CollectingSink();
    const wholePipeline = new Pipeline({ operators: operators(false, new Metrics()), sink: whole, metrics: new Metrics() });
    run(wholePipeline, 0, events.length);
    wholePipeline.end();

    // A checkpoint at `cut`: its rows committed, then a crash; a new process restores the state and replays the rest.
    const before = new CollectingSink();
    const first = new Pipeline({ operators: operators(true, new Metrics()), sink: before, metrics: new Metrics() });
    run(first, 0, cut);
    const state = JSON.parse(JSON.stringify(first.snapshot())) as Record<string, unknown>;
    const committed = before.patterns().slice();
    run(first, cut, cut + 500); // lost with the crash: after the checkpoint
    const after = new CollectingSink();
    const second = new Pipeline({ operators: operators(true, new Metrics()), sink: after, metrics: new Metrics() });
    second.restore(state);
    run(second, cut, events.length);
    second.end();
    expect([...committed, ...after.patterns()]).toEqual(whole.patterns());
  });
});
