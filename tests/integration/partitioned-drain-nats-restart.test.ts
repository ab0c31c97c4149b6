// A NATS restart while a partitioned drain's customers task waits for an events task's end record must not fail the drain,
// and its lake must equal a drain that met no restart.
import { Kvm } from "@nats-io/kv";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPipelineOrThrow } from "../../src/cli/load-config.ts";
import { generateLines } from "../../src/ingest/generate.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runPartitionedWorker } from "../../src/runtime/partitioned-worker.ts";
import { leaseBucketName } from "../../src/runtime/partition-leases.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { runCli } from "../helpers/cli.ts";
import { startNatsServer, uniqueStreamName, type RunningNatsServer } from "../helpers/nats-server.ts";
import { holdTasks } from "../helpers/task-holder.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { lakeDifferences, writePipelineFile } from "./crash-harness.ts";

describe("partitioned drain across a NATS restart", () => {
  let server: RunningNatsServer | undefined;
  let directory: string | undefined;
  afterAll(async () => {
    await server?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("a customers task waiting for an end record rides out the restart", { timeout: 120_000 }, async () => {
    server = await startNatsServer();
    directory = await mkdtemp(join(tmpdir(), "clickpipe-drain-restart-"));
    const name = uniqueStreamName("BLIP");
    const stream = uniqueStreamName("BLIPS");
    const out = join(directory, "out");
    const file = await writePipelineFile(directory, { name, natsUrl: server.url, stream, out, partitions: 2, interval: "1s" });
    const input = join(directory, "in.ndjson");
    await writeFile(input, [...generateLines({ visitors: 50, days: 1, seed: 1, start: Date.parse("2026-02-02T00:00:00Z") })].join("\n") + "\n");
    const published = await runCli(["publish", input, "--pipeline", file]);
    expect(published.code, published.stderr).toBe(0);

    const connection = await connectNats({ url: server.url });
    const holder = await holdTasks(connection, name, ["events-1"]);
    const logs: string[] = [];
    const running = runPartitionedWorker({ config: await loadPipelineOrThrow(file), drain: true, metrics: new Metrics(), workerId: "drainer", log: (line) => logs.push(line) });
    running.catch(() => undefined);
    const markers = await new Kvm(connection).open(leaseBucketName(name));
    await waitFor("events-0 drained", async () => (await markers.get("drained.events-0"))?.operation === "PUT", 60_000);
    await waitFor("customers-0 runs", async () => logs.some((line) => line.endsWith("runs customers-0")), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    server.kill("SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await server.restart();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await holder.release().catch(() => undefined);
    const outcome = await Promise.race([running.then(() => "ended", (error: unknown) => `failed: ${String(error)}`), new Promise((resolve) => setTimeout(() => resolve("still waiting"), 60_000))]);
    await connection.close();
    expect(outcome, logs.join("\n")).toBe("ended");

    // Oracle: a drain of the same stream by a pipeline of another name that met no restart. Compared inside DuckDB:
    // the patterns table holds about 1.3 million rows (a 200-page crawler session in a 6h window of 20 sessions makes
    // every 3-page subsequence of it frequent), which lakeRows would take about 20 s to bring into JS.
    const baselineName = uniqueStreamName("BLIPBASE");
    const baselineOut = join(directory, "baseline");
    const baselineFile = await writePipelineFile(directory, { name: baselineName, natsUrl: server.url, stream, out: baselineOut, partitions: 2, interval: "1s" });
    await runPartitionedWorker({ config: await loadPipelineOrThrow(baselineFile), drain: true, metrics: new Metrics(), workerId: "baseline", log: () => undefined });
    const { expectedRowCounts, differences } = await lakeDifferences(baselineOut, out);
    expect(Object.keys(expectedRowCounts).sort()).toEqual(["basket_rules", "cross_sell", "customer_features", "patterns", "sessions"]);
    for (const [table, count] of Object.entries(expectedRowCounts)) expect(count, table).toBeGreaterThan(0);
    expect(differences, JSON.stringify(expectedRowCounts)).toEqual([]);
  });
});
