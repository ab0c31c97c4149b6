// TailPositionStore: one durable JSON position per configured path (and instance), replaced atomically; batch ids.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { batchIdPrefix, TailPositionStore, type TailPosition } from "../../src/ingest/tailer-position.ts";

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

describe("TailPositionStore - instance", () => {
  it("names a position file by the hash of its path alone without an instance, as every earlier version did", () => {
    // The name existing deployments' positions have: a tailer without `instance` resumes from them.
    expect(new TailPositionStore("/lake/_checkpoints/web/sources/1-accessLog").fileOf("/var/log/nginx/access.log")).toBe(
      "/lake/_checkpoints/web/sources/1-accessLog/access-log-32d34ffbc65f9f95.json",
    );
  });

  it("gives each instance its own position file for the same path, beside the file without one", async () => {
    const directory = join(await scratchDirectory(), "state");
    const shared = new TailPositionStore(directory);
    const web1 = new TailPositionStore(directory, "web-1");
    const web2 = new TailPositionStore(directory, "web-2");
    const path = "/var/log/nginx/access.log";
    expect(web1.fileOf(path)).toBe(join(directory, "access-log-32d34ffbc65f9f95@web-1.json"));
    expect(web2.fileOf(path)).toBe(join(directory, "access-log-32d34ffbc65f9f95@web-2.json"));
    // Host names compare without case: one instance, one file.
    expect(new TailPositionStore(directory, "WEB-2").fileOf(path)).toBe(web2.fileOf(path));
    await shared.save(position(path, 10));
    await web1.save(position(path, 20));
    expect(await web2.load(path)).toBeUndefined();
    await web2.save(position(path, 30));
    expect((await shared.load(path))?.offset).toBe(10);
    expect((await web1.load(path))?.offset).toBe(20);
    expect((await web2.load(path))?.offset).toBe(30);
    expect((await readdir(directory)).sort()).toEqual(["access-log-32d34ffbc65f9f95.json", "access-log-32d34ffbc65f9f95@web-1.json", "access-log-32d34ffbc65f9f95@web-2.json"]);
  });
});

describe("batchIdPrefix", () => {
  const at = { file: "2049:1234", generation: 0, lineage: "firstLineHash" };

  it("keeps the ids of a tailer without an instance", () => {
    expect(batchIdPrefix(at, 0, 4096)).toBe("tail:2049:1234:firstLineHash:0:0-4096");
    expect(batchIdPrefix({ file: "2049:1234", generation: 2 }, 10, 20)).toBe("tail:2049:1234:2:10-20");
  });

  it("names the instance, so two hosts' chunks of one extent of files with the same device, inode and first line differ", () => {
    expect(batchIdPrefix(at, 0, 4096, "web-1")).toBe("tail@web-1:2049:1234:firstLineHash:0:0-4096");
    expect(batchIdPrefix(at, 0, 4096, "web-2")).toBe("tail@web-2:2049:1234:firstLineHash:0:0-4096");
  });
});
