// `npm start`'s demo as a user runs it: traffic that keeps coming period after period, Parquet for the operators' tables,
// metrics served, and Ctrl-C committing a checkpoint and exiting 0.
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { spawnCli } from "../helpers/cli.ts";
import { freePort, uniqueStreamName } from "../helpers/nats-server.ts";
import { eventsSubject } from "../../src/transport/subjects.ts";

const DAY_MS = 86_400_000;
/** Checkpoints (and so committed Parquet) every half second, not every 5 s: the tests wait for committed tables. */
const CHECKPOINT_INTERVAL = "500ms";

/** `clickpipe demo` on `natsUrl`, writing `out`, checkpointing every CHECKPOINT_INTERVAL; `traffic` sets its CLICKPIPE_DEMO_* variables. */
async function spawnDemo(natsUrl: string, stream: string, out: string, traffic: Record<string, string>, metricsPort?: number) {
  return spawnCli(["demo"], {
    NATS_URL: natsUrl,
    CLICKPIPE_STREAM: stream,
    CLICKPIPE_OUT: out,
    CLICKPIPE_METRICS_PORT: String(metricsPort ?? (await freePort())),
    CLICKPIPE_CHECKPOINT_INTERVAL: CHECKPOINT_INTERVAL,
    ...traffic,
  });
}

/** The `from` of each traffic period the demo announced, in epoch ms. */
function periodStarts(output: string): number[] {
  return [...output.matchAll(/over \d+ days? from (\S+) at/g)].map((match) => Date.parse(match[1]));
}

async function committedTables(out: string): Promise<string[]> {
  const tables: string[] = [];
  for (const entry of await readdir(out, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || entry.name.startsWith("_")) continue;
    const files = await readdir(join(out, entry.name), { recursive: true });
    if (files.some((name) => name.endsWith(".parquet"))) tables.push(entry.name);
  }
  return tables.sort();
}

describe("the demo behind npm start", () => {
  const natsUrl = inject("natsUrl");
  const stream = uniqueStreamName("DEMO");
  let directory: string;
  let out: string;
  let lastPeriodStart = 0;
  /** The start of the period before the last: that one was published whole, the last perhaps not at all (Ctrl-C). */
  let wholePeriodStart = 0;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-demo-"));
    out = join(directory, "data");
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("keeps sending traffic past its first period, writes the operators' and the bad input's tables, serves metrics and exits 0 on Ctrl-C", async () => {
    const metricsPort = await freePort();
    const demo = await spawnDemo(natsUrl, stream, out, { CLICKPIPE_DEMO_VISITORS: "150", CLICKPIPE_DEMO_DAYS: "2", CLICKPIPE_DEMO_RATE: "20000", CLICKPIPE_DEMO_FAULTS_EVERY: "500" }, metricsPort);
    try {
      expect(await demo.printed(/\(period 3\)/), demo.output()).toBe(true);
      const wanted = ["customer_features", "invalid_events", "late_events", "patterns", "sessions"];
      let tables = await committedTables(out);
      for (const deadline = Date.now() + 60_000; Date.now() < deadline && !wanted.every((table) => tables.includes(table)); ) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        tables = await committedTables(out);
      }
      expect(tables).toEqual(expect.arrayContaining(wanted));
      const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(Number(/^clickpipe_events_processed_total (\d+)/m.exec(scrape)?.[1])).toBeGreaterThan(0);
    } finally {
      demo.child.kill("SIGINT");
    }
    const result = await demo.exited;
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/committed through sequence \d+/);

    // The sessions of more than one period made it to the lake: traffic did not stop after the first.
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const span = (
        await db.runAndReadAll(`SELECT (epoch_ms(max(start_ts)) - epoch_ms(min(start_ts)))::DOUBLE AS span FROM read_parquet('${out}/sessions/**/*.parquet')`)
      ).getRowObjects()[0];
      expect(Number(span.span)).toBeGreaterThan(2 * DAY_MS);
    } finally {
      db.closeSync();
    }
    lastPeriodStart = periodStarts(result.output).at(-1)!;
    wholePeriodStart = periodStarts(result.output).at(-2)!;
  });

  it("restarted, continues after the stream's last events even when a message that is not JSON came last", async () => {
    expect(lastPeriodStart).toBeGreaterThan(0);
    const connection = await connect({ servers: natsUrl });
    try {
      await jetstream(connection).publish(eventsSubject(stream, 0), "not json, not an event");
    } finally {
      await connection.close();
    }
    const demo = await spawnDemo(natsUrl, stream, out, { CLICKPIPE_DEMO_VISITORS: "50", CLICKPIPE_DEMO_DAYS: "2", CLICKPIPE_DEMO_ROUNDS: "1" });
    try {
      expect(await demo.printed(/\(period 1\)/), demo.output()).toBe(true);
    } finally {
      demo.child.kill("SIGINT");
    }
    const result = await demo.exited;
    expect(result.code, result.output).toBe(0);
    // The day after the latest event of the first run's last period: after that period's start, within its 2 days.
    const [restart] = periodStarts(result.output);
    expect(restart % DAY_MS).toBe(0);
    // Ctrl-C may have come before the last announced period sent an event: then the stream ends with the one before.
    expect(restart).toBeGreaterThan(wholePeriodStart + DAY_MS);
    expect(restart).toBeLessThanOrEqual(lastPeriodStart + 2 * DAY_MS);
  });
});

/** A temporary folder for a describe block's tests, made before them and removed after them. */
function scratchDirectory(prefix: string): () => string {
  let directory: string | undefined;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });
  return () => directory!;
}

describe("the demo with no NATS at NATS_URL", () => {
  const directory = scratchDirectory("clickpipe-demo-own-nats-");

  it("keeps its own server's stream beside the Parquet, so a restart continues instead of writing every row twice", async () => {
    const out = join(directory(), "data");
    const run = async () => {
      // Nothing answers at that URL: the demo starts a nats-server of its own.
      const demo = await spawnDemo(`nats://127.0.0.1:${await freePort()}`, "CLICKPIPE_DEMO", out, { CLICKPIPE_DEMO_VISITORS: "50", CLICKPIPE_DEMO_DAYS: "2", CLICKPIPE_DEMO_ROUNDS: "1" });
      try {
        expect(await demo.printed(/\(period 1\)/), demo.output()).toBe(true);
        for (const deadline = Date.now() + 60_000; Date.now() < deadline && !(await committedTables(out)).includes("sessions"); ) {
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      } finally {
        demo.child.kill("SIGINT");
      }
      const result = await demo.exited;
      expect(result.code, result.output).toBe(0);
      return result.output;
    };
    const firstOutput = await run();
    const secondOutput = await run();
    const [first, second] = [periodStarts(firstOutput)[0], periodStarts(secondOutput)[0]];
    // The restart found the first run's traffic in the kept stream and went on after it.
    expect(second).toBeGreaterThan(first);
    const db = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      const counts = async (table: string, key: string) =>
        (await db.runAndReadAll(`SELECT count(*)::INTEGER AS rows, count(DISTINCT (${key}))::INTEGER AS keys FROM read_parquet('${out}/${table}/**/*.parquet')`)).getRowObjects()[0];
      const sessions = await counts("sessions", "session_id, version");
      expect(sessions.rows).toBeGreaterThan(0);
      expect(sessions.rows).toBe(sessions.keys);
      const features = await counts("customer_features", "customer_id, snapshot_date");
      expect(features.rows).toBe(features.keys);
    } finally {
      db.closeSync();
    }
    expect(secondOutput).toContain(`(store ${join(out, "_nats")}, kept for the next run)`);
  });
});

describe("the demo once its accelerated event time passes the wall clock", () => {
  const natsUrl = inject("natsUrl");
  const directory = scratchDirectory("clickpipe-demo-ahead-");

  it("still closes sessions: its events arrive at their event time, not as a clock running ahead", async () => {
    const out = join(directory(), "data");
    // The first period starts 30 days ago; the second (days 20–40) runs 10 days past today.
    const demo = await spawnDemo(natsUrl, uniqueStreamName("DEMO_AHEAD"), out, { CLICKPIPE_DEMO_VISITORS: "60", CLICKPIPE_DEMO_DAYS: "20", CLICKPIPE_DEMO_ROUNDS: "2", CLICKPIPE_DEMO_RATE: "20000" });
    const tomorrow = Date.now() + DAY_MS;
    let future = 0;
    try {
      expect(await demo.printed(/\(period 2\)/), demo.output()).toBe(true);
      for (const deadline = Date.now() + 90_000; Date.now() < deadline && future === 0; ) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        if (!(await committedTables(out)).includes("sessions")) continue;
        const db = await (await DuckDBInstance.create(":memory:")).connect();
        try {
          const row = (
            await db.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${out}/sessions/**/*.parquet') WHERE epoch_ms(start_ts) > ${tomorrow}`)
          ).getRowObjects()[0];
          future = Number(row.n);
        } finally {
          db.closeSync();
        }
      }
    } finally {
      demo.child.kill("SIGINT");
    }
    const result = await demo.exited;
    expect(result.code, result.output).toBe(0);
    // Sessions of days after today closed and reached the lake while the demo ran.
    expect(future, result.output).toBeGreaterThan(0);
  });
});

describe("the demo whose worker cannot start", () => {
  const natsUrl = inject("natsUrl");

  it("stops its traffic and exits 1 by itself, naming CLICKPIPE_METRICS_PORT, when its metrics port is taken", async () => {
    // It printed the worker's error and went on publishing at CLICKPIPE_DEMO_RATE, into a stream nothing read, until a
    // Ctrl-C. A period of the default 3,000 visitors at 2,000 events/s lasts minutes: ending by itself is stopping it.
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-demo-port-"));
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "0.0.0.0", resolve));
    const port = (blocker.address() as AddressInfo).port;
    const demo = await spawnDemo(natsUrl, uniqueStreamName("DEMOPORT"), join(directory, "data"), { CLICKPIPE_DEMO_RATE: "2000" }, port);
    try {
      const timeout = new Promise<undefined>((resolve) => setTimeout(resolve, 30_000, undefined));
      const exited = await Promise.race([demo.exited, timeout]);
      expect(exited, demo.output()).toBeDefined();
      expect(exited!.code, exited!.output).toBe(1);
      expect(exited!.output).toContain(`metrics: port ${port} on 0.0.0.0 is in use`);
      expect(exited!.output).toContain("CLICKPIPE_METRICS_PORT");
    } finally {
      demo.child.kill("SIGKILL");
      blocker.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
