// The shared nats-server helper: falls back to its own server when NATS_URL points nowhere; restarts keep the store.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterEach, describe, expect, it } from "vitest";
import { connectNats } from "../../src/transport/connection.ts";
import { ensureStream } from "../../src/transport/stream.ts";
import {
  answersWithJetStream,
  natsUrlForTests,
  startNatsServer,
  stopNatsServerForTests,
  uniqueStreamName,
} from "../helpers/nats-server.ts";

const originalNatsUrl = process.env.NATS_URL;

afterEach(async () => {
  if (originalNatsUrl === undefined) delete process.env.NATS_URL;
  else process.env.NATS_URL = originalNatsUrl;
  await stopNatsServerForTests();
});

describe("nats-server helper", () => {
  it("starts its own JetStream server when NATS_URL points nowhere, and stops it", async () => {
    process.env.NATS_URL = "nats://127.0.0.1:1";
    const url = await natsUrlForTests();
    expect(url).not.toBe("nats://127.0.0.1:1");
    expect(url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(await answersWithJetStream(url)).toBe(true);
    await stopNatsServerForTests();
    expect(await answersWithJetStream(url)).toBe(false);
  });

  it("uses NATS_URL when a JetStream server answers there", async () => {
    const server = await startNatsServer();
    try {
      process.env.NATS_URL = server.url;
      expect(await natsUrlForTests()).toBe(server.url);
    } finally {
      await server.stop();
    }
  });

  it("does not take a server without JetStream", async () => {
    const plain = await startNatsServer({ jetstream: false });
    try {
      expect(await answersWithJetStream(plain.url)).toBe(false);
    } finally {
      await plain.stop();
    }
  });

  it("restarts on the same port and store directory, keeping the stream's messages", async () => {
    const server = await startNatsServer();
    const stream = uniqueStreamName("HELPER");
    try {
      const nc = await connectNats({ url: server.url });
      await ensureStream(await jetstreamManager(nc), stream);
      await jetstream(nc).publish(`${stream}.events.0`, "kept");
      await nc.close();
      server.kill();
      await server.restart();
      const again = await connectNats({ url: server.url });
      expect((await (await jetstreamManager(again)).streams.info(stream)).state.messages).toBe(1);
      await again.close();
    } finally {
      await server.stop();
    }
  });

  it("makes stream names unique and valid for JetStream", () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueStreamName("T")));
    expect(names.size).toBe(100);
    for (const name of names) expect(name).toMatch(/^T_[A-Z0-9_]+$/);
  });
});
