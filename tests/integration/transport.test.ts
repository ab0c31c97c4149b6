// JetStream transport against a real nats-server: stream setup, batched publishing, dedupe, dead letters, reading.
import { isAscii } from "node:buffer";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats, NatsConnectError } from "../../src/transport/connection.ts";
import { decodeDeadLetters, type DeadLetter } from "../../src/transport/dead-letter.ts";
import { partitionOf } from "../../src/transport/partition.ts";
import { BatchPublisher, PublishError } from "../../src/transport/publisher.ts";
import { StreamReader, type StreamMessage } from "../../src/transport/reader.ts";
import { connectToStream } from "../../src/cli/publish-stream.ts";
import { pipelineSchema } from "../../src/config/pipeline.ts";
import { DUPLICATE_WINDOW_MS, ensureStream } from "../../src/transport/stream.ts";
import { parseSubject } from "../../src/transport/subjects.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const created: string[] = [];

beforeAll(async () => {
  nc = await connectNats({ url: inject("natsUrl"), name: "transport-test" });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  for (const stream of created) await jsm.streams.delete(stream).catch(() => undefined);
  await nc?.close();
});

async function newStream(prefix: string): Promise<string> {
  const stream = uniqueStreamName(prefix);
  created.push(stream);
  await ensureStream(jsm, stream);
  return stream;
}

function eventLines(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return JSON.stringify({ type: "page_view", ts: 1_700_000_000_000 + i, anon_id: `anon-${i % 97}`, url: `/p/${i}` });
  });
}

async function publishAll(
  stream: string,
  lines: string[],
  options: { partitions?: number; msgIdPrefix?: string; maxBatchEvents?: number; maxBatchBytes?: number } = {},
): Promise<BatchPublisher> {
  const partitions = options.partitions ?? 1;
  const publisher = new BatchPublisher(js, {
    stream,
    partitions,
    msgIdPrefix: options.msgIdPrefix ?? "test-input",
    maxBatchEvents: options.maxBatchEvents,
    maxBatchBytes: options.maxBatchBytes,
  });
  for (const line of lines) {
    const anonId = (JSON.parse(line) as { anon_id?: string }).anon_id;
    await publisher.add(line, partitionOf(anonId, partitions));
  }
  await publisher.flush();
  return publisher;
}

async function readAll(reader: StreamReader): Promise<StreamMessage[]> {
  const messages: StreamMessage[] = [];
  for await (const message of reader) messages.push(message);
  return messages;
}

const messageCount = async (stream: string) => (await jsm.streams.info(stream)).state.messages;

describe("transport - ensureStream", () => {
  it("creates a replayable file stream capturing <S>.events.*, <S>.dlq and <S>.customers.* with a 2 min duplicate window", async () => {
    const stream = uniqueStreamName("ENSURE");
    created.push(stream);
    const info = await ensureStream(jsm, stream);
    expect(info.config.subjects).toEqual([`${stream}.events.*`, `${stream}.dlq`, `${stream}.customers.*`]);
    expect(info.config.retention).toBe("limits");
    expect(info.config.storage).toBe("file");
    expect(info.config.duplicate_window).toBe(DUPLICATE_WINDOW_MS * 1_000_000);
  });

  it("is idempotent: a second call keeps the existing stream and its messages", async () => {
    const stream = await newStream("IDEMPOTENT");
    await js.publish(`${stream}.events.0`, "x");
    const before = await jsm.streams.info(stream);
    const after = await ensureStream(jsm, stream);
    expect(after.created).toBe(before.created);
    expect(after.state.messages).toBe(1);
  });

  it("adds the missing dlq and customers subjects to a stream created with events only", async () => {
    const stream = uniqueStreamName("PARTIAL");
    created.push(stream);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.events.*`] });
    const info = await ensureStream(jsm, stream);
    expect(info.config.subjects).toEqual([`${stream}.events.*`, `${stream}.dlq`, `${stream}.customers.*`]);
  });

  it("survives 8 concurrent calls for the same new stream", async () => {
    const stream = uniqueStreamName("CONCURRENT");
    created.push(stream);
    const infos = await Promise.all(Array.from({ length: 8 }, () => ensureStream(jsm, stream)));
    expect(new Set(infos.map((info) => info.config.name))).toEqual(new Set([stream]));
    expect(await jsm.streams.names().next()).toContain(stream);
  });
});

describe("transport - publish and read", () => {
  let stream: string;
  const lines = eventLines(10_000);

  beforeAll(async () => {
    stream = await newStream("READ");
    await publishAll(stream, lines, { maxBatchEvents: 100 });
  });

  it("stores 10,000 events as 100 messages of 100 lines", async () => {
    expect(await messageCount(stream)).toBe(100);
  });

  it("reads every event line back from sequence 1 in publish order", async () => {
    const messages = await readAll(await StreamReader.open(js, stream, { startSequence: 1, drainUntil: true }));
    expect(messages.map((message) => message.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(messages.flatMap((message) => splitBatch(message.data))).toEqual(lines);
    expect(messages[0].subject).toBe(`${stream}.events.0`);
    expect(messages[0].pending).toBe(99);
    expect(messages[99].pending).toBe(0);
  });

  it("resumes exactly after a checkpointed sequence", async () => {
    const reader = await StreamReader.open(js, stream, { startSequence: 41, drainUntil: true, maxMessages: 7 });
    const messages = await readAll(reader);
    expect(messages[0].seq).toBe(41);
    expect(messages.flatMap((message) => splitBatch(message.data))).toEqual(lines.slice(4_000));
    expect(reader.lastDeliveredSequence).toBe(100);
  });

  it("drain reads nothing when the start sequence is past the end", async () => {
    const reader = await StreamReader.open(js, stream, { startSequence: 101, drainUntil: true });
    expect(await readAll(reader)).toEqual([]);
    expect(reader.lastSequenceAtOpen).toBe(100);
  });

  it("drain reads nothing from an empty stream", async () => {
    const empty = await newStream("EMPTY");
    expect(await readAll(await StreamReader.open(js, empty, { drainUntil: true }))).toEqual([]);
  });
});

describe("transport - nats.duplicateWindow", () => {
  const MINUTE_NS = 60_000 * 1_000_000;

  /** What `clickpipe publish` does first with a pipeline of this window: connect, ensure the stream; its log lines. */
  async function connectAsPublish(stream: string, duplicateWindow?: string): Promise<string[]> {
    const config = pipelineSchema.parse({ name: "dw", nats: { url: inject("natsUrl"), stream, duplicateWindow }, sinks: [{ type: "parquet", path: "x" }] });
    const lines: string[] = [];
    const connection = await connectToStream(config, (line) => lines.push(line));
    await connection.close();
    return lines;
  }

  async function publishOneBatchOfEach(stream: string): Promise<BatchPublisher> {
    const publisher = new BatchPublisher(js, { stream, partitions: 1, msgIdPrefix: "same-file" });
    await publisher.add('{"n":1}', 0);
    await publisher.addDeadLetter({ received_at: 1, reason: "not_json", raw: "{oops", source: "publish" });
    await publisher.flush();
    return publisher;
  }

  it("creates the stream with the pipeline's 10m window, and a batch re-sent under its Nats-Msg-Id is stored once", async () => {
    const stream = uniqueStreamName("DUPWIN");
    created.push(stream);
    expect(await connectAsPublish(stream, "10m")).toEqual([]);
    expect((await jsm.streams.info(stream)).config.duplicate_window).toBe(10 * MINUTE_NS);
    await publishOneBatchOfEach(stream);
    const again = await publishOneBatchOfEach(stream);
    expect(again.stats).toMatchObject({ duplicateBatches: 2 });
    // The event batch and the dead-letter batch, once each.
    expect(await messageCount(stream)).toBe(2);
  });

  it("widens an existing stream's shorter window, keeping its messages and the ids it remembers, and says so once", async () => {
    const stream = uniqueStreamName("DUPWIDEN");
    created.push(stream);
    await connectAsPublish(stream);
    const before = await jsm.streams.info(stream);
    expect(before.config.duplicate_window).toBe(2 * MINUTE_NS);
    await publishOneBatchOfEach(stream);
    expect(await connectAsPublish(stream, "10m")).toEqual([
      `stream ${stream} has a duplicate window of 2m, nats.duplicateWindow is 10m: widened it to 10m (nats stream edit ${stream} --dupe-window 2m would change it back)`,
    ]);
    const after = await jsm.streams.info(stream);
    expect(after.config.duplicate_window).toBe(10 * MINUTE_NS);
    expect(after.created).toBe(before.created);
    expect(after.state.messages).toBe(2);
    expect(after.config.subjects).toEqual(before.config.subjects);
    // The ids sent before the update still count as sent.
    expect((await publishOneBatchOfEach(stream)).stats).toMatchObject({ duplicateBatches: 2 });
    expect(await messageCount(stream)).toBe(2);
    // Now equal: nothing more to say.
    expect(await connectAsPublish(stream, "10m")).toEqual([]);
  });

  it("keeps an existing stream's longer window and warns once with the command that narrows it", async () => {
    const stream = uniqueStreamName("DUPNARROW");
    created.push(stream);
    await connectAsPublish(stream, "1h");
    const warning = `warning: stream ${stream} has a duplicate window of 1h, nats.duplicateWindow is 2m; clickpipe only widens an existing stream's window, so it keeps 1h (more nats-server memory, no lost duplicates). To narrow it: nats stream edit ${stream} --dupe-window 2m`;
    expect(await connectAsPublish(stream)).toEqual([warning]);
    expect((await jsm.streams.info(stream)).config.duplicate_window).toBe(60 * MINUTE_NS);
    // Said once per process, however many callers (worker, collector, tailer) ensure the stream.
    expect(await connectAsPublish(stream)).toEqual([]);
  });
});

describe("transport - partitions, batch sizes, drain, dedupe, dead letters", () => {
  it("routes each event to <S>.events.<partitionOf(anon_id)> and keeps per-partition order", async () => {
    const stream = await newStream("PARTS");
    const lines = eventLines(3_000);
    const publisher = await publishAll(stream, lines, { partitions: 4, maxBatchEvents: 50 });
    const messages = await readAll(await StreamReader.open(js, stream, { drainUntil: true }));

    const expectedByPartition = new Map<number, string[]>();
    for (const line of lines) {
      const partition = partitionOf((JSON.parse(line) as { anon_id: string }).anon_id, 4);
      expectedByPartition.set(partition, [...(expectedByPartition.get(partition) ?? []), line]);
    }
    const readByPartition = new Map<number, string[]>();
    for (const message of messages) {
      const kind = parseSubject(stream, message.subject);
      if (kind?.kind !== "events") throw new Error(`unexpected subject ${message.subject}`);
      readByPartition.set(kind.partition, [...(readByPartition.get(kind.partition) ?? []), ...splitBatch(message.data)]);
    }
    expect(readByPartition).toEqual(expectedByPartition);
    const expectedMessages = [...expectedByPartition.values()].reduce((sum, part) => sum + Math.ceil(part.length / 50), 0);
    expect(messages.length).toBe(expectedMessages);
    expect(publisher.stats).toMatchObject({ events: 3_000, batches: expectedMessages, duplicateBatches: 0 });
  });

  it("closes a batch before it would exceed maxBatchBytes", async () => {
    const stream = await newStream("BYTES");
    const lines = Array.from({ length: 90 }, (_, i) => JSON.stringify({ i, pad: "x".repeat(1000 - 15 - String(i).length) }));
    expect(lines.every((line) => Buffer.byteLength(line) === 1000)).toBe(true);
    await publishAll(stream, lines, { maxBatchBytes: 10_000 });
    const messages = await readAll(await StreamReader.open(js, stream, { drainUntil: true }));
    // 9 lines + 8 newlines = 9,008 bytes; a 10th line would make 10,009 > 10,000.
    expect(messages.map((message) => message.data.byteLength)).toEqual(new Array(10).fill(9_008));
    expect(messages.flatMap((message) => splitBatch(message.data))).toEqual(lines);
  });

  it("publishes lines added as strings and as bytes alike, in order, through bodies written again once acknowledged", async () => {
    const stream = await newStream("BODIES");
    const publisher = new BatchPublisher(js, { stream, partitions: 2, msgIdPrefix: "bodies", maxBatchEvents: 7, maxBatchBytes: 2_000 });
    const expected: string[][] = [[], []];
    for (let i = 0; i < 600; i++) {
      const partition = i % 3 === 0 ? 1 : 0;
      // Some lines are not ASCII, one is bigger than a batch alone; strings and bytes interleave on each partition.
      const text = i === 300 ? "big ".repeat(800) : `{"i":${i},"url":"/p/${i}${i % 5 === 0 ? "/café-☕" : ""}"`;
      const line = `${text}}`;
      expected[partition].push(line);
      if (i % 2 === 0) {
        await publisher.add(line, partition, isAscii(Buffer.from(line)));
      } else {
        const bytes = Buffer.from(`xx${text}yy`);
        await publisher.addBytes(bytes, 2, bytes.length - 2, Buffer.from("}"), partition);
      }
    }
    await publisher.flush();
    const messages = await readAll(await StreamReader.open(js, stream, { drainUntil: true }));
    const read: string[][] = [[], []];
    for (const message of messages) {
      const kind = parseSubject(stream, message.subject);
      if (kind?.kind !== "events") throw new Error(`unexpected subject ${message.subject}`);
      read[kind.partition].push(...splitBatch(message.data));
      expect(message.data.byteLength <= 2_000 || splitBatch(message.data).length === 1).toBe(true);
    }
    expect(read).toEqual(expected);
    expect(publisher.stats.events).toBe(600);
  });

  it("drain stops at the last sequence captured at open while more is being published", async () => {
    const stream = await newStream("DRAIN");
    await publishAll(stream, eventLines(2_000), { maxBatchEvents: 10, msgIdPrefix: "first" });
    const reader = await StreamReader.open(js, stream, { drainUntil: true, maxMessages: 25 });
    const more = publishAll(stream, eventLines(2_000, 2_000), { maxBatchEvents: 10, msgIdPrefix: "second" });
    const messages = await readAll(reader);
    await more;
    expect(reader.lastSequenceAtOpen).toBe(200);
    expect(messages.map((message) => message.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(await messageCount(stream)).toBe(400);
  });

  it("stores a re-publish of the same input with the same msgIdPrefix only once", async () => {
    const stream = await newStream("DEDUPE");
    const lines = eventLines(1_000);
    const first = await publishAll(stream, lines, { partitions: 3, msgIdPrefix: "file-a" });
    const storedOnce = await messageCount(stream);
    const again = await publishAll(stream, lines, { partitions: 3, msgIdPrefix: "file-a" });
    expect(await messageCount(stream)).toBe(storedOnce);
    expect(again.stats.duplicateBatches).toBe(first.stats.batches);
    expect(again.stats.duplicateEvents).toBe(1_000);
    // A different prefix is different input to JetStream: stored again.
    await publishAll(stream, lines, { partitions: 3, msgIdPrefix: "file-b" });
    expect(await messageCount(stream)).toBe(2 * storedOnce);
  });

  it("sends dead letters to <S>.dlq, interleaved in stream order with events, and reads their reasons back", async () => {
    const stream = await newStream("DLQ");
    const publisher = new BatchPublisher(js, { stream, partitions: 2, msgIdPrefix: "dlq-test", maxBatchEvents: 2 });
    const letters: DeadLetter[] = [
      { received_at: 1, reason: "not_json", raw: "{oops", source: "publish" },
      { received_at: 2, reason: "bad_ts", raw: '{"type":"click","ts":-5}', source: "publish" },
      { received_at: 3, reason: "unknown_type", raw: '{"type":"hover"}', source: "worker" },
    ];
    await publisher.add('{"n":1}', 1);
    await publisher.addDeadLetter(letters[0]);
    await publisher.addDeadLetter(letters[1]); // fills a dlq batch of 2
    await publisher.addDeadLetter(letters[2]);
    await publisher.flush();
    expect(publisher.stats).toMatchObject({ events: 1, batches: 1, deadLetters: 3, deadLetterBatches: 2 });

    const messages = await readAll(await StreamReader.open(js, stream, { drainUntil: true }));
    expect(messages.map((message) => parseSubject(stream, message.subject))).toEqual([
      { kind: "dlq" },
      { kind: "events", partition: 1 },
      { kind: "dlq" },
    ]);
    const dead = messages
      .filter((message) => message.subject === `${stream}.dlq`)
      .flatMap((message) => decodeDeadLetters(message.data));
    expect(dead).toEqual(letters);
  });

  it("reads only the dead letters when filtered to <S>.dlq", async () => {
    const stream = await newStream("FILTER");
    const publisher = new BatchPublisher(js, { stream, partitions: 1, msgIdPrefix: "f" });
    await publisher.add('{"n":1}', 0);
    await publisher.flush();
    await publisher.addDeadLetter({ received_at: 9, reason: "too_large", raw: "…", source: "http" });
    await publisher.flush();
    await publisher.add('{"n":2}', 0);
    await publisher.flush();
    const messages = await readAll(
      await StreamReader.open(js, stream, { drainUntil: true, filterSubjects: [`${stream}.dlq`] }),
    );
    expect(messages.map((message) => [message.seq, message.subject])).toEqual([[2, `${stream}.dlq`]]);
  });

  it("closes a reader that was never iterated at once, and deletes its consumer (a task handed over before its first message)", async () => {
    const stream = await newStream("UNREAD");
    const publisher = new BatchPublisher(js, { stream, partitions: 1, msgIdPrefix: "u" });
    await publisher.add('{"n":1}', 0);
    await publisher.flush();
    const reader = await StreamReader.open(js, stream, { drainUntil: true });
    const closed = await Promise.race([reader.close().then(() => "closed"), new Promise((resolve) => setTimeout(() => resolve("hung"), 5_000))]);
    expect(closed).toBe("closed");
    expect((await (await jsm.streams.get(stream)).info()).state.consumer_count).toBe(0);
  });

  it("surfaces a publish that no stream captures as a rejected flush naming the subject", async () => {
    const publisher = new BatchPublisher(js, {
      stream: uniqueStreamName("MISSING"),
      partitions: 1,
      msgIdPrefix: "x",
      retryForMs: 300,
      ackTimeoutMs: 500,
    });
    await publisher.add('{"n":1}', 0);
    const failure = publisher.flush();
    await expect(failure).rejects.toThrow(PublishError);
    await expect(failure).rejects.toThrow(/publishing batch x:0:0 to MISSING_.*\.events\.0 failed/);
  });

  it("rejects a partition outside the configured range", () => {
    const publisher = new BatchPublisher(js, { stream: "S", partitions: 2, msgIdPrefix: "x" });
    expect(() => publisher.add("{}", 2)).toThrow(RangeError);
  });
});

describe("transport - connection", () => {
  it("fails fast with a clear message when no server answers at start", async () => {
    const attempt = connectNats({ url: "nats://127.0.0.1:1" });
    await expect(attempt).rejects.toThrow(NatsConnectError);
    await expect(attempt).rejects.toThrow(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });

  it("names the server without the password of its URL", async () => {
    const attempt = connectNats({ url: "nats://ops:s3cret@127.0.0.1:1" });
    await expect(attempt).rejects.toThrow("cannot connect to NATS at nats://ops:<redacted>@127.0.0.1:1");
    await expect(attempt).rejects.not.toThrow(/s3cret/);
  });
});
