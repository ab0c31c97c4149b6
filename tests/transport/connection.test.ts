import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectionOptions, natsConfig } from "../../src/transport/connection.ts";

describe("connection - nats config schema", () => {
  it("fills the defaults: local URL, one partition", () => {
    expect(natsConfig.parse({ stream: "CLICKPIPE_EVENTS" })).toEqual({
      url: "nats://127.0.0.1:4222",
      stream: "CLICKPIPE_EVENTS",
      partitions: 1,
    });
  });

  it("rejects stream names JetStream or our subjects cannot carry", () => {
    for (const stream of ["a.b", "a b", "A*", "A>", "", "a/b"]) {
      expect(natsConfig.safeParse({ stream }).success, stream).toBe(false);
    }
  });

  it("rejects unknown keys, a missing stream and partitions outside 1..1024", () => {
    expect(natsConfig.safeParse({ stream: "S", partition: 2 }).success).toBe(false);
    expect(natsConfig.safeParse({}).success).toBe(false);
    expect(natsConfig.safeParse({ stream: "S", partitions: 0 }).success).toBe(false);
    expect(natsConfig.safeParse({ stream: "S", partitions: 1025 }).success).toBe(false);
    expect(natsConfig.safeParse({ stream: "S", partitions: 1.5 }).success).toBe(false);
    expect(natsConfig.safeParse({ stream: "S", tls: { ca: "/ca.pem", crt: "x" } }).success).toBe(false);
  });

  it("describes every key", () => {
    for (const [key, schema] of Object.entries(natsConfig.shape)) {
      expect(schema.description, key).toBeTruthy();
    }
  });
});

describe("connection - client options", () => {
  it("reconnects forever, builds no error traces ahead of requests, and maps user, token, TLS files and several URLs", async () => {
    const options = await connectionOptions({
      url: "nats://a:4222, nats://b:4222",
      user: "u",
      password: "p",
      token: "t",
      tls: { ca: "/ca.pem", cert: "/c.pem", key: "/k.pem" },
      name: "worker-1",
    });
    expect(options).toMatchObject({
      servers: ["nats://a:4222", "nats://b:4222"],
      maxReconnectAttempts: -1,
      noAsyncTraces: true,
      user: "u",
      pass: "p",
      token: "t",
      name: "worker-1",
      tls: { caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" },
    });
  });

  it("reads a .creds file into an authenticator and names a missing one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "creds-"));
    try {
      const path = join(dir, "user.creds");
      await writeFile(path, "not really creds");
      expect(typeof (await connectionOptions({ url: "nats://x:4222", credentials: path })).authenticator).toBe("function");
      await expect(connectionOptions({ url: "nats://x:4222", credentials: join(dir, "missing.creds") })).rejects.toThrow(
        /cannot read NATS credentials file .*missing\.creds/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
