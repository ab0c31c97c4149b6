// A tailer's claim on its position file (`<position file>.lock`), with real files: the first takes it, a second
// stands by and says once for whom, and takes over when the holder released it, died (also when its pid was reused)
// or stopped its heartbeat.
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TailClaim } from "../../src/ingest/tailer-claim.ts";
import type { LockHolder } from "../../src/runtime/lock-file.ts";
import { processStartOf, thisProcessIdentity } from "../../src/runtime/process-identity.ts";

describe("TailClaim", () => {
  let directory: string;
  let positionFile: string;
  const claims: TailClaim[] = [];
  let logs: string[];

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tail-claim-"));
    // The state folder does not exist yet: the claim creates it.
    positionFile = join(directory, "state", "access-log-0123456789abcdef.json");
    logs = [];
  });

  afterEach(async () => {
    await Promise.all(claims.splice(0).map((claim) => claim.release()));
    await rm(directory, { recursive: true, force: true });
  });

  function claim(workerId: string, staleAfterMs = 60_000): TailClaim {
    const made = new TailClaim({ positionFile, path: "/var/log/nginx/access.log", workerId, staleAfterMs, log: (line) => logs.push(line) });
    claims.push(made);
    return made;
  }

  const lockFile = () => `${positionFile}.lock`;
  const lockHolder = async () => JSON.parse(await readFile(lockFile(), "utf8")) as LockHolder;

  /** A lock left by another process: `pid` of this host, boot and pid namespace (or of `host`), its heartbeat `ageMs` old. */
  async function foreignLock(pid: number, ageMs: number, processStart?: string, host = hostname()): Promise<void> {
    const { bootId, pidNamespace } = thisProcessIdentity();
    const holder: LockHolder = { workerId: "other", token: "t-other", pid, host, bootId, pidNamespace, acquiredAt: 0, ...(processStart ? { processStart } : {}) };
    await mkdir(dirname(lockFile()), { recursive: true });
    await writeFile(lockFile(), JSON.stringify(holder));
    const at = new Date(Date.now() - ageMs);
    await utimes(lockFile(), at, at);
  }

  it("takes a free claim: the lock file beside the position file names this process, its host and its start", async () => {
    const first = claim("w1");
    expect(await first.take()).toBe(true);
    expect(first.held).toBe(true);
    expect(first.lockFile).toBe(`${positionFile}.lock`);
    expect(await lockHolder()).toMatchObject({ workerId: "w1", pid: process.pid, host: hostname(), processStart: processStartOf(process.pid) });
    expect(logs).toEqual([]);
  });

  it("a second claimant stands by while the holder is alive, says so once, and takes over once it is released", async () => {
    const first = claim("w1");
    const second = claim("w2");
    expect(await first.take()).toBe(true);
    expect(await second.take()).toBe(false);
    expect(await second.take()).toBe(false);
    expect(second.held).toBe(false);
    expect(logs).toEqual([`access log /var/log/nginx/access.log: standing by: worker w1 (pid ${process.pid} on ${hostname()}) holds ${lockFile()}`]);

    await first.release();
    await expect(stat(lockFile())).rejects.toThrow(/ENOENT/);
    expect(await second.take()).toBe(true);
    expect(await lockHolder()).toMatchObject({ workerId: "w2" });
    expect(logs.at(-1)).toBe(`access log /var/log/nginx/access.log: took over ${lockFile()}; resuming from the saved position`);
  });

  it("with an instance, says that a holder on another host was given the same instance; without one, only that it stands by", async () => {
    const elsewhere = `${hostname()}-elsewhere`;
    await foreignLock(1, 0, undefined, elsewhere);
    const named = new TailClaim({
      positionFile,
      path: "/var/log/nginx/access.log",
      workerId: "w2",
      log: (line) => logs.push(line),
      instance: { place: "sources[0]", name: "web-1" },
    });
    claims.push(named);
    expect(await named.take()).toBe(false);
    expect(await claim("w3").take()).toBe(false);
    const standingBy = `access log /var/log/nginx/access.log: standing by: worker other (pid 1 on ${elsewhere}) holds ${lockFile()}`;
    expect(logs).toEqual([
      `${standingBy}. Another host runs instance web-1, so this host's log at that path is not read (and a takeover would resume from ` +
        "that host's position): give each host its own sources[0].instance",
      standingBy,
    ]);
  });

  it("takes over at once from a holder on this host whose process is gone", async () => {
    const exited = spawnSync(process.execPath, ["-e", "0"]).pid!;
    await foreignLock(exited, 0);
    expect(await claim("w2").take()).toBe(true);
    expect(await lockHolder()).toMatchObject({ workerId: "w2" });
  });

  it("takes a live pid that started after the holder's process for a reused pid, and stands by for the holder's own", async () => {
    const parent = process.ppid;
    const started = processStartOf(parent);
    expect(started).toMatch(/^\d+$/);
    await foreignLock(parent, 0, started);
    expect(await claim("w2").take()).toBe(false);

    await foreignLock(parent, 0, String(Number(started) + 1));
    expect(await claim("w3").take()).toBe(true);
    expect(await lockHolder()).toMatchObject({ workerId: "w3" });
  });

  it("takes over a live holder's claim once its heartbeat is older than the stale limit", async () => {
    await foreignLock(process.ppid, 1_000);
    expect(await claim("w2", 5_000).take()).toBe(false);
    await foreignLock(process.ppid, 6_000);
    expect(await claim("w3", 5_000).take()).toBe(true);
  });

  it("keeps its heartbeat fresh, so a standby with a short stale limit keeps standing by", async () => {
    const first = claim("w1", 200);
    expect(await first.take()).toBe(true);
    const before = (await stat(lockFile())).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await stat(lockFile())).mtimeMs).toBeGreaterThan(before);
    expect(await claim("w2", 200).take()).toBe(false);
  });

  it("notices that its claim was taken over: no longer held, and verify() throws", async () => {
    const first = claim("w1", 200);
    expect(await first.take()).toBe(true);
    await first.verify();
    await foreignLock(process.ppid, 0);
    await expect(first.verify()).rejects.toThrow(/lost the lock .*\.lock to worker other/);
    expect(first.held).toBe(false);
    expect(logs.at(-1)).toMatch(/lost .*\.lock to worker other \(pid \d+ on .*\); standing by$/);
    // Released after losing it: the other holder's lock stays.
    await first.release();
    expect(await lockHolder()).toMatchObject({ workerId: "other" });
  });
});
