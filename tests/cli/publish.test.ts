// `clickpipe publish` file side: chunked line reading against splitLines, and the worker thread against one thread.
import { createHash } from "node:crypto";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "../../src/cli/publish.ts";
import { lineChunks, publishLineChunks, splitLines } from "../../src/cli/publish-lines.ts";
import { CHUNK_TAKEN, ChunkSink, PUBLISH_WORKER_ROLE, type PublishWorkerMessage } from "../../src/cli/publish-worker.ts";
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { RecordPublisher } from "../../src/ingest/record-publisher.ts";

const SEMICOMPLETE = fileURLToPath(new URL("../fixtures/access-logs/semicomplete_apache_combined_2015.log", import.meta.url));

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-publish-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function chunkedLines(content: Buffer, chunkBytes: number): Promise<{ lines: string[]; digest: string }> {
  const path = join(directory, `lines-${chunkBytes}.txt`);
  await writeFile(path, content);
  const file = await open(path);
  try {
    const digest = createHash("sha256");
    const lines: string[] = [];
    for await (const chunk of lineChunks(file, content.length, digest, chunkBytes)) lines.push(...chunk);
    return { lines, digest: digest.digest("hex") };
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
      const { lines, digest } = await chunkedLines(content, chunkBytes);
      expect(lines, `chunks of ${chunkBytes} bytes`).toEqual(expected);
      expect(digest).toBe(createHash("sha256").update(content).digest("hex"));
    }
  });

  it("gives no line for an empty file and one for a file without a final newline", async () => {
    expect((await chunkedLines(Buffer.alloc(0), 4)).lines).toEqual([]);
    expect((await chunkedLines(Buffer.from("a\nb"), 4)).lines).toEqual(["a", "b"]);
    expect((await chunkedLines(Buffer.from("\n"), 4)).lines).toEqual([""]);
  });
});

function pipelineConfig(): PipelineConfig {
  // prettier-ignore
  const text = ["name: publish-test", "nats:", "  stream: PUBLISH_TEST", "  partitions: 4", "ingest:", "  pages: { exclude: [4xx] }", "sinks:", "  - type: parquet", `    path: ${join(directory, "out")}`].join("\n");
  const loaded = parsePipelineText(text, "publish-test.yaml", {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

describe("publish - the worker thread hands over what one thread would publish", () => {
  it("sends the same events, partitions and dead letters in the same order, and the file's digest", async () => {
    const config = pipelineConfig();
    const options = { format: "combined", receivedAt: 1_700_000_000_000 };
    const file = await open(SEMICOMPLETE);
    const size = (await file.stat()).size;
    const sink = new ChunkSink();
    const oneThreadDigest = createHash("sha256");
    const counts = await publishLineChunks(
      new RecordPublisher({ config, sink, source: "publish", env: {} }),
      lineChunks(file, size, oneThreadDigest, 64 * 1024),
      options,
    );
    await file.close();
    // SOURCE.md: 213 + 2 + 2 requests answered 404, 403 and 416; line 8899 is truncated (the GoAccess test's counts).
    expect(counts).toEqual({ read: 10000, published: 9782, rejected: 1, filtered: 217 });

    const worker = startWorker({ role: PUBLISH_WORKER_ROLE, path: SEMICOMPLETE, size, config, options });
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
    expect(done.counts).toEqual(counts);
    expect(Buffer.from(done.digest).toString("hex")).toBe(oneThreadDigest.digest("hex"));
    expect(fromWorker.events).toEqual(sink.events);
    expect(fromWorker.partitions).toEqual(sink.partitions);
    expect(fromWorker.deadLetters).toEqual(sink.deadLetters);
    expect(fromWorker.deadLetters).toHaveLength(1);
    expect(fromWorker.deadLetters[0].reason).toMatch(/^unparseable_line: /);
  });
});
