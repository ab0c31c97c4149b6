// Oracle: `clickpipe publish` on one thread. With parse threads (several for an access log, one for JSON lines) the
// stream must hold the same messages under the same batch ids, so a re-publish in either mode stores nothing new.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { generateLines } from "../../src/ingest/generate.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

const SEMICOMPLETE = join(REPO_ROOT, "tests/fixtures/access-logs/semicomplete_apache_combined_2015.log");
const NASA = join(REPO_ROOT, "tests/fixtures/access-logs/nasa_kennedy_aug95_head1929.log");

const ONE_THREAD = { CLICKPIPE_PUBLISH_WORKER: "never" };
/** Three parse threads on any machine, for any file size: pieces go round the threads more than once. */
const THREADS = { CLICKPIPE_PUBLISH_THREADS: "3", CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "1" };

interface StoredMessage {
  /** events.<partition> or dlq: the subject without the stream's name. */
  subject: string;
  msgId: string;
  /** The body with received_at (the time of the run) taken out. */
  body: string;
}

/**
 * Each subject's messages in stream order. Across subjects the order may differ: a piece's dead letters are published
 * after all of its events when threads parse, in line order on one thread.
 */
function bySubject(messages: readonly StoredMessage[]): Map<string, StoredMessage[]> {
  const subjects = new Map<string, StoredMessage[]>();
  for (const message of messages) subjects.set(message.subject, [...(subjects.get(message.subject) ?? []), message]);
  return subjects;
}

describe("publish - parse threads store what one thread stores, under the same batch ids", () => {
  const natsUrl = inject("natsUrl");
  let directory: string;
  let connection: NatsConnection;
  let manager: JetStreamManager;
  const streams: string[] = [];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-publish-threads-"));
    connection = await connectNats({ url: natsUrl });
    manager = await jetstreamManager(connection);
  });
  afterAll(async () => {
    for (const stream of streams) await manager.streams.delete(stream).catch(() => undefined);
    await connection?.drain();
    await rm(directory, { recursive: true, force: true });
  });

  async function pipeline(name: string): Promise<{ file: string; stream: string }> {
    const stream = uniqueStreamName(name.toUpperCase());
    streams.push(stream);
    const file = join(directory, `${name}.yaml`);
    // Two partitions: events go to two subjects, dead letters to a third. A page item template that is not ASCII,
    // on ASCII lines: its events must still be encoded as UTF-8.
    const text = ["name: publish-threads", "nats:", `  url: ${natsUrl}`, `  stream: ${stream}`, "  partitions: 2", "ingest:", "  pages: { exclude: [4xx] }"];
    text.push("  urlRules:", '    - { match: "/blog/tags/:tag", item: "Schlagwort ü :tag" }');
    await writeFile(file, [...text, "sinks:", "  - type: parquet", `    path: ${join(directory, name, "out")}`].join("\n"));
    return { file, stream };
  }

  async function storedMessages(stream: string): Promise<StoredMessage[]> {
    const { state } = await manager.streams.info(stream);
    const messages: StoredMessage[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const message = await manager.streams.getMessage(stream, { seq });
      if (message === null) throw new Error(`${stream} has no message ${seq}`);
      const body = new TextDecoder().decode(message.data).replace(/"received_at":\d+/g, '"received_at":0');
      // The subject after the stream's name: events.<partition> or dlq.
      messages.push({ subject: message.subject.slice(stream.length + 1), msgId: message.header.get("Nats-Msg-Id"), body });
    }
    return messages;
  }

  async function publish(file: string, pipelineFile: string, format: string, env: NodeJS.ProcessEnv): Promise<string> {
    const result = await runCli(["publish", file, "--pipeline", pipelineFile, "--format", format], env, { timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    // The counts, without the stream's name.
    return result.stdout.trim().replace(/ → .*$/, "");
  }

  it("access log: the same messages and ids from three parse threads, and a re-publish either way stores nothing", { timeout: 240_000 }, async () => {
    // Counts per copy as in goaccess.test.ts: semicomplete 9,782 published, 217 filtered (4xx), 1 rejected; NASA
    // 1,929 rejected. 5 × (semicomplete + NASA) ≈ 13 MB: four pieces of 4 MiB, so pieces go round three threads, and the NASA lines
    // (common format, so dead letters here) fall into several pieces.
    const log = join(directory, "mixed.log");
    const content = Buffer.concat(Array.from({ length: 5 }, () => [readFileSync(SEMICOMPLETE), readFileSync(NASA)]).flat());
    await writeFile(log, content);
    const oneThread = await pipeline("one");
    const threads = await pipeline("threads");
    const expectedCounts = "read 59645, published 48910, rejected 9650, filtered 1085";
    expect(await publish(log, oneThread.file, "combined", ONE_THREAD)).toContain(expectedCounts);
    expect(await publish(log, threads.file, "combined", THREADS)).toContain(expectedCounts);

    const reference = await storedMessages(oneThread.stream);
    expect(new Set(reference.map((message) => message.subject)).size).toBe(3);
    expect(reference.some((message) => message.body.includes('"page_item":"Schlagwort ü puppet"'))).toBe(true);
    expect(bySubject(await storedMessages(threads.stream))).toEqual(bySubject(reference));

    // JetStream recognises every batch of the other mode as one it has.
    await publish(log, oneThread.file, "combined", THREADS);
    await publish(log, threads.file, "combined", ONE_THREAD);
    expect((await manager.streams.info(oneThread.stream)).state.messages).toBe(reference.length);
    expect((await manager.streams.info(threads.stream)).state.messages).toBe(reference.length);
  });

  it("JSON lines: the same messages and ids from the parse thread as from one thread", { timeout: 240_000 }, async () => {
    const file = join(directory, "events.ndjson");
    const lines = [...generateLines({ visitors: 3_000, days: 2, seed: 7 })];
    // A broken line in the middle: a dead letter between pieces of events.
    lines.splice(lines.length >> 1, 0, '{"type":"page_view",');
    await writeFile(file, `${lines.join("\n")}\n`);
    expect(Buffer.byteLength(lines.join("\n"))).toBeGreaterThan(8 * 1024 * 1024);
    const oneThread = await pipeline("jsonone");
    const threads = await pipeline("jsonthreads");
    const counts = await publish(file, oneThread.file, "ndjson", ONE_THREAD);
    expect(counts).toContain(`read ${lines.length}, `);
    expect(counts).toContain("rejected 1,");
    expect(await publish(file, threads.file, "ndjson", THREADS)).toBe(counts);
    const reference = await storedMessages(oneThread.stream);
    expect(bySubject(await storedMessages(threads.stream))).toEqual(bySubject(reference));
    await publish(file, oneThread.file, "ndjson", THREADS);
    expect((await manager.streams.info(oneThread.stream)).state.messages).toBe(reference.length);
  });
});
