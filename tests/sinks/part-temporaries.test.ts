// Rewrite temporaries (part-temporaries.ts): which ones recovery judges abandoned, and a real one left by a kill -9
// during a rewrite, deleted by ParquetSink.recover with every part kept and DuckDB reading the same rows.
import { execFile, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { processStartOf, type ProcessProbe } from "../../src/runtime/process-identity.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import {
  temporaryAbandoned,
  temporaryPartName,
  thisProcessAsWriter,
  UNJUDGED_TEMPORARY_ABANDONED_AFTER_MS,
  type TemporaryWriter,
} from "../../src/sinks/part-temporaries.ts";
import { allTypesRows, allTypesTable, duckDb, lakesRemovedAfterAll, queryJson } from "./lake-fixtures.ts";

const lake = lakesRemovedAfterAll("temporaries");
const PART = "part-w-0000000001-0000.parquet";

describe("temporaryAbandoned", () => {
  const self: TemporaryWriter = { host: "web-1.example", pid: 100, processStart: "5000", bootId: "331dc050", pidNamespace: "4026531836" };
  // Processes of this host's pid namespace: 200 started at tick 7000, 300 at an unknown time; no other pid runs.
  const probe: ProcessProbe = {
    alive: (pid) => pid === 100 || pid === 200 || pid === 300,
    startOf: (pid) => (pid === 100 ? "5000" : pid === 200 ? "7000" : undefined),
  };
  const name = (writer: TemporaryWriter) => temporaryPartName(PART, writer, 2, 9);
  // A second ago, and just past the age after which a temporary whose writer cannot be looked at is abandoned.
  const fresh = 1_000;
  const old = UNJUDGED_TEMPORARY_ABANDONED_AFTER_MS + 1;

  it("names the part, the process with its start, boot and pid namespace, the thread, the call and the host", () => {
    expect(name(self)).toBe("part-w-0000000001-0000.parquet.100-5000-331dc050-4026531836-2-9@web-1.example.tmp");
    expect(name({ host: "h", pid: 100 })).toBe("part-w-0000000001-0000.parquet.100-0-0-0-2-9@h.tmp");
  });

  it("is true for a temporary of this host whose process is gone, or of an earlier process with its pid", () => {
    expect(temporaryAbandoned(name({ ...self, pid: 400, processStart: "6000" }), self, probe, fresh)).toBe(true);
    expect(temporaryAbandoned(name({ ...self, pid: 400, processStart: undefined }), self, probe, fresh)).toBe(true);
    // Our pid, another start: this process's pid before a restart (a container's); pid 200 reused by another process.
    expect(temporaryAbandoned(name({ ...self, processStart: "4000" }), self, probe, fresh)).toBe(true);
    expect(temporaryAbandoned(name({ ...self, pid: 200, processStart: "6500" }), self, probe, fresh)).toBe(true);
  });

  it("is false for this process's own, a live process's, one whose process cannot be told from a live one, and another host's", () => {
    expect(temporaryAbandoned(name(self), self, probe, fresh)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, pid: 200, processStart: "7000" }), self, probe, fresh)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, pid: 300, processStart: "1" }), self, probe, fresh)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, pid: 200, processStart: undefined }), self, probe, fresh)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, processStart: undefined }), self, probe, fresh)).toBe(false);
    expect(temporaryAbandoned(name(self), { ...self, processStart: undefined }, probe, fresh)).toBe(false);
    for (const age of [fresh, old]) expect(temporaryAbandoned(name({ ...self, host: "web-2.example", pid: 400 }), self, probe, age)).toBe(false);
  });

  it("judges a temporary of this host written in another pid namespace or boot by its age alone: its pid means nothing here", () => {
    // Containers sharing the host's name (host networking) count pids each in their own namespace: a live writer's pid
    // may be gone here (400), ours (100), or another process's here (200, started at another time).
    for (const writer of [
      { ...self, pid: 400, pidNamespace: "4026532176" },
      { ...self, pid: 100, processStart: "4000", pidNamespace: "4026532176" },
      { ...self, pid: 200, processStart: "6500", pidNamespace: "4026532176" },
      { ...self, pid: 400, bootId: "9f0e1d2c" },
      { ...self, pid: 400, pidNamespace: undefined },
    ]) {
      expect(temporaryAbandoned(name(writer), self, probe, fresh)).toBe(false);
      expect(temporaryAbandoned(name(writer), self, probe, old)).toBe(true);
    }
    // This process not knowing its own namespace: nothing is judged by pid.
    expect(temporaryAbandoned(name({ ...self, pid: 400 }), { ...self, pidNamespace: undefined }, probe, fresh)).toBe(false);
  });

  it("judges the older forms by their age (and host) alone, and takes no other name for a temporary", () => {
    // Hostless: maybe another host's older version, or a container's whose pid is ours (pid 1 in every container).
    for (const older of [`${PART}.400-0-3.tmp`, `${PART}.100-0-3.tmp`, `${PART}.200-0-3.tmp`, `${PART}.400-6000-0-3@web-1.example.tmp`]) {
      expect(temporaryAbandoned(older, self, probe, fresh)).toBe(false);
      expect(temporaryAbandoned(older, self, probe, old)).toBe(true);
    }
    expect(temporaryAbandoned(`${PART}.400-6000-0-3@web-2.example.tmp`, self, probe, old)).toBe(false);
    for (const other of [`${PART}.tmp`, "notes.tmp", `${PART}.400-0-3.tmp.bak`, "part-w-0000000001-0000.csv.400-0-3.tmp", `${PART}.400-x-0-3@web-1.example.tmp`, `${PART}.400-1-0-3@.tmp`]) {
      expect(temporaryAbandoned(other, self, probe, old)).toBe(false);
    }
  });
});

describe("ParquetSink.recover and rewrite temporaries", () => {
  it("deletes the temporary a rewrite killed with -9 left, and the other abandoned ones, keeping every part and the live ones", async () => {
    const root = await lake();
    const sink = new ParquetSink({ path: root, tables: [allTypesTable], writerId: "w", compression: "snappy", useWorkerThread: false });
    for (let epoch = 1; epoch <= 2; epoch++) {
      for (const row of allTypesRows) sink.append("all_types", row);
      await sink.commit(await sink.prepare(epoch));
    }
    await sink.close();
    const folder = join(root, "all_types", "dt=2024-03-10");
    const part = join(folder, PART);
    const connection = await duckDb();
    const lakeRows = async () =>
      (await queryJson(connection, `SELECT id, i32, i64, f64, flag, seen_at, on_day, tags, event_ts FROM read_parquet('${root}/all_types/**/*.parquet')`))
        .map((row) => JSON.stringify(row))
        .sort();
    const before = await lakeRows();
    expect(before).toHaveLength(10);

    // A real rewrite, killed with -9 once its temporary is written and fsynced (before its rename).
    const script = fileURLToPath(new URL("./rewrite-crash-script.ts", import.meta.url));
    const child = promisify(execFile)(process.execPath, ["--import", "tsx", script, part, "a"], {
      env: { ...process.env, CLICKPIPE_CRASH_AT: "rewrite-written" },
      timeout: 60_000,
    });
    const killedPid = child.child.pid!;
    await expect(child).rejects.toMatchObject({ signal: "SIGKILL" });
    const self = thisProcessAsWriter();
    const left = (await readdir(folder)).filter((name) => name.endsWith(".tmp"));
    // The child's start (ticks since boot) is the one number of its name not known here: its pid, boot and namespace are.
    const killedStart = /\.parquet\.\d+-([1-9]\d*)-/.exec(left[0] ?? "")?.[1];
    expect(left).toEqual([temporaryPartName(PART, { ...self, pid: killedPid, ...(killedStart !== undefined && { processStart: killedStart }) }, 0, 1)]);

    // Beside it: this process's pid before a restart (other start), and ones whose writer cannot be looked at from here
    // (an older form's; another pid namespace's) unchanged for longer than UNJUDGED_TEMPORARY_ABANDONED_AFTER_MS: abandoned.
    const otherNamespace = { ...self, pid: killedPid, pidNamespace: "1" };
    const abandoned = [temporaryPartName(PART, { ...self, processStart: "1" }, 0, 1)];
    const abandonedOld = [`${PART}.${killedPid}-0-7.tmp`, temporaryPartName(PART, otherNamespace, 0, 1)];
    // And ones nobody may delete: this process's own (an encoder thread of a partitioned worker writing it now), a live
    // process's (the one that started this test), another host's, the same two unjudged forms written just now, files
    // that are not temporaries, one in _checkpoints.
    const parentStart = processStartOf(process.ppid);
    const kept = [
      temporaryPartName(PART, self, 3, 1),
      temporaryPartName(PART, { ...self, pid: process.ppid, ...(parentStart !== undefined && { processStart: parentStart }) }, 0, 1),
      temporaryPartName(PART, { ...self, host: `not-${self.host}`, pid: killedPid }, 0, 1),
      `${PART}.${killedPid}-0-8.tmp`,
      temporaryPartName(PART, otherNamespace, 0, 2),
      "notes.tmp",
      `${PART}.tmp`,
    ];
    for (const name of [...abandoned, ...abandonedOld, ...kept]) await writeFile(join(folder, name), "x");
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of abandonedOld) await utimes(join(folder, name), hourAgo, hourAgo);
    await mkdir(join(root, "_checkpoints"), { recursive: true });
    await writeFile(join(root, "_checkpoints", `${PART}.${killedPid}-0-7.tmp`), "x");

    const summary = await ParquetSink.recover(root, undefined, { writerId: "w" });
    expect(summary).toEqual({ renamed: 0, alreadyCommitted: 0, missing: [], deletedInProgress: 0, deletedTemporaries: 4, merged: 0 });
    expect((await readdir(folder)).sort()).toEqual([PART, "part-w-0000000002-0000.parquet", ...kept].sort());
    expect(await readdir(join(root, "_checkpoints"))).toEqual([`${PART}.${killedPid}-0-7.tmp`]);
    // The killed rewrite changed nothing: the same rows, "a" still in both epochs.
    expect(await lakeRows()).toEqual(before);
    const [{ ids }] = await queryJson(connection, `SELECT string_agg(id, ',' ORDER BY id) AS ids FROM read_parquet('${root}/all_types/**/*.parquet')`);
    expect(ids).toBe("a,a,b,b,c,c,d,d,é漢字🙂,é漢字🙂");
  });
});

/** Whether this machine lets us start a process in a pid namespace of its own (a user namespace: no root needed). */
const pidNamespacesAvailable = spawnSync("unshare", ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc", "true"]).status === 0;

describe("ParquetSink.recover and a container sharing this host's name", () => {
  it.skipIf(!pidNamespacesAvailable)("keeps the temporary a live process of another pid namespace is writing, whatever its pid is here", async () => {
    const root = await lake();
    const folder = join(root, "all_types", "dt=2024-03-10");
    await mkdir(folder, { recursive: true });
    // A process in a pid namespace of its own (as in a container run with the host's network, so the host's name): its
    // pid there (1) is another process's here, started at another time, which looked like a reused pid.
    const script = fileURLToPath(new URL("./temporary-writer-script.ts", import.meta.url));
    const writer = spawn("unshare", ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc", process.execPath, "--import", "tsx", script, join(folder, PART)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    try {
      const [line] = (await once(createInterface({ input: writer.stdout! }), "line")) as [string];
      const written = JSON.parse(line) as { name: string; pid: number };
      expect(written.pid).toBe(1);
      expect(written.name).toMatch(new RegExp(`^${PART.replace(/\./g, "\\.")}\\.1-\\d+-[0-9a-f]+-\\d+-0-1@`));

      const summary = await ParquetSink.recover(root, undefined, { writerId: "w" });
      expect(summary.deletedTemporaries).toBe(0);
      expect(await readdir(folder)).toEqual([written.name]);
      // Once it has not changed for longer than any live rewrite leaves its temporary, it is taken for abandoned.
      const later = await ParquetSink.recover(root, undefined, { writerId: "w", now: () => Date.now() + UNJUDGED_TEMPORARY_ABANDONED_AFTER_MS + 1_000 });
      expect(later.deletedTemporaries).toBe(1);
      expect(await readdir(folder)).toEqual([]);
    } finally {
      writer.stdin!.end();
      await once(writer, "exit");
    }
  });
});
