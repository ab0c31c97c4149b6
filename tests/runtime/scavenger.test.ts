import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { serialScavengeWanted } from "../../src/runtime/scavenger.ts";

const SCAVENGER = fileURLToPath(new URL("../../src/runtime/scavenger.ts", import.meta.url));

describe("serialScavengeWanted", () => {
  it("turns parallel scavenges off for drains on up to two cores, unless the process was started with its own choice", () => {
    const drain = { drain: true, execArgv: [] };
    expect(serialScavengeWanted({ ...drain, cores: 1 })).toBe(true);
    expect(serialScavengeWanted({ ...drain, cores: 2 })).toBe(true);
    expect(serialScavengeWanted({ ...drain, cores: 4 })).toBe(false);
    // A live worker keeps V8's default: its latency is better with parallel scavenges.
    expect(serialScavengeWanted({ drain: false, execArgv: [], cores: 2 })).toBe(false);
    expect(serialScavengeWanted({ drain: true, cores: 2, execArgv: ["--import", "tsx", "--parallel-scavenge"] })).toBe(false);
    expect(serialScavengeWanted({ drain: true, cores: 2, execArgv: ["--no-parallel-scavenge"] })).toBe(false);
    expect(serialScavengeWanted({ drain: true, cores: 2, execArgv: ["--parallel_scavenge"] })).toBe(false);
    // A flag that merely starts alike is not a choice about it.
    expect(serialScavengeWanted({ drain: true, cores: 2, execArgv: ["--trace-parallel-scavenge"] })).toBe(true);
  });
});

describe("tuneScavenger", () => {
  /** A child that tunes (or not) and then fills its young generation: V8 traces one line per scavenger task. */
  function scavengeTasks(tune: boolean): { tasks: number; scavenges: number } {
    const script = `
      const { tuneScavenger } = await import(${JSON.stringify(SCAVENGER)});
      if (${tune} && !tuneScavenger(true, { cores: 2, execArgv: [] })) throw new Error("tuneScavenger did not switch");
      // A full collection marks the switch in V8's own trace: a console.log line can overtake trace lines that V8
      // still holds in its stdio buffer, so scavenges before the switch could be counted after it.
      globalThis.gc();
      const kept = [];
      for (let i = 0; i < 4_000_000; i++) {
        kept.push({ i, text: "x" + i });
        if (kept.length > 200_000) kept.length = 0;
      }`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--expose-gc", "--trace-parallel-scavenge", "--trace-gc", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(child.status, child.stderr).toBe(0);
    // Start-up (tsx loading the module) scavenges before the setting: only what follows the marking collection counts.
    const lines = child.stdout.split("\n");
    const from = lines.findIndex((line) => /Mark-Compact.*testing/.test(line));
    expect(from).toBeGreaterThanOrEqual(0);
    const after = lines.slice(from);
    return {
      tasks: after.filter((line) => /scavenge\[/.test(line)).length,
      scavenges: after.filter((line) => /Scavenge/.test(line)).length,
    };
  }

  it("takes effect in a running process: one scavenger task per scavenge after it, several without it", () => {
    const serial = scavengeTasks(true);
    expect(serial.scavenges).toBeGreaterThan(5);
    expect(serial.tasks).toBe(serial.scavenges);
    const parallel = scavengeTasks(false);
    expect(parallel.scavenges).toBeGreaterThan(5);
    expect(parallel.tasks).toBeGreaterThan(parallel.scavenges);
  });
});
