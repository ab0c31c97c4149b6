// What a worker's thread loads at start: apache-arrow and parquet-wasm (≈ 0.5–0.8 CPU s and ≈ 25 MB to load) only on
// demand, through a dynamic import, never a static one anywhere below the worker (the CLI's `run` chunk would load it
// at every start, whether anything on that thread reads Parquet or not).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

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
