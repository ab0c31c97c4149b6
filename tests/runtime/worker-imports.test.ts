// What a worker's thread loads at start: apache-arrow and parquet-wasm (≈ 0.5–0.8 CPU s and ≈ 25 MB to load) only on
// demand, through a dynamic import, never a static one anywhere below the worker (the CLI's `run` chunk would load it
// at every start, whether anything on that thread reads Parquet or not). Nor does compaction's planning load them there
// when it reads the row counts of earlier runs' parts (parquet-footer.ts).
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ParquetSink } from "../../src/sinks/parquet.ts";
import { allTypesRows, allTypesTable, duckDb, lakesRemovedAfterAll, queryJson } from "../sinks/lake-fixtures.ts";

const lake = lakesRemovedAfterAll("worker-imports");

const { buildSync } = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");

/** `module → package` for each import of apache-arrow or parquet-wasm below `entry`, with its kind (static or dynamic). */
function arrowImportsBelow(entry: string): string[] {
  const { metafile } = buildSync({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    splitting: true,
    outdir: "unused",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const found: string[] = [];
  for (const [module, input] of Object.entries(metafile.inputs)) {
    for (const imported of input.imports) {
      if (imported.path === "apache-arrow" || imported.path === "parquet-wasm") found.push(`${module} → ${imported.path} (${imported.kind})`);
    }
  }
  return found.sort();
}

describe("the modules a worker's thread loads at start", () => {
  it("import apache-arrow and parquet-wasm only dynamically, from parquet-arrow.ts", () => {
    for (const entry of ["../../src/runtime/worker.ts", "../../src/cli/run.ts"]) {
      expect(arrowImportsBelow(entry)).toEqual([
        "src/sinks/parquet-arrow.ts → apache-arrow (dynamic-import)",
        "src/sinks/parquet-arrow.ts → parquet-wasm (dynamic-import)",
      ]);
    }
  });
});

describe("a worker's sink restarted on a lake with earlier parts, compaction on", () => {
  it("reads their row counts and merges them without loading apache-arrow or parquet-wasm on its main thread", async () => {
    const root = await lake();
    // Two epochs of an earlier run, zstd (parquet-wasm's parts, with a page index and a list column).
    const earlier = new ParquetSink({ path: root, tables: [allTypesTable], writerId: "w", compression: "zstd", useWorkerThread: false });
    for (let epoch = 1; epoch <= 2; epoch++) {
      for (const row of allTypesRows) earlier.append("all_types", row);
      await earlier.commit(await earlier.prepare(epoch));
    }
    await earlier.close();
    const script = fileURLToPath(new URL("./restarted-sink-script.ts", import.meta.url));
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, root, "3"], { timeout: 60_000 });
    expect(stderr).toBe("");
    // allTypesRows: two rows on 2024-03-10, three on 2024-03-11, in each epoch. The counts came from the footers.
    expect(JSON.parse(stdout)).toEqual({
      merges: [
        ["all_types/dt=2024-03-10/part-w-0000000003-c0000.parquet", 4],
        ["all_types/dt=2024-03-11/part-w-0000000003-c0001.parquet", 6],
      ],
      loadedHere: false,
    });
    const connection = await duckDb();
    const [{ rows, ids }] = await queryJson(connection, `SELECT count(*)::INTEGER AS rows, string_agg(id, ',' ORDER BY id) AS ids FROM read_parquet('${root}/all_types/**/*.parquet')`);
    expect({ rows, ids }).toEqual({ rows: 10, ids: "a,a,b,b,c,c,d,d,é漢字🙂,é漢字🙂" });
  });
});
