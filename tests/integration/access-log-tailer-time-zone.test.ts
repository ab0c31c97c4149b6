// The accessLog tailer of a Caddy log with `time_local` (wall times, no zone) on a real nats-server: with `timeZone`
// each line's event is at the instant computed by hand, in summer and winter time and in the spring gap.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { createAccessLogTailer } from "../../src/ingest/access-log-tailer.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const caddyLine = (ts: string, uri: string) =>
  JSON.stringify({ level: "info", ts, logger: "http.log.access", request: { remote_ip: "192.0.2.1", method: "GET", uri }, status: 200, size: 10 });

describe("access log tailer - Caddy wall times in the source's timeZone", () => {
  const natsUrl = inject("natsUrl");
  let connection: NatsConnection;
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tailer-tz-"));
    connection = await connectNats({ url: natsUrl });
  });

  afterAll(async () => {
    await connection?.drain();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("reads America/New_York wall times: EDT and EST lines, and a time the spring change skips moved forward", async () => {
    const stream = uniqueStreamName("TAIL_TZ");
    const logPath = join(directory, "caddy.log");
    const lines = [caddyLine("2024/07/15 14:30:05", "/summer"), caddyLine("2024/01/15 09:00:00.250", "/winter"), caddyLine("2024/03/10 02:30:00", "/gap")];
    await writeFile(logPath, `${lines.join("\n")}\n`);
    const pipeline = pipelineSchema.parse({
      name: "tailer-tz",
      nats: { url: natsUrl, stream },
      ingest: { pages: "all" },
      sources: [{ type: "accessLog", paths: [logPath], format: "caddy", timeZone: "America/New_York", pollInterval: "50ms" }],
      sinks: [{ type: "parquet", path: join(directory, "out") }],
    });
    const source = pipeline.sources?.[0];
    if (source?.type !== "accessLog") throw new Error("the pipeline has no accessLog source");
    const tailer = createAccessLogTailer(source, { pipeline, connection, metrics: new Metrics(), stateDirectory: join(directory, "state"), log: () => undefined });
    await tailer.start();
    const ts: Record<string, unknown> = {};
    try {
      const deadline = Date.now() + 15_000;
      while (Object.keys(ts).length < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const info = await jetstream(connection).jetstreamManager().then((manager) => manager.streams.info(stream)).catch(() => undefined);
        if (info === undefined || info.state.messages === 0) continue;
        const reader = await StreamReader.open(jetstream(connection), stream, { drainUntil: true });
        for await (const message of reader) for (const line of splitBatch(message.data)) {
          const event = JSON.parse(line) as { url: string; ts: unknown };
          ts[event.url] = event.ts;
        }
      }
    } finally {
      await tailer.stop();
    }
    // By hand: the wall time minus EDT (−4) or EST (−5); 02:30 on 2024-03-10 does not exist in New York: 03:30 EDT.
    expect(ts).toEqual({
      "/summer": Date.UTC(2024, 6, 15, 18, 30, 5),
      "/winter": Date.UTC(2024, 0, 15, 14, 0, 0, 250),
      "/gap": Date.UTC(2024, 2, 10, 7, 30),
    });
  });
});
