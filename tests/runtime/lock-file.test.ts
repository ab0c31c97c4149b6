// holderIsGone: a lock's holder is judged by its pid only in this process's host, boot and pid namespace (hand-built
// holders); and real lock files left by a worker in a pid namespace of its own (a container sharing this host's name)
// and by a killed worker of this namespace, taken over through the checkpoint lock's API.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectoryCheckpointStore } from "../../src/runtime/checkpoint.ts";
import { holderIsGone, mayStillHoldHere, type LockHolder } from "../../src/runtime/lock-file.ts";
import { thisProcessIdentity, type ProcessProbe } from "../../src/runtime/process-identity.ts";

describe("holderIsGone", () => {
  const self: LockHolder = {
    workerId: "w",
    token: "t-self",
    acquiredAt: 0,
    host: "web-1.example",
    pid: 100,
    processStart: "5000",
    bootId: "331dc050",
    pidNamespace: "4026531836",
  };
  // This pid namespace: 1 started at tick 10, 100 is this process, 200 started at tick 7000; no other pid runs.
  const starts = new Map([
    [1, "10"],
    [100, "5000"],
    [200, "7000"],
  ]);
  const probe: ProcessProbe = { alive: (pid) => starts.has(pid), startOf: (pid) => starts.get(pid) };
  const other = (fields: Partial<LockHolder>): LockHolder => ({ ...self, workerId: "other", token: "t-other", processStart: "6000", ...fields });

  it("takes a holder of this host, boot and pid namespace whose pid is dead, or reused by a later process, for gone", () => {
    expect(holderIsGone(other({ pid: 400 }), self, probe)).toBe(true);
    expect(holderIsGone(other({ pid: 200, processStart: "6500" }), self, probe)).toBe(true);
  });

  it("keeps a holder of this host, boot and pid namespace whose process runs, or whose start is not known", () => {
    expect(holderIsGone(other({ pid: 200, processStart: "7000" }), self, probe)).toBe(false);
    const { processStart: _, ...startless } = other({ pid: 200 });
    expect(holderIsGone(startless, self, probe)).toBe(false);
  });

  it("keeps our pid with a token of a lock this process holds: another holder here, not an earlier process", () => {
    const heldHere = new Set(["t-held-here"]);
    expect(holderIsGone(other({ pid: 100, token: "t-held-here", processStart: "5000" }), self, probe, heldHere)).toBe(false);
    expect(holderIsGone(other({ pid: 100, token: "t-earlier", processStart: "5000" }), self, probe, heldHere)).toBe(true);
  });

  it("takes our pid with another token for an earlier process, and our own token for this holder", () => {
    expect(holderIsGone(other({ pid: 100, processStart: "5000" }), self, probe)).toBe(true);
    expect(holderIsGone({ ...self }, self, probe)).toBe(false);
  });

  it("does not judge a holder of this host in another pid namespace by its pid: a container with the host's name", () => {
    const container = { pidNamespace: "4026532176" };
    // Pid 1 of its namespace: here pid 1 runs, started at another time, which looked like a reused pid.
    expect(holderIsGone(other({ ...container, pid: 1, processStart: "88000" }), self, probe)).toBe(false);
    // A pid that does not run here, and this process's pid (a restarted container's earlier incarnation).
    expect(holderIsGone(other({ ...container, pid: 400 }), self, probe)).toBe(false);
    expect(holderIsGone(other({ ...container, pid: 100 }), self, probe)).toBe(false);
  });

  it("does not judge a holder of another boot of this host's name by its pid", () => {
    expect(holderIsGone(other({ bootId: "9f0e1d2c", pid: 400 }), self, probe)).toBe(false);
  });

  it("does not judge a holder of another host by its pid, whatever boot and namespace it names", () => {
    expect(holderIsGone(other({ host: "web-2.example", pid: 400 }), self, probe)).toBe(false);
  });

  it("leaves a lock of an earlier version (no boot, no namespace) to the staleness rule, even with its pid dead here", () => {
    const { bootId: _b, pidNamespace: _n, ...earlier } = other({ pid: 400 });
    expect(holderIsGone(earlier, self, probe)).toBe(false);
    expect(holderIsGone({ ...earlier, pid: 200 }, self, probe)).toBe(false);
    expect(holderIsGone({ ...earlier, pid: 100 }, self, probe)).toBe(false);
  });

  it("judges nobody by pid where this process's own boot or namespace is not known (no /proc)", () => {
    const { bootId: _b, pidNamespace: _n, ...procless } = self;
    const { bootId: _ob, pidNamespace: _on, ...otherProcless } = other({ pid: 400 });
    expect(holderIsGone(otherProcless, procless, probe)).toBe(false);
    expect(holderIsGone(other({ pid: 400 }), { ...self, pidNamespace: undefined }, probe)).toBe(false);
  });
});

describe("mayStillHoldHere", () => {
  const self: LockHolder = { workerId: "w", token: "t-self", acquiredAt: 0, host: "web-1.example", pid: 100, processStart: "5000", bootId: "331dc050", pidNamespace: "4026531836" };
  // Pid 200 runs here, started at tick 7000; no other pid but ours.
  const probe: ProcessProbe = { alive: (pid) => pid === 100 || pid === 200, startOf: (pid) => (pid === 200 ? "7000" : pid === 100 ? "5000" : undefined) };
  const previous = (fields: Partial<LockHolder>): LockHolder => ({ ...self, workerId: "old", token: "t-old", ...fields });

  it("counts a previous holder of this host whose process still runs (stalled), or that is not judged by pid", () => {
    expect(mayStillHoldHere(previous({ pid: 200, processStart: "7000" }), self, probe)).toBe(true);
    expect(mayStillHoldHere(previous({ pid: 400, pidNamespace: "4026532176" }), self, probe)).toBe(true);
  });

  it("does not count a free lock, a previous holder whose process is gone, or one of another host", () => {
    expect(mayStillHoldHere(undefined, self, probe)).toBe(false);
    expect(mayStillHoldHere(previous({ pid: 400 }), self, probe)).toBe(false);
    expect(mayStillHoldHere(previous({ pid: 200, processStart: "6500" }), self, probe)).toBe(false);
    expect(mayStillHoldHere(previous({ pid: 200, processStart: "7000", host: "web-2.example" }), self, probe)).toBe(false);
  });

  it("counts a previous holder in another pid namespace of this kernel (a container on the host's network)", () => {
    expect(mayStillHoldHere(previous({ pid: 200, processStart: "7000", pidNamespace: "4026532176" }), self, probe)).toBe(true);
  });

  it("does not count a previous holder of another boot with this host's name: its ports are another kernel's", () => {
    // Another machine of this name, or this one before a reboot: neither binds a port of this kernel, whatever its pid.
    expect(mayStillHoldHere(previous({ pid: 200, processStart: "7000", bootId: "9f0c11aa" }), self, probe)).toBe(false);
    expect(mayStillHoldHere(previous({ pid: 200, processStart: "7000", bootId: "9f0c11aa", pidNamespace: "4026532176" }), self, probe)).toBe(false);
  });

  it("counts a previous holder of this host whose lock or this process's identity lacks a boot id (cannot be told apart)", () => {
    expect(mayStillHoldHere(previous({ pid: 200, bootId: undefined, pidNamespace: undefined }), self, probe)).toBe(true);
    const bootless: LockHolder = { ...self, bootId: undefined };
    expect(mayStillHoldHere(previous({ pid: 200, bootId: "9f0c11aa" }), bootless, probe)).toBe(true);
  });
});

/** Whether this machine lets us start a process in a pid namespace of its own (a user namespace: no root needed). */
const pidNamespacesAvailable = spawnSync("unshare", ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc", "true"]).status === 0;
const SCRIPT = fileURLToPath(new URL("./lock-holder-script.ts", import.meta.url));
const PIPELINE = "web";

describe("DirectoryCheckpointStore lock and holders of other pid namespaces", () => {
  let sinkPath: string;
  let store: DirectoryCheckpointStore;

  beforeEach(async () => {
    sinkPath = await mkdtemp(join(tmpdir(), "clickpipe-lock-ns-"));
    store = new DirectoryCheckpointStore(sinkPath, PIPELINE);
  });
  afterEach(async () => rm(sinkPath, { recursive: true, force: true }));

  /** Starts the lock-holding script (`prefix`: the command it runs under) and waits until it holds the lock. */
  async function holderProcess(prefix: string[]) {
    const [command, ...args] = [...prefix, process.execPath, "--import", "tsx", SCRIPT, sinkPath, PIPELINE];
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
    const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
    return { child, holder: JSON.parse(line) as LockHolder };
  }
  const lockFileHolder = async () => JSON.parse(await readFile(store.lockFile, "utf8")) as LockHolder;

  it.skipIf(!pidNamespacesAvailable)(
    "stands by for a live holder in another pid namespace (a container with this host's name), and for it dead, until its heartbeat is stale",
    async () => {
      const { child, holder } = await holderProcess(["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]);
      try {
        const self = thisProcessIdentity();
        expect(holder).toMatchObject({ workerId: "container", pid: 1, host: self.host, bootId: self.bootId });
        expect(holder.pidNamespace).toMatch(/^\d+$/);
        expect(holder.pidNamespace).not.toBe(self.pidNamespace);

        // Its heartbeat is fresh (a 60 s limit): this process stands by, whatever pid 1 is here, until aborted.
        const waitedFor: string[] = [];
        const standBy = (now?: () => number) =>
          store.acquireLock({ workerId: "here", staleAfterMs: 60_000, signal: AbortSignal.timeout(1_500), onWait: (h) => waitedFor.push(h.token), ...(now && { now }) });
        expect(await standBy()).toBeUndefined();
        expect(waitedFor).toEqual([holder.token]);
        expect(await lockFileHolder()).toEqual(holder);

        // Gone without releasing it (a killed container): its pid still says nothing here, so its heartbeat must age.
        child.stdin!.end();
        await once(child, "exit");
        expect(await standBy()).toBeUndefined();
        expect(await lockFileHolder()).toEqual(holder);

        // Once its heartbeat is older than the limit (this host's clock 61 s on), the lock is taken over.
        const lock = await standBy(() => Date.now() + 61_000);
        expect(lock).toBeDefined();
        expect(await lockFileHolder()).toMatchObject({ workerId: "here", pid: process.pid, pidNamespace: self.pidNamespace });
        await lock!.release();
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.stdin!.end();
          await once(child, "exit");
        }
      }
    },
  );

  it("takes over at once the lock of a holder of this pid namespace killed with -9, its heartbeat still fresh", async () => {
    const { child, holder } = await holderProcess([]);
    const { host, bootId, pidNamespace } = thisProcessIdentity();
    expect(holder).toMatchObject({ workerId: "container", pid: child.pid, host, bootId, pidNamespace });
    child.kill("SIGKILL");
    await once(child, "exit");
    // A 60 s limit and a heartbeat written just now: only the dead pid lets it be taken before the wait is aborted.
    const lock = await store.acquireLock({ workerId: "here", staleAfterMs: 60_000, signal: AbortSignal.timeout(20_000) });
    expect(lock).toBeDefined();
    expect(await lockFileHolder()).toMatchObject({ workerId: "here", pid: process.pid });
    await lock!.release();
  });
});
