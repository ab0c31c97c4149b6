import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats } from "../../src/transport/connection.ts";
import { LargeReadTransport, READ_BUFFER_BYTES } from "../../src/transport/large-read-transport.ts";
import { freePort, natsUrlForTests, spawnReady } from "../helpers/nats-server.ts";

const TLS_FIXTURES = join(import.meta.dirname, "..", "fixtures", "tls");

/** Payload sizes around the read buffer's hand-over and size, and the ≈ 40 KB of a worker's 100-event message. */
const SIZES = [1, 17, 4_000, 40_000, 40_000, 65_536, 65_537, 200_000, READ_BUFFER_BYTES / 4 - 1, READ_BUFFER_BYTES / 4, 700_000, 1_000_000];

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Publishes `rounds` × SIZES random payloads while the subscriber's thread is kept busy, so the socket fills and reads
 * come large and split messages anywhere; keeps every delivered payload until the end (a reused read buffer would
 * overwrite earlier ones) and compares all of them, in order, with what was sent.
 */
async function roundTrip(connection: NatsConnection, publisher: NatsConnection, rounds: number): Promise<void> {
  const subject = `large-reads.${randomBytes(4).toString("hex")}`;
  const sent: string[] = [];
  const received: Uint8Array[] = [];
  const total = rounds * SIZES.length;
  const subscription = connection.subscribe(subject, { max: total });
  await connection.flush();
  const done = (async () => {
    for await (const message of subscription) {
      received.push(message.data);
      if (received.length % 7 === 0) {
        const until = Date.now() + 15; // busy: the kernel buffers what arrives meanwhile
        while (Date.now() < until);
      }
    }
  })();
  for (let round = 0; round < rounds; round++) {
    for (const size of SIZES) {
      const payload = randomBytes(size);
      sent.push(digest(payload));
      publisher.publish(subject, payload);
    }
    await publisher.flush();
  }
  await done;
  expect(received.map(digest)).toEqual(sent);
}

describe("LargeReadTransport", () => {
  let url: string;
  let connection: NatsConnection;
  let publisher: NatsConnection;

  beforeAll(async () => {
    url = await natsUrlForTests();
    connection = await connectNats({ url });
    publisher = await connectNats({ url, name: "publisher" });
  });

  afterAll(async () => {
    await connection?.close();
    await publisher?.close();
  });

  it("delivers every payload byte for byte and in order, however the large reads split them", async () => {
    await roundTrip(connection, publisher, 6);
  });

  it("connects through it: connectNats reads with large buffers", async () => {
    // The client keeps its transport in protocol.transport (nats.js internals, checked so a refactor that loses the
    // transport is noticed here rather than only in the bench).
    const transport = (connection as unknown as { protocol: { transport: unknown } }).protocol.transport;
    expect(transport).toBeInstanceOf(LargeReadTransport);
  });

  it("upgrades to TLS on the same socket when the server requires it", async () => {
    const port = await freePort();
    const server = await spawnReady([
      "-a", "127.0.0.1", "-p", String(port),
      "--tls", "--tlscert", join(TLS_FIXTURES, "server.pem"), "--tlskey", join(TLS_FIXTURES, "server-key.pem"),
    ]);
    try {
      const tlsUrl = `nats://127.0.0.1:${port}`;
      const tls = { ca: join(TLS_FIXTURES, "ca.pem") };
      const secured = await connectNats({ url: tlsUrl, tls });
      const securedPublisher = await connectNats({ url: tlsUrl, tls, name: "publisher" });
      try {
        expect(secured.info?.tls_required).toBe(true);
        await roundTrip(secured, securedPublisher, 2);
      } finally {
        await secured.close();
        await securedPublisher.close();
      }
    } finally {
      server.kill("SIGKILL");
    }
  });
});
