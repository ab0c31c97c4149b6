// The accessLog source on a real nats-server: appends, partial lines, rotation by rename (compressed or not, once or
// several times while stopped), copytruncate and restarts put every complete line into the stream exactly once, read
// back with StreamReader.
import { execFile } from "node:child_process";
import { appendFile, copyFile, cp, link, mkdir, mkdtemp, rename, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { pipelineSchema, type PipelineConfig } from "../../src/config/pipeline.ts";
import { createAccessLogTailer, type AccessLogSourceConfig } from "../../src/ingest/access-log-tailer.ts";
import type { Source } from "../../src/ingest/source.ts";
import { TailPositionStore } from "../../src/ingest/tailer-position.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { decodeDeadLetters, type DeadLetter } from "../../src/transport/dead-letter.ts";
import { fileLineId } from "../../src/events/event-id.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { parseSubject } from "../../src/transport/subjects.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

/** A combined-format line whose path names it: /page/<n>. */
function logLine(n: number): string {
  const second = String(n % 60).padStart(2, "0");
  return `10.0.${(n >> 8) & 255}.${n & 255} - - [17/May/2015:10:05:${second} +0000] "GET /page/${n} HTTP/1.1" 200 ${100 + n} "-" "Mozilla/5.0 (X11; Linux x86_64) tailer-test"`;
}

function linesOf(from: number, to: number): string {
  let text = "";
  for (let n = from; n < to; n++) text += `${logLine(n)}\n`;
  return text;
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface StreamContents {
  urls: string[];
  deadLetters: DeadLetter[];
  eventIds: string[];
}

async function readStream(connection: NatsConnection, stream: string): Promise<StreamContents> {
  const reader = await StreamReader.open(jetstream(connection), stream, { drainUntil: true });
  const contents: StreamContents = { urls: [], deadLetters: [], eventIds: [] };
  for await (const message of reader) {
    const where = parseSubject(stream, message.subject);
    if (where?.kind === "dlq") contents.deadLetters.push(...decodeDeadLetters(message.data));
    else
      for (const line of splitBatch(message.data)) {
        const event = JSON.parse(line) as { url: string; event_id: string };
        contents.urls.push(event.url);
        contents.eventIds.push(event.event_id);
      }
  }
  contents.urls.sort();
  return contents;
}

/** logrotate's `compress` without `delaycompress`: gzip writes `<path>.gz` and removes `<path>`. */
async function gzipAway(path: string): Promise<void> {
  await promisify(execFile)("gzip", [path]);
  await expect(stat(path)).rejects.toThrow(/ENOENT/);
}

/** /page/<n> for every n in the ranges, sorted as text. */
function expectedUrls(...ranges: Array<[number, number]>): string[] {
  const urls: string[] = [];
  for (const [from, to] of ranges) for (let n = from; n < to; n++) urls.push(`/page/${n}`);
  return urls.sort();
}

describe("access log tailer", () => {
  const natsUrl = inject("natsUrl");
  let connection: NatsConnection;
  let directory: string;
  let logPath: string;
  let stateDirectory: string;
  let store: TailPositionStore;
  let pipeline: PipelineConfig;
  const logLines: string[] = [];
  const stream = uniqueStreamName("TAIL");
  let tailer: Source | undefined;

  const sourceConfig = (): AccessLogSourceConfig => ({ type: "accessLog", paths: [logPath], format: "combined", pollInterval: 50 });
  const startTailer = async (chunkBytes?: number): Promise<Source> => {
    const source = createAccessLogTailer(
      sourceConfig(),
      { pipeline, connection, metrics: new Metrics(), stateDirectory, log: (line) => logLines.push(line) },
      { chunkBytes, rotatedGraceMs: 1_000 },
    );
    await source.start();
    return source;
  };
  /** Everything now in the file at `logPath` is acknowledged and its position saved (the file's, not a rotated one's). */
  const caughtUp = async () => {
    const { dev, ino, size } = await stat(logPath, { bigint: true });
    await waitFor(`the tailer to reach byte ${size}`, async () => {
      const position = await store.load(logPath);
      return position?.file === `${dev}:${ino}` && position.offset === Number(size);
    });
  };
  /** The stream holds lines [0, through) of the generated log, each event once. */
  const expectEveryLineOnce = async (through: number) => {
    const contents = await readStream(connection, stream);
    expect(contents.urls).toEqual(expectedUrls([0, through]));
    expect(new Set(contents.eventIds).size).toBe(contents.eventIds.length);
  };

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-tailer-"));
    logPath = join(directory, "access.log");
    stateDirectory = join(directory, "state");
    store = new TailPositionStore(stateDirectory);
    pipeline = pipelineSchema.parse({
      name: "tailer",
      nats: { url: natsUrl, stream },
      sinks: [{ type: "parquet", path: join(directory, "out") }],
    });
    connection = await connectNats({ url: natsUrl });
  });

  afterAll(async () => {
    await tailer?.stop();
    await connection?.drain();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("sends appended complete lines and holds back a partial last line until its newline arrives", async () => {
    await writeFile(logPath, linesOf(0, 50) + logLine(50).slice(0, 40));
    tailer = await startTailer();
    await waitFor("lines 0..49", async () => (await store.load(logPath))?.lineNumber === 50);
    expect((await readStream(connection, stream)).urls).toEqual(expectedUrls([0, 50]));

    await appendFile(logPath, `${logLine(50).slice(40)}\n${linesOf(51, 80)}this is not a log line\n`);
    await caughtUp();
    const contents = await readStream(connection, stream);
    expect(contents.urls).toEqual(expectedUrls([0, 80]));
    expect(contents.deadLetters.map((letter) => letter.raw)).toEqual(["this is not a log line"]);
    expect(contents.deadLetters[0].reason).toMatch(/^unparseable_line: /);
    // Line 81 (50 lines, line 50 completed, 29 more): the id an event of that line would have, so a re-read writes it once.
    expect(contents.deadLetters[0].id).toBe(fileLineId(81, "this is not a log line"));
  });

  it("finishes the renamed file, including lines written to it after the rename, then reads the new file from 0", async () => {
    await tailer!.stop();
    // Stopped, so the rename and the late write to the old file both happen before the tailer looks again.
    await rename(logPath, `${logPath}.1`);
    await appendFile(`${logPath}.1`, linesOf(80, 90));
    await writeFile(logPath, linesOf(90, 100));
    tailer = await startTailer();
    await caughtUp();
    expect((await readStream(connection, stream)).urls).toEqual(expectedUrls([0, 100]));
    expect(logLines.some((line) => line.includes("rotated while stopped"))).toBe(true);

    // And while running, as logrotate does: .1 → .2, access.log → .1, then a new file appears.
    await rename(`${logPath}.1`, `${logPath}.2`);
    await rename(logPath, `${logPath}.1`);
    await writeFile(logPath, linesOf(100, 110));
    await caughtUp();
    expect((await readStream(connection, stream)).urls).toEqual(expectedUrls([0, 110]));
  });

  it("restarts from 0 after copytruncate, also when the file refilled past the old offset before it looked", async () => {
    await copyFile(logPath, `${logPath}.3`);
    await truncate(logPath, 0);
    await appendFile(logPath, linesOf(110, 115));
    await caughtUp();
    expect((await readStream(connection, stream)).urls).toEqual(expectedUrls([0, 115]));

    // Truncated and refilled beyond the saved offset while stopped: the size alone cannot tell, the fingerprint does.
    await tailer!.stop();
    const offsetBefore = (await store.load(logPath))!.offset;
    await truncate(logPath, 0);
    await appendFile(logPath, linesOf(115, 140));
    expect((await stat(logPath)).size).toBeGreaterThan(offsetBefore);
    tailer = await startTailer();
    await caughtUp();
    expect((await readStream(connection, stream)).urls).toEqual(expectedUrls([0, 140]));
    expect((await store.load(logPath))!.generation).toBe(2);
  });

  it("resumes mid-file after stop() without sending a line twice or skipping one", async () => {
    await tailer!.stop();
    await appendFile(logPath, linesOf(140, 3140));
    // 4 KiB chunks: stop() lands in the middle of the 600 KB of new lines.
    tailer = await startTailer(4096);
    await waitFor("some of the new lines", async () => (await store.load(logPath))!.lineNumber > 25 + 200);
    await tailer.stop();
    const stoppedAt = (await store.load(logPath))!;
    expect(stoppedAt.offset).toBeLessThan((await stat(logPath)).size);
    tailer = await startTailer(4096);
    await caughtUp();
    await expectEveryLineOnce(3140);
  });

  it("re-sends a chunk acknowledged before a crash under the same batch ids, which JetStream stores once", async () => {
    await caughtUp();
    const beforeChunk = join(directory, "position-before-chunk.json");
    await cp(store.fileOf(logPath), beforeChunk);
    await appendFile(logPath, linesOf(3140, 3160));
    await caughtUp();
    await tailer!.stop();
    // The crash: the chunk was acknowledged, but its position never reached the disk.
    await cp(beforeChunk, store.fileOf(logPath));
    tailer = await startTailer(4096);
    await caughtUp();
    const contents = await readStream(connection, stream);
    expect(contents.urls).toEqual(expectedUrls([0, 3160]));
    expect(contents.deadLetters).toHaveLength(1);
  });

  it("follows a renamed file the server still writes to (until logrotate's postrotate) before reading the new one", async () => {
    await caughtUp();
    // nginx keeps appending to access.log.4 until it is told to reopen; the new access.log already exists meanwhile.
    await rename(logPath, `${logPath}.4`);
    await writeFile(logPath, linesOf(3170, 3180));
    for (let n = 3160; n < 3170; n += 2) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await appendFile(`${logPath}.4`, linesOf(n, n + 2));
    }
    await caughtUp();
    expect((await readStream(connection, stream)).urls).toEqual(expectedUrls([0, 3180]));
  });

  it("reads on a renamed file it holds open after logrotate compressed and removed it, then the new file", async () => {
    await caughtUp();
    // The tailer holds the file open: lines the server wrote before reopening stay readable after gzip unlinked it.
    await rename(logPath, `${logPath}.5`);
    await appendFile(`${logPath}.5`, linesOf(3180, 3190));
    await writeFile(logPath, linesOf(3190, 3200));
    await gzipAway(`${logPath}.5`);
    await caughtUp();
    await expectEveryLineOnce(3200);
  });

  it("finishes a file rotated and compressed while it was stopped from the gzip, from its saved byte, then the new file", async () => {
    await caughtUp();
    await tailer!.stop();
    // Written after the last read: in the file only (10 lines), then in the renamed file before the server reopened (5).
    await appendFile(logPath, linesOf(3200, 3210));
    await rename(logPath, `${logPath}.6`);
    await appendFile(`${logPath}.6`, linesOf(3210, 3215));
    await writeFile(logPath, linesOf(3215, 3225));
    await gzipAway(`${logPath}.6`);
    tailer = await startTailer();
    await caughtUp();
    await expectEveryLineOnce(3225);
    expect(logLines.some((line) => line.includes(`finishing ${logPath}.6.gz`))).toBe(true);
  });

  it("resumes inside the gzip after a stop while reading it, sending no line twice and skipping none", async () => {
    await caughtUp();
    await tailer!.stop();
    const stoppedAt = (await store.load(logPath))!;
    await appendFile(logPath, linesOf(3225, 6225));
    await rename(logPath, `${logPath}.7`);
    await writeFile(logPath, linesOf(6225, 6235));
    await gzipAway(`${logPath}.7`);
    // 4 KiB chunks: stop() lands in the middle of the 600 KB of lines only the gzip holds.
    tailer = await startTailer(4096);
    await waitFor("some of the compressed lines", async () => (await store.load(logPath))!.lineNumber > stoppedAt.lineNumber + 200);
    await tailer.stop();
    const midway = (await store.load(logPath))!;
    expect(midway.file).toBe(stoppedAt.file);
    expect(midway.lineNumber).toBeLessThan(stoppedAt.lineNumber + 3000);
    tailer = await startTailer(4096);
    await caughtUp();
    await expectEveryLineOnce(6235);
  });
});

describe("access log tailer - rotations while it was stopped", () => {
  const natsUrl = inject("natsUrl");
  let connection: NatsConnection;
  let root: string;
  const running: Source[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "clickpipe-tailer-rotations-"));
    connection = await connectNats({ url: natsUrl });
  });

  afterAll(async () => {
    for (const source of running) await source.stop();
    await connection?.drain();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /**
   * A folder and a stream of their own, and a tailer of `<folder>/access.log` that read lines [0, read) and was stopped;
   * lines [read, unread) are then appended, which only the file it was reading holds.
   */
  async function stoppedAfter(name: string, read: number, unread: number) {
    const folder = join(root, name);
    const logPath = join(folder, "access.log");
    const store = new TailPositionStore(join(folder, "state"));
    const stream = uniqueStreamName("TAILROT");
    const pipeline = pipelineSchema.parse({ name: "tailer", nats: { url: natsUrl, stream }, sinks: [{ type: "parquet", path: join(folder, "out") }] });
    const logs: string[] = [];
    let tailer: Source | undefined;
    const start = async (chunkBytes?: number) => {
      tailer = createAccessLogTailer(
        { type: "accessLog", paths: [logPath], format: "combined", pollInterval: 50 },
        { pipeline, connection, metrics: new Metrics(), stateDirectory: join(folder, "state"), log: (line) => logs.push(line) },
        { chunkBytes, rotatedGraceMs: 500 },
      );
      await tailer.start();
      running.push(tailer);
    };
    const stop = async () => {
      await tailer!.stop();
      running.splice(running.indexOf(tailer!), 1);
    };
    /** Everything in the file now at `access.log` is acknowledged and its position saved. */
    const caughtUp = async () => {
      const { dev, ino, size } = await stat(logPath, { bigint: true });
      await waitFor(`the tailer to reach byte ${size} of ${logPath}`, async () => {
        const position = await store.load(logPath);
        return position?.file === `${dev}:${ino}` && position.offset === Number(size);
      });
    };
    await mkdir(folder);
    await writeFile(logPath, linesOf(0, read));
    await start();
    await caughtUp();
    await stop();
    await appendFile(logPath, linesOf(read, unread));
    return { logPath, store, logs, start, stop, caughtUp, contents: () => readStream(connection, stream) };
  }

  it("reads every file rotated after its own, oldest first, each from its start, then the live file (delaycompress, three rotations)", async () => {
    const tailed = await stoppedAfter("delaycompress", 20, 30);
    const { logPath } = tailed;
    // Rotation 1: access.log → .1; the server writes lines 30..34 to it until postrotate reopens, then to a new access.log.
    await rename(logPath, `${logPath}.1`);
    await appendFile(`${logPath}.1`, linesOf(30, 35));
    await writeFile(logPath, linesOf(35, 50));
    // Rotation 2: .1 → .2, access.log → .1 (late lines 50..54), a new access.log, then .2 compressed (delaycompress).
    await rename(`${logPath}.1`, `${logPath}.2`);
    await rename(logPath, `${logPath}.1`);
    await appendFile(`${logPath}.1`, linesOf(50, 55));
    await writeFile(logPath, linesOf(55, 70));
    await gzipAway(`${logPath}.2`);
    // Rotation 3: .2.gz → .3.gz, .1 → .2, access.log → .1, a new access.log, .2 compressed.
    await rename(`${logPath}.2.gz`, `${logPath}.3.gz`);
    await rename(`${logPath}.1`, `${logPath}.2`);
    await rename(logPath, `${logPath}.1`);
    await writeFile(logPath, linesOf(70, 80));
    await gzipAway(`${logPath}.2`);
    // Now .3.gz holds the file it was reading (lines 0..34), .2.gz lines 35..54, .1 lines 55..69, access.log 70..79.
    await tailed.start();
    await tailed.caughtUp();
    const contents = await tailed.contents();
    expect(contents.urls).toEqual(expectedUrls([0, 80]));
    expect(new Set(contents.eventIds).size).toBe(80);
    // Found by its start (ext4 may have given its freed inode to the new access.log: then it is "replaced").
    expect(tailed.logs.filter((line) => line.includes(`finishing ${logPath}.3.gz`))).toHaveLength(1);
    expect(tailed.logs.filter((line) => line.includes("(rotated after the file read before it)"))).toEqual([
      `access log ${logPath}: reading ${logPath}.2.gz (rotated after the file read before it) from its start`,
      `access log ${logPath}: reading ${logPath}.1 (rotated after the file read before it) from its start`,
    ]);
  });

  it("reads both gzips of two rotations with compress, and resumes inside the second after a stop without a line twice", async () => {
    const tailed = await stoppedAfter("compress", 20, 30);
    const { logPath, store } = tailed;
    // Rotation 1 with compress: access.log → .1 (late lines 30..34), a new access.log of 15,000 lines, .1 → .1.gz.
    await rename(logPath, `${logPath}.1`);
    await appendFile(`${logPath}.1`, linesOf(30, 35));
    await writeFile(logPath, linesOf(35, 15_035));
    await gzipAway(`${logPath}.1`);
    // Rotation 2: .1.gz → .2.gz, access.log → .1 → .1.gz, a new access.log.
    await rename(`${logPath}.1.gz`, `${logPath}.2.gz`);
    await rename(logPath, `${logPath}.1`);
    await writeFile(logPath, linesOf(15_035, 15_045));
    await gzipAway(`${logPath}.1`);
    // 4 KiB chunks: the stop lands inside the 3 MB of .1.gz (600 KB were read past between two looks of a loaded
    // machine: a stop after it found the position in the new access.log).
    await tailed.start(4096);
    // Only .1.gz has more than 35 lines (the file read has 35, the new one 10).
    await waitFor("some lines of .1.gz", async () => (await store.load(logPath))!.lineNumber > 200);
    await tailed.stop();
    const midway = (await store.load(logPath))!;
    expect(midway.lineNumber).toBeLessThan(15_000);
    await tailed.start(4096);
    await tailed.caughtUp();
    const contents = await tailed.contents();
    expect(contents.urls).toEqual(expectedUrls([0, 15_045]));
    expect(new Set(contents.eventIds).size).toBe(15_045);
  });

  it("orders dateext's access.log-YYYYMMDD[.gz] by date when their modification times tie", async () => {
    const tailed = await stoppedAfter("dateext", 20, 30);
    const { logPath } = tailed;
    // dateext with delaycompress, rotated on 3, 4 and 5 December.
    await rename(logPath, `${logPath}-20261203`);
    await writeFile(logPath, linesOf(30, 45));
    await rename(logPath, `${logPath}-20261204`);
    await writeFile(logPath, linesOf(45, 60));
    await gzipAway(`${logPath}-20261203`);
    await rename(logPath, `${logPath}-20261205`);
    await writeFile(logPath, linesOf(60, 70));
    await gzipAway(`${logPath}-20261204`);
    // One modification time for all three (a file system with 1 s or 2 s timestamps): only the names tell the order.
    const sameTime = new Date("2026-12-05T00:00:00Z");
    for (const rotated of ["-20261203.gz", "-20261204.gz", "-20261205"]) await utimes(`${logPath}${rotated}`, sameTime, sameTime);
    await tailed.start();
    await tailed.caughtUp();
    const contents = await tailed.contents();
    expect(contents.urls).toEqual(expectedUrls([0, 70]));
    expect(new Set(contents.eventIds).size).toBe(70);
    expect(tailed.logs.filter((line) => line.includes("(rotated after the file read before it)"))).toEqual([
      `access log ${logPath}: reading ${logPath}-20261204.gz (rotated after the file read before it) from its start`,
      `access log ${logPath}: reading ${logPath}-20261205 (rotated after the file read before it) from its start`,
    ]);
  });

  it("finishes the copies copytruncate made while it was stopped from its saved byte, then the truncated file from 0", async () => {
    const tailed = await stoppedAfter("copytruncate", 20, 30);
    const { logPath, store } = tailed;
    const savedBefore = (await store.load(logPath))!;
    // copytruncate 1: lines 20..29 were written after the last read, so they are only in the copy.
    await copyFile(logPath, `${logPath}.1`);
    await truncate(logPath, 0);
    await appendFile(logPath, linesOf(30, 45));
    // copytruncate 2, with delaycompress: .1 → .2, a copy of access.log → .1, access.log truncated, .2 compressed.
    await rename(`${logPath}.1`, `${logPath}.2`);
    await copyFile(logPath, `${logPath}.1`);
    await truncate(logPath, 0);
    await appendFile(logPath, linesOf(45, 55));
    await gzipAway(`${logPath}.2`);
    await tailed.start();
    await tailed.caughtUp();
    const contents = await tailed.contents();
    expect(contents.urls).toEqual(expectedUrls([0, 55]));
    expect(new Set(contents.eventIds).size).toBe(55);
    // The same file (inode) as before, its new lines under a generation of their own.
    const position = (await store.load(logPath))!;
    expect([position.file, position.generation]).toEqual([savedBefore.file, savedBefore.generation + 1]);
  });
});

describe("access log tailer - a new file that got a rotated file's inode", () => {
  const natsUrl = inject("natsUrl");
  let connection: NatsConnection;
  let root: string;
  let tailer: Source | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "clickpipe-tailer-inode-"));
    connection = await connectNats({ url: natsUrl });
  });

  afterAll(async () => {
    await tailer?.stop();
    await connection?.drain();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("sends every line of a new access.log that got the inode of a file compressed and deleted seconds before, though its first chunk covers the same bytes", async () => {
    const folder = join(root, "logs");
    const logPath = join(folder, "access.log");
    const store = new TailPositionStore(join(root, "state"));
    const stream = uniqueStreamName("TAILINO");
    const pipeline = pipelineSchema.parse({ name: "tailer", nats: { url: natsUrl, stream }, sinks: [{ type: "parquet", path: join(root, "out") }] });
    const logs: string[] = [];
    const caughtUp = async () => {
      const { dev, ino, size } = await stat(logPath, { bigint: true });
      await waitFor(`the tailer to reach byte ${size} of ${logPath}`, async () => {
        const position = await store.load(logPath);
        return position?.file === `${dev}:${ino}` && position.offset === Number(size);
      });
    };
    await mkdir(folder);
    // File A: lines 10..29, read in one chunk, bytes [0, size of A).
    await writeFile(logPath, linesOf(10, 30));
    const first = await stat(logPath, { bigint: true });
    tailer = createAccessLogTailer(
      { type: "accessLog", paths: [logPath], format: "combined", pollInterval: 50 },
      { pipeline, connection, metrics: new Metrics(), stateDirectory: join(root, "state"), log: (line) => logs.push(line) },
      { rotatedGraceMs: 500 },
    );
    await tailer.start();
    await caughtUp();
    // ext4 (what /tmp is here) gives a deleted file's inode to a file created after it, but which freed inode the new
    // access.log gets depends on every file created meanwhile (the tailer's position file is replaced on each save), so
    // the test does not wait for luck: A's inode outlives its deletion under a second name outside the log folder, and
    // becomes the new access.log. The tailer sees what it sees when ext4 reuses the inode: the same dev:ino, new lines.
    const kept = join(root, "inode-of-a");
    await link(logPath, kept);
    // Rotation 1 with compress: A → access.log.1 → access.log.1.gz (A's name removed), a new access.log B (lines 30..39).
    await rename(logPath, `${logPath}.1`);
    await writeFile(logPath, linesOf(30, 40));
    // -f: gzip leaves a file with a second name alone otherwise; it still writes the .gz and removes the name.
    await promisify(execFile)("gzip", ["-f", `${logPath}.1`]);
    await expect(stat(`${logPath}.1`)).rejects.toThrow(/ENOENT/);
    // B caught up: A was read to its end and closed.
    await caughtUp();
    // Rotation 2: B → access.log.1, then the new access.log C (lines 40..59) on A's inode. Lines 40..59 have the
    // digits of lines 10..29, so C is as long as A and its first chunk is bytes [0, size of A) too.
    await rename(logPath, `${logPath}.1`);
    await writeFile(kept, linesOf(40, 60));
    await rename(kept, logPath);
    const reused = await stat(logPath, { bigint: true });
    expect([reused.dev, reused.ino, reused.size]).toEqual([first.dev, first.ino, first.size]);
    await caughtUp();
    const contents = await readStream(connection, stream);
    expect(contents.urls).toEqual(expectedUrls([10, 60]));
    expect(new Set(contents.eventIds).size).toBe(50);
  });
});
