// The rotated files beside a log path: which names count, their order, and which came after the file read last.
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { positionHash } from "../../src/ingest/tailer-position.ts";
import { rotatedAfter, rotatedFilesOf, type FinishedFile } from "../../src/ingest/tailer-rotated.ts";

describe("rotated files", () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-rotated-"));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  /** Writes each file (name → [content, modification time in seconds]) into a fresh folder; returns its access.log path. */
  async function folderWith(name: string, files: Record<string, [string | Buffer, number]>): Promise<string> {
    const folder = join(directory, name);
    await mkdir(folder);
    for (const [file, [content, seconds]] of Object.entries(files)) {
      await writeFile(join(folder, file), content);
      await utimes(join(folder, file), seconds, seconds);
    }
    return join(folder, "access.log");
  }

  const names = (files: { file: string }[]) => files.map(({ file }) => basename(file));

  /** What the tailer knows of a file it read to its end. */
  async function finishedOf(file: string, content: string): Promise<FinishedFile> {
    const { dev, ino, mtimeNs } = await stat(file, { bigint: true });
    const headBytes = Math.min(1024, Buffer.byteLength(content));
    return { identity: `${dev}:${ino}`, modifiedNs: mtimeNs, head: positionHash(Buffer.from(content).subarray(0, headBytes)), headBytes };
  }

  it("orders them by modification time, ties by name: a higher number, then an earlier date is older", async () => {
    const path = await folderWith("order", {
      "access.log": ["live\n", 900],
      "access.log.1": ["c\n", 300],
      "access.log.2.gz": [gzipSync("b\n"), 200],
      "access.log.3.gz": [gzipSync("a\n"), 200],
      "access.log-20261202": ["y\n", 100],
      "access.log-20261201.gz": [gzipSync("x\n"), 100],
      // Modified last, so read last whatever its number says.
      "access.log.9": ["z\n", 400],
      // Not rotations of access.log.
      "access.log.bak": ["-\n", 500],
      "access.log.1.tmp": ["-\n", 500],
      "error.log.1": ["-\n", 500],
    });
    expect(names(await rotatedFilesOf(path))).toEqual(["access.log-20261201.gz", "access.log-20261202", "access.log.3.gz", "access.log.2.gz", "access.log.1", "access.log.9"]);
  });

  it("leaves out a gzip beside its uncompressed original, which gzip is still compressing; tells gzip from other compressions", async () => {
    const path = await folderWith("compressing", {
      "access.log.1": ["b\n", 300],
      "access.log.1.gz": [Buffer.from([0x1f, 0x8b]), 301],
      "access.log.2.xz": ["a\n", 200],
      "access.log.3.gz": [gzipSync("z\n"), 100],
    });
    const files = await rotatedFilesOf(path);
    expect(files.map(({ file, compression }) => [basename(file), compression])).toEqual([
      ["access.log.3.gz", "gzip"],
      ["access.log.2.xz", "other"],
      ["access.log.1", "none"],
    ]);
  });

  it("gives the files after the one read last, found by its identity", async () => {
    const path = await folderWith("after-identity", {
      "access.log.3.gz": [gzipSync("a\n"), 100],
      "access.log.2": ["b\n", 200],
      "access.log.1.gz": [gzipSync("c\n"), 300],
    });
    expect(names(await rotatedAfter(path, await finishedOf(`${path}.2`, "b\n")))).toEqual(["access.log.1.gz"]);
    expect(names(await rotatedAfter(path, await finishedOf(`${path}.1.gz`, "c\n")))).toEqual([]);
  });

  it("does not take a later copy for the file read last when the copy got the deleted file's inode", async () => {
    // gzip deleted access.log.2 after compressing it, and the copy made next took its inode (file systems reuse freed
    // inodes: this test's neighbour failed so when it happened by chance). Same identity, same start, a later write.
    const path = await folderWith("after-inode-reuse", {
      "access.log.3.gz": [gzipSync("a\n"), 100],
      "access.log.2.gz": [gzipSync("b\n"), 200],
      "access.log.1": ["c\n", 300],
      "access.log.5": ["b\n", 400],
    });
    const copy = await finishedOf(`${path}.5`, "b\n");
    const finished = { ...copy, modifiedNs: 200_000_000_000n };
    expect(names(await rotatedAfter(path, finished))).toEqual(["access.log.1"]);
  });

  it("finds the file read last by its start once it was compressed, and leaves out its copies", async () => {
    const path = await folderWith("after-start", {
      "access.log.3.gz": [gzipSync("a\n"), 100],
      "access.log.2": ["b\n", 200],
      "access.log.1": ["c\n", 300],
    });
    const finished = await finishedOf(`${path}.2`, "b\n");
    // access.log.2 compressed after it was read (gzip keeps its time), and a copy of it made later.
    await rm(`${path}.2`);
    await writeFile(`${path}.2.gz`, gzipSync("b\n"));
    await utimes(`${path}.2.gz`, 200, 200);
    await writeFile(`${path}.5`, "b\n");
    await utimes(`${path}.5`, 400, 400);
    expect(names(await rotatedAfter(path, finished))).toEqual(["access.log.1"]);
  });

  it("does not take a later file that was given the inode of the file read last for it", async () => {
    const path = await folderWith("inode-reused", {
      "access.log.3.gz": [gzipSync("a\n"), 100],
      "access.log.2": ["b\n", 200],
      "access.log.1": ["c\n", 300],
      "access.log.5": ["x\n", 400],
    });
    // The file read last (its start "b\n", modified at 200) was deleted, and access.log.5 got its inode.
    const finished = { ...(await finishedOf(`${path}.2`, "b\n")), identity: (await finishedOf(`${path}.5`, "x\n")).identity };
    expect(names(await rotatedAfter(path, finished))).toEqual(["access.log.1", "access.log.5"]);
  });

  it("places a file read last that is gone by its modification time alone", async () => {
    const path = await folderWith("after-gone", {
      "access.log.3.gz": [gzipSync("a\n"), 100],
      "access.log.2": ["b\n", 200],
      "access.log.1": ["c\n", 300],
    });
    const finished = await finishedOf(`${path}.2`, "b\n");
    await rm(`${path}.2`);
    expect(names(await rotatedAfter(path, { ...finished, modifiedNs: 200_000_000_000n }))).toEqual(["access.log.1"]);
    expect(names(await rotatedAfter(path, { ...finished, modifiedNs: 150_000_000_000n }))).toEqual(["access.log.1"]);
    expect(names(await rotatedAfter(path, { ...finished, modifiedNs: 50_000_000_000n }))).toEqual(["access.log.3.gz", "access.log.1"]);
  });
});
