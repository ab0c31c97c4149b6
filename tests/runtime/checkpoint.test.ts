// DirectoryCheckpointStore: one commit per epoch (link fencing), newest-epoch loading, and the pipeline lock.
import { spawnSync } from "node:child_process";
import { watch } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CheckpointLock, DirectoryCheckpointStore, StaleCheckpointError, documentHead, writeSegments, type Checkpoint, type LockHolder } from "../../src/runtime/checkpoint.ts";
import { encodeInSlices, stringifyPiecesInSlices } from "../../src/runtime/json-slices.ts";
import { thisProcessIdentity } from "../../src/runtime/process-identity.ts";
import { utf8Segments } from "../../src/runtime/utf8-segments.ts";
import { writerIdFor } from "../../src/runtime/worker.ts";
import { expectOneRacerTakesTheLock, expectSecondStoreStandsBy } from "../helpers/checkpoint-lock.ts";
import { waitFor } from "../helpers/wait-for.ts";

function meta(epoch: number, workerId = "w1", position = epoch * 10): Omit<Checkpoint<null>, "state"> {
  return { format: 1, pipeline: "web", stream: "S", streamCreated: "t0", epoch, position, pending: null, workerId, committedAt: 0 };
}

describe("DirectoryCheckpointStore", () => {
  let root: string;
  let store: DirectoryCheckpointStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "clickpipe-checkpoint-"));
    store = new DirectoryCheckpointStore(root, "web");
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it("loads nothing before the first commit, then the state and position of the highest epoch", async () => {
    expect(await store.load()).toBeUndefined();
    await store.commit(meta(1), '{"sessionize":{"open":1}}');
    await store.commit(meta(2), '{"sessionize":{"open":2}}');
    const loaded = await store.load<null>();
    expect(loaded).toMatchObject({ epoch: 2, position: 20, state: { sessionize: { open: 2 } }, pending: null });
  });

  it("writes state given in pieces (the worker's slices, not joined) or encoded as it was made as the same document as the joined text", async () => {
    const state = { sessionize: { keys: ["a", "é"], chunks: ["A".repeat(3_000_000), "B€😀".repeat(1_000_000)] }, basket: { pairs: [[1, 2]] } };
    const pieces = await stringifyPiecesInSlices(state, 0);
    expect(pieces.length).toBeGreaterThan(2);
    const encoded = await encodeInSlices(state, 0);
    expect(encoded.utf8.length).toBeGreaterThan(2);
    await store.commit(meta(1), pieces);
    await store.commit(meta(2), encoded);
    await store.commit(meta(3), pieces.join(""));
    const documents = await Promise.all([1, 2, 3].map((epoch) => readFile(join(root, "_checkpoints", "web", `checkpoint-000000000${epoch}.json`), "utf8")));
    const withEpoch3 = (text: string, epoch: number) => text.replace(`"epoch":${epoch},"position":${epoch * 10}`, '"epoch":3,"position":30');
    expect(withEpoch3(documents[0], 1)).toBe(documents[2]);
    expect(withEpoch3(documents[1], 2)).toBe(documents[2]);
    expect((await store.load<null>())?.state).toEqual(state);
  });

  it("rejects a second commit of the same epoch with StaleCheckpointError and keeps the first", async () => {
    await store.commit(meta(3, "winner"), '{"a":1}');
    await expect(store.commit(meta(3, "zombie"), '{"a":2}')).rejects.toThrow(StaleCheckpointError);
    await expect(store.commit(meta(3, "zombie"), '{"a":2}')).rejects.toThrow("worker winner already committed it");
    expect(await store.load()).toMatchObject({ workerId: "winner", state: { a: 1 } });
  });

  it("rejects a commit whose temporary file the worker that took over discarded with StaleCheckpointError (a fenced worker, not a failure)", async () => {
    await store.commit(meta(1), "{}");
    const directory = join(root, "_checkpoints", "web");
    // The takeover's discardUncommitted as soon as the fenced worker's temporary file appears, while it is still written.
    const watcher = watch(directory, (_event, name) => {
      if (name?.endsWith(".tmp")) void store.discardUncommitted();
    });
    try {
      const commit = store.commit(meta(2, "zombie"), JSON.stringify({ chunk: "z".repeat(64 * 1024 * 1024) }));
      await expect(commit).rejects.toThrow(StaleCheckpointError);
      await expect(commit).rejects.toThrow("checkpoint epoch 2 is stale: its temporary file was discarded by the worker that took");
    } finally {
      watcher.close();
    }
    expect(await store.load()).toMatchObject({ epoch: 1 });
    expect((await readdir(directory)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("lets exactly one of eight workers racing for one epoch commit it", async () => {
    const stores = Array.from({ length: 8 }, () => new DirectoryCheckpointStore(root, "web"));
    const results = await Promise.allSettled(stores.map((each, index) => each.commit(meta(5, `w${index}`), `{"w":${index}}`)));
    const won = results.flatMap((result, index) => (result.status === "fulfilled" ? [index] : []));
    expect(won).toHaveLength(1);
    for (const result of results) if (result.status === "rejected") expect(result.reason).toBeInstanceOf(StaleCheckpointError);
    expect(await store.load()).toMatchObject({ workerId: `w${won[0]}`, state: { w: won[0] } });
  });

  it("reads the newest checkpoint's metadata from the start of its file: what load gives without state and pending", async () => {
    expect(await store.loadMeta()).toBeUndefined();
    const state = { sessionize: { chunk: "x".repeat(300_000) }, _lineage: "0a1b2c3d4e5f" };
    await store.commit({ ...meta(1), lineage: "0a1b2c3d4e5f" }, JSON.stringify(state));
    await store.commit({ ...meta(2), lineage: "0a1b2c3d4e5f" }, JSON.stringify(state));
    const { state: loadedState, pending: _pending, ...expected } = (await store.load<null>())!;
    expect(loadedState).toEqual(state);
    expect(expected).toMatchObject({ epoch: 2, lineage: "0a1b2c3d4e5f" });
    expect(await store.loadMeta()).toEqual(expected);
  });

  it("finds the state key in any read: past the first, across a read's end, after pending text that quotes it", async () => {
    // Pending renames of any length (a commit of many partitions), one path holding `"state":`, which JSON escapes.
    const withPending = (pad: number): Omit<Checkpoint<unknown>, "state"> => ({ ...meta(1), pending: { files: ['a"state":b'], pad: "p".repeat(pad) } });
    const bare = documentHead(withPending(0)).length;
    const key = '"state":'.length;
    // Heads ending in the first 64 KiB read, with the key's 8 bytes split 4 + 4 and 1 + 7 across the reads' end, and later.
    for (const headBytes of [bare, 65_536 + 4, 65_536 + 7, 65_536 + key, 200_000]) {
      const checkpoints = new DirectoryCheckpointStore(root, `pad${headBytes}`);
      const checkpoint = withPending(headBytes - bare);
      expect(documentHead(checkpoint).length).toBe(headBytes);
      await checkpoints.commit(checkpoint, JSON.stringify({ sessionize: { chunk: "y".repeat(100_000) } }));
      const { state: _state, pending: _pending, ...expected } = (await checkpoints.load())!;
      expect(await checkpoints.loadMeta()).toEqual(expected);
    }
  });

  it("refuses to read metadata from a file that is not a checkpoint document", async () => {
    await store.commit(meta(1), '{"a":1}');
    await writeFile(join(root, "_checkpoints", "web", "checkpoint-0000000002.json"), '{"epoch":2}');
    await expect(store.loadMeta()).rejects.toThrow('has no "state" key');
  });

  it("keeps the newest epoch and the two before it, and no temporary files", async () => {
    for (let epoch = 1; epoch <= 6; epoch++) await store.commit(meta(epoch), "{}");
    expect((await readdir(store.directory)).sort()).toEqual([
      "checkpoint-0000000004.json",
      "checkpoint-0000000005.json",
      "checkpoint-0000000006.json",
    ]);
  });
});

describe("writeSegments", () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "clickpipe-write-segments-"));
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it("property: the segments of any texts, written one after another, are the texts' UTF-8 bytes", async () => {
    const path = join(root, "any.json");
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: "grapheme" }), { maxLength: 20 }), fc.integer({ min: 4, max: 64 }), async (texts, segmentBytes) => {
        const handle = await open(path, "w");
        await writeSegments(handle, utf8Segments(texts, segmentBytes));
        await handle.close();
        expect((await readFile(path)).equals(Buffer.from(texts.join(""), "utf8"))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});


describe("DirectoryCheckpointStore lock", () => {
  let root: string;
  let store: DirectoryCheckpointStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "clickpipe-lock-"));
    store = new DirectoryCheckpointStore(root, "web");
    await store.commit(meta(1), "{}");
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  /** A lock file as another process of this host, boot and pid namespace would leave it: its pid is judged here. */
  async function foreignLock(pid: number, ageMs: number): Promise<void> {
    const { host, bootId, pidNamespace } = thisProcessIdentity();
    const holder = { workerId: "other", token: "t-other", pid, host, bootId, pidNamespace, acquiredAt: 0 };
    await writeFile(store.lockFile, JSON.stringify(holder));
    const at = new Date(Date.now() - ageMs);
    await utimes(store.lockFile, at, at);
  }

  it("writes the holder into the lock and removes it on release", async () => {
    const lock = await store.acquireLock({ workerId: "w1" });
    expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: "w1", pid: process.pid, host: hostname() });
    await lock!.release();
    expect(await readdir(store.directory)).not.toContain("lock");
  });

  it("names no previous holder for a free lock, nor for one its holder released", async () => {
    const first = await store.acquireLock({ workerId: "w1" });
    expect(first!.tookOverFrom).toBeUndefined();
    await first!.release();
    const second = await store.acquireLock({ workerId: "w2" });
    expect(second!.tookOverFrom).toBeUndefined();
    await second!.release();
  });

  it("stands by while a live holder's heartbeat is fresh, and gives up when aborted", async () => {
    await foreignLock(process.ppid, 0);
    const waitedFor: string[] = [];
    const lock = await store.acquireLock({
      workerId: "w2",
      staleAfterMs: 60_000,
      signal: AbortSignal.timeout(300),
      onWait: (holder) => waitedFor.push(holder.workerId),
    });
    expect(lock).toBeUndefined();
    expect(waitedFor).toEqual(["other"]);
  });

  it("takes over a live holder's lock once its heartbeat is older than staleAfterMs", async () => {
    await foreignLock(process.ppid, 5_000);
    const lock = await store.acquireLock({ workerId: "w2", staleAfterMs: 2_000 });
    expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: "w2" });
    // Alive, the stale holder may still hold what it held (its metrics port): the new holder knows whom it replaced.
    expect(lock!.tookOverFrom).toMatchObject({ workerId: "other", token: "t-other", pid: process.ppid });
    await lock!.release();
  });

  it("takes over at once a lock whose holder process on this host is gone (kill -9)", async () => {
    const exited = spawnSync(process.execPath, ["-e", "0"]).pid!;
    await foreignLock(exited, 0);
    const started = performance.now();
    const lock = await store.acquireLock({ workerId: "w2", staleAfterMs: 60_000 });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(lock).toBeDefined();
    expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: "w2", pid: process.pid });
    expect(lock!.tookOverFrom).toMatchObject({ workerId: "other", pid: exited });
    await lock!.release();
  });

  /** The holder the lock file names now. */
  async function lockFileHolder(): Promise<unknown> {
    return JSON.parse(await readFile(store.lockFile, "utf8"));
  }

  /**
   * `holder` holds the lock, heartbeating with the lock's own code; a stand-by whose clock runs an hour ahead sees the
   * lock's mtime an hour old (five stale periods of standing by), and must still leave it to its holder.
   */
  async function expectAheadStandByLeavesLiveLock(holder: LockHolder): Promise<void> {
    await writeFile(store.lockFile, JSON.stringify(holder));
    const held = new CheckpointLock(store.lockFile, holder, 400);
    try {
      const waiting = await store.acquireLock({ workerId: "ahead", staleAfterMs: 400, now: () => Date.now() + 3_600_000, signal: AbortSignal.timeout(2_000) });
      expect(waiting).toBeUndefined();
      expect(held.held).toBe(true);
      expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: holder.workerId, token: holder.token });
    } finally {
      await held.release();
    }
  }

  it("does not take a live holder's lock on another host from a stand-by whose clock runs an hour ahead", async () => {
    // A holder on another host (shared storage), heartbeating with the lock's own code: mtimes by its clock.
    await expectAheadStandByLeavesLiveLock({ workerId: "other", token: "t-other", pid: 1, host: "elsewhere.invalid", acquiredAt: 0 });
  });

  it("takes a dead holder's lock on another host within about staleAfterMs, from a stand-by whose clock runs an hour behind", async () => {
    const staleAfterMs = 1_000;
    // Its last heartbeat just now by the holder's clock, an hour ahead by this one's; its pid says nothing here.
    await writeFile(store.lockFile, JSON.stringify({ workerId: "other", token: "t-other", pid: 1, host: "elsewhere.invalid", acquiredAt: 0 }));
    const started = performance.now();
    const lock = await store.acquireLock({ workerId: "behind", staleAfterMs, now: () => Date.now() - 3_600_000, signal: AbortSignal.timeout(5_000) });
    const waited = performance.now() - started;
    expect(lock).toBeDefined();
    expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: "behind" });
    expect(waited).toBeGreaterThanOrEqual(staleAfterMs);
    expect(waited).toBeLessThan(staleAfterMs * 1.6);
    await lock!.release();
  });

  it("stands by for a lock another store of the pipeline holds in this process (our pid, another token)", async () => {
    await expectSecondStoreStandsBy(store, () => new DirectoryCheckpointStore(root, "web"), 300, lockFileHolder);
    // Released, it is free for the next one in this process.
    const next = await new DirectoryCheckpointStore(root, "web").acquireLock({ workerId: "next", staleAfterMs: 60_000, signal: AbortSignal.timeout(2_000) });
    expect(next).toBeDefined();
    await next!.release();
  });

  it("lets one of eight stores of the pipeline racing in this process take the lock; the others stand by", async () => {
    const stores = Array.from({ length: 8 }, () => new DirectoryCheckpointStore(root, "web"));
    await expectOneRacerTakesTheLock(stores, lockFileHolder);
  });

  /** A holder of another machine with this host's name (or of this machine before a reboot): another boot id. */
  function namesakeHolder(): LockHolder {
    const { bootId, pidNamespace } = thisProcessIdentity();
    const otherBoot = ((Number.parseInt(bootId ?? "0", 16) + 1) >>> 0).toString(16).padStart(8, "0");
    return { workerId: "namesake", token: "t-namesake", pid: 1, host: hostname(), bootId: otherBoot, pidNamespace, acquiredAt: 0 };
  }

  it("does not take a live lock of another machine with this host's name from a stand-by whose clock runs an hour ahead", async () => {
    // Its heartbeat (the mtime) is set by that machine's clock, so comparing it with this one's adds their skew.
    await expectAheadStandByLeavesLiveLock(namesakeHolder());
  });

  it("takes a dead lock of another machine with this host's name from a stand-by whose clock runs an hour behind", async () => {
    // Its last heartbeat just now by its clock, an hour ahead by this one's: by that, it would not be stale for an hour.
    await writeFile(store.lockFile, JSON.stringify(namesakeHolder()));
    const lock = await store.acquireLock({ workerId: "behind", staleAfterMs: 500, now: () => Date.now() - 3_600_000, signal: AbortSignal.timeout(10_000) });
    expect(lock).toBeDefined();
    expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: "behind" });
    await lock!.release();
  });

  it("fences a holder whose lock another worker took over: verify throws and onLost fires", async () => {
    const lost: string[] = [];
    const lock = await store.acquireLock({ workerId: "w1", staleAfterMs: 200, onLost: (holder) => lost.push(holder?.workerId ?? "") });
    await expect(lock!.verify()).resolves.toBeUndefined();
    await foreignLock(process.ppid, 0);
    // Heartbeats come every 50 ms; under load (files run two at a time) three of them can take longer than 150 ms.
    await waitFor("the heartbeat to notice the takeover", async () => lost.length > 0, 5_000, 10);
    expect(lost).toEqual(["other"]);
    await expect(lock!.verify()).rejects.toThrow(StaleCheckpointError);
    // Releasing a lost lock leaves the new holder's file alone.
    await lock!.release();
    expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: "other", token: "t-other" });
    expect(JSON.parse(await readFile(store.lockFile, "utf8"))).toMatchObject({ workerId: "other" });
  });
});

describe("writerIdFor", () => {
  it("uses a pipeline name of letters, digits and _ as it is", () => {
    expect(writerIdFor("web_2")).toBe("web_2");
  });

  it("keeps names that differ only in - and _ apart with a hash", () => {
    expect(writerIdFor("web-2")).toMatch(/^web_2_[0-9a-f]{8}$/);
    expect(writerIdFor("web-2")).not.toBe(writerIdFor("web_2"));
  });
});
