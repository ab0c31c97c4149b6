// A real Prometheus scrapes a real worker fed with generated traffic; every dashboard query and alert rule works against it.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parsePipelineText } from "../../src/config/load.ts";
import { generateLines } from "../../src/ingest/generate.ts";
import { startSources, type RunningSources } from "../../src/ingest/sources.ts";
import { startPrometheus, type RunningPrometheus } from "../../src/metrics/prometheus-process.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runWorker, type WorkerSummary } from "../../src/runtime/worker.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { ensureStream } from "../../src/transport/stream.ts";
import { allPanels, loadDashboards, substituteGrafanaVariables } from "../grafana/dashboards.ts";
import { freePort, uniqueStreamName } from "../helpers/nats-server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { streamRecordPublisher } from "../../src/ingest/stream-record-publisher.ts";

interface QueryResult {
  metric: Record<string, string>;
  value: [number, string];
}

describe("prometheus scraping a running pipeline", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("PROM");
  const controller = new AbortController();
  const logs: string[] = [];
  let directory: string;
  let metricsPort: number;
  let prometheus: RunningPrometheus | undefined;
  let worker: Promise<WorkerSummary> | undefined;
  let sources: RunningSources | undefined;
  let connection: NatsConnection | undefined;
  let published = 0;

  async function query(promql: string): Promise<QueryResult[]> {
    const response = await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { status: string; error?: string; data: { resultType: string; result: QueryResult[] } };
    if (body.status !== "success") throw new Error(`${promql}: ${body.error}`);
    return body.data.result;
  }

  async function scalar(promql: string): Promise<number> {
    const result = await query(promql);
    return result.length === 0 ? Number.NaN : Number(result[0].value[1]);
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-prometheus-it-"));
    metricsPort = await freePort();
    const collectorPort = await freePort();
    const loaded = parsePipelineText(
      [
        "name: prometheus_it",
        `nats: { url: "${natsUrl}", stream: ${stream} }`,
        "operators:",
        "  - { type: sessionize, gap: 30m, maxDuration: 12h, outOfOrderness: 1m, allowedLateness: 10m }",
        "  - { type: sequencePatterns, window: 6h, item: page_item, maxLength: 3, minSupport: 0.1 }",
        "  - { type: basket, window: 1d, minSupport: 0.01, minConfidence: 0.3 }",
        "  - { type: churnFeatures, snapshotEvery: 1d, outOfOrderness: 1m, allowedLateness: 10m }",
        "sinks:",
        `  - { type: parquet, path: "${join(directory, "out")}" }`,
        `metrics: { port: ${metricsPort}, host: 127.0.0.1 }`,
        "checkpoint: { interval: 1s }",
        // A collector, so the source and collector panels and alerts have series (it takes no event here: the stream is
        // fed below; one request with a wrong key gives its answer and duration series, and no dead letter).
        `sources: [{ type: http, port: ${collectorPort}, host: 127.0.0.1, writeKeys: [k] }]`,
      ].join("\n"),
      "prometheus-it.yaml",
      {},
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const config = loaded.config;
    const metrics = new Metrics({ defaultMetrics: true });

    connection = await connectNats(config.nats);
    await ensureStream(await jetstreamManager(connection), stream);
    sources = await startSources(config, { metrics, log: (line) => logs.push(line) });
    worker = runWorker({ config, metrics, signal: controller.signal, log: (line) => logs.push(line) });
    worker.catch(() => undefined); // surfaced by the afterAll await
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${metricsPort}`], port: 0, scrapeInterval: "1s" });

    // Scraped before any event, so the counters' rates see them rise: a first scrape after the traffic gave rates of 0
    // (and bounce and conversion rates of 0/0, now no value), which passed for data.
    await waitFor("Prometheus's first scrape of the worker", async () => (await scalar('up{job="clickpipe"}')) === 1, 40_000, 250);
    const refused = await fetch(`http://127.0.0.1:${collectorPort}/v1/events`, { method: "POST", headers: { "X-Write-Key": "not-the-key" }, body: "{}" });
    expect(refused.status).toBe(401);
    const publisher = streamRecordPublisher({ config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: stream, metrics });
    for (const line of generateLines({ visitors: 300, days: 2, seed: 7 })) await publisher.publishJsonLine(line, Date.now());
    published = (await publisher.flush()).published;

    await waitFor("Prometheus to see every event processed", async () => (await scalar("sum(clickpipe_events_processed_total)")) === published, 40_000, 250);
    await waitFor("a scraped checkpoint with session rows", async () => (await scalar('sum(clickpipe_parquet_rows_written_total{table="sessions"})')) > 0, 40_000, 250);
    // Two more scrapes, so rates over the last minute see the final counts.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
  });

  afterAll(async () => {
    controller.abort();
    await worker?.catch((error: unknown) => logs.push(String(error)));
    await sources?.stop();
    await prometheus?.stop();
    await connection?.drain().catch(() => connection?.close());
    await rm(directory, { recursive: true, force: true });
  });

  it("scrapes the worker's metrics endpoint successfully", async () => {
    const up = await query('up{job="clickpipe"}');
    expect(up).toHaveLength(1);
    expect(up[0].metric.instance).toBe(`127.0.0.1:${metricsPort}`);
    expect(up[0].value[1]).toBe("1");
  });

  it("sees the pipeline's own counts: every generated event processed, sessions emitted and committed", async () => {
    expect(published).toBeGreaterThan(4000);
    expect(await scalar('sum(clickpipe_events_received_total{source="nats"})')).toBe(published);
    expect(await scalar('sum(clickpipe_events_received_total{source="publish"})')).toBe(published);
    expect(await scalar("sum(clickpipe_events_invalid_total)")).toBe(0);
    const finals = await scalar('sum(clickpipe_sessions_emitted_total{kind="final"})');
    expect(finals).toBeGreaterThan(500);
    expect(await scalar("sum(clickpipe_session_duration_seconds_count)")).toBe(finals);
    expect(await scalar("time() - max(clickpipe_last_checkpoint_timestamp_seconds)")).toBeLessThan(30);
  });

  it("returns at least one series for every query of every dashboard panel", async () => {
    const empty: string[] = [];
    let queries = 0;
    for (const { dashboard } of loadDashboards()) {
      for (const panel of allPanels(dashboard)) {
        for (const target of panel.targets ?? []) {
          queries++;
          const result = await query(substituteGrafanaVariables(target.expr ?? ""));
          if (result.length === 0) empty.push(`${dashboard.title} / ${panel.title} / ${target.refId}: ${target.expr}`);
        }
      }
    }
    expect(queries).toBeGreaterThan(30);
    expect(empty).toEqual([]);
  });

  it("loads every alert rule of config/prometheus/alerts.yml, healthy, none firing for a pipeline that keeps up", async () => {
    type RulesBody = { data: { groups: { rules: { name: string; type: string; health: string; state: string }[] }[] } };
    const loadRules = async () => ((await (await fetch(`${prometheus!.url}/api/v1/rules`)).json()) as RulesBody).data.groups.flatMap((g) => g.rules);
    await waitFor("every rule evaluated healthy", async () => {
      const rules = await loadRules();
      return rules.length > 0 && rules.every((rule) => rule.health === "ok");
    }, 40_000, 250);
    const rules = await loadRules();
    expect(rules.map((rule) => rule.name).sort()).toEqual([
      "ClickpipeCheckpointStale",
      "ClickpipeCheckpointsFailing",
      "ClickpipeCollectorFailing",
      "ClickpipeConsumerLagGrowing",
      "ClickpipeDeadLettersRising",
      "ClickpipeDown",
      "ClickpipeInputLost",
      "ClickpipeLateEventsRising",
      "ClickpipeNoInput",
      "ClickpipeRestarting",
      "ClickpipeSourceStandingBy",
      "ClickpipeWatermarkStalled",
    ]);
    expect(rules.filter((rule) => rule.state === "firing")).toEqual([]);
  });

  it("exposes fewer than 2,000 series on /metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const series = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    expect(series.length).toBeGreaterThan(100);
    expect(series.length).toBeLessThan(2_000);
  });
});
