// NatsCheckpointStore on a real nats-server: CAS commits per epoch, chunked state checked by sha256, and the KV lock.
import { Kvm, type KV } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { execFile, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { StaleCheckpointError, checkpointMatches, type Checkpoint } from "../../src/runtime/checkpoint.ts";
import { NatsCheckpointStore, checkpointBucketName } from "../../src/runtime/checkpoint-nats.ts";
import { thisProcessIdentity } from "../../src/runtime/process-identity.ts";
import { REPO_ROOT } from "../helpers/cli.ts";
import { expectOneRacerTakesTheLock, expectSecondStoreStandsBy } from "../helpers/checkpoint-lock.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const natsUrl = inject("natsUrl");
const LOCK_CHILD = fileURLToPath(new URL("./checkpoint-nats-lock-child.ts", import.meta.url));

function meta(pipeline: string, epoch: number, overrides: Partial<Checkpoint> = {}): Omit<Checkpoint, "state"> {
  return {
    format: 1,
    pipeline,
    stream: "EVENTS",
    streamCreated: "2025-01-01T00:00:00Z",
    epoch,
    position: epoch * 10,
    pending: { epoch, files: [{ path: `sessions/dt=2025-01-01/part-${epoch}.parquet` }] },
    workerId: "w1",
    committedAt: 1_700_000_000_000 + epoch,
    ...overrides,
  };
}

/** Chunk keys in the bucket, as `<epoch>.<token>` sets with their chunk count. */
async function chunkSets(kv: KV): Promise<Map<string, number>> {
  const sets = new Map<string, number>();
  for await (const key of await kv.keys("state.>")) {
    const set = key.split(".").slice(1, 3).join(".");
    sets.set(set, (sets.get(set) ?? 0) + 1);
  }
  return sets;
}

describe("NatsCheckpointStore commits", () => {
  let connection: NatsConnection;
  let pipeline: string;
  let store: NatsCheckpointStore;
  let kv: KV;

  beforeAll(async () => {
    connection = await connect({ servers: natsUrl });
  });
  afterAll(async () => connection.close());
  beforeEach(async () => {
    pipeline = uniqueStreamName("ckpt").toLowerCase();
    store = await NatsCheckpointStore.open(connection, pipeline);
    kv = await new Kvm(connection).open(checkpointBucketName(pipeline));
  });
  afterEach(async () => store.clear());

  it("loads nothing from a new bucket", async () => {
    expect(await store.load()).toBeUndefined();
    expect(await store.loadMeta()).toBeUndefined();
  });

  it("gives a checkpoint's metadata, an events task's lineage included, without reading its chunks", async () => {
    await store.commit(meta(pipeline, 1, { lineage: "0a1b2c3d4e5f" }), JSON.stringify({ sessionize: { open: ["a"] }, _lineage: "0a1b2c3d4e5f" }));
    const { state: _state, pending: _pending, ...expected } = (await store.load())!;
    expect(await store.loadMeta()).toEqual(expected);
    expect(expected.lineage).toBe("0a1b2c3d4e5f");
    // The chunks are not what it reads: without them the metadata is still there, the document is not.
    await kv.purge([...(await chunkSets(kv)).keys()].map((set) => `state.${set}.0`)[0]);
    expect(await store.loadMeta()).toEqual(expected);
    await expect(store.load()).rejects.toThrow("lacks chunks");
  });

  it("keeps the recorded settings in the metadata, which the start-up checks read without the state", async () => {
    const settings = { operators: { basket: { window: 86_400_000, item: "sku" } }, sinkPath: "/lake" };
    await store.commit(meta(pipeline, 1, { settings }), JSON.stringify({}));
    expect((await store.loadMeta())?.settings).toEqual(settings);
    expect((await store.load())?.settings).toEqual(settings);
  });

  it("keeps a task's partition counts in the metadata, and opens an existing bucket only (never creating one)", async () => {
    await store.commit(meta(pipeline, 1, { partitions: { events: 4, customers: 1 } }), JSON.stringify({}));
    expect((await store.loadMeta())?.partitions).toEqual({ events: 4, customers: 1 });
    expect((await (await NatsCheckpointStore.openExisting(connection, pipeline))?.loadMeta())?.partitions).toEqual({ events: 4, customers: 1 });
    const missing = `${pipeline}.events-9`;
    expect(await NatsCheckpointStore.openExisting(connection, missing)).toBeUndefined();
    const buckets: string[] = [];
    for await (const status of new Kvm(connection).list()) buckets.push(status.bucket);
    expect(buckets).toContain(checkpointBucketName(pipeline));
    expect(buckets).not.toContain(checkpointBucketName(missing));
  });

  it("round-trips a checkpoint and keeps only the newest epoch's chunks", async () => {
    await store.commit(meta(pipeline, 1), JSON.stringify({ sessionize: { open: ["a"] } }));
    await store.commit(meta(pipeline, 2), JSON.stringify({ sessionize: { open: ["a", "b"] } }));
    expect(await store.load()).toEqual({ ...meta(pipeline, 2), state: { sessionize: { open: ["a", "b"] } } });
    const sets = await chunkSets(kv);
    expect([...sets.keys()].map((set) => set.split(".")[0])).toEqual(["2"]);
  });

  it("commits state given in pieces (the worker's slices) as the document of the joined text", async () => {
    const state = { sessionize: { keys: ["a", "é"], chunks: ["A".repeat(300_000), "B".repeat(300_000)] } };
    const pieces = ["{", '"sessionize":', JSON.stringify(state.sessionize), "}"];
    await store.commit(meta(pipeline, 1), pieces);
    expect(await store.load()).toEqual({ ...meta(pipeline, 1), state });
  });

  it("rejects an epoch at or below the committed one with StaleCheckpointError and keeps the newer checkpoint", async () => {
    await store.commit(meta(pipeline, 3, { workerId: "new" }), "{}");
    await expect(store.commit(meta(pipeline, 3, { workerId: "zombie" }), '{"x":1}')).rejects.toThrow(StaleCheckpointError);
    await expect(store.commit(meta(pipeline, 2, { workerId: "zombie" }), '{"x":1}')).rejects.toThrow(/worker new already committed epoch 3/);
    expect(await store.load()).toMatchObject({ epoch: 3, workerId: "new", state: {} });
  });

  it("lets exactly one of eight stores racing for the same epoch commit it; the others get StaleCheckpointError", async () => {
    await store.commit(meta(pipeline, 1), "{}");
    const connections = await Promise.all(Array.from({ length: 8 }, () => connect({ servers: natsUrl })));
    try {
      const stores = await Promise.all(connections.map((nc) => NatsCheckpointStore.open(nc, pipeline)));
      const results = await Promise.allSettled(
        stores.map((racer, index) => racer.commit(meta(pipeline, 2, { workerId: `racer-${index}` }), JSON.stringify({ racer: index }))),
      );
      const winners = results.flatMap((result, index) => (result.status === "fulfilled" ? [index] : []));
      expect(winners).toHaveLength(1);
      for (const result of results) {
        if (result.status === "rejected") expect(result.reason).toBeInstanceOf(StaleCheckpointError);
      }
      expect(await store.load()).toMatchObject({ epoch: 2, workerId: `racer-${winners[0]}`, state: { racer: winners[0] } });
      // Losers purge their own chunks: only the winner's set remains.
      expect([...(await chunkSets(kv)).keys()]).toHaveLength(1);
    } finally {
      await Promise.all(connections.map((nc) => nc.close()));
    }
  });

  it("carries its (pipeline, stream, stream creation) binding, so another stream does not resume it", async () => {
    await store.commit(meta(pipeline, 1, { stream: "EVENTS_A" }), '{"k":1}');
    const loaded = (await store.load())!;
    const binding = { pipeline, streamCreated: "2025-01-01T00:00:00Z" };
    expect(checkpointMatches(loaded, { ...binding, stream: "EVENTS_A" })).toBe(true);
    expect(checkpointMatches(loaded, { ...binding, stream: "EVENTS_B" })).toBe(false);
  });

  it("round-trips 50 MiB of state in 512 KiB chunks with the same sha256", { timeout: 60_000 }, async () => {
    // Random bytes as hex: JSON that no compression or dedupe could fake.
    const stateJson = JSON.stringify({ blob: randomBytes(25 * 1024 * 1024).toString("hex") });
    const expectedSha = createHash("sha256").update(stateJson).digest("hex");
    await store.commit(meta(pipeline, 1), stateJson);
    const loaded = (await store.load())!;
    expect(createHash("sha256").update(JSON.stringify(loaded.state)).digest("hex")).toBe(expectedSha);
    const [chunks] = [...(await chunkSets(kv)).values()];
    // The document is the state plus under 1 KiB of metadata: 50 MiB / 512 KiB = 100 chunks, plus one partial.
    expect(chunks).toBe(101);
  });

  it("refuses to load a checkpoint whose chunk was altered (sha256 mismatch)", async () => {
    await store.commit(meta(pipeline, 1), JSON.stringify({ value: "a".repeat(1000) }));
    const chunkKeys: string[] = [];
    for await (const key of await kv.keys("state.>")) chunkKeys.push(key);
    expect(chunkKeys).toHaveLength(1);
    const [chunkKey] = chunkKeys;
    const original = (await kv.get(chunkKey))!.string();
    await kv.put(chunkKey, original.replace('"a', '"b'));
    await expect(store.load()).rejects.toThrow(/is corrupt: sha256/);
  });
});

describe("NatsCheckpointStore lock", () => {
  let connection: NatsConnection;
  let store: NatsCheckpointStore;
  let kv: KV;
  let pipeline: string;

  beforeAll(async () => {
    connection = await connect({ servers: natsUrl });
  });
  afterAll(async () => connection.close());
  beforeEach(async () => {
    pipeline = uniqueStreamName("lock").toLowerCase();
    store = await NatsCheckpointStore.open(connection, pipeline);
    kv = await new Kvm(connection).open(checkpointBucketName(pipeline));
  });
  afterEach(async () => store.clear());

  /** A lock as another process of this host, boot and pid namespace would leave it (its pid is judged here): its heartbeat ageMs old. */
  async function foreignLock(pid: number, ageMs: number): Promise<void> {
    const { host, bootId, pidNamespace } = thisProcessIdentity();
    const holder = { workerId: "other", token: "t-other", pid, host, bootId, pidNamespace, acquiredAt: 0, heartbeatAt: Date.now() - ageMs };
    await kv.put("lock", JSON.stringify(holder));
  }

  async function lockHolder(): Promise<Record<string, unknown> | undefined> {
    const entry = await kv.get("lock");
    return entry?.operation === "PUT" ? entry.json() : undefined;
  }

  it("writes the holder into the lock key and deletes it on release", async () => {
    const lock = await store.acquireLock({ workerId: "w1" });
    expect(await lockHolder()).toMatchObject({ workerId: "w1", pid: process.pid, host: hostname() });
    expect(lock!.tookOverFrom).toBeUndefined();
    await lock!.release();
    expect(await lockHolder()).toBeUndefined();
    // A released lock was free again: the next holder replaced nobody.
    const next = await store.acquireLock({ workerId: "w2" });
    expect(next!.tookOverFrom).toBeUndefined();
    await next!.release();
  });

  it("records this process's host, boot and pid namespace in the lock key", async () => {
    const lock = await store.acquireLock({ workerId: "w1" });
    const { host, pid, bootId, pidNamespace } = thisProcessIdentity();
    expect(bootId).toMatch(/^[0-9a-f]{8}$/);
    expect(pidNamespace).toMatch(/^\d+$/);
    expect(await lockHolder()).toMatchObject({ workerId: "w1", token: lock!.holder.token, host, pid, bootId, pidNamespace });
    await lock!.release();
  });

  it("stands by for a lock another store of the pipeline holds in this process (our pid, another token)", async () => {
    await expectSecondStoreStandsBy(store, () => NatsCheckpointStore.open(connection, pipeline), 400, lockHolder);
  });

  it("lets one of eight stores of the pipeline racing in this process take the lock; the others stand by", async () => {
    const stores = await Promise.all(Array.from({ length: 8 }, () => NatsCheckpointStore.open(connection, pipeline)));
    await expectOneRacerTakesTheLock(stores, lockHolder);
  });

  it("stands by while a live holder's heartbeat is fresh, and gives up when aborted", async () => {
    await foreignLock(process.ppid, 0);
    const waitedFor: string[] = [];
    const lock = await store.acquireLock({
      workerId: "w2",
      staleAfterMs: 60_000,
      signal: AbortSignal.timeout(400),
      onWait: (holder) => waitedFor.push(holder.workerId),
    });
    expect(lock).toBeUndefined();
    expect(waitedFor).toEqual(["other"]);
    expect(await lockHolder()).toMatchObject({ workerId: "other" });
  });

  it("takes over a live holder's lock once the server stamped no write of it for staleAfterMs, whatever its heartbeatAt says", async () => {
    // heartbeatAt 5 s old by this clock, but the server stamped the write just now: that stamp is what ages.
    await foreignLock(process.ppid, 5_000);
    const written = performance.now();
    const lock = await store.acquireLock({ workerId: "w2", staleAfterMs: 2_000 });
    expect(performance.now() - written).toBeGreaterThanOrEqual(2_000 - 50);
    expect(await lockHolder()).toMatchObject({ workerId: "w2" });
    expect(lock!.tookOverFrom).toMatchObject({ workerId: "other", pid: process.ppid });
    await lock!.release();
  });

  it("takes over a lock whose heartbeat stopped, after staleAfterMs of waiting even when the holder's clock runs ahead", async () => {
    // Clock skew: the holder stamped its heartbeat an hour in our future, so only the unchanged revision reveals it.
    await foreignLock(process.ppid, -3_600_000);
    const started = performance.now();
    const lock = await store.acquireLock({ workerId: "w2", staleAfterMs: 600 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(600);
    expect(await lockHolder()).toMatchObject({ workerId: "w2" });
    await lock!.release();
  });

  it("takes over at once a lock whose holder process on this host is gone (kill -9)", async () => {
    const exited = spawnSync(process.execPath, ["-e", "0"]).pid!;
    await foreignLock(exited, 0);
    const started = performance.now();
    const lock = await store.acquireLock({ workerId: "w2", staleAfterMs: 60_000 });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(lock).toBeDefined();
    expect(await lockHolder()).toMatchObject({ workerId: "w2", pid: process.pid });
    expect(lock!.tookOverFrom).toMatchObject({ workerId: "other", pid: exited });
    await lock!.release();
  });

  /**
   * Runs checkpoint-nats-lock-child.ts: another process (so another pid) trying to take this store's lock. A child that
   * acquires it holds it for holdMs, or until release() (which closes its stdin) once the test has seen what it needed.
   */
  function lockInChild(workerId: string, staleAfterMs: number, waitMs: number, holdMs: number): { outcome: Promise<string>; release(): void } {
    let release = () => {};
    const outcome = new Promise<string>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        ["--import", "tsx", LOCK_CHILD, natsUrl, pipeline, workerId, String(staleAfterMs), String(waitMs), String(holdMs)],
        { cwd: REPO_ROOT },
        (error, stdout, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve(stdout.trim())),
      );
      child.stdin?.on("error", () => undefined);
      release = () => child.stdin?.end();
    });
    return { outcome, release };
  }

  it("lets exactly one of three stand-by processes take over a stale lock", { timeout: 30_000 }, async () => {
    await foreignLock(process.ppid, 5_000);
    // The winner holds past the others' wait, so they stand by until they give up: it lets go once two have exited.
    // The lock goes stale 2 s after that write (the server's stamp), well within a wait of 4 s from each child's start.
    const children = ["a", "b", "c"].map((workerId) => lockInChild(workerId, 2_000, 4_000, 6_000));
    let exited = 0;
    const releaseAfterTwo = () => (++exited === 2 ? children.forEach((child) => child.release()) : undefined);
    for (const child of children) child.outcome.then(releaseAfterTwo, releaseAfterTwo);
    const outcomes = await Promise.all(children.map((child) => child.outcome));
    expect(outcomes.sort()).toEqual(["acquired", "gave up", "gave up"]);
    expect(["a", "b", "c"]).toContain((await lockHolder())?.workerId);
  });

  it("keeps a held lock fresh with heartbeats, so a stand-by with a short staleAfterMs does not take it over", { timeout: 30_000 }, async () => {
    const holder = lockInChild("holder", 400, 10_000, 4_000);
    // Wait until the child holds the lock, then stand by for several stale periods.
    while ((await lockHolder())?.workerId !== "holder") await new Promise((resolve) => setTimeout(resolve, 50));
    const revision = (await kv.get("lock"))!.revision;
    const waiting = await store.acquireLock({ workerId: "w2", staleAfterMs: 400, signal: AbortSignal.timeout(2_000) });
    expect(waiting).toBeUndefined();
    expect(await lockHolder()).toMatchObject({ workerId: "holder" });
    // About one heartbeat per 100 ms moved the revision on.
    expect((await kv.get("lock"))!.revision).toBeGreaterThan(revision + 5);
    holder.release();
    expect(await holder.outcome).toBe("acquired");
  });

  it("does not take a live holder's lock from a stand-by whose host clock runs an hour ahead", { timeout: 30_000 }, async () => {
    const holder = lockInChild("holder", 400, 10_000, 4_000);
    while ((await lockHolder())?.workerId !== "holder") await new Promise((resolve) => setTimeout(resolve, 50));
    // Its heartbeatAt, by the holder's clock, looks an hour old by this one's: five stale periods of standing by.
    const waiting = await store.acquireLock({ workerId: "ahead", staleAfterMs: 400, now: () => Date.now() + 3_600_000, signal: AbortSignal.timeout(2_000) });
    expect(waiting).toBeUndefined();
    expect(await lockHolder()).toMatchObject({ workerId: "holder" });
    holder.release();
    expect(await holder.outcome).toBe("acquired");
  });

  it("takes a dead holder's lock on another host within about staleAfterMs of its last heartbeat, from a stand-by whose clock runs an hour behind", { timeout: 30_000 }, async () => {
    const staleAfterMs = 2_000;
    // A holder on another host (its pid says nothing here) with a right clock heartbeats a few times, then dies.
    const holder = { workerId: "other", token: "t-other", pid: 1, host: "elsewhere.invalid", acquiredAt: Date.now() };
    for (let beat = 0; beat < 4; beat++) {
      await kv.put("lock", JSON.stringify({ ...holder, heartbeatAt: Date.now() }));
      await new Promise((resolve) => setTimeout(resolve, staleAfterMs / 4));
    }
    await kv.put("lock", JSON.stringify({ ...holder, heartbeatAt: Date.now() }));
    const diedAt = performance.now();
    // The stand-by starts after it died: its heartbeatAt looks an hour ahead by this clock, and no revision was seen move.
    await new Promise((resolve) => setTimeout(resolve, staleAfterMs * 0.75));
    const lock = await store.acquireLock({ workerId: "behind", staleAfterMs, now: () => Date.now() - 3_600_000, signal: AbortSignal.timeout(10_000) });
    const afterDeath = performance.now() - diedAt;
    expect(lock).toBeDefined();
    expect(await lockHolder()).toMatchObject({ workerId: "behind" });
    // Not before the limit (its last write was acknowledged after the server stamped it), and not a second limit later.
    expect(afterDeath).toBeGreaterThanOrEqual(staleAfterMs - 50);
    expect(afterDeath).toBeLessThan(staleAfterMs * 1.4);
    await lock!.release();
  });

  it("fences a holder whose lock another worker took over: verify throws and onLost fires", async () => {
    const lost: string[] = [];
    const lock = await store.acquireLock({ workerId: "w1", staleAfterMs: 200, onLost: (holder) => lost.push(holder?.workerId ?? "") });
    await expect(lock!.verify()).resolves.toBeUndefined();
    await foreignLock(process.ppid, 0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(lost).toEqual(["other"]);
    await expect(lock!.verify()).rejects.toThrow(StaleCheckpointError);
    // Releasing a lost lock leaves the new holder's key alone.
    await lock!.release();
    expect(await lockHolder()).toMatchObject({ workerId: "other" });
  });
});
