// sequencePatterns counting on its mining thread against counting inline: same rows, markers, gauges and snapshots,
// every row a snapshot covers already in the sink when it returns (the checkpoint barrier), and failures reported at
// the next settle, not on the session that happened to be processed.
import type { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { parsePipelineText } from "../../../src/config/load.ts";
import type { PipelineConfig } from "../../../src/config/pipeline.ts";
import { decodeRecord } from "../../../src/events/decode.ts";
import { generateLines } from "../../../src/ingest/generate.ts";
import { Metrics } from "../../../src/metrics/registry.ts";
import { createOperator } from "../../../src/operators/index.ts";
import { countWindowPatterns, type CountedPattern } from "../../../src/operators/mining/pattern-counting.ts";
import { MiningThreadError, miningThreadsEnabled, ThreadPatternMiner } from "../../../src/operators/mining/pattern-miner.ts";
import { decodeJob, decodeReply, encodeJob, encodeReply } from "../../../src/operators/mining/pattern-mining-protocol.ts";
import { answer } from "../../../src/operators/mining/pattern-mining-thread.ts";
import type { Operator } from "../../../src/runtime/operator.ts";
import { Pipeline, type RowSink } from "../../../src/runtime/pipeline.ts";
import { operatorEnvironment } from "../../../src/runtime/worker.ts";
import type { Row } from "../../../src/sinks/table.ts";

function pipelineConfig(sequencePatterns: string): PipelineConfig {
  const text = [
    "name: mining",
    "nats: { url: nats://127.0.0.1:4222, stream: MINING }",
    "operators:",
    "  - { type: sessionize, gap: 30m, outOfOrderness: 1m, allowedLateness: 10m }",
    `  - ${sequencePatterns}`,
    "sinks:",
    '  - { type: parquet, path: "/nonexistent" }',
  ].join("\n");
  const loaded = parsePipelineText(text, "mining.yaml", {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

const exact = pipelineConfig("{ type: sequencePatterns, window: 6h, maxLength: 3, minSupport: 0.1 }");
const topK = pipelineConfig("{ type: sequencePatterns, window: 6h, every: 3h, maxLength: 2, minSupport: 0.05, topK: 40, itemsetSeparator: / }");

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

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((closable) => closable.close()));
});

function operators(config: PipelineConfig, miningThread: boolean): Operator[] {
  const environment = { ...operatorEnvironment(config), miningThread };
  const built = config.operators.map((operatorConfig) => createOperator(operatorConfig, environment));
  for (const operator of built) if (operator.close !== undefined) opened.push({ close: () => operator.close!() });
  return built;
}

function pipeline(config: PipelineConfig, miningThread: boolean, sink: RowSink, metrics = new Metrics()): Pipeline {
  return new Pipeline({ operators: operators(config, miningThread), sink, metrics });
}

function run(target: Pipeline, from: number, to: number): void {
  for (let i = from; i < to; i++) target.processEvent(events[i], { partition: 0, sequence: i + 1 });
}

describe("pattern mining thread", () => {
  it("runs only where there are two cores and CLICKPIPE_MINING_THREADS is not never", () => {
    expect(miningThreadsEnabled({ CLICKPIPE_MINING_THREADS: "never" })).toBe(false);
  });

  it.each([
    ["exact counts", exact],
    ["Space-Saving over itemsets, hopping windows", topK],
  ])("writes the same patterns rows, markers and gauges as counting inline, and snapshots the same state (%s)", async (_name, config) => {
    const results = [false, true].map((miningThread) => {
      const metrics = new Metrics();
      const sink = new CollectingSink();
      const target = pipeline(config, miningThread, sink, metrics);
      const half = Math.floor(events.length / 2);
      run(target, 0, half);
      const middle = target.snapshot();
      // The barrier: every row of a window the snapshot's state has closed is in the sink when snapshot() returns.
      const rowsAtMiddle = sink.patterns().length;
      run(target, half, events.length);
      target.end();
      return { middle, rowsAtMiddle, patterns: sink.patterns(), markers: sink.markers, metrics };
    });
    const [inline, threaded] = results;
    expect(inline.patterns.length).toBeGreaterThan(50);
    expect(inline.rowsAtMiddle).toBeGreaterThan(0);
    expect(threaded.patterns).toEqual(inline.patterns);
    expect(threaded.rowsAtMiddle).toBe(inline.rowsAtMiddle);
    expect(threaded.markers).toEqual(inline.markers);
    expect(threaded.middle).toEqual(inline.middle);
    const gauges = async (registry: Metrics) => [(await registry.patternsFrequent.get()).values, (await registry.patternsTopSupport.get()).values];
    expect((await gauges(threaded.metrics))[0].length).toBeGreaterThan(0);
    expect(await gauges(threaded.metrics)).toEqual(await gauges(inline.metrics));
  });

  it("resumes from a snapshot in a new pipeline as an uninterrupted run: no row lost, none twice", () => {
    const cut = Math.floor(events.length * 0.6);
    const whole = new CollectingSink();
    const wholePipeline = pipeline(exact, false, whole);
    run(wholePipeline, 0, events.length);
    wholePipeline.end();

    // A checkpoint at `cut`: its rows committed, then a crash; a new process restores the state and replays the rest.
    const before = new CollectingSink();
    const first = pipeline(exact, true, before);
    run(first, 0, cut);
    const state = JSON.parse(JSON.stringify(first.snapshot())) as Record<string, unknown>;
    const committed = before.patterns().slice();
    run(first, cut, cut + 500); // lost with the crash: after the checkpoint
    const after = new CollectingSink();
    const second = pipeline(exact, true, after);
    second.restore(state);
    run(second, cut, events.length);
    second.end();
    expect([...committed, ...after.patterns()]).toEqual(whole.patterns());
  });

  it("resolves ready() once its thread runs, and answers windows in the order they were submitted", async () => {
    const miner = new ThreadPatternMiner();
    opened.push(miner);
    await expect(miner.ready()).resolves.toBeUndefined();
    const windows = [
      [["a", "b", "c"], ["a", "b"], ["a", "c"]],
      [["x", "y"], ["x", "y"], ["y"]],
    ];
    const answers: CountedPattern[][] = [];
    for (const elements of windows) miner.submit({ elements, maxLength: 2, itemJoin: " ", minCount: 2 }, (found) => answers.push(found));
    miner.settle();
    // Oracle by hand for the first window (sessions abc, ab, ac; support ≥ 2): a 3, b 2, c 2, a>b 2, a>c 2 as
    // subsequences; runs a 3, b 2, c 2, a>b 2.
    expect(answers[0].map((p) => `${p.kind} ${p.pattern} ${p.support}`)).toEqual([
      "subsequence a 3",
      "subsequence b 2",
      "subsequence c 2",
      "subsequence a > b 2",
      "subsequence a > c 2",
      "contiguous a 3",
      "contiguous b 2",
      "contiguous c 2",
      "contiguous a > b 2",
    ]);
    expect(answers[1]).toEqual(countWindowPatterns({ elements: windows[1], maxLength: 2, itemJoin: " ", minCount: 2 }));
  });

  it("reports a window whose counting threw at the next settle, naming the error; poll() never throws", () => {
    const miner = new ThreadPatternMiner();
    opened.push(miner);
    let answered = false;
    // An element that is not a string fails the itemset split on the thread.
    const broken = { elements: [[null as unknown as string]], maxLength: 2, itemJoin: " ", itemsetSeparator: "/", minCount: 1 };
    miner.submit(broken, () => (answered = true));
    expect(() => miner.poll()).not.toThrow();
    expect(() => miner.settle()).toThrow(MiningThreadError);
    expect(() => miner.settle()).toThrow(/sequencePatterns: counting a window failed: .*TypeError/);
    expect(answered).toBe(false);
  });

  /**
   * A crawler-like window: `sessions` long sessions that all open with the same `shared` pages p00, p01, … in order,
   * then nearly all of `pages` more pages f0, f1, …, each of them missing from exactly one session (support
   * sessions − 1). With minCount = sessions, PrefixSpan grows every prefix of up to 2 shared pages, each projected over
   * the ~`pages` pages after it in every session: much counting for few rows.
   */
  const crawlerWindow = (sessions: number, shared: number, pages: number) => {
    const opening = Array.from({ length: shared }, (_, i) => `p${String(i).padStart(2, "0")}`);
    const rest = Array.from({ length: pages }, (_, k) => k);
    const elements = Array.from({ length: sessions }, (_, s) => [...opening, ...rest.filter((k) => k % sessions !== s).map((k) => `f${k}`)]);
    return { elements, maxLength: 3, itemJoin: " ", minCount: sessions };
  };
  // 1 + 60 + 1770 prefixes over 50 × ~2,500 pages: about a second of counting here, in heartbeats a few ms apart.
  const heavyWindow = crawlerWindow(50, 60, 2500);
  const timeoutMs = 400;

  /** A miner with a short no-progress timeout, started and warmed (a cold thread compiles its first job's code unseen). */
  async function watchedMiner(): Promise<ThreadPatternMiner> {
    const miner = new ThreadPatternMiner("sequencePatterns", { noProgressTimeoutMs: timeoutMs });
    opened.push(miner);
    await miner.ready();
    miner.submit(crawlerWindow(10, 20, 500), () => undefined);
    miner.settle();
    return miner;
  }

  it("answers a window that counts for longer than the no-progress timeout, as long as its counting makes progress", async () => {
    const miner = await watchedMiner();
    let answer: CountedPattern[] | undefined;
    miner.submit(heavyWindow, (found) => (answer = found));
    const started = performance.now();
    miner.settle();
    // Otherwise the window was too light to show anything on this machine.
    expect(performance.now() - started).toBeGreaterThan(timeoutMs);
    // By hand: every row has support 50, the subsequences of p00..p59 of 1, 2, 3 pages (60, C(60,2) = 1770,
    // C(60,3) = 34220) and its runs of 1, 2, 3 pages (60, 59, 58); every pattern with an f page has support ≤ 49.
    const rows = answer!;
    const group = (kind: string, length: number) => rows.filter((row) => row.kind === kind && row.length === length).map((row) => row.pattern);
    expect([1, 2, 3].map((length) => group("subsequence", length).length)).toEqual([60, 1770, 34220]);
    expect([1, 2, 3].map((length) => group("contiguous", length).length)).toEqual([60, 59, 58]);
    expect(rows.every((row) => row.support === 50 && row.errorBound === 0)).toBe(true);
    expect(rows[0]).toEqual({ kind: "subsequence", pattern: "p00", items: ["p00"], length: 1, support: 50, errorBound: 0 });
    expect(group("subsequence", 3).at(-1)).toBe("p57 > p58 > p59");
    expect(group("contiguous", 2)[0]).toBe("p00 > p01");
  });

  it("fails settle() with a MiningThreadError once its thread is silent for the timeout (a dead thread cannot report its exit while settle() blocks)", async () => {
    const miner = await watchedMiner();
    let answered = false;
    miner.submit(heavyWindow, () => (answered = true));
    // Killed mid-count: terminate() stops the thread at once, and its exit event waits for an event loop settle() blocks.
    void (miner as unknown as { worker: Worker }).worker.terminate();
    const started = performance.now();
    expect(() => miner.settle()).toThrow(
      new MiningThreadError("sequencePatterns: no answer and no counting progress from the mining thread for 0.4 s (gone or stuck)"),
    );
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(timeoutMs);
    expect(waited).toBeLessThan(5000);
    expect(answered).toBe(false);
  });

  it("encodes a window and its answer losslessly (ids into one dictionary, numbers in typed arrays)", () => {
    const request = { elements: [["a b", "c"], [], ["c", "a b", "c"]], maxLength: 3, itemJoin: "+", itemsetSeparator: " ", minCount: 1, topK: 7 };
    const { message, transfer } = encodeJob(3, request);
    expect(message.dictionary).toEqual(["a b", "c"]);
    expect(transfer).toHaveLength(2);
    expect(decodeJob(message)).toEqual(request);
    const found = countWindowPatterns(request);
    expect(found.length).toBeGreaterThan(3);
    expect(decodeReply(encodeReply(3, found).message)).toEqual(found);
    expect(answer(message).message.error).toBeUndefined();
  });
});
