// Rewrite temporaries (part-temporaries.ts): which ones recovery judges abandoned, and a real one left by a kill -9
// during a rewrite, deleted by ParquetSink.recover with every part kept and DuckDB reading the same rows.
import { execFile } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { processStartOf } from "../../src/runtime/lock-file.ts";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { temporaryAbandoned, temporaryPartName, thisProcessAsWriter, type ProcessProbe, type TemporaryWriter } from "../../src/sinks/part-temporaries.ts";
import { allTypesRows, allTypesTable, duckDb, lakesRemovedAfterAll, queryJson } from "./lake-fixtures.ts";

const lake = lakesRemovedAfterAll("temporaries");
const PART = "part-w-0000000001-0000.parquet";

describe("temporaryAbandoned", () => {
  const self: TemporaryWriter = { host: "web-1.example", pid: 100, processStart: "5000" };
  // Processes of this host: 200 started at tick 7000, 300 at an unknown time; every other pid is not running.
  const probe: ProcessProbe = {
    alive: (pid) => pid === 100 || pid === 200 || pid === 300,
    startOf: (pid) => (pid === 100 ? "5000" : pid === 200 ? "7000" : undefined),
  };
  const name = (writer: TemporaryWriter) => temporaryPartName(PART, writer, 2, 9);

  it("names the part, the process with its start, the thread, the call and the host", () => {
    expect(name(self)).toBe("part-w-0000000001-0000.parquet.100-5000-2-9@web-1.example.tmp");
    expect(name({ host: "h", pid: 100 })).toBe("part-w-0000000001-0000.parquet.100-0-2-9@h.tmp");
  });

  it("is true for a temporary of this host whose process is gone, or of an earlier process with its pid", () => {
    expect(temporaryAbandoned(name({ ...self, pid: 400, processStart: "6000" }), self, probe)).toBe(true);
    expect(temporaryAbandoned(name({ ...self, pid: 400, processStart: undefined }), self, probe)).toBe(true);
    // Our pid, another start: this process's pid before a restart (a container's); pid 200 reused by another process.
    expect(temporaryAbandoned(name({ ...self, processStart: "4000" }), self, probe)).toBe(true);
    expect(temporaryAbandoned(name({ ...self, pid: 200, processStart: "6500" }), self, probe)).toBe(true);
  });

  it("is false for this process's own, a live process's, one whose process cannot be told from a live one, and another host's", () => {
    expect(temporaryAbandoned(name(self), self, probe)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, pid: 200, processStart: "7000" }), self, probe)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, pid: 300, processStart: "1" }), self, probe)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, pid: 200, processStart: undefined }), self, probe)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, processStart: undefined }), self, probe)).toBe(false);
    expect(temporaryAbandoned(name(self), { ...self, processStart: undefined }, probe)).toBe(false);
    expect(temporaryAbandoned(name({ ...self, host: "web-2.example", pid: 400 }), self, probe)).toBe(false);
  });

  it("judges the older, hostless form by its pid alone, and takes no other name for a temporary", () => {
    expect(temporaryAbandoned(`${PART}.400-0-3.tmp`, self, probe)).toBe(true);
    expect(temporaryAbandoned(`${PART}.100-0-3.tmp`, self, probe)).toBe(true);
    expect(temporaryAbandoned(`${PART}.200-0-3.tmp`, self, probe)).toBe(false);
    for (const other of [`${PART}.tmp`, "notes.tmp", `${PART}.400-0-3.tmp.bak`, "part-w-0000000001-0000.csv.400-0-3.tmp", `${PART}.400-x-0-3@web-1.example.tmp`, `${PART}.400-1-0-3@.tmp`]) {
      expect(temporaryAbandoned(other, self, probe)).toBe(false);
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
    expect(left).toEqual([expect.stringMatching(new RegExp(`^${PART.replace(/\./g, "\\.")}\\.${killedPid}-\\d+-0-1@${self.host.replace(/\./g, "\\.")}\\.tmp$`))]);

    // Beside it: an older form's of the dead process, this process's pid before a restart (other start): abandoned.
    const abandoned = [`${PART}.${killedPid}-0-7.tmp`, temporaryPartName(PART, { ...self, processStart: "1" }, 0, 1)];
    // And ones nobody may delete: this process's own (an encoder thread of a partitioned worker writing it now), a live
    // process's (the one that started this test), another host's, files that are not temporaries, one in _checkpoints.
    const parentStart = processStartOf(process.ppid);
    const kept = [
      temporaryPartName(PART, self, 3, 1),
      temporaryPartName(PART, { ...self, pid: process.ppid, ...(parentStart !== undefined && { processStart: parentStart }) }, 0, 1),
      temporaryPartName(PART, { ...self, host: `not-${self.host}`, pid: killedPid }, 0, 1),
      "notes.tmp",
      `${PART}.tmp`,
    ];
    for (const name of [...abandoned, ...kept]) await writeFile(join(folder, name), "x");
    await mkdir(join(root, "_checkpoints"), { recursive: true });
    await writeFile(join(root, "_checkpoints", `${PART}.${killedPid}-0-7.tmp`), "x");

    const summary = await ParquetSink.recover(root, undefined, { writerId: "w" });
    expect(summary).toEqual({ renamed: 0, alreadyCommitted: 0, missing: [], deletedInProgress: 0, deletedTemporaries: 3, merged: 0 });
    expect((await readdir(folder)).sort()).toEqual([PART, "part-w-0000000002-0000.parquet", ...kept].sort());
    expect(await readdir(join(root, "_checkpoints"))).toEqual([`${PART}.${killedPid}-0-7.tmp`]);
    // The killed rewrite changed nothing: the same rows, "a" still in both epochs.
    expect(await lakeRows()).toEqual(before);
    const [{ ids }] = await queryJson(connection, `SELECT string_agg(id, ',' ORDER BY id) AS ids FROM read_parquet('${root}/all_types/**/*.parquet')`);
    expect(ids).toBe("a,a,b,b,c,c,d,d,é漢字🙂,é漢字🙂");
  });
});
