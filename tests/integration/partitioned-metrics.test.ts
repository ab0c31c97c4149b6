// The gauges a partitioned worker sets per task: one series per task (label `task`), not the last task's value
// overwriting the others' in the process's one registry, and gone once the worker stops running the task.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadPipelineOrThrow } from "../../src/cli/load-config.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runPartitionedWorker } from "../../src/runtime/partitioned-worker.ts";
import { partitionOf } from "../../src/transport/partition.ts";
import { runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const natsUrl = inject("natsUrl");
const PARTITIONS = 4;
const VISITORS = 40;

async function seriesOf(metrics: Metrics, name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  return (await metric.get()).values.map(({ labels, value }) => ({ labels: labels as Record<string, string | number>, value }));
}

describe("a partitioned worker's gauges", () => {
  let directory: string;
  let file: string;
  const anonIds = Array.from({ length: VISITORS }, (_, index) => `visitor-${index}`);

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-partitioned-metrics-"));
    file = join(directory, "pipeline.yaml");
    const name = uniqueStreamName("pmetrics").toLowerCase();
    await writeFile(
      file,
      [`name: ${name}`, "nats:", `  url: ${natsUrl}`, `  stream: ${uniqueStreamName("PMETRICS")}`, `  partitions: ${PARTITIONS}`]
        .concat(["operators:", "  - type: sessionize", "sinks:", "  - type: parquet", `    path: ${join(directory, "out")}`, ""])
        .join("\n"),
    );
    // Three page views per visitor within four minutes: with a 30-minute gap no session closes, so every visitor stays
    // in its partition's sessionize state.
    const start = Date.parse("2026-03-02T10:00:00Z");
    const lines = anonIds.flatMap((anon, visitor) =>
      [0, 1, 2].map((step) =>
        JSON.stringify({ type: "page_view", ts: new Date(start + visitor * 5_000 + step * 60_000).toISOString(), event_id: `${anon}-${step}`, anon_id: anon, url: "/" }),
      ),
    );
    const input = join(directory, "input.ndjson");
    await writeFile(input, lines.join("\n") + "\n");
    const published = await runCli(["publish", input, "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("reports each events task's visitors under its own task label, and drops the series when it stops", { timeout: 60_000 }, async () => {
    const config = await loadPipelineOrThrow(file);
    const metrics = new Metrics();
    const controller = new AbortController();
    const running = runPartitionedWorker({ config, metrics, signal: controller.signal, workerId: "gauges", log: () => undefined });
    // Oracle: the visitors of each partition, by the hash the publisher routes with.
    const expected = new Map<string, number>();
    for (const anon of anonIds) {
      const task = `events-${partitionOf(anon, PARTITIONS)}`;
      expected.set(task, (expected.get(task) ?? 0) + 1);
    }
    const visitorsByTask = async () =>
      new Map(
        (await seriesOf(metrics, "clickpipe_state_keys"))
          .filter(({ labels }) => labels.operator === "sessionize" && labels.kind === "visitors")
          .map(({ labels, value }) => [String(labels.task), value]),
      );
    const deadline = Date.now() + 30_000;
    let seen = await visitorsByTask();
    while ([...expected].some(([task, count]) => seen.get(task) !== count) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      seen = await visitorsByTask();
    }
    expect(seen).toEqual(expected);
    // Every task that reads a subject reports its pending messages under its own label, none without one.
    const pendingTasks = (await seriesOf(metrics, "clickpipe_consumer_pending_messages")).map(({ labels }) => labels.task).sort();
    expect(pendingTasks).toEqual(["dlq", ...expected.keys()].sort());
    const openSessions = await seriesOf(metrics, "clickpipe_open_sessions");
    expect(openSessions.reduce((sum, { value }) => sum + value, 0)).toBe(VISITORS);
    // No series without a task (an unpartitioned worker's): a stale 0 would hold sums and alerts down.
    for (const name of ["clickpipe_open_sessions", "clickpipe_consumer_pending_messages", "clickpipe_watermark_lag_seconds", "clickpipe_last_checkpoint_timestamp_seconds"]) {
      expect((await seriesOf(metrics, name)).filter(({ labels }) => labels.task === undefined), name).toEqual([]);
    }

    controller.abort();
    await running;
    for (const name of ["clickpipe_state_keys", "clickpipe_state_bytes", "clickpipe_open_sessions", "clickpipe_consumer_pending_messages"]) {
      expect((await seriesOf(metrics, name)).filter(({ labels }) => labels.task !== undefined), name).toEqual([]);
    }
  });
});
