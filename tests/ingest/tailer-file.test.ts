// TailedPath on real files: which lines of a log path go out, across restarts, when a file is replaced under its inode,
// rotated (compressed or not, several times before it looks again) or copied and truncated.
import { createHash } from "node:crypto";
import { appendFile, copyFile, mkdir, mkdtemp, open, readFile, rename, rm, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TailedPath } from "../../src/ingest/tailer-file.ts";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import type { NumberedLine } from "../../src/ingest/tailer-publisher.ts";

/** Lines that end alike (the same user agent), as a log of health checks does. */
const line = (first: string, n: number) => `${first} 10.0.0.${n % 10} "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.29 (readiness and liveness checks)"`;

/** The lineage in a file's batch ids: SHA-256 of its first line (newline included), base64url, 22 characters. */
const lineageOf = (firstLine: string) => createHash("sha256").update(firstLine).digest("base64url").slice(0, 22);

describe("TailedPath", () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tailed-path-"));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  function tailed(path: string, store: TailPositionStore, published: NumberedLine[][], options: { prefixes?: string[]; logs?: string[]; chunkBytes?: number } = {}): TailedPath {
    return new TailedPath({
      path,
      store,
      publisher: {
        publish: async (prefix: string, lines: readonly NumberedLine[]) => {
          options.prefixes?.push(prefix);
          published.push([...lines]);
        },
      },
      log: (text) => options.logs?.push(text),
      now: Date.now,
      stopping: () => false,
      chunkBytes: options.chunkBytes,
      // A rotated file is finished at the first poll that finds it not grown.
      rotatedGraceMs: 0,
    });
  }

  /** logrotate's `compress`: `<file>.gz` written, `<file>` removed. */
  async function gzipAway(file: string): Promise<void> {
    await writeFile(`${file}.gz`, gzipSync(await readFile(file)));
    await unlink(file);
  }

  /** A fresh folder with `access.log` of lines 1..`read` read by a stopped tailer, then lines up to `last` appended unread. */
  async function stoppedAfter(name: string, read: number, last: number, chunkBytes?: number) {
    const folder = join(directory, name);
    await mkdir(folder);
    const path = join(folder, "access.log");
    const store = new TailPositionStore(join(folder, "state"));
    await writeFile(path, Array.from({ length: read }, (_, n) => line("read", n + 1) + "\n").join(""));
    const first = tailed(path, store, [], { chunkBytes });
    await first.restore();
    await first.poll();
    await first.close();
    await appendFile(path, Array.from({ length: last - read }, (_, n) => line("more", n + read + 1) + "\n").join(""));
    return { folder, path, store };
  }

  it("reads a file whose inode a new file reused from its start, though the bytes before the old offset match", async () => {
    const path = join(directory, "access.log");
    const store = new TailPositionStore(join(directory, "state"));
    const write = async (text: string) => {
      // Rewritten in place: the inode stays, as when ext4 hands a deleted file's inode to the new one.
      const handle = await open(path, "w");
      await handle.writeFile(text);
      await handle.close();
    };
    await write(Array.from({ length: 10 }, (_, n) => line("old", n)).join("\n") + "\n");
    const before: NumberedLine[][] = [];
    const first = tailed(path, store, before);
    await first.restore();
    await first.poll();
    await first.close();
    expect(before.flat()).toHaveLength(10);

    // The new file: other lines of the same length that end alike, then two more.
    const replaced = Array.from({ length: 12 }, (_, n) => line("new", n));
    await write(replaced.join("\n") + "\n");
    const after: NumberedLine[][] = [];
    const second = tailed(path, store, after);
    await second.restore();
    await second.poll();
    await second.close();
    expect(after.flat().map((numbered) => numbered.text)).toEqual(replaced);
    expect((await store.load(path))?.generation).toBe(1);
  });

  it("reads the rest of a file compressed while stopped from its gzip: the lines, line numbers and batch ids of the file itself", async () => {
    // The oracle: the same stopped state, rotated without compression. 200-byte chunks: lines span chunk boundaries.
    const plain = await stoppedAfter("plain", 10, 30, 200);
    const compressed = await stoppedAfter("compressed", 10, 30, 200);
    for (const { path } of [plain, compressed]) {
      await rename(path, `${path}.1`);
      await writeFile(path, `${line("new", 1)}\n${line("new", 2)}\n`);
    }
    await gzipAway(`${compressed.path}.1`);
    // Positions name the file by inode: give the compressed side the plain side's, so the batch ids can be compared.
    await copyFile(plain.store.fileOf(plain.path), compressed.store.fileOf(compressed.path));
    await writeFile(compressed.store.fileOf(compressed.path), (await readFile(compressed.store.fileOf(compressed.path), "utf8")).replaceAll(plain.folder, compressed.folder));

    const rotatedFile = (await plain.store.load(plain.path))!.file;
    const read = async ({ path, store }: { path: string; store: TailPositionStore }) => {
      const published: NumberedLine[][] = [];
      const prefixes: string[] = [];
      const logs: string[] = [];
      const tailer = tailed(path, store, published, { prefixes, logs, chunkBytes: 200 });
      await tailer.restore();
      await tailer.poll();
      await tailer.poll();
      await tailer.close();
      return { lines: published.flat(), prefixes, logs };
    };
    const fromPlain = await read(plain);
    const fromGzip = await read(compressed);
    const expected = [
      ...Array.from({ length: 20 }, (_, n) => ({ text: line("more", n + 11), lineNumber: n + 11 })),
      { text: line("new", 1), lineNumber: 1 },
      { text: line("new", 2), lineNumber: 2 },
    ];
    expect(fromGzip.lines).toEqual(expected);
    expect(fromPlain.lines).toEqual(expected);
    // The rotated file's batch ids: two lines per 200-byte chunk from the saved offset (the new files name their own inodes).
    const savedOffset = 10 * (line("read", 1).length + 1);
    const lineBytes = line("more", 11).length + 1;
    expect([2 * lineBytes <= 200, 3 * lineBytes > 200]).toEqual([true, true]);
    const lineage = lineageOf(`${line("read", 1)}\n`);
    const rotatedIds = Array.from({ length: 10 }, (_, k) => `tail:${rotatedFile}:${lineage}:0:${savedOffset + 2 * k * lineBytes}-${savedOffset + 2 * (k + 1) * lineBytes}`);
    expect(fromGzip.prefixes.slice(0, -1)).toEqual(rotatedIds);
    expect(fromPlain.prefixes.slice(0, -1)).toEqual(rotatedIds);
    expect(fromGzip.logs).toEqual([`access log ${compressed.path}: finishing ${compressed.path}.1.gz (rotated and compressed while stopped) from byte ${savedOffset} of the file it holds`]);
  });

  it("publishes the gzip's unterminated last line, as the end of any rotated file", async () => {
    const { path, store } = await stoppedAfter("unterminated", 10, 12);
    await appendFile(path, line("last", 13));
    await rename(path, `${path}.1`);
    await gzipAway(`${path}.1`);
    const published: NumberedLine[][] = [];
    const tailer = tailed(path, store, published);
    await tailer.restore();
    await tailer.poll();
    await tailer.close();
    expect(published.flat()).toEqual([
      { text: line("more", 11), lineNumber: 11 },
      { text: line("more", 12), lineNumber: 12 },
      { text: line("last", 13), lineNumber: 13 },
    ]);
  });

  it("sends the complete lines of a gzip cut short, then says the rest is lost and reads the new file", async () => {
    const { path, store } = await stoppedAfter("cut-short", 10, 40);
    await rename(path, `${path}.1`);
    await writeFile(path, `${line("new", 1)}\n`);
    await gzipAway(`${path}.1`);
    // Without its last 40 bytes (the trailer and some deflate data) the gzip stops with "unexpected end of file".
    const whole = await readFile(`${path}.1.gz`);
    await writeFile(`${path}.1.gz`, whole.subarray(0, whole.length - 40));
    const published: NumberedLine[][] = [];
    const logs: string[] = [];
    const tailer = tailed(path, store, published, { logs });
    await tailer.restore();
    await tailer.poll();
    await tailer.close();
    const lines = published.flat();
    // Some of lines 11..40, in order and whole, then the new file's first line.
    const fromGzip = lines.slice(0, -1);
    expect(fromGzip.length).toBeGreaterThan(0);
    expect(fromGzip.length).toBeLessThan(30);
    expect(fromGzip).toEqual(Array.from({ length: fromGzip.length }, (_, n) => ({ text: line("more", n + 11), lineNumber: n + 11 })));
    expect(lines.at(-1)).toEqual({ text: line("new", 1), lineNumber: 1 });
    const lostFrom = 10 * (line("read", 1).length + 1) + fromGzip.length * (line("more", 11).length + 1);
    expect(logs[1]).toMatch(new RegExp(`access\\.log\\.1\\.gz cannot be decompressed past byte \\d+ \\(unexpected end of file\\); the lines after byte ${lostFrom} are lost`));
  });

  it("names a file's batches by the hash of its first line, complete or not when it was opened, as it grows past 1 KiB and after a crash", async () => {
    const folder = join(directory, "lineage");
    await mkdir(folder);
    const path = join(folder, "access.log");
    const store = new TailPositionStore(join(folder, "state"));
    const first = `${line("first", 1)}\n`;
    // Opened while its first line is half written: nothing to publish yet, and nothing to take a lineage from.
    await writeFile(path, first.slice(0, 30));
    const firstPrefixes: string[] = [];
    const before = tailed(path, store, [], { prefixes: firstPrefixes });
    await before.restore();
    await before.poll();
    const opened = await readFile(store.fileOf(path), "utf8");
    expect([JSON.parse(opened).lineage, firstPrefixes]).toEqual(["", []]);
    await appendFile(path, first.slice(30) + Array.from({ length: 4 }, (_, n) => line("first", n + 2) + "\n").join(""));
    await before.poll();
    await before.close();
    // The crash: the chunk was acknowledged, its position never saved.
    await writeFile(store.fileOf(path), opened);
    const afterPrefixes: string[] = [];
    const after = tailed(path, store, [], { prefixes: afterPrefixes });
    await after.restore();
    await after.poll();
    const shortEnd = first.length + 4 * (line("first", 2).length + 1);
    await appendFile(path, Array.from({ length: 9 }, (_, n) => line("first", n + 6) + "\n").join(""));
    await after.poll();
    await after.close();
    const longEnd = shortEnd + 9 * (line("first", 6).length + 1);
    expect([shortEnd < 1024, longEnd > 1024]).toEqual([true, true]);
    const { dev, ino } = await stat(path, { bigint: true });
    const ids = `tail:${dev}:${ino}:${lineageOf(first)}:0`;
    expect(firstPrefixes).toEqual([`${ids}:0-${shortEnd}`]);
    expect(afterPrefixes).toEqual([`${ids}:0-${shortEnd}`, `${ids}:${shortEnd}-${longEnd}`]);
    expect((await store.load(path))?.lineage).toBe(lineageOf(first));
  });

  it("keeps the ids without a lineage for the file of a position an earlier version saved, and gives the next file one", async () => {
    const { path, store } = await stoppedAfter("earlier-version", 5, 8);
    const saved = (await store.load(path))!;
    // An earlier version saved no lineage: a chunk it published before a crash must get the same id again.
    delete saved.lineage;
    await store.save(saved);
    const prefixes: string[] = [];
    const tailer = tailed(path, store, [], { prefixes });
    await tailer.restore();
    await tailer.poll();
    await rename(path, `${path}.1`);
    await writeFile(path, `${line("next", 1)}\n`);
    await tailer.poll();
    await tailer.poll();
    await tailer.close();
    const { dev, ino } = await stat(path, { bigint: true });
    const lineBytes = line("read", 1).length + 1;
    expect(prefixes).toEqual([`tail:${saved.file}:0:${5 * lineBytes}-${8 * lineBytes}`, `tail:${dev}:${ino}:${lineageOf(`${line("next", 1)}\n`)}:0:0-${lineBytes}`]);
  });

  it("takes no gzip whose start differs, and none whose bytes before the saved offset differ: it says the lines are lost", async () => {
    const { path, store } = await stoppedAfter("other-gzips", 20, 22);
    // An older rotation (another start), and a copy whose first KiB matches but whose 20th line (the last read) differs
    // near its end, where the position's fingerprint looks.
    await writeFile(`${path}.2.gz`, gzipSync(Array.from({ length: 22 }, (_, n) => line("old", n + 1) + "\n").join("")));
    const text = await readFile(path, "utf8");
    const lastReadAt = text.lastIndexOf(line("read", 20));
    await writeFile(`${path}.1.gz`, gzipSync(text.slice(0, lastReadAt) + line("read", 20).replace("liveness", "LIVENESS") + text.slice(lastReadAt + line("read", 20).length)));
    expect(lastReadAt).toBeGreaterThan(1024);
    // The new file is made while the old one still exists: it cannot get its inode.
    await writeFile(`${path}.new`, `${line("new", 1)}\n`);
    await unlink(path);
    await rename(`${path}.new`, path);
    const published: NumberedLine[][] = [];
    const logs: string[] = [];
    const tailer = tailed(path, store, published, { logs });
    await tailer.restore();
    await tailer.poll();
    await tailer.close();
    expect(published.flat()).toEqual([{ text: line("new", 1), lineNumber: 1 }]);
    const savedAt = lastReadAt + line("read", 20).length + 1;
    expect(logs).toEqual([
      `access log ${path}: finishing ${path}.1.gz (rotated and compressed while stopped) from byte ${savedAt} of the file it holds`,
      `access log ${path}: ${path}.1.gz holds other bytes before byte ${savedAt} than the file read; the lines after byte ${savedAt} are lost`,
    ]);
  });
});

describe("TailedPath - several rotations", () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tailed-rotations-"));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  /** A tailer of `<folder>/access.log` (rotated files finished at the first poll that finds them not grown) that read lines 1..`read`. */
  async function readUpTo(name: string, read: number) {
    const folder = join(directory, name);
    await mkdir(folder);
    const path = join(folder, "access.log");
    const store = new TailPositionStore(join(folder, "state"));
    await writeFile(path, text("read", 1, read));
    const published: NumberedLine[][] = [];
    const prefixes: string[] = [];
    const logs: string[] = [];
    const tailer = new TailedPath({
      path,
      store,
      publisher: {
        publish: async (prefix: string, lines: readonly NumberedLine[]) => {
          prefixes.push(prefix);
          published.push([...lines]);
        },
      },
      log: (logged) => logs.push(logged),
      now: Date.now,
      stopping: () => false,
      rotatedGraceMs: 0,
    });
    await tailer.restore();
    await tailer.poll();
    return { path, store, tailer, published, prefixes, logs };
  }

  /** Lines `first`..`last` (1-based) of a kind, each with its newline. */
  const text = (kind: string, first: number, last: number) => Array.from({ length: last - first + 1 }, (_, n) => line(kind, first + n) + "\n").join("");
  const numbered = (kind: string, first: number, last: number, from = first) =>
    Array.from({ length: last - first + 1 }, (_, n) => ({ text: line(kind, first + n), lineNumber: from + n }));

  it("reads the file of a second rotation that came while it was finishing the first, before the new file", async () => {
    const { path, tailer, published } = await readUpTo("two-while-running", 10);
    published.length = 0;
    // Two rotations before the next poll: the file read (plus lines 11..12) ends up as .2, the one after it as .1.
    await appendFile(path, text("read", 11, 12));
    await rename(path, `${path}.1`);
    await writeFile(path, text("second", 1, 3));
    await rename(`${path}.1`, `${path}.2`);
    await rename(path, `${path}.1`);
    await writeFile(path, text("third", 1, 2));
    await tailer.poll();
    await tailer.close();
    expect(published.flat()).toEqual([...numbered("read", 11, 12), ...numbered("second", 1, 3), ...numbered("third", 1, 2)]);
  });

  it("finishes the lines written between its last read and copytruncate's copy from the copy, then the truncated file from 0", async () => {
    const { path, store, tailer, published, prefixes } = await readUpTo("copytruncate", 10);
    const before = (await store.load(path))!;
    published.length = 0;
    prefixes.length = 0;
    await appendFile(path, text("read", 11, 12));
    await copyFile(path, `${path}.1`);
    await truncate(path, 0);
    await appendFile(path, text("new", 1, 3));
    await tailer.poll();
    await tailer.close();
    expect(published.flat()).toEqual([...numbered("read", 11, 12), ...numbered("new", 1, 3)]);
    // Lines 11..12 under the ids the file itself would have given them; the new lines under the next generation.
    const copyEnd = before.offset + text("read", 11, 12).length;
    expect(prefixes).toEqual([
      `tail:${before.file}:${lineageOf(text("read", 1, 1))}:0:${before.offset}-${copyEnd}`,
      `tail:${before.file}:${lineageOf(text("new", 1, 1))}:1:0-${text("new", 1, 3).length}`,
    ]);
    expect((await store.load(path))!.generation).toBe(1);
  });

  it("reads nothing twice when copytruncate copied less than it had read (it read on before the truncation)", async () => {
    const { path, tailer, published, logs } = await readUpTo("copy-behind", 20);
    // The copy was taken at line 15 (past the first KiB, so it is recognized); lines 16..20 were written and read
    // before the truncation.
    await writeFile(`${path}.1`, text("read", 1, 15));
    expect(text("read", 1, 15).length).toBeGreaterThan(1024);
    await truncate(path, 0);
    await appendFile(path, text("new", 1, 2));
    published.length = 0;
    await tailer.poll();
    await tailer.close();
    expect(published.flat()).toEqual(numbered("new", 1, 2));
    expect(logs.at(-1)).toBe(
      `access log ${path}: truncated or replaced (was at byte ${text("read", 1, 20).length}); ${path}.1, its copy, holds ${text("read", 1, 15).length} bytes, all read`,
    );
  });

  it("says a rotated file compressed by another program than gzip is lost, and reads the files after it", async () => {
    const { path, tailer, published, logs } = await readUpTo("xz", 10);
    await tailer.close();
    await rename(path, `${path}.2`);
    await writeFile(path, text("second", 1, 3));
    await rename(path, `${path}.1`);
    // Not a real xz stream: only its name is looked at.
    await writeFile(`${path}.1.xz`, "\xfd7zXZ\0");
    await unlink(`${path}.1`);
    await writeFile(path, text("third", 1, 2));
    const store = new TailPositionStore(join(directory, "xz", "state"));
    const restarted = new TailedPath({
      path,
      store,
      publisher: { publish: async (_prefix: string, lines: readonly NumberedLine[]) => void published.push([...lines]) },
      log: (logged) => logs.push(logged),
      now: Date.now,
      stopping: () => false,
      rotatedGraceMs: 0,
    });
    published.length = 0;
    await restarted.restore();
    await restarted.poll();
    await restarted.close();
    expect(published.flat()).toEqual(numbered("third", 1, 2));
    expect(logs).toContain(`access log ${path}: ${path}.1.xz is compressed with another program than gzip; its lines are lost`);
  });

  it("gives a W3C reader without #Fields the directive before each chunk: none, then the one a chunk brought", async () => {
    const folder = join(directory, "w3c-nofields");
    await mkdir(folder);
    const path = join(folder, "u_ex.log");
    const entry = (n: number) => `2024-03-04 10:00:${String(n % 60).padStart(2, "0")} 192.0.2.${n} 200`;
    await writeFile(path, Array.from({ length: 40 }, (_, n) => `${entry(n)}\n`).join(""));
    const asked: Array<{ firstLine: number; directive: string | undefined }> = [];
    const store = new TailPositionStore(join(folder, "state"));
    const tailer = new TailedPath({
      path,
      store,
      publisher: {
        // As TailPublisher asks while its reader has no #Fields, for every chunk after the file's first line.
        publish: async (_prefix, lines, _receivedAt, source) => {
          if (lines[0].lineNumber > 1) asked.push({ firstLine: lines[0].lineNumber, directive: await source?.directiveBefore?.() });
        },
      },
      log: () => undefined,
      now: Date.now,
      stopping: () => false,
      chunkBytes: 256,
    });
    await tailer.restore();
    await tailer.poll();
    expect(asked.length).toBeGreaterThan(3);
    expect(asked.every(({ directive }) => directive === undefined)).toBe(true);
    const before = asked.length;
    await appendFile(path, `#fields: date time c-ip sc-status\n${Array.from({ length: 20 }, (_, n) => `${entry(n)}\n`).join("")}`);
    await tailer.poll();
    await tailer.close();
    // The chunk holding the directive line is asked for what came before it (none); every chunk after it gets it.
    const after = asked.slice(before);
    expect(after[0].directive).toBeUndefined();
    expect(after.length).toBeGreaterThan(2);
    expect(after.slice(1).every(({ directive }) => directive === "#fields: date time c-ip sc-status")).toBe(true);
  });
});
