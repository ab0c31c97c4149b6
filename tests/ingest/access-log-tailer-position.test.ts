// TailPositionStore: one durable JSON position per configured path, replaced atomically.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TailPositionStore, type TailPosition } from "../../src/ingest/tailer-position.ts";

const position = (path: string, offset: number): TailPosition => ({
  format: 1,
  path,
  file: "2049:1234",
  generation: 0,
  offset,
  lineNumber: offset / 10,
  fingerprint: "abc",
});

/** Temporary folders of this file's tests, removed when they are done. */
const scratch: string[] = [];
afterAll(async () => {
  for (const directory of scratch) await rm(directory, { recursive: true, force: true });
});

async function scratchDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-tailpos-"));
  scratch.push(directory);
  return directory;
}

describe("TailPositionStore", () => {
  it("loads what was saved last for a path, and nothing for a path never saved", async () => {
    const store = new TailPositionStore(join(await scratchDirectory(), "state"));
    expect(await store.load("/var/log/a.log")).toBeUndefined();
    await store.save(position("/var/log/a.log", 100));
    await store.save(position("/var/log/a.log", 250));
    await store.save(position("/var/log/b.log", 30));
    expect(await store.load("/var/log/a.log")).toEqual(position("/var/log/a.log", 250));
    expect(await store.load("/var/log/b.log")).toEqual(position("/var/log/b.log", 30));
  });

  it("leaves no temporary file behind after a save", async () => {
    const directory = join(await scratchDirectory(), "state");
    const store = new TailPositionStore(directory);
    await store.save(position("/var/log/a.log", 10));
    expect(await readdir(directory)).toEqual([store.fileOf("/var/log/a.log").slice(directory.length + 1)]);
  });
});
