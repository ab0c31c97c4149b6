import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HELPER_NICENESS, lowerHelpersWanted } from "../../src/runtime/helper-threads.ts";

const HELPER_THREADS = fileURLToPath(new URL("../../src/runtime/helper-threads.ts", import.meta.url));

describe("lowerHelpersWanted", () => {
  it("lowers the other threads of drains on up to two cores only", () => {
    expect(lowerHelpersWanted(true, 1)).toBe(true);
    expect(lowerHelpersWanted(true, 2)).toBe(true);
    expect(lowerHelpersWanted(true, 4)).toBe(false);
    // A live worker keeps equal priorities: latency, not throughput, is what counts for it.
    expect(lowerHelpersWanted(false, 2)).toBe(false);
  });
});

describe.runIf(process.platform === "linux")("lowerHelperThreads", () => {
  it("sets every thread but the main one to the helpers' niceness, leaving threads already lower as they are", () => {
    // In a child process: the niceness of a thread cannot be raised back without privileges.
    const script = `
      import { Worker } from "node:worker_threads";
      import { readdirSync, readFileSync } from "node:fs";
      import { setPriority } from "node:os";
      const { lowerHelperThreads } = await import(${JSON.stringify(HELPER_THREADS)});
      const worker = new Worker("Promise.all([import('node:worker_threads'), import('node:fs')]).then(([{ parentPort }, { readlinkSync }]) => { parentPort.postMessage(readlinkSync('/proc/thread-self').split('/').pop()); setInterval(() => {}, 1000); });", { eval: true });
      const workerThreadId = Number(await new Promise((resolve) => worker.once("message", resolve)));
      setPriority(workerThreadId, 12);
      const nice = (id) => Number(readFileSync("/proc/self/task/" + id + "/stat", "utf8").split(") ")[1].split(" ")[16]);
      const before = new Map(readdirSync("/proc/self/task").map(Number).map((id) => [id, nice(id)]));
      const lowered = lowerHelperThreads();
      const threads = [...before].map(([id, was]) => ({ id, was, nice: nice(id) }));
      console.log(JSON.stringify({ pid: process.pid, workerThreadId, lowered, threads }));
      await worker.terminate();`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout.trim().split("\n").pop()!) as {
      pid: number;
      workerThreadId: number;
      lowered: number;
      threads: { id: number; was: number; nice: number }[];
    };
    const main = result.threads.find((thread) => thread.id === result.pid)!;
    const others = result.threads.filter((thread) => thread.id !== result.pid);
    expect(main.nice).toBe(main.was);
    // V8's platform threads, libuv's and the worker thread: a Node process has several besides the main one.
    expect(others.length).toBeGreaterThan(3);
    for (const thread of others) expect(thread.nice).toBe(Math.max(thread.was, HELPER_NICENESS));
    // The worker thread was set to 12 before: a thread already lower stays where it is.
    expect(others.find((thread) => thread.id === result.workerThreadId)!.nice).toBe(12);
    expect(result.lowered).toBe(others.filter((thread) => thread.was < HELPER_NICENESS).length);
  });
});
