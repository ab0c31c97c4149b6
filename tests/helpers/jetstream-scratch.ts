// The scratch resources of an integration test file on the suite's nats-server: a folder, one connection and its
// JetStream manager, and the streams and KV buckets its tests made, all removed after the file's tests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, inject } from "vitest";
import { connectNats } from "../../src/transport/connection.ts";

export type JetStreamScratch = {
  readonly natsUrl: string;
  readonly directory: string;
  readonly connection: NatsConnection;
  readonly manager: JetStreamManager;
  /** Stream names to delete after all tests. */
  readonly streams: string[];
  /** KV bucket names (their streams KV_<name>) to delete after all tests. */
  readonly buckets: string[];
};

/** Registers the file's beforeAll/afterAll; the folder, connection and manager exist from beforeAll on. */
export function jetStreamScratchAll(folderPrefix: string): JetStreamScratch {
  const natsUrl = inject("natsUrl");
  const streams: string[] = [];
  const buckets: string[] = [];
  let opened: { directory: string; connection: NatsConnection; manager: JetStreamManager } | undefined;
  beforeAll(async () => {
    const directory = await mkdtemp(join(tmpdir(), folderPrefix));
    const connection = await connectNats({ url: natsUrl });
    opened = { directory, connection, manager: await jetstreamManager(connection) };
  });
  afterAll(async () => {
    if (opened === undefined) return;
    const { directory, connection, manager } = opened;
    for (const stream of streams) await manager.streams.delete(stream).catch(() => undefined);
    for (const bucket of buckets) await manager.streams.delete(`KV_${bucket}`).catch(() => undefined);
    await connection.drain();
    await rm(directory, { recursive: true, force: true });
  });
  const open = () => {
    if (opened === undefined) throw new Error("jetStreamScratchAll: used before its beforeAll ran");
    return opened;
  };
  return {
    natsUrl,
    get directory() {
      return open().directory;
    },
    get connection() {
      return open().connection;
    },
    get manager() {
      return open().manager;
    },
    streams,
    buckets,
  };
}
