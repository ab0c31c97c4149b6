// The reader and the publisher ride out a nats-server crash and restart (same port and store) without loss or repeats.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { BatchPublisher } from "../../src/transport/publisher.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { ensureStream } from "../../src/transport/stream.ts";
import { startNatsServer, uniqueStreamName, type RunningNatsServer } from "../helpers/nats-server.ts";

let server: RunningNatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats({ url: server.url, name: "reconnect-test" });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const line = (i: number) => JSON.stringify({ type: "click", ts: 1_700_000_000_000 + i, anon_id: "a", n: i });

describe("transport - nats-server restart", () => {
  it("reader and publisher continue within 10 s after a kill -9 and restart, losing and repeating nothing", async () => {
    const js = jetstream(nc);
    const stream = uniqueStreamName("RESTART");
    await ensureStream(await jetstreamManager(nc), stream);
    const publisher = new BatchPublisher(js, {
      stream,
      partitions: 1,
      msgIdPrefix: "restart",
      maxBatchEvents: 10,
      connection: nc,
    });
    for (let i = 0; i < 2_000; i++) await publisher.add(line(i), 0);
    await publisher.flush();

    const reader = await StreamReader.open(js, stream, { startSequence: 1, maxMessages: 20 });
    const seqs: number[] = [];
    const received: string[] = [];
    let crashed = false;
    let restartedAt = 0;
    let firstOfSecondHalfAt = 0;
    let publishedAfterRestart: Promise<void> | undefined;

    for await (const message of reader) {
      seqs.push(message.seq);
      received.push(...splitBatch(message.data));
      // The second half was published during the outage: reading it proves both sides continued.
      if (firstOfSecondHalfAt === 0 && received.length > 2_000) firstOfSecondHalfAt = Date.now();
      if (!crashed && seqs.length === 50) {
        crashed = true;
        server.kill("SIGKILL");
        // Publish the second half while the server is down: the publisher must retry it through the restart.
        publishedAfterRestart = (async () => {
          for (let i = 2_000; i < 4_000; i++) await publisher.add(line(i), 0);
          await publisher.flush();
        })();
        await new Promise((resolve) => setTimeout(resolve, 500));
        await server.restart();
        restartedAt = Date.now();
      }
      if (received.length >= 4_000) break;
      if (restartedAt > 0 && Date.now() - restartedAt > 30_000) break;
    }
    await publishedAfterRestart;

    expect(firstOfSecondHalfAt).toBeGreaterThan(0);
    expect(firstOfSecondHalfAt - restartedAt).toBeLessThan(10_000);
    expect(received).toEqual(Array.from({ length: 4_000 }, (_, i) => line(i)));
    expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(400);
  });
});
