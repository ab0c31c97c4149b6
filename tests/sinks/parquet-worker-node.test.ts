import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { allTypesExpectedInDuckDb, duckDb, readAllTypes, temporaryDirectory } from "./lake-fixtures.ts";

let root: string;
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("parquet encoder thread under node --import tsx", () => {
  it("starts its TypeScript worker outside vitest and writes files DuckDB reads as the input rows", async () => {
    root = await temporaryDirectory("worker-node");
    const script = new URL("./encoder-thread-script.ts", import.meta.url).pathname;
    await promisify(execFile)(process.execPath, ["--import", "tsx", script, root], { timeout: 30_000 });
    expect(await readAllTypes(await duckDb(), root)).toEqual(allTypesExpectedInDuckDb);
  });
});
