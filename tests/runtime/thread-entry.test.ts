// TypeScript worker entries start from an esbuild bundle (no tsx loader thread), or through tsx when they cannot.
import { once } from "node:events";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { bundleOf, startTypeScriptWorker } from "../../src/runtime/thread-entry.ts";
import { ColumnBatchBuilder, encodeSealedBatch, encoderReady, transferListOf } from "../../src/sinks/parquet-encoder.ts";
import type { EncodeResponse } from "../../src/sinks/parquet-encoder-worker.ts";
import { duckDb, queryJson, temporaryDirectory } from "../sinks/lake-fixtures.ts";

const fixture = (name: string) => new URL(`../fixtures/threads/${name}`, import.meta.url);

describe("startTypeScriptWorker", () => {
  it("runs a TypeScript entry from its bundle, which esbuild builds once per process", async () => {
    const bundle = bundleOf(fixture("double.ts"));
    expect(bundle?.pathname).toMatch(/node_modules\/\.cache\/clickpipe\/threads\/double-[0-9a-f]{16}\.mjs$/);
    expect(bundleOf(fixture("double.ts"))).toBe(bundle);
    // The bundle is plain JavaScript: no type annotations left.
    expect(readFileSync(fileURLToPath(bundle!), "utf8")).not.toContain("number[]");
    const worker = startTypeScriptWorker(fixture("double.ts"));
    try {
      worker.postMessage([1, 2, 21]);
      const [reply] = (await once(worker, "message")) as [{ doubled: number[]; stack: string }];
      expect(reply.doubled).toEqual([2, 4, 42]);
      expect(reply.stack).toContain(bundle!.pathname);
    } finally {
      await worker.terminate();
    }
  });

  it("starts an entry that reads import.meta.url from its source through tsx", async () => {
    expect(bundleOf(fixture("where-am-i.ts"))).toBeUndefined();
    const worker = startTypeScriptWorker(fixture("where-am-i.ts"));
    try {
      const [reply] = (await once(worker, "message")) as [{ url: string }];
      expect(reply.url).toBe(fixture("where-am-i.ts").href);
    } finally {
      await worker.terminate();
    }
  });

  it("the Parquet encoder thread's bundle loads apache-arrow and parquet-wasm only for zstd", () => {
    // Both cost a thread ≈ 0.5–0.8 CPU s to load; the sink's threads start inside the run. A static import of either
    // anywhere below the entry would be hoisted to the bundle's top and run at every thread start.
    const text = readFileSync(fileURLToPath(bundleOf(new URL("../../src/sinks/parquet-encoder-worker.ts", import.meta.url))!), "utf8");
    for (const name of ["apache-arrow", "parquet-wasm"]) {
      expect(text).not.toMatch(new RegExp(`^import[^;]*from\\s*"${name}"`, "m"));
      expect(text).toContain(`import("${name}")`);
    }
  });

  it("the bundled Parquet encoder writes the same bytes as the encoder in this thread", async () => {
    const columns = [
      { name: "id", type: "string" as const },
      { name: "n", type: "int64" as const },
      { name: "tags", type: "list<string>" as const },
    ];
    const build = () => {
      const builder = new ColumnBatchBuilder(columns);
      for (let i = 0; i < 1000; i++) builder.append({ id: `row-${i}`, n: i * 3, tags: i % 3 === 0 ? null : ["a", `t${i % 7}`] });
      return builder.seal();
    };
    const options = { compression: "zstd" as const, rowGroupSize: 256 };
    await encoderReady("zstd");
    const expected = encodeSealedBatch(build(), options);
    const worker = startTypeScriptWorker(new URL("../../src/sinks/parquet-encoder-worker.ts", import.meta.url));
    let directory: string | undefined;
    try {
      const batch = build();
      worker.postMessage({ id: 7, batch, options }, transferListOf(batch));
      const [reply] = (await once(worker, "message")) as [EncodeResponse];
      expect("bytes" in reply ? Buffer.from(reply.bytes).equals(Buffer.from(expected)) : reply).toBe(true);
      // And the bytes are a Parquet file an independent reader agrees with.
      directory = await temporaryDirectory("thread-entry");
      const file = join(directory, "part.parquet");
      writeFileSync(file, expected);
      const summary = await queryJson(await duckDb(), `SELECT count(*) AS rows, sum(n) AS total, count(tags) AS with_tags, max(id) AS last FROM '${file}'`);
      expect(summary).toEqual([{ rows: "1000", total: "1498500", with_tags: "666", last: "row-999" }]);
    } finally {
      await worker.terminate();
      if (directory) rmSync(directory, { recursive: true, force: true });
    }
  });
});
