// Oracle: `clickpipe publish` on one thread. With parse threads (several for an access log, one for JSON lines) the
// stream must hold the same messages under the same batch ids, so a re-publish in either mode stores nothing new; and
// so must the file's gzip, decompressed as it is read.
import { isAscii } from "node:buffer";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { generateLines } from "../../src/ingest/generate.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";
import { jetStreamScratchAll } from "../helpers/jetstream-scratch.ts";
import { writePublishPipeline } from "../helpers/publish-pipeline.ts";

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
  const scratch = jetStreamScratchAll("clickpipe-publish-threads-");

  // Two partitions: events go to two subjects, dead letters to a third. A page item template that is not ASCII,
  // on ASCII lines: its events must still be encoded as UTF-8.
  const pipeline = (name: string) =>
    writePublishPipeline(scratch, "publish-threads", name, ["  urlRules:", '    - { match: "/blog/tags/:tag", item: "Schlagwort ü :tag" }']);

  async function storedMessages(stream: string): Promise<StoredMessage[]> {
    const { state } = await scratch.manager.streams.info(stream);
    const messages: StoredMessage[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const message = await scratch.manager.streams.getMessage(stream, { seq });
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
    const log = join(scratch.directory, "mixed.log");
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
    expect((await scratch.manager.streams.info(oneThread.stream)).state.messages).toBe(reference.length);
    expect((await scratch.manager.streams.info(threads.stream)).state.messages).toBe(reference.length);
  });

  it("a small gzip holding a big log is parsed on threads by what it holds, and stores what one thread stores from the plain file", { timeout: 240_000 }, async () => {
    // 3 × (semicomplete + NASA) ≈ 7.7 MB in a gzip of ≈ 0.8 MB: over a 4 MiB threshold by what it holds (its ISIZE),
    // under it by its compressed size, by which publish chose one thread before.
    const content = Buffer.concat(Array.from({ length: 3 }, () => [readFileSync(SEMICOMPLETE), readFileSync(NASA)]).flat());
    const gzip = gzipSync(content);
    const threshold = 4 * 1024 * 1024;
    expect(gzip.length).toBeLessThan(threshold);
    expect(content.length).toBeGreaterThan(threshold);
    const plainFile = join(scratch.directory, "compressible.log");
    const gzipFile = join(scratch.directory, "compressible.log.gz");
    await writeFile(plainFile, content);
    await writeFile(gzipFile, gzip);
    const oneThread = await pipeline("smallgzone");
    const fromGzip = await pipeline("smallgzthreads");
    // Per copy, as in the test above: 11,929 read, 9,782 published, 1,930 rejected (NASA's 1,929 and one cut line), 217 filtered.
    const counts = "read 35787, published 29346, rejected 5790, filtered 651";
    expect(await publish(plainFile, oneThread.file, "combined", ONE_THREAD)).toBe(counts);
    expect(await publish(gzipFile, fromGzip.file, "combined", { CLICKPIPE_PUBLISH_THREADS: "3", CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: String(threshold) })).toBe(counts);
    const reference = await storedMessages(oneThread.stream);
    const stored = await storedMessages(fromGzip.stream);
    expect(bySubject(stored)).toEqual(bySubject(reference));
    // The mark of parse threads, not a timing: they send a piece's dead letters with its last slice, after its events
    // (publish-prepared.ts), so across subjects the stream's order is not one thread's (which it was before, when the
    // compressed size chose one thread).
    const subjects = (messages: readonly StoredMessage[]) => messages.map((message) => message.subject).join(" ");
    expect(subjects(stored)).not.toBe(subjects(reference));
    // A re-publish of the plain file on one thread stores nothing again: the same batch ids.
    await publish(plainFile, fromGzip.file, "combined", ONE_THREAD);
    expect((await scratch.manager.streams.info(fromGzip.stream)).state.messages).toBe(reference.length);
  });

  it("JSON lines: the same messages and ids from the parse thread as from one thread", { timeout: 240_000 }, async () => {
    const file = join(scratch.directory, "events.ndjson");
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
    expect((await scratch.manager.streams.info(oneThread.stream)).state.messages).toBe(reference.length);
    // Its gzip, decompressed on the parse thread.
    const gzipFile = join(scratch.directory, "events.ndjson.gz");
    await writeFile(gzipFile, gzipSync(readFileSync(file)));
    const fromGzip = await pipeline("jsongzip");
    expect(await publish(gzipFile, fromGzip.file, "ndjson", THREADS)).toBe(counts);
    expect(bySubject(await storedMessages(fromGzip.stream))).toEqual(bySubject(reference));
  });

  it("W3C and Caddy logs: the same messages and ids from parse threads as from one thread", { timeout: 240_000 }, async () => {
    // W3C: ≈ 9 MB, so the second #Fields (other columns, in another order, in lower case) lies in a later 4 MiB piece
    // than the first, and the threads parsing pieces after the first read them under the directive before the piece.
    const iisLine = (n: number) =>
      `2024-03-04 ${clock(n)} 10.0.0.5 GET /page/${n % 97} - 80 - 192.0.2.${n % 200} Mozilla/5.0+(X11;+Linux) - ${n % 50 === 0 ? 404 : 200} 0 0 15`;
    const switched = (n: number) => `192.0.2.${n % 200} ${n % 50 === 0 ? 404 : 200} ${clock(n)} 2024-03-05 /other/${n % 89} q=${n % 7} GET`;
    const w3c: string[] = ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0"];
    w3c.push("#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken");
    for (let n = 0; n < 50_000; n++) w3c.push(iisLine(n));
    w3c.push("#fields: c-ip sc-status time date cs-uri-stem cs-uri-query cs-method");
    for (let n = 0; n < 80_000; n++) w3c.push(n === 40_000 ? "cut short" : switched(n));
    const w3cFile = join(scratch.directory, "u_ex.log");
    await writeFile(w3cFile, `${w3c.join("\r\n")}\r\n`);
    expect(Buffer.byteLength(w3c.join("\r\n"))).toBeGreaterThan(8 * 1024 * 1024);
    // 130,000 lines read (the 4 directives are not): 1,000 + 1,600 404s (filtered) less line 40,000 of the second
    // block, which is cut short (rejected) instead.
    await expectSameInBothModes(w3cFile, "w3c", "read 130000, published 127400, rejected 1, filtered 2599");

    // Caddy: ≈ 9 MB of access entries with a TLS entry every 1,000 lines (skipped) and a cut-off line.
    const caddy: string[] = [];
    for (let n = 0; n < 30_000; n++) {
      const request = { remote_ip: `198.51.100.${n % 250}`, proto: "HTTP/2.0", method: "GET", host: "example.com", uri: `/c/${n % 101}`, headers: { "User-Agent": [`agent ${n % 13}`] } };
      caddy.push(JSON.stringify({ level: "info", ts: 1_700_000_000 + n / 10, logger: "http.log.access.log0", msg: "handled request", request, size: 2048, status: n % 40 === 0 ? 404 : 200, padding: "x".repeat(100) }));
      if (n % 1000 === 999) caddy.push(JSON.stringify({ level: "info", ts: 1_700_000_000 + n / 10, logger: "tls.cache.maintenance", msg: "started background certificate maintenance" }));
    }
    caddy.splice(15_000, 0, '{"level":"info","ts":1700001500.0,"logger":"http.log.access.log0","request":{"remote_ip"');
    const caddyFile = join(scratch.directory, "caddy.log");
    await writeFile(caddyFile, `${caddy.join("\n")}\n`);
    expect(Buffer.byteLength(caddy.join("\n"))).toBeGreaterThan(8 * 1024 * 1024);
    // 30,000 access entries (750 of them 404s) and the cut-off line read; the 30 TLS entries skipped.
    await expectSameInBothModes(caddyFile, "caddy", "read 30001, published 29250, rejected 1, filtered 750");
  });

  it("ASCII lines whose values decode to other characters (\\xHH, \\u00e9, %C3%A9) give the same UTF-8 JSON on parse threads", { timeout: 240_000 }, async () => {
    // No page item template that is not ASCII (the pipeline above has one): a parse thread took an ASCII piece for
    // ASCII JSON and wrote it as Latin-1, so an escape decoded to "ä" reached the stream as the byte E4, not UTF-8.
    const combined = (n: number) => `192.0.2.${n % 200} - - [19/May/2015:11:05:15 +0000] "GET /files/${n} HTTP/1.0" 200 13316 "http://\\xe4\\xe5.\\xf0\\xf4/" "Mozilla/5.0 (X11; Linux x86_64)"`;
    const caddy = (n: number) => `{"level":"info","ts":1700000000,"logger":"http.log.access","request":{"remote_ip":"198.51.100.${n % 200}","method":"GET","uri":"/caf\\u00e9/${n}","headers":{"Referer":["http://\\u00fcber.example/"]}},"status":200,"size":1}`;
    // CloudFront's tab-separated lines, whose user agent is percent-encoded.
    const w3c = (n: number) => ["2024-03-04", "10:00:00", "GET", `/w/${n}`, "-", `192.0.2.${n % 200}`, "Mozilla/5.0%20(caf%C3%A9)", "200"].join("\t");
    const cases = [
      { format: "combined", lines: Array.from({ length: 3000 }, (_, n) => combined(n)), field: "referrer", value: "http://\u00e4\u00e5.\u00f0\u00f4/" },
      { format: "caddy", lines: Array.from({ length: 3000 }, (_, n) => caddy(n)), field: "referrer", value: "http://\u00fcber.example/" },
      { format: "w3c", lines: ["#Fields: date time cs-method cs-uri-stem cs-uri-query c-ip cs(User-Agent) sc-status", ...Array.from({ length: 3000 }, (_, n) => w3c(n))], field: "ua", value: "Mozilla/5.0 (caf\u00e9)" },
    ];
    for (const { format, lines, field, value } of cases) {
      const file = join(scratch.directory, `escaped-${format}.log`);
      await writeFile(file, `${lines.join("\n")}\n`);
      expect(isAscii(readFileSync(file))).toBe(true);
      const oneThread = await writePublishPipeline(scratch, "publish-threads", `escaped${format}one`);
      const threads = await writePublishPipeline(scratch, "publish-threads", `escaped${format}threads`);
      const counts = "read 3000, published 3000, rejected 0, filtered 0";
      expect(await publish(file, oneThread.file, format, ONE_THREAD)).toBe(counts);
      expect(await publish(file, threads.file, format, THREADS)).toBe(counts);
      const reference = await storedMessages(oneThread.stream);
      const stored = await storedMessages(threads.stream);
      // By hand: each event's value, decoded as UTF-8 from the stream.
      const values = (messages: readonly StoredMessage[]) =>
        messages.filter((message) => message.subject.startsWith("events.")).flatMap((message) => message.body.split("\n").map((line) => (JSON.parse(line) as Record<string, unknown>)[field]));
      expect(new Set(values(reference))).toEqual(new Set([value]));
      expect(new Set(values(stored))).toEqual(new Set([value]));
      expect(bySubject(stored)).toEqual(bySubject(reference));
    }
  });

  async function expectSameInBothModes(file: string, format: string, counts: string): Promise<void> {
    const oneThread = await pipeline(`${format}one`);
    const threads = await pipeline(`${format}threads`);
    expect(await publish(file, oneThread.file, format, ONE_THREAD)).toBe(counts);
    expect(await publish(file, threads.file, format, THREADS)).toBe(counts);
    const reference = await storedMessages(oneThread.stream);
    expect(bySubject(await storedMessages(threads.stream))).toEqual(bySubject(reference));
    await publish(file, oneThread.file, format, THREADS);
    expect((await scratch.manager.streams.info(oneThread.stream)).state.messages).toBe(reference.length);
    // The file's gzip on parse threads: this thread decompresses it, and finds each W3C piece's #Fields, as it cuts it.
    const gzipFile = `${file}.gz`;
    await writeFile(gzipFile, gzipSync(readFileSync(file)));
    const fromGzip = await pipeline(`${format}gzip`);
    expect(await publish(gzipFile, fromGzip.file, format, THREADS)).toBe(counts);
    expect(bySubject(await storedMessages(fromGzip.stream))).toEqual(bySubject(reference));
  }
});

/** hh:mm:ss of the n-th second of a day (wrapping). */
function clock(n: number): string {
  const seconds = n % 86_400;
  return [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60].map((part) => String(part).padStart(2, "0")).join(":");
}
