// `clickpipe publish` file side: chunked line reading against splitLines, and the worker thread against one thread.
import { mkdtemp, open, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alreadyStored, messagesOf, startWorker } from "../../src/cli/publish.ts";
import {
  byteChunks,
  ChunkIds,
  compileLineHandler,
  lineChunks,
  lineCountOf,
  linesOf,
  lineWindows,
  publishLineChunks,
  publishLines,
  publishOptionsKey,
  recycledPieceBuffers,
  splitLines,
} from "../../src/cli/publish-lines.ts";
import type { LineChunk } from "../../src/cli/publish-lines.ts";
import { CHUNK_TAKEN, ChunkSink, PUBLISH_WORKER_ROLE, slicedChunks, type PublishWorkerMessage } from "../../src/cli/publish-worker.ts";
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { compileLogFormat } from "../../src/ingest/access-log.ts";
import { completePreparedSlice, PreparedSliceSink } from "../../src/cli/publish-prepared.ts";
import { EdgeProcessor } from "../../src/ingest/edge.ts";
import { RecordPublisher } from "../../src/ingest/record-publisher.ts";
import { runCli, runCliInProcess } from "../helpers/cli.ts";

const SEMICOMPLETE = fileURLToPath(new URL("../fixtures/access-logs/semicomplete_apache_combined_2015.log", import.meta.url));
const NASA = fileURLToPath(new URL("../fixtures/access-logs/nasa_kennedy_aug95_head1929.log", import.meta.url));

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-publish-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function chunkedLines(content: Buffer, chunkBytes: number): Promise<{ lines: string[]; pieces: Buffer[] }> {
  const path = join(directory, `lines-${chunkBytes}.txt`);
  await writeFile(path, content);
  const file = await open(path);
  try {
    const lines: string[] = [];
    for await (const chunk of lineChunks(file, content.length, undefined, chunkBytes)) lines.push(...chunk.lines);
    const pieces: Buffer[] = [];
    for await (const piece of byteChunks(file, content.length, chunkBytes)) pieces.push(Buffer.from(piece));
    return { lines, pieces };
  } finally {
    await file.close();
  }
}

describe("publish - a file read in chunks has the lines splitLines gives", () => {
  const text = "first\r\nsecond\n\n\r\nthé café ☕ 😀 end\nx\r\n" + "long ".repeat(40) + "\n\nlast line\r";
  const expected = ["first", "second", "", "", "thé café ☕ 😀 end", "x", "long ".repeat(40), "", "last line\r"];

  it("cuts CRLF and LF, keeps empty lines and a last line's lone CR, decodes UTF-8 across any chunk boundary", async () => {
    expect(splitLines(text)).toEqual(expected);
    const content = Buffer.from(text, "utf8");
    for (const chunkBytes of [1, 2, 3, 5, 7, 16, 64, 1 << 20]) {
      const { lines, pieces } = await chunkedLines(content, chunkBytes);
      expect(lines, `chunks of ${chunkBytes} bytes`).toEqual(expected);
      // Every byte once, every piece but the last ends a line, and bytes in memory are cut the same way.
      expect(Buffer.concat(pieces).equals(content)).toBe(true);
      for (const piece of pieces.slice(0, -1)) expect(piece.at(-1)).toBe(0x0a);
      const inMemory: Buffer[] = [];
      for await (const piece of byteChunks(content, content.length, chunkBytes)) inMemory.push(Buffer.from(piece));
      expect(inMemory).toEqual(pieces);
      expect(pieces.map((piece) => lineCountOf(piece))).toEqual(pieces.map((piece) => linesOf(piece).length));
      // Read into two buffers that take turns (a reader done with each piece before the next): the same pieces.
      const recycled: Buffer[] = [];
      for await (const piece of byteChunks(content, content.length, chunkBytes, recycledPieceBuffers(2, chunkBytes))) recycled.push(Buffer.from(piece));
      expect(recycled).toEqual(pieces);
    }
  });

  it("decodes a piece window by window into the same lines, however small the windows", () => {
    const content = Buffer.from(text, "utf8");
    for (const windowBytes of [1, 2, 3, 5, 16, 64, 1 << 20]) {
      const windows = [...lineWindows(content, false, windowBytes)];
      expect(windows.flatMap((window) => window.lines), `windows of ${windowBytes} bytes`).toEqual(expected);
      expect(windows.at(-1)?.end).toBe(content.length);
      // Every window but the last ends after a newline, so it decodes on its own.
      for (const window of windows.slice(0, -1)) expect(content[window.end - 1]).toBe(0x0a);
    }
    const ascii = Buffer.from("a\r\nb\n\nc\r");
    expect([...lineWindows(ascii, true, 2)].flatMap((window) => window.lines)).toEqual(["a", "b", "", "c\r"]);
  });

  it("reads a line that is not UTF-8 as Latin-1, byte for byte, and the UTF-8 lines beside it as UTF-8", () => {
    const content = Buffer.concat([
      Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x3b, 0x31, 0x0d, 0x0a]), // "café;1" in Latin-1, CRLF
      Buffer.from("café;2\n", "utf8"),
      Buffer.from([0x78, 0xff, 0x0a]), // a stray 0xFF byte
      Buffer.from("\uFFFD kept\n", "utf8"), // a real U+FFFD in valid UTF-8 stays one
    ]);
    const expectedLines = ["café;1", "café;2", "xÿ", "\uFFFD kept"];
    for (const windowBytes of [3, 8, 64]) expect([...lineWindows(content, false, windowBytes)].flatMap((window) => window.lines)).toEqual(expectedLines);
    expect(linesOf(content)).toEqual(expectedLines);
    // Lossless: the Latin-1 line encodes back to its bytes.
    expect(Buffer.from(linesOf(content)[2], "latin1")).toEqual(Buffer.from([0x78, 0xff]));
  });

  it("gives no line for an empty file and one for a file without a final newline", async () => {
    expect((await chunkedLines(Buffer.alloc(0), 4)).lines).toEqual([]);
    expect((await chunkedLines(Buffer.from("a\nb"), 4)).lines).toEqual(["a", "b"]);
    expect((await chunkedLines(Buffer.from("\n"), 4)).lines).toEqual([""]);
  });
});

function pipelineConfig(ingest = "  pages: { exclude: [4xx] }"): PipelineConfig {
  // prettier-ignore
  const text = ["name: publish-test", "nats:", "  stream: PUBLISH_TEST", "  partitions: 4", "ingest:", ingest, "sinks:", "  - type: parquet", `    path: ${join(directory, "out")}`].join("\n");
  const loaded = parsePipelineText(text, "publish-test.yaml", {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

describe("publish - the worker thread hands over what one thread would publish", () => {
  it("sends the same events, partitions and dead letters in the same order, under the same batch id prefix", async () => {
    const config = pipelineConfig();
    const options = { format: "combined", receivedAt: 1_700_000_000_000 };
    const file = await open(SEMICOMPLETE);
    const size = (await file.stat()).size;
    const sink = new ChunkSink();
    const counts = await publishLineChunks(new RecordPublisher({ config, sink, source: "publish", env: {} }), lineChunks(file, size, undefined, 64 * 1024), options);
    await file.close();
    // SOURCE.md: 213 + 2 + 2 requests answered 404, 403 and 416; line 8899 is truncated (the GoAccess test's counts).
    expect(counts).toEqual({ read: 10000, published: 9782, rejected: 1, filtered: 217, firstRejection: `unparseable_line: expected '"' after $http_user_agent (a quoted value) at column 183` });

    const worker = startWorker({ role: PUBLISH_WORKER_ROLE, path: SEMICOMPLETE, size, config, options });
    const fromWorker = new ChunkSink();
    const prefixes = new Set<string | undefined>();
    const done = await new Promise<Extract<PublishWorkerMessage, { type: "done" }>>((resolve, reject) => {
      worker.on("error", reject);
      worker.on("message", (message: PublishWorkerMessage) => {
        if (message.type === "done") return resolve(message);
        prefixes.add(message.msgIdPrefix);
        message.events.forEach((event, index) => fromWorker.add(event, message.partitions[index]));
        message.deadLetters.forEach((letter) => fromWorker.addDeadLetter(letter));
        worker.postMessage(CHUNK_TAKEN);
      });
    });
    await worker.terminate();
    expect(done.counts).toEqual(counts);
    // The file (2.4 MB) is one piece: every batch is named by the whole file and the options.
    expect([...prefixes]).toEqual([new ChunkIds(publishOptionsKey(options)).next(readFileSync(SEMICOMPLETE))]);
    expect(fromWorker.events).toEqual(sink.events);
    expect(fromWorker.partitions).toEqual(sink.partitions);
    expect(fromWorker.deadLetters).toEqual(sink.deadLetters);
    expect(fromWorker.deadLetters).toHaveLength(1);
    expect(fromWorker.deadLetters[0].reason).toMatch(/^unparseable_line: /);
  });
});

describe("publish - the worker thread hands over a CSV record rejected at the end of the file", () => {
  it("sends the dead letter of a quoted field left open at the end, as one thread rejects it", async () => {
    const config = pipelineConfig();
    const options = { format: "csv", map: "type=page_view,anon_id=$anon_id,ts=$ts:iso,url=/,title=$title", receivedAt: 1_700_000_000_000 };
    const path = join(directory, "open-quote.csv");
    await writeFile(path, 'anon_id,ts,title\na1,2020-01-01T00:00:00Z,"two\nlines"\na2,2020-01-01T00:00:00Z,"open\n');
    const worker = startWorker({ role: PUBLISH_WORKER_ROLE, path, size: (await stat(path)).size, config, options });
    const fromWorker = new ChunkSink();
    const done = await new Promise<Extract<PublishWorkerMessage, { type: "done" }>>((resolve, reject) => {
      worker.on("error", reject);
      worker.on("message", (message: PublishWorkerMessage) => {
        if (message.type === "done") return resolve(message);
        message.events.forEach((event, index) => fromWorker.add(event, message.partitions[index]));
        message.deadLetters.forEach((letter) => fromWorker.addDeadLetter(letter));
        worker.postMessage(CHUNK_TAKEN);
      });
    });
    await worker.terminate();
    expect(done.counts).toEqual({
      read: 2,
      published: 1,
      rejected: 1,
      filtered: 0,
      firstRejection: "unparseable_line: line 4: a quoted field opened on line 4 is not closed by the end of the file",
    });
    expect(fromWorker.events).toHaveLength(1);
    expect(fromWorker.deadLetters.map((letter) => letter.reason)).toEqual([
      "unparseable_line: line 4: a quoted field opened on line 4 is not closed by the end of the file",
    ]);
  });
});

describe("publish - the worker's messages are not lost while the main thread hashes and connects", () => {
  it("keeps what the worker sent before anyone iterated: every event of the file arrives", async () => {
    const config = pipelineConfig();
    const options = { format: "combined", receivedAt: 1_700_000_000_000 };
    const size = (await stat(SEMICOMPLETE)).size;
    const worker = startWorker({ role: PUBLISH_WORKER_ROLE, path: SEMICOMPLETE, size, config, options });
    const messages = messagesOf(worker);
    // The main thread is busy elsewhere (hashing, connecting) until the worker has already sent its first chunk.
    await new Promise<void>((resolve) => worker.once("message", () => resolve()));
    const received = new ChunkSink();
    let counts: unknown;
    for await (const [message] of messages) {
      if (message.type === "done") {
        counts = message.counts;
        break;
      }
      message.events.forEach((event, index) => received.add(event, message.partitions[index]));
      worker.postMessage(CHUNK_TAKEN);
    }
    await worker.terminate();
    // The file's counts (see above): 9,782 page views published, none missing.
    expect(counts).toEqual({ read: 10000, published: 9782, rejected: 1, filtered: 217, firstRejection: `unparseable_line: expected '"' after $http_user_agent (a quoted value) at column 183` });
    expect(received.events).toHaveLength(9782);
  });
});

describe("publish - the worker parses each chunk in slices", () => {
  async function* chunksOf(chunks: string[][]): AsyncGenerator<LineChunk> {
    for (const [index, lines] of chunks.entries()) yield { lines, msgIdPrefix: `piece-${index}` };
  }

  it("property: the slices of a chunk are its lines in order, and only the last one ends it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 30 }), { maxLength: 6 }), fc.integer({ min: 1, max: 8 }), async (chunks, slices) => {
        const sliced = slicedChunks(chunksOf(chunks), slices);
        const rebuilt: string[][] = [];
        let current: string[] = [];
        for await (const slice of sliced.lines) {
          expect(slice.msgIdPrefix).toBe(`piece-${rebuilt.length}`);
          current.push(...slice.lines);
          if (sliced.ended()) {
            rebuilt.push(current);
            current = [];
          }
        }
        expect(current).toEqual([]);
        expect(rebuilt).toEqual(chunks);
      }),
      { numRuns: 200 },
    );
  });

  it("hands each chunk's dead letters over after all of its events, as one message per chunk would", async () => {
    // 4 × (semicomplete + NASA): 10.3 MB, 3 chunks of 4 MiB at most; NASA's common-format lines are dead letters here.
    const path = join(directory, "mixed.log");
    const content = Buffer.concat(Array.from({ length: 4 }, () => [readFileSync(SEMICOMPLETE), readFileSync(NASA)]).flat());
    await writeFile(path, content);
    const config = pipelineConfig();
    const options = { format: "combined", receivedAt: 1_700_000_000_000 };

    // One thread, one step per chunk: the order a message per chunk gives (events, then that chunk's dead letters).
    const reference: string[] = [];
    const sink = new ChunkSink();
    const file = await open(path);
    const counts = await publishLineChunks(
      new RecordPublisher({ config, sink, source: "publish", env: {} }),
      lineChunks(file, content.length, new ChunkIds(publishOptionsKey(options))),
      options,
      () => {
        const chunk = sink.take();
        if (chunk.type === "chunk") reference.push(...chunk.events.map((event, index) => `${chunk.partitions[index]} ${event}`), ...chunk.deadLetters.map((letter) => JSON.stringify(letter)));
      },
    );
    await file.close();
    // Per copy: semicomplete 9,782 + 217 + 1 rejected (see above), NASA 1,929 rejected.
    expect(counts).toEqual({ read: 47_716, published: 39_128, rejected: 7_720, filtered: 868, firstRejection: `unparseable_line: expected '"' after $http_user_agent (a quoted value) at column 183` });

    const worker = startWorker({ role: PUBLISH_WORKER_ROLE, path, size: content.length, config, options });
    const received: string[] = [];
    let messages = 0;
    const done = await new Promise<Extract<PublishWorkerMessage, { type: "done" }>>((resolve, reject) => {
      worker.on("error", reject);
      worker.on("message", (message: PublishWorkerMessage) => {
        if (message.type === "done") return resolve(message);
        messages++;
        received.push(...message.events.map((event, index) => `${message.partitions[index]} ${event}`), ...message.deadLetters.map((letter) => JSON.stringify(letter)));
        worker.postMessage(CHUNK_TAKEN);
      });
    });
    await worker.terminate();
    expect(done.counts).toEqual(counts);
    expect(received).toEqual(reference);
    // The first chunk in one message (nobody may listen yet); once the test thread has taken one, chunks go in slices.
    expect(messages).toBeGreaterThan(3);
  });
});

describe("publish - a line the page filter leaves out is never made a record", () => {
  const lines = readFileSync(SEMICOMPLETE, "utf8").split("\n").slice(0, 400);
  const CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
  // Mutations that move a line between kept, filtered (static, status, method, no path, robots.txt) and rejected, by a
  // few visitors (address + user agent), so that a robots.txt request is often followed by the same visitor's page view.
  const line = fc.oneof(
    fc.constantFrom(...lines),
    fc
      .tuple(
        fc.constantFrom(...lines),
        fc.constantFrom("10.0.0.1", "10.0.0.2"),
        fc.constantFrom("/robots.txt", "/a.css", "/ROBOTS.TXT", "/page", "/c/x/p/1?q=1", "http://h/robots.txt", "-"),
        fc.constantFrom("GET", "HEAD", "POST"),
        fc.constantFrom("200", "301", "404", "500", "101"),
        fc.constantFrom("-", CRAWLER, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"),
      )
      .map(([base, ip, path, method, status, agent]) =>
        base
          .replace(/^\S+/, ip)
          .replace(/"[A-Z]+ [^"]* HTTP\/1\.[01]"/, path === "-" ? '"-"' : `"${method} ${path} HTTP/1.1"`)
          .replace(/" \d{3} /, `" ${status} `)
          .replace(/"[^"]*"$/, `"${agent}"`),
      ),
    fc.tuple(fc.constantFrom(...lines), fc.nat(200), fc.nat(20), fc.string({ maxLength: 5 })).map(([base, at, cut, insert]) => base.slice(0, at) + insert + base.slice(at + cut)),
  );
  const configs = [
    "  pages: { exclude: [static, non2xx] }",
    "  pages: all",
    "  pages: { exclude: [nonGet, 3xx, 4xx, static] }\n  bots: drop\n  botRate: { maxEvents: 3, perSeconds: 60 }",
  ];

  it("property: the same counts, events (bot marks included), partitions and dead letters as the full parse", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 60 }), fc.constantFrom(...configs), fc.constantFrom(0, 600, 1 << 20), async (sample, ingest, outputBytes) => {
        const config = pipelineConfig(ingest);
        const receivedAt = 1_700_000_000_000;
        const fast = new ChunkSink();
        const fastCounts = await publishLines(new RecordPublisher({ config, sink: fast, source: "publish", env: {} }), sample, { format: "combined", receivedAt });
        // The full parse: every line made a record first (the path the log tailer takes).
        const full = new ChunkSink();
        const publisher = new RecordPublisher({ config, sink: full, source: "publish", env: {} });
        const parse = compileLogFormat("combined");
        sample.forEach((text, index) => {
          const parsed = parse(text);
          if (parsed.ok) publisher.publishAccessRecord(parsed.record, text, index + 1, receivedAt);
          else publisher.rejectLine(text, `unparseable_line: ${parsed.reason}`, receivedAt, index + 1);
        });
        expect(fastCounts).toEqual(await publisher.flush());
        expect(fast.events).toEqual(full.events);
        expect(fast.partitions).toEqual(full.partitions);
        expect(fast.deadLetters).toEqual(full.deadLetters);
        // Prepared by one edge processor in slices (a parse thread's), completed by another (the publishing thread's).
        // The JSON goes into a shared output of `outputBytes` (a small one overflows into the thread's own buffer), and
        // the piece goes out in two slices.
        const preparing = new PreparedSliceSink();
        preparing.startPiece(Buffer.from(new SharedArrayBuffer(outputBytes)), false);
        const half = Math.floor(sample.length / 2);
        const preparer = new RecordPublisher({ config, sink: preparing, source: "publish", env: {} });
        const handle = compileLineHandler(preparer, { format: "combined" }, receivedAt);
        sample.slice(0, half).forEach((text, index) => void handle.publish(text, index + 1));
        const first = preparing.take(0, false);
        sample.slice(half).forEach((text, index) => void handle.publish(text, half + index + 1));
        const second = preparing.take(0, true);
        const completed = new ChunkSink();
        const completing = EdgeProcessor.fromConfig(config.ingest, { pipelineName: config.name, env: {} });
        await completePreparedSlice(first, completing, completed);
        await completePreparedSlice(second, completing, completed);
        expect(preparer.counts).toEqual(fastCounts);
        expect(completed.events).toEqual(full.events);
        expect(completed.partitions).toEqual(full.partitions);
        expect(completed.deadLetters).toEqual(full.deadLetters);
      }),
      { numRuns: 300 },
    );
  });
});

describe("publish - batch id prefixes name every byte up to the end of their piece", () => {
  const pieces = ["a b c\n", "d e\n", "f\n", "g h i j\n"].map((text) => Buffer.from(text));
  const prefixes = (key: string, parts: Buffer[]) => {
    const ids = new ChunkIds(key);
    return parts.map((piece) => ids.next(piece));
  };

  it("gives the same prefixes for the same pieces and options, hashed here or on the thread that parsed the piece", () => {
    const key = publishOptionsKey({ format: "combined" });
    expect(prefixes(key, pieces)).toEqual(prefixes(key, pieces.map((piece) => Buffer.from(piece))));
    const ids = new ChunkIds(key);
    expect(pieces.map((piece) => ids.nextOf(createHash("sha256").update(piece).digest()))).toEqual(prefixes(key, pieces));
    expect(new Set(prefixes(key, pieces)).size).toBe(pieces.length);
  });

  it("keeps the prefixes before a changed piece and changes every one from it on; other options change all", () => {
    const key = publishOptionsKey({ format: "combined" });
    const changed = [pieces[0], pieces[1], Buffer.from("F\n"), pieces[3]];
    const before = prefixes(key, pieces);
    const after = prefixes(key, changed);
    expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
    for (let index = 2; index < pieces.length; index++) expect(after[index]).not.toBe(before[index]);
    const otherOptions = prefixes(publishOptionsKey({ format: "common" }), pieces);
    otherOptions.forEach((prefix, index) => expect(prefix).not.toBe(before[index]));
  });

  it("names --timezone in the key only when given: files published without it keep their batch ids", () => {
    const map = "type=purchase,ts=$1:strptime(%m/%d/%Y %H:%M)";
    // The key as it was before --timezone existed.
    expect(publishOptionsKey({ format: "csv", map })).toBe(JSON.stringify(["csv", map, null, false]));
    expect(publishOptionsKey({ format: "csv", map, timeZone: "Europe/London" })).toBe(JSON.stringify(["csv", map, null, false, { timeZone: "Europe/London" }]));
  });

  it("names a caddy --timezone in the key unless it is UTC, which reads Caddy's wall times as no --timezone does", () => {
    const none = publishOptionsKey({ format: "caddy" });
    expect(none).toBe(JSON.stringify(["caddy", null, null, false]));
    expect(publishOptionsKey({ format: "caddy", timeZone: "Etc/UTC" })).toBe(none);
    expect(publishOptionsKey({ format: "caddy", timeZone: "europe/berlin" })).toBe(JSON.stringify(["caddy", null, null, false, { timeZone: "Europe/Berlin" }]));
  });

  it("names the zone as Intl resolves it, so that spellings of one zone give one batch id (a re-publish is stored once)", () => {
    const map = "type=purchase,ts=$1:strptime(%m/%d/%Y %H:%M)";
    const london = publishOptionsKey({ format: "csv", map, timeZone: "Europe/London" });
    expect(publishOptionsKey({ format: "csv", map, timeZone: "europe/london" })).toBe(london);
    expect(publishOptionsKey({ format: "csv", map, timeZone: "GB" })).toBe(london);
    expect(publishOptionsKey({ format: "csv", map, timeZone: "utc" })).toBe(publishOptionsKey({ format: "csv", map, timeZone: "UTC" }));
  });
});

describe("publish - options for another format", () => {
  // main() in this process (the same stdout, stderr and exit code as bin/clickpipe.js, without a child's startup per
  // case): each refusal comes before the file is read or NATS contacted. The next describe block runs the real command.
  it("refuses --map and --delimiter without --format csv (they would only change the batch ids, and so store a re-publish again)", async () => {
    const result = await runCliInProcess(["publish", "any.ndjson", "--pipeline", "pipelines/demo.yaml", "--map", "type=$1", "--delimiter", ";"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^clickpipe publish: --map and --delimiter only apply to --format csv \(this is --format ndjson\)\nusage: clickpipe publish/);
  });

  it("says what the command line lacks above the usage line, and names itself as every other refusal does", async () => {
    // The usage line came alone for a missing file or --pipeline; the refusals of an option came without "clickpipe publish:".
    for (const [args, reason] of [
      [["f.ndjson"], "--pipeline <pipeline.yaml> is required"],
      [["--pipeline", "pipelines/demo.yaml"], "name the file to publish"],
      [["a.ndjson", "b.ndjson", "--pipeline", "pipelines/demo.yaml"], "name one file"],
      [["f.csv", "--pipeline", "pipelines/demo.yaml", "--format", "csv"], '--format csv needs --map, e.g. --map "type=purchase,user_id=$1,ts=$2:yyyymmdd,revenue=$4"'],
    ] as [string[], string][]) {
      const result = await runCliInProcess(["publish", ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toBe(`clickpipe publish: ${reason}\n${USAGE_LINE}`);
    }
  });

  it("refuses --null without --format csv", async () => {
    const result = await runCliInProcess(["publish", "any.log", "--pipeline", "pipelines/demo.yaml", "--format", "combined", "--null", "-"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^clickpipe publish: --null only applies to --format csv \(this is --format combined\)\nusage: clickpipe publish/);
  });

  const USAGE_LINE =
    "usage: clickpipe publish <file[.gz]> --pipeline <pipeline.yaml> [--format ndjson|combined|common|w3c|caddy|csv|'<log format>'] [--map <spec>] [--delimiter <char>|tab|whitespace] [--null <text>] [--timezone <IANA zone>] [--sort-by-time]\n";
  const CHOICES =
    "--format is ndjson, csv, combined, common, w3c (IIS, CloudFront), caddy (Caddy's JSON access log), or the server's own " +
    `log format: an nginx log_format ('$remote_addr - $remote_user [$time_local] "$request" $status …', or for escape=json ` +
    `its JSON text '{"ip":"$remote_addr","time":"$time_iso8601","request":"$request","status":"$status"}') or an Apache ` +
    `LogFormat ('%h %l %u %t "%r" %>s %b')`;

  // The format is checked first: the file given does not exist, and no NATS is contacted.
  it("calls a misspelt format name unknown and suggests the name, instead of a log format lacking every field", async () => {
    const cases: [string, string][] = [
      ["combind", `unknown --format "combind": did you mean "combined"? ${CHOICES}`],
      ["comon", `unknown --format "comon": did you mean "common"? ${CHOICES}`],
      ["ndjosn", `unknown --format "ndjosn": did you mean "ndjson"? ${CHOICES}`],
      ["CSV", `unknown --format "CSV": did you mean "csv"? ${CHOICES}`],
      ["xml", `unknown --format "xml": ${CHOICES}`],
    ];
    for (const [format, message] of cases) {
      const result = await runCliInProcess(["publish", "/tmp/nofile.log", "--pipeline", "pipelines/access-logs.yaml", "--format", format]);
      expect(result.stderr, format).toBe(`clickpipe publish: ${message}\n${USAGE_LINE}`);
      expect(result.code).toBe(2);
    }
  });

  it("reads a format with $variables or %directives, or of several words, as a log format string and says what it lacks", async () => {
    const result = await runCliInProcess(["publish", "/tmp/nofile.log", "--pipeline", "pipelines/access-logs.yaml", "--format", "$remote_addr [$time_local] $request"]);
    expect(result.stderr).toBe(
      `clickpipe publish: --format: log format "$remote_addr [$time_local] $request" lacks a status ($status or %>s). ${CHOICES}\n${USAGE_LINE}`,
    );
    expect(result.code).toBe(2);
    const words = await runCliInProcess(["publish", "/tmp/nofile.log", "--pipeline", "pipelines/access-logs.yaml", "--format", "ip time status"]);
    expect(words.stderr).toMatch(/^clickpipe publish: --format: log format "ip time status" lacks a client address \(\$remote_addr or %h\), /);
  });

  it("checks --map before reading the file", async () => {
    const result = await runCliInProcess(["publish", "/tmp/nofile.csv", "--pipeline", "pipelines/shop.yaml", "--format", "csv", "--map", "type=purchase,user_id=$1"]);
    expect(result.stderr).toBe(`clickpipe publish: --map has no ts: add e.g. ts=$2:yyyymmdd\n${USAGE_LINE}`);
    expect(result.code).toBe(2);
  });

  it("refuses a bad strptime pattern, an unknown --timezone, and a --timezone nothing reads, before reading the file (exit 2)", async () => {
    const publish = (...args: string[]) => runCliInProcess(["publish", "/tmp/nofile.csv", "--pipeline", "pipelines/shop.yaml", "--format", "csv", ...args]);
    const pattern = await publish("--map", "type=purchase,user_id=$CustomerID,ts=$InvoiceDate:strptime(%m/%d/%Y %k:%M)");
    expect(pattern.stderr).toBe(
      'clickpipe publish: --map entry "ts=$InvoiceDate:strptime(%m/%d/%Y %k:%M)": strptime pattern "%m/%d/%Y %k:%M": %k is not a code it reads ' +
        `(codes: %Y %y %m %d %H %I %M %S %f %g %p %b %h %B %a %A %z %T (= %H:%M:%S) %% and %-m %-d %-H %-I %-M %-S %-y (as %m …))\n${USAGE_LINE}`,
    );
    expect(pattern.code).toBe(2);
    const zone = await publish("--timezone", "Europe/Londn", "--map", "type=purchase,user_id=$CustomerID,ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M)");
    expect(zone.stderr).toBe(
      'clickpipe publish: --timezone "Europe/Londn" is not a time zone (did you mean "Europe/London"?): give an IANA zone name such as ' +
        `Europe/London, America/New_York or UTC\n${USAGE_LINE}`,
    );
    expect(zone.code).toBe(2);
    const unused = await publish("--timezone", "Europe/London", "--map", "type=purchase,user_id=$1,ts=$2:yyyymmdd");
    expect(unused.stderr).toBe(
      "clickpipe publish: --timezone applies to local date-times, and --map reads none: add a pattern without %z " +
        `(ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M)) or an ISO date-time without an offset (ts=$time:iso), or leave --timezone out\n${USAGE_LINE}`,
    );
    expect(unused.code).toBe(2);
    const notCsv = await runCliInProcess(["publish", "any.ndjson", "--pipeline", "pipelines/demo.yaml", "--timezone", "Europe/London"]);
    expect(notCsv.stderr).toMatch(/^clickpipe publish: --timezone only applies to --format csv and caddy, whose times may lack an offset \(this is --format ndjson\)\nusage: clickpipe publish/);
    expect(notCsv.code).toBe(2);
  });

  it("says which order-line field is missing or misnamed, and how to fix it, before reading the file", async () => {
    const publish = (map: string) => runCliInProcess(["publish", "/tmp/nofile.csv", "--pipeline", "pipelines/shop.yaml", "--format", "csv", "--map", map]);
    const noOrder = await publish("type=purchase,ts=$InvoiceDate:iso,user_id=$CustomerID,items.sku=$StockCode,items.price=$UnitPrice");
    expect(noOrder.stderr).toBe(
      "clickpipe publish: --map maps items.sku, items.price but no order_id: the rows of one order are combined into one purchase by their order_id; " +
        `add e.g. order_id=$InvoiceNo\n${USAGE_LINE}`,
    );
    expect(noOrder.code).toBe(2);
    const misnamed = await publish("type=purchase,order_id=$InvoiceNo,ts=$InvoiceDate:iso,items.sku=$StockCode,items.quantity=$Quantity,items.price=$UnitPrice");
    expect(misnamed.stderr).toBe(
      'clickpipe publish: --map entry "items.quantity=$Quantity": a purchase item has no field "quantity" (did you mean items.qty?); ' +
        `its fields are items.sku, items.category, items.price, items.qty\n${USAGE_LINE}`,
    );
    expect(misnamed.code).toBe(2);
  });
});

describe("publish - a file it cannot read", () => {
  // Each fails before the pipeline is loaded: nothing connects to NATS.
  it("names a missing file, a directory and a path through a file, and exits 1 without a stack", async () => {
    const file = join(directory, "events.ndjson");
    await writeFile(file, "{}\n");
    const cases: [string, string][] = [
      ["/tmp/nofile.ndjson", "clickpipe publish: /tmp/nofile.ndjson: no such file\n"],
      [directory, `clickpipe publish: ${directory}: is a directory, not a file: name a file in it\n`],
      [join(file, "more.ndjson"), `clickpipe publish: ${file}/more.ndjson: no such file (a folder on its path is a file)\n`],
    ];
    for (const [path, message] of cases) {
      const result = await runCli(["publish", path, "--pipeline", "pipelines/demo.yaml"]);
      expect(result.stderr, path).toBe(message);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
    }
  });
});

describe("publish - NDJSON's blank lines", () => {
  it("are no records: neither read nor rejected, as jq, DuckDB and Spark read NDJSON", async () => {
    const sink = new ChunkSink();
    const publisher = new RecordPublisher({ config: pipelineConfig(), sink, source: "publish", env: {} });
    const event = JSON.stringify({ type: "page_view", ts: 1_700_000_000_000, event_id: "e1", anon_id: "a", url: "/" });
    for (const line of ["", event, "   ", "\t", "not json"]) await publisher.publishJsonLine(line, 1_700_000_000_000);
    expect(await publisher.flush()).toEqual({ read: 2, published: 1, rejected: 1, filtered: 0, firstRejection: `not_json: not JSON: Unexpected token 'o' (not valid JSON)` });
    expect(sink.deadLetters.map((letter) => letter.raw)).toEqual(["not json"]);
  });
});

describe("publish - a UTF-8 byte order mark before an NDJSON file's first record", () => {
  it("is no part of the record: the first line is published, not dead-lettered as not JSON", async () => {
    const sink = new ChunkSink();
    const publisher = new RecordPublisher({ config: pipelineConfig(), sink, source: "publish", env: {} });
    const event = (id: string) => JSON.stringify({ type: "page_view", ts: 1_700_000_000_000, event_id: id, anon_id: "a", url: "/" });
    const bytes = Buffer.from(`\uFEFF${event("e1")}\r\n${event("e2")}\r\n`);
    expect(await publishLineChunks(publisher, lineChunks(bytes, bytes.length), { format: "ndjson", receivedAt: 1_700_000_000_000 })).toEqual({
      read: 2,
      published: 2,
      rejected: 0,
      filtered: 0,
    });
    expect(sink.events.map((line) => (JSON.parse(line) as { event_id: string }).event_id)).toEqual(["e1", "e2"]);
  });
});

describe("publish - a line far over the event limit", () => {
  const huge = (prefix: string) => `${prefix}${"x".repeat(2_000_000)}`;

  it("is dead-lettered as too_large with its first 32 Ki characters, and the lines after it go on (access log and NDJSON)", async () => {
    const receivedAt = 1_700_000_000_000;
    const normal = (n: number) => `10.0.0.${n} - - [17/May/2015:10:05:0${n} +0000] "GET /page/${n} HTTP/1.1" 200 12 "-" "Mozilla/5.0"`;
    const access = new ChunkSink();
    const accessHandle = compileLineHandler(new RecordPublisher({ config: pipelineConfig(), sink: access, source: "publish", env: {} }), { format: "combined" }, receivedAt);
    for (const [index, line] of [normal(1), huge(`10.0.0.9 - - [17/May/2015:10:05:09 +0000] "GET /`), normal(2)].entries()) await accessHandle.publish(line, index + 1);
    expect(access.events.map((event) => (JSON.parse(event) as { url: string }).url)).toEqual(["/page/1", "/page/2"]);
    expect(access.deadLetters.map((letter) => [letter.reason.split(":")[0], letter.raw.length])).toEqual([["too_large", 32_768]]);
    expect(access.deadLetters[0].reason).toMatch(/^too_large: line is 2000\d+ bytes, over the 32768-byte limit per event$/);

    const json = new ChunkSink();
    const jsonHandle = compileLineHandler(new RecordPublisher({ config: pipelineConfig(), sink: json, source: "publish", env: {} }), { format: "ndjson" }, receivedAt);
    await jsonHandle.publish(huge('{"type":"page_view","title":"'), 1);
    expect(json.deadLetters.map((letter) => [letter.reason.split(":")[0], letter.raw.length])).toEqual([["too_large", 32_768]]);
  });
});

describe("publish - what JetStream already had", () => {
  it("is said after the counts: nothing, all of it, or how many events", () => {
    const stats = { batches: 3, deadLetterBatches: 1, duplicateBatches: 0, duplicateEvents: 0 };
    expect(alreadyStored(stats)).toBe("");
    expect(alreadyStored({ ...stats, duplicateBatches: 4, duplicateEvents: 250 })).toBe(" (all already in the stream: JetStream stored nothing again)");
    expect(alreadyStored({ ...stats, duplicateBatches: 1, duplicateEvents: 1 })).toBe(" (1 event was already in the stream: not stored again)");
  });
});
