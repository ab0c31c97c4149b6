// HTTP collector against a real nats-server over loopback: statuses, stored events and dead letters, auth, CORS, limits.
import { once } from "node:events";
import { request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import type { PipelineInput } from "../../src/config/pipeline.ts";
import { pseudonymize } from "../../src/ingest/privacy.ts";
import type { Metrics } from "../../src/metrics/registry.ts";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { decodeDeadLetters, type DeadLetter } from "../../src/transport/dead-letter.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { parseSubject } from "../../src/transport/subjects.ts";
import { httpCollectorScratch } from "../helpers/http-collector-harness.ts";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";

const KEY = "wk_live_0123456789abcdef";
const TS = 1_700_000_000_000;
const BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

const collectors = httpCollectorScratch({ connection: "http-collector-test", streamPrefix: "HTTP", pipelineName: "http-test", writeKey: KEY });
const { startCollector } = collectors;

interface Stored {
  events: Record<string, unknown>[];
  deadLetters: DeadLetter[];
  eventMessages: number;
  rawText: string;
}

async function readStream(stream: string): Promise<Stored> {
  const reader = await StreamReader.open(jetstream(collectors.connection), stream, { drainUntil: true });
  const stored: Stored = { events: [], deadLetters: [], eventMessages: 0, rawText: "" };
  for await (const message of reader) {
    stored.rawText += Buffer.from(message.data).toString("utf8") + "\n";
    const kind = parseSubject(stream, message.subject);
    if (kind?.kind === "dlq") stored.deadLetters.push(...decodeDeadLetters(message.data));
    else {
      stored.eventMessages++;
      for (const line of splitBatch(message.data)) stored.events.push(JSON.parse(line) as Record<string, unknown>);
    }
  }
  return stored;
}

const pageView = (i: number, extra: Record<string, unknown> = {}) => ({
  type: "page_view",
  ts: TS + i,
  anon_id: `visitor-${i}`,
  url: `https://shop.example/p/${i}`,
  ...extra,
});

function post(base: string, body: string, headers: Record<string, string> = { "x-write-key": KEY }, path = "/v1/events") {
  return fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
}

async function counterValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  return metric.values
    .filter((value) => Object.entries(labels).every(([key, label]) => value.labels[key] === label))
    .reduce((sum, value) => sum + value.value, 0);
}

describe("http collector - accepting events", () => {
  it("stores one JSON event with received_at, the anonymized client IP and the User-Agent, answering after the ack", async () => {
    const { base, stream } = await startCollector();
    const before = Date.now();
    const response = await post(base, JSON.stringify(pageView(1)), { "x-write-key": KEY, "user-agent": BROWSER_UA });
    const after = Date.now();
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
    // The 200 means stored: the stream holds it the moment the answer arrives.
    expect((await collectors.manager.streams.info(stream)).state.messages).toBe(1);
    const { events } = await readStream(stream);
    expect(events).toHaveLength(1);
    const event = events[0];
    expect(event).toMatchObject({ type: "page_view", ts: TS + 1, anon_id: "visitor-1", url: "https://shop.example/p/1" });
    expect(event.received_at).toBeGreaterThanOrEqual(before);
    expect(event.received_at).toBeLessThanOrEqual(after);
    expect(event.ip).toBe("127.0.0.0");
    expect(event.ua).toBe(BROWSER_UA);
    expect(event.is_bot).toBe(false);
  });

  it("flags a request without a User-Agent header as a bot and keeps an event's own ua over the header", async () => {
    const { base, stream } = await startCollector();
    const { port } = new URL(base);
    const status = await new Promise<number>((resolve, reject) => {
      // fetch always sends a User-Agent; node:http sends none unless told.
      const request = httpRequest({ port, host: "127.0.0.1", path: "/v1/events", method: "POST", headers: { "x-write-key": KEY } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.once("error", reject);
      request.end(JSON.stringify(pageView(1)));
    });
    expect(status).toBe(200);
    await post(base, JSON.stringify(pageView(2, { ua: "Their/1.0" })), { "x-write-key": KEY, "user-agent": BROWSER_UA });
    const { events } = await readStream(stream);
    expect(events[0]).toMatchObject({ anon_id: "visitor-1", is_bot: true, bot_reason: "empty_user_agent" });
    expect(events[0]).not.toHaveProperty("ua");
    expect(events[1]).toMatchObject({ anon_id: "visitor-2", ua: "Their/1.0" });
  });

  it("accepts the good events of an array and dead-letters each bad one with its index and reason", async () => {
    const { base, stream } = await startCollector();
    const body = [pageView(0), { type: "page_view", ts: TS, url: "/no-visitor" }, pageView(2), { type: "teleport", ts: TS, anon_id: "a" }];
    const response = await post(base, JSON.stringify(body));
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { accepted: number; rejected: number; errors: { index: number; reason: string }[] };
    expect(answer.accepted).toBe(2);
    expect(answer.rejected).toBe(2);
    expect(answer.errors.map((error) => error.index)).toEqual([1, 3]);
    expect(answer.errors[0].reason).toBe("missing_field: page_view: requires anon_id or user_id");
    expect(answer.errors[1].reason).toMatch(/^unknown_type: /);
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.anon_id)).toEqual(["visitor-0", "visitor-2"]);
    expect(stored.deadLetters.map((letter) => [letter.source, letter.reason.split(":")[0], JSON.parse(letter.raw)])).toEqual([
      ["http", "missing_field", body[1]],
      ["http", "unknown_type", body[3]],
    ]);
  });

  it("reads NDJSON (application/x-ndjson) and dead-letters a line that is not JSON as not_json", async () => {
    const { base, stream } = await startCollector();
    const body = `${JSON.stringify(pageView(0))}\n{broken\n\n${JSON.stringify(pageView(1))}\r\n`;
    const response = await post(base, body, { "x-write-key": KEY, "content-type": "application/x-ndjson" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 1 }] });
    const stored = await readStream(stream);
    expect(stored.events).toHaveLength(2);
    expect(stored.deadLetters).toHaveLength(1);
    expect(stored.deadLetters[0].raw).toBe("{broken");
    expect(stored.deadLetters[0].reason).toMatch(/^not_json: /);
  });

  it("accepts a 60 KiB text/plain sendBeacon body of NDJSON carrying the writeKey in its records", async () => {
    const { base, stream } = await startCollector();
    const lines: string[] = [];
    let bytes = 0;
    for (let i = 0; bytes < 60 * 1024; i++) {
      const line = JSON.stringify({ writeKey: KEY, ...pageView(i) });
      lines.push(line);
      bytes += line.length + 1;
    }
    const response = await fetch(`${base}/v1/events`, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: lines.join("\n"),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: lines.length, rejected: 0, errors: [] });
    const stored = await readStream(stream);
    expect(stored.events).toHaveLength(lines.length);
    expect(new Set(stored.events.map((event) => event.anon_id)).size).toBe(lines.length);
    expect(stored.rawText).not.toContain(KEY);
  });

  it("answers the pixel with a 1×1 GIF, no-store, and stores its query parameters as the event", async () => {
    const { base, stream } = await startCollector();
    const query = new URLSearchParams({ type: "purchase", ts: String(TS), anon_id: "px", order_id: "o-1", revenue: "12.5", writeKey: KEY });
    // HEAD (a link checker, a prefetch) gets the GIF's headers and stores nothing.
    const head = await fetch(`${base}/v1/pixel.gif?${query}`, { method: "HEAD" });
    expect([head.status, head.headers.get("content-type"), (await head.arrayBuffer()).byteLength]).toEqual([200, "image/gif", 0]);
    expect((await readStream(stream)).events).toHaveLength(0);
    const response = await fetch(`${base}/v1/pixel.gif?${query}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/gif");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const gif = Buffer.from(await response.arrayBuffer());
    expect(gif.subarray(0, 6).toString("latin1")).toBe("GIF89a");
    expect([gif.readUInt16LE(6), gif.readUInt16LE(8)]).toEqual([1, 1]);
    const { events } = await readStream(stream);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "purchase", ts: TS, anon_id: "px", order_id: "o-1", revenue: 12.5 });
    expect(events[0]).not.toHaveProperty("writeKey");
  });

  it("dead-letters a pixel whose percent-escapes are not UTF-8 instead of storing U+FFFD, and still answers the GIF", async () => {
    const { base, stream } = await startCollector();
    const response = await fetch(`${base}/v1/pixel.gif?writeKey=${KEY}&type=page_view&ts=${TS}&anon_id=%ff%fe&url=%2F`);
    expect([response.status, response.headers.get("content-type")]).toEqual([200, "image/gif"]);
    const good = await fetch(`${base}/v1/pixel.gif?writeKey=${KEY}&type=page_view&ts=${TS}&anon_id=caf%C3%A9&url=%2F`);
    expect(good.status).toBe(200);
    const { events, deadLetters } = await readStream(stream);
    expect(events.map((event) => event.anon_id)).toEqual(["café"]);
    expect(deadLetters.map((letter) => [letter.source, letter.reason, letter.raw])).toEqual([
      ["http", "unparseable_line: the query string's percent-escapes are not UTF-8", `writeKey=[redacted]&type=page_view&ts=${TS}&anon_id=%ff%fe&url=%2F`],
    ]);
  });

  it("gathers concurrent requests into fewer JetStream messages (group commit) and stores every event once", async () => {
    const { base, stream } = await startCollector({}, {}, { commitWindowMs: 20 });
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => post(base, JSON.stringify(pageView(i)))));
    expect(responses.map((response) => response.status)).toEqual(new Array(40).fill(200));
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.anon_id).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `visitor-${i}`).sort());
    expect(stored.eventMessages).toBeLessThan(40);
  });
});

describe("http collector - write keys", () => {
  it("accepts the key as the Basic user name, in X-Write-Key, or as the body's writeKey field, and never stores it", async () => {
    const { base, stream } = await startCollector();
    const basic = `Basic ${Buffer.from(`${KEY}:`).toString("base64")}`;
    expect((await post(base, JSON.stringify(pageView(1)), { authorization: basic })).status).toBe(200);
    expect((await post(base, JSON.stringify(pageView(2)), { "x-write-key": KEY })).status).toBe(200);
    expect((await post(base, JSON.stringify({ ...pageView(3), writeKey: KEY }), {})).status).toBe(200);
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.anon_id)).toEqual(["visitor-1", "visitor-2", "visitor-3"]);
    expect(stored.rawText).not.toContain(KEY);
  });

  it("answers 401 for a missing or wrong key and stores nothing", async () => {
    const { base, stream, logs } = await startCollector();
    const missing = await post(base, JSON.stringify(pageView(1)), {});
    const wrong = await post(base, JSON.stringify(pageView(1)), { "x-write-key": `${KEY}x` });
    const wrongInBody = await post(base, JSON.stringify({ ...pageView(1), writeKey: "nope" }), {});
    const pixel = await fetch(`${base}/v1/pixel.gif?type=click&ts=${TS}&anon_id=a`);
    expect([missing.status, wrong.status, wrongInBody.status, pixel.status]).toEqual([401, 401, 401, 401]);
    expect((await collectors.manager.streams.info(stream)).state.messages).toBe(0);
    expect(logs.join("\n")).not.toContain(KEY);
  });

  it("challenges with Basic only a request that sent Authorization, and with WriteKey otherwise, so a browser shows no login dialog", async () => {
    const { base } = await startCollector();
    const wrongBasic = `Basic ${Buffer.from("not-the-key:").toString("base64")}`;
    const missing = await post(base, JSON.stringify(pageView(1)), {});
    const wrongHeader = await post(base, JSON.stringify(pageView(1)), { "x-write-key": "not-the-key" });
    const pixel = await fetch(`${base}/v1/pixel.gif?type=click&ts=${TS}&anon_id=a`);
    const basic = await post(base, JSON.stringify(pageView(1)), { authorization: wrongBasic });
    const otherScheme = await post(base, JSON.stringify(pageView(1)), { authorization: "Bearer not-the-key" });
    expect([missing, wrongHeader, pixel, basic, otherScheme].map((response) => [response.status, response.headers.get("www-authenticate")])).toEqual([
      [401, 'WriteKey realm="clickpipe"'],
      [401, 'WriteKey realm="clickpipe"'],
      [401, 'WriteKey realm="clickpipe"'],
      [401, 'Basic realm="clickpipe"'],
      [401, 'Basic realm="clickpipe"'],
    ]);
  });

  it("keeps the key out of dead letters of records that carried it", async () => {
    const { base, stream } = await startCollector();
    const response = await post(base, JSON.stringify({ type: "page_view", ts: "yesterday", anon_id: "a", url: "/", writeKey: KEY }), {});
    expect(await response.json()).toMatchObject({ accepted: 0, rejected: 1 });
    const stored = await readStream(stream);
    expect(stored.deadLetters).toHaveLength(1);
    expect(stored.deadLetters[0].reason).toMatch(/^bad_ts: /);
    expect(stored.rawText).not.toContain(KEY);
  });

  it("keeps keys out of dead letters however they are spelled: JSON escapes, percent-escapes, another key's writeKey field", async () => {
    const { base, stream } = await startCollector({ writeKeys: [KEY, "other-key"] });
    const escapedKey = KEY.replaceAll("_", "\\u005f"); // JSON.parse reads it as KEY: the request is accepted
    const single = await post(base, `{"type":"page_view","ts":"yesterday","anon_id":"a","url":"/","writeKey":"${escapedKey}"}`, {});
    expect(await single.json()).toMatchObject({ accepted: 0, rejected: 1 });
    // Under a header key: bad lines carrying another key under an escaped name, and the key percent-escaped in a URL.
    const lines = [
      JSON.stringify(pageView(1)),
      '{"type":"page_view","ts":"yesterday","anon_id":"b","url":"/","write\\u004bey":"other-key"}',
      `{"type":"page_view","ts":"yesterday","anon_id":"c","url":"/?writeKey=${KEY.replaceAll("_", "%5F")}"}`,
    ];
    const batch = await post(base, lines.join("\n"), { "x-write-key": KEY, "content-type": "application/x-ndjson" });
    expect(await batch.json()).toMatchObject({ accepted: 1, rejected: 2 });
    // The pixel's parameter name and key percent-escaped (URLSearchParams decodes both); without ts it is dead-lettered.
    const pixel = await fetch(`${base}/v1/pixel.gif?write%4Bey=${KEY.replaceAll("_", "%5F")}&type=page_view&anon_id=d&url=%2F`);
    expect(pixel.status).toBe(200);
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.anon_id)).toEqual(["visitor-1"]);
    expect(stored.deadLetters.map((letter) => letter.raw)).toEqual([
      '{"type":"page_view","ts":"yesterday","anon_id":"a","url":"/","writeKey":"[redacted]"}',
      '{"type":"page_view","ts":"yesterday","anon_id":"b","url":"/","write\\u004bey":"[redacted]"}',
      '{"type":"page_view","ts":"yesterday","anon_id":"c","url":"/?writeKey=[redacted]"}',
      "write%4Bey=[redacted]&type=page_view&anon_id=d&url=%2F",
    ]);
    expect(stored.rawText).not.toContain("other-key");
  });

  it("keeps the start of a key out of a broken line's reason, where JSON.parse's message quotes the line", async () => {
    const { base, stream } = await startCollector();
    const broken = `{"type":"page_view","writeKey":${KEY}}`;
    const response = await post(base, [JSON.stringify(pageView(1)), broken].join("\n"), { "x-write-key": KEY });
    expect(await response.json()).toEqual({ accepted: 1, rejected: 1, errors: [{ index: 1, reason: "not_json: not JSON: Unexpected token 'w' (not valid JSON)" }] });
    const stored = await readStream(stream);
    expect(stored.deadLetters.map((letter) => [letter.reason, letter.raw])).toEqual([
      ["not_json: not JSON: Unexpected token 'w' (not valid JSON)", '{"type":"page_view","writeKey":"[redacted]"}'],
    ]);
    expect(stored.rawText).not.toContain(KEY.slice(0, 6));
  });
  it("keeps keys out of a rejected record's reason, where the validation quotes a field's value", async () => {
    const { base, stream } = await startCollector({ writeKeys: [KEY, "other-key"] });
    const lines = [
      JSON.stringify(pageView(1)),
      JSON.stringify({ type: KEY, ts: TS, anon_id: "a" }),
      JSON.stringify({ type: "page_view", ts: { writeKey: "a-wrong-key" }, anon_id: "b", url: "/" }),
    ];
    const response = await post(base, lines.join("\n"), { "x-write-key": KEY, "content-type": "application/x-ndjson" });
    expect(await response.json()).toMatchObject({ accepted: 1, rejected: 2 });
    const stored = await readStream(stream);
    expect(stored.deadLetters.map((letter) => letter.reason)).toEqual([
      expect.stringMatching(/^unknown_type: type: expected one of .*, got "\[redacted\]"$/),
      expect.stringMatching(/^bad_ts: page_view\.ts: expected .*, got \{"writeKey":"\[redacted\]"\}$/),
    ]);
    expect(stored.rawText).not.toContain(KEY);
    expect(stored.rawText).not.toContain("a-wrong-key");
  });
});

describe("http collector - refusals", () => {
  it("answers 400 for an unparseable body and stores nothing", async () => {
    const { base, stream } = await startCollector();
    expect((await post(base, "[{\"type\": \"page_view\"")).status).toBe(400);
    expect((await post(base, "hello, world")).status).toBe(400);
    expect((await post(base, "")).status).toBe(400);
    expect((await collectors.manager.streams.info(stream)).state.messages).toBe(0);
  });

  it("dead-letters an event over maxEventBytes as too_large and keeps the good events beside it", async () => {
    const { base, stream } = await startCollector({ maxEventBytes: 1024 });
    const big = pageView(1, { title: "x".repeat(1100) });
    const array = await post(base, JSON.stringify([pageView(0), big, pageView(2)]));
    const ndjson = await post(base, [pageView(3), big].map((event) => JSON.stringify(event)).join("\n"));
    const single = await post(base, JSON.stringify(big));
    expect([array.status, ndjson.status, single.status]).toEqual([200, 200, 200]);
    const bytes = JSON.stringify(big).length;
    expect(await array.json()).toEqual({ accepted: 2, rejected: 1, errors: [{ index: 1, reason: `too_large: record is ${bytes} bytes, over the 1024-byte limit` }] });
    expect(await ndjson.json()).toMatchObject({ accepted: 1, rejected: 1 });
    expect(await single.json()).toMatchObject({ accepted: 0, rejected: 1 });
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.anon_id).sort()).toEqual([pageView(0), pageView(2), pageView(3)].map((event) => event.anon_id).sort());
    expect(stored.deadLetters.map((letter) => [letter.reason.split(":")[0], JSON.parse(letter.raw).title.length])).toEqual([
      ["too_large", 1100],
      ["too_large", 1100],
      ["too_large", 1100],
    ]);
  });

  it("answers 413 for a body over maxRequestBytes, with or without Content-Length, and stops reading it", async () => {
    const { base, stream } = await startCollector({ maxRequestBytes: 4096 });
    const body = JSON.stringify(Array.from({ length: 60 }, (_, i) => pageView(i)));
    expect(body.length).toBeGreaterThan(4096);
    const declared = await post(base, body);
    expect(declared.status).toBe(413);
    const chunk = new TextEncoder().encode(`${JSON.stringify(pageView(0))}\n`);
    // Chunked, no Content-Length: the collector must count while reading.
    const chunkedBody = (limitBytes: number, sent: { bytes: number }) =>
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent.bytes >= limitBytes) return controller.close();
          sent.bytes += chunk.length;
          controller.enqueue(chunk);
          if (sent.bytes % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
        },
      });
    const chunked = (limitBytes: number, sent: { bytes: number }) =>
      fetch(`${base}/v1/events`, {
        method: "POST",
        headers: { "x-write-key": KEY },
        body: chunkedBody(limitBytes, sent),
        duplex: "half",
      } as RequestInit);
    expect((await chunked(512 * 1024, { bytes: 0 })).status).toBe(413);
    // A practically endless body: the collector stops reading it (the connection closes) rather than reading it all.
    const endless = { bytes: 0 };
    const outcome = await chunked(1024 * 1024 * 1024, endless).then(
      (response) => response.status,
      () => "connection closed",
    );
    expect([413, "connection closed"]).toContain(outcome);
    expect(endless.bytes).toBeLessThan(32 * 1024 * 1024);
    expect((await collectors.manager.streams.info(stream)).state.messages).toBe(0);
  });

  it("answers 413 for more events than maxBatchEvents in one request and stores none of them", async () => {
    const { base, stream } = await startCollector({ maxBatchEvents: 5 });
    const six = Array.from({ length: 6 }, (_, i) => pageView(i));
    expect((await post(base, JSON.stringify(six))).status).toBe(413);
    expect((await post(base, six.map((event) => JSON.stringify(event)).join("\n"))).status).toBe(413);
    expect((await post(base, JSON.stringify(six.slice(0, 5)))).status).toBe(200);
    expect((await readStream(stream)).events).toHaveLength(5);
    // With the key in the body (sendBeacon), the answer is still 413, not 401: the key is read from the first record.
    const keyed = six.map((event) => JSON.stringify({ ...event, writeKey: KEY }));
    const tooMany = await post(base, keyed.join("\n"), {});
    expect([tooMany.status, await tooMany.json()]).toEqual([413, { error: "6 events in one request, over the limit of 5" }]);
    // A broken first line does not hide the key of the lines after it.
    const brokenFirst = await post(base, ["{broken", ...keyed.slice(0, 2)].join("\n"), {});
    expect([brokenFirst.status, await brokenFirst.json()]).toMatchObject([200, { accepted: 2, rejected: 1 }]);
  });

  it("answers 429 with Retry-After once a client's burst is spent, per write key and client", async () => {
    const { base } = await startCollector({ rateLimit: { requestsPerSecond: 0.5, burst: 2 }, writeKeys: [KEY, "other-key"] });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(base, JSON.stringify(pageView(i)))).status);
    expect(statuses).toEqual([200, 200, 429]);
    const limited = await post(base, JSON.stringify(pageView(9)));
    expect(limited.status).toBe(429);
    // One token per 2 s: a whole token is at most 2 s away.
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get("retry-after"))).toBeLessThanOrEqual(2);
    expect((await post(base, JSON.stringify(pageView(3)), { "x-write-key": "other-key" })).status).toBe(200);
  });

  it("answers 429 past a client IP's budget of requests with a missing or unknown key, right guesses included, but not its known keys", async () => {
    // Default budget: 20 at once, then one per 10 s. 127.0.0.1 is a trusted proxy, so X-Forwarded-For names a second client.
    const { base, stream } = await startCollector({ writeKeys: [KEY, "other-key"], trustedProxies: ["127.0.0.1"] });
    expect((await post(base, JSON.stringify(pageView(1)))).status).toBe(200);
    const bad = [
      () => post(base, JSON.stringify(pageView(90)), {}),
      () => post(base, JSON.stringify(pageView(90)), { "x-write-key": `${KEY}x` }),
      () => post(base, JSON.stringify({ ...pageView(90), writeKey: "guess" }), {}),
      () => post(base, "not json", {}),
      () => fetch(`${base}/v1/pixel.gif?type=page_view&ts=${TS}&anon_id=visitor-90&url=/`),
    ];
    const budget = [];
    for (let i = 0; i < 20; i++) budget.push((await bad[i % bad.length]()).status);
    expect(budget).toEqual(Array(20).fill(401));
    const over = [];
    for (const send of bad) over.push(await send());
    expect(over.map((response) => response.status)).toEqual([429, 429, 429, 429, 429]);
    for (const response of over) {
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(Number(response.headers.get("retry-after"))).toBeLessThanOrEqual(10);
    }
    // A right key this IP never used is answered as a wrong one is: the guess must not learn it guessed right.
    const guessedRight = await post(base, JSON.stringify(pageView(91)), { "x-write-key": "other-key" });
    expect([guessedRight.status, await guessedRight.json()]).toEqual([429, { error: "too many requests from this client" }]);
    expect(await over[1].json()).toEqual({ error: "too many requests from this client" });
    // The key this IP used before goes on, within its own bucket; other IPs have their own bad-key budget.
    const known = [];
    for (let i = 2; i <= 6; i++) known.push((await post(base, JSON.stringify(pageView(i)))).status);
    expect(known).toEqual([200, 200, 200, 200, 200]);
    const elsewhere = { "x-forwarded-for": "203.0.113.9" };
    expect((await post(base, JSON.stringify(pageView(92)), { ...elsewhere, "x-write-key": "nope" })).status).toBe(401);
    expect((await post(base, JSON.stringify(pageView(7)), { ...elsewhere, "x-write-key": "other-key" })).status).toBe(200);
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.anon_id)).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `visitor-${i}`));
  });

  it("keeps one bad-key budget per IPv6 /64: a client cannot renew it by rotating its addresses", async () => {
    // One host or LAN gets a whole /64 (privacy addresses change within it): per address, each gave 3 more guesses.
    const { base } = await startCollector({ rateLimit: { badKeyBurst: 3 }, trustedProxies: ["127.0.0.1"] });
    const from = (address: string) => post(base, JSON.stringify(pageView(90)), { "x-write-key": "guess", "x-forwarded-for": address });
    const statuses = [];
    for (const address of ["2001:db8:1:2::1", "2001:db8:1:2:aaaa::7", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:DB8:1:2:0:0:0:9", "2001:db8:1:2::5"]) {
      statuses.push((await from(address)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    // The next /64 and an IPv4 client have budgets of their own.
    expect([(await from("2001:db8:1:3::1")).status, (await from("203.0.113.9")).status]).toEqual([401, 401]);
  });

  it("answers 404 for an unknown path and 405 with Allow for a wrong method", async () => {
    const { base } = await startCollector();
    expect((await fetch(`${base}/v2/events`)).status).toBe(404);
    const wrongMethod = await fetch(`${base}/v1/events`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST, OPTIONS");
    expect((await fetch(`${base}/v1/pixel.gif`, { method: "POST" })).status).toBe(405);
  });
});

describe("http collector - CORS", () => {
  const allowed = "https://shop.example";
  const other = "https://evil.example";

  it("answers a preflight from an allowed origin with the CORS headers and one from another origin without", async () => {
    const { base } = await startCollector({ allowedOrigins: [allowed] });
    const preflight = (origin: string) =>
      fetch(`${base}/v1/events`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-write-key" },
      });
    const good = await preflight(allowed);
    expect(good.status).toBe(204);
    expect(good.headers.get("access-control-allow-origin")).toBe(allowed);
    expect(good.headers.get("access-control-allow-methods")).toContain("POST");
    expect(good.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("x-write-key");
    const bad = await preflight(other);
    expect(bad.headers.get("access-control-allow-origin")).toBeNull();
    expect(bad.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("adds Access-Control-Allow-Origin to a POST from an allowed origin and refuses another origin with 403; * allows any", async () => {
    const { base, stream } = await startCollector({ allowedOrigins: [allowed] });
    const fromAllowed = await post(base, JSON.stringify(pageView(1)), { "x-write-key": KEY, origin: allowed });
    // sendBeacon and simple requests need no preflight: without the 403 their events would be stored.
    const fromOther = await post(base, JSON.stringify(pageView(2)), { "x-write-key": KEY, origin: other, "content-type": "text/plain" });
    const pixelFromOther = await fetch(`${base}/v1/pixel.gif?writeKey=${KEY}&type=page_view&ts=${TS}&anon_id=p&url=/`, { headers: { origin: other } });
    const fromServer = await post(base, JSON.stringify(pageView(3)), { "x-write-key": KEY });
    expect([fromAllowed.status, fromOther.status, pixelFromOther.status, fromServer.status]).toEqual([200, 403, 403, 200]);
    expect(fromAllowed.headers.get("access-control-allow-origin")).toBe(allowed);
    expect(fromOther.headers.get("access-control-allow-origin")).toBeNull();
    expect(await fromOther.json()).toEqual({ error: `origin ${other} may not post here: allowedOrigins of this collector does not list it` });
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual([pageView(1).anon_id, pageView(3).anon_id]);
    const any = await startCollector({ allowedOrigins: ["*"] });
    const fromAnywhere = await post(any.base, JSON.stringify(pageView(3)), { "x-write-key": KEY, origin: other });
    expect([fromAnywhere.status, fromAnywhere.headers.get("access-control-allow-origin")]).toEqual([200, "*"]);
    // No list (the default): no origin is refused, and each is answered as "*" answers it, so a page (the browser
    // tracker) reads its answers and sends a batch once; a preflighted JSON post is allowed the same way.
    const open = await startCollector();
    const fromOtherOpen = await post(open.base, JSON.stringify(pageView(4)), { "x-write-key": KEY, origin: other });
    expect([fromOtherOpen.status, fromOtherOpen.headers.get("access-control-allow-origin"), fromOtherOpen.headers.get("access-control-allow-credentials")]).toEqual([200, "*", null]);
    const preflightOpen = await preflight(open.base, other);
    expect([preflightOpen.headers.get("access-control-allow-origin"), preflightOpen.headers.get("access-control-allow-credentials")]).toEqual(["*", null]);
    expect(preflightOpen.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it('answers "*" without Allow-Credentials to origins only "*" allows, and credentials only to origins listed exactly', async () => {
    const { base, stream } = await startCollector({ allowedOrigins: ["*", allowed] });
    const preflight = (origin: string) =>
      fetch(`${base}/v1/events`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization" },
      });
    const corsHeaders = (response: Response) => [
      response.headers.get("access-control-allow-origin"),
      response.headers.get("access-control-allow-credentials"),
      response.headers.get("vary"),
    ];
    // A page of any origin must not get its credentialed requests (cookies, the browser's cached Basic auth) let
    // through: browsers refuse "*" for them, so the preflight fails and the answer stays hidden.
    const otherPreflight = await preflight(other);
    expect([otherPreflight.status, ...corsHeaders(otherPreflight)]).toEqual([204, "*", null, "Origin"]);
    expect(otherPreflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    const listedPreflight = await preflight(allowed);
    expect(corsHeaders(listedPreflight)).toEqual([allowed, "true", "Origin"]);
    // What beacons need still works from any origin: a text/plain sendBeacon body with the key in its records (no
    // preflight), a fetch with X-Write-Key and no credentials (preflight answered "*"), and the pixel.
    const beacon = await post(base, JSON.stringify({ ...pageView(1), writeKey: KEY }), { origin: other, "content-type": "text/plain;charset=UTF-8" });
    const keyed = await post(base, JSON.stringify(pageView(2)), { "x-write-key": KEY, origin: other });
    const pixel = await fetch(`${base}/v1/pixel.gif?writeKey=${KEY}&type=page_view&ts=${TS}&anon_id=visitor-3&url=/`, { headers: { origin: other } });
    const fromListed = await post(base, JSON.stringify(pageView(4)), { "x-write-key": KEY, origin: allowed });
    expect([beacon, keyed, pixel, fromListed].map((response) => response.status)).toEqual([200, 200, 200, 200]);
    expect([beacon, keyed, pixel].map(corsHeaders)).toEqual(Array(3).fill(["*", null, "Origin"]));
    expect(corsHeaders(fromListed)).toEqual([allowed, "true", "Origin"]);
    expect((await readStream(stream)).events.map((event) => event.anon_id).sort()).toEqual(["visitor-1", "visitor-2", "visitor-3", "visitor-4"]);
  });
});

describe("http collector - CORS on every answer", () => {
  const allowed = "https://shop.example";
  const corsOf = (response: Response) => [
    response.status,
    response.headers.get("access-control-allow-origin"),
    response.headers.get("access-control-allow-credentials"),
    response.headers.get("access-control-expose-headers"),
  ];
  const listed = (status: number) => [status, allowed, "true", "Retry-After"];

  it("gives a listed origin its CORS headers, Retry-After exposed, on 400, 401, 404, 405, 413, 415, 429 and the HEAD pixel", async () => {
    const { base } = await startCollector({ allowedOrigins: [allowed], rateLimit: { requestsPerSecond: 0.01, burst: 1 } });
    const from = { origin: allowed };
    const keyed = { "x-write-key": KEY, ...from };
    const answers = [
      // 401 (once KEY is out of tokens from 127.0.0.1, a request without a key outside its body gets 429 unread)
      await post(base, JSON.stringify(pageView(3)), from),
      await post(base, JSON.stringify(pageView(1)), keyed), // 200, takes the only token of KEY from 127.0.0.1
      await post(base, JSON.stringify(pageView(2)), keyed), // 429
      await post(base, "{", { "x-write-key": "other", ...from }), // 401 before the body is read
      await fetch(`${base}/v2/events`, { headers: from }), // 404
      await fetch(`${base}/v1/events`, { headers: from }), // 405
      await post(base, "x".repeat(600_000), keyed), // 413 (Content-Length over maxRequestBytes)
      await fetch(`${base}/v1/pixel.gif`, { method: "HEAD", headers: from }),
    ];
    expect(answers.map(corsOf)).toEqual([401, 200, 429, 401, 404, 405, 413, 200].map(listed));
    expect(Number(answers[2].headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // 400 and 415 need a key with tokens left: a second collector.
    const other = await startCollector({ allowedOrigins: [allowed] });
    const unparseable = await post(other.base, "{broken", keyed);
    const unknownEncoding = await post(other.base, JSON.stringify(pageView(4)), { ...keyed, "content-encoding": "zstd" });
    expect([unparseable, unknownEncoding].map(corsOf)).toEqual([400, 415].map(listed));
  });

  it("gives CORS headers to the 503 of an overloaded collector and to a 500, and * answers them with \"*\"", async () => {
    const shedding = await startCollector({ allowedOrigins: [allowed] }, {}, { maxPendingRecords: -1 });
    const shed = await post(shedding.base, JSON.stringify(pageView(1)), { "x-write-key": KEY, origin: allowed });
    expect(corsOf(shed)).toEqual(listed(503));
    expect(shed.headers.get("retry-after")).toBe("1");
    const failing = await startCollector({ allowedOrigins: ["*"] });
    // A fault no request can cause: the request's records cannot be taken in.
    Object.assign(failing.collector, {
      ingest: () => {
        throw new Error("injected fault");
      },
    });
    const failed = await post(failing.base, JSON.stringify(pageView(2)), { "x-write-key": KEY, origin: "https://elsewhere.example" });
    expect(corsOf(failed)).toEqual([500, "*", null, "Retry-After"]);
    expect(await failed.json()).toEqual({ error: "internal error" });
    expect(failing.logs.join("\n")).toContain("injected fault");
  });
});

describe("http collector - allowed origins as browsers send them", () => {
  const post1 = (base: string, origin: string, i: number) => post(base, JSON.stringify(pageView(i)), { "x-write-key": KEY, origin });

  it("matches an origin written with capitals, the default port and a trailing slash", async () => {
    const { base, stream } = await startCollector({ allowedOrigins: ["HTTPS://Shop.Example:443/", "http://Localhost:80", "http://localhost:8080"] });
    const answers = [
      await post1(base, "https://shop.example", 1),
      await post1(base, "http://localhost", 2),
      await post1(base, "http://localhost:8080", 3),
      await post1(base, "https://shop.example:8443", 4),
    ];
    expect(answers.map((response) => [response.status, response.headers.get("access-control-allow-origin")])).toEqual([
      [200, "https://shop.example"],
      [200, "http://localhost"],
      [200, "http://localhost:8080"],
      [403, null],
    ]);
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-1", "visitor-2", "visitor-3"]);
  });

  it("matches a wildcard's subdomains, one or more labels deep, with credentials, and no other site", async () => {
    const { base, stream } = await startCollector({ allowedOrigins: ["https://*.Shop.Example"] });
    const origins = [
      "https://eu.shop.example",
      "https://a.b.shop.example",
      "https://shop.example", // the host itself is not a subdomain
      "https://evilshop.example",
      "https://eu.shop.example.evil.example",
      "http://eu.shop.example", // another scheme
      "https://eu.shop.example:8443", // another port
      "https://.shop.example",
    ];
    const answers = [];
    for (const [i, origin] of origins.entries()) answers.push(await post1(base, origin, i));
    expect(answers.map((response) => [response.status, response.headers.get("access-control-allow-origin"), response.headers.get("access-control-allow-credentials")])).toEqual([
      [200, "https://eu.shop.example", "true"],
      [200, "https://a.b.shop.example", "true"],
      ...Array(6).fill([403, null, null]),
    ]);
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-0", "visitor-1"]);
  });

  it("keeps a wildcard to its owner's site: a host under a public suffix beneath it is another site, refused or answered \"*\"", async () => {
    // amazonaws.com is no public suffix, but s3.amazonaws.com and eu-west-1.elb.amazonaws.com beneath it are (Public
    // Suffix List, private section): mybucket.s3.amazonaws.com is anyone's bucket, not amazonaws.com's owner's.
    const { base, stream } = await startCollector({ allowedOrigins: ["https://*.amazonaws.com"] });
    const origins = ["https://console.amazonaws.com", "https://a.b.amazonaws.com", "https://mybucket.s3.amazonaws.com", "https://lb.eu-west-1.elb.amazonaws.com", "https://MyBucket.S3.AmazonAWS.com"];
    const answers = [];
    for (const [i, origin] of origins.entries()) answers.push(await post1(base, origin, i));
    expect(answers.map((response) => [response.status, response.headers.get("access-control-allow-origin"), response.headers.get("access-control-allow-credentials")])).toEqual([
      [200, "https://console.amazonaws.com", "true"],
      [200, "https://a.b.amazonaws.com", "true"],
      ...Array(3).fill([403, null, null]),
    ]);
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-0", "visitor-1"]);
    // With "*" too, such a host posts as any other origin does: "*", without credentials.
    const any = await startCollector({ allowedOrigins: ["https://*.amazonaws.com", "*"] });
    const bucket = await post1(any.base, "https://mybucket.s3.amazonaws.com", 9);
    expect([bucket.status, bucket.headers.get("access-control-allow-origin"), bucket.headers.get("access-control-allow-credentials")]).toEqual([200, "*", null]);
  });
});

/** An answer's status and CORS headers, as a page's browser reads them. */
const corsOf = (response: Response) => [
  response.status,
  response.headers.get("access-control-allow-origin"),
  response.headers.get("access-control-allow-credentials"),
  response.headers.get("access-control-expose-headers"),
  response.headers.get("vary"),
];
/** The preflight a browser sends before a fetch with a JSON body and X-Write-Key. */
const preflight = (base: string, origin: string) =>
  fetch(`${base}/v1/events`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-write-key" } });
const preflightOf = (response: Response) => [
  response.status,
  response.headers.get("access-control-allow-origin"),
  response.headers.get("access-control-allow-credentials"),
  response.headers.get("access-control-allow-methods"),
  response.headers.get("access-control-allow-headers"),
  response.headers.get("access-control-max-age"),
  response.headers.get("vary"),
];

describe("http collector - app origins and the opaque origin", () => {
  const post1 = (base: string, origin: string, i: number) => post(base, JSON.stringify(pageView(i)), { "x-write-key": KEY, origin });

  it("lets a hybrid app's web view post from its own scheme, echoed with credentials, and no other app or port", async () => {
    const { base, stream } = await startCollector({ allowedOrigins: ["Capacitor://LocalHost", "ionic://localhost", "app://localhost:8080"] });
    const origins = ["capacitor://localhost", "ionic://localhost", "app://localhost:8080", "app://localhost", "capacitor://evil.example", "https://localhost", "null"];
    const answers = [];
    for (const [i, origin] of origins.entries()) answers.push(await post1(base, origin, i));
    expect(answers.map(corsOf)).toEqual([
      [200, "capacitor://localhost", "true", "Retry-After", "Origin"],
      [200, "ionic://localhost", "true", "Retry-After", "Origin"],
      [200, "app://localhost:8080", "true", "Retry-After", "Origin"],
      ...Array(4).fill([403, null, null, null, "Origin"]),
    ]);
    expect(await answers[3].json()).toEqual({ error: "origin app://localhost may not post here: allowedOrigins of this collector does not list it" });
    expect(preflightOf(await preflight(base, "capacitor://localhost"))).toEqual([
      204,
      "capacitor://localhost",
      "true",
      "POST, GET, OPTIONS",
      "Content-Type, Content-Encoding, Authorization, X-Write-Key",
      "86400",
      "Origin",
    ]);
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-0", "visitor-1", "visitor-2"]);
  });

  it('lets "null" (an Electron file: page) post only when listed, answered "*" without credentials', async () => {
    const { base, stream } = await startCollector({ allowedOrigins: ["https://shop.example", "null"] });
    const answers = [await post1(base, "null", 1), await post1(base, "https://shop.example", 2), await post1(base, "https://evil.example", 3)];
    expect(answers.map(corsOf)).toEqual([
      [200, "*", null, "Retry-After", "Origin"],
      [200, "https://shop.example", "true", "Retry-After", "Origin"],
      [403, null, null, null, "Origin"],
    ]);
    // The preflight of a fetch with X-Write-Key succeeds; one with credentials fails in the browser, which refuses "*" for it.
    expect(preflightOf(await preflight(base, "null"))).toEqual([204, "*", null, "POST, GET, OPTIONS", "Content-Type, Content-Encoding, Authorization, X-Write-Key", "86400", "Origin"]);
    // A sendBeacon of text (no preflight) from a file: page: stored.
    const beacon = await post(base, JSON.stringify({ ...pageView(4), writeKey: KEY }), { origin: "null", "content-type": "text/plain;charset=UTF-8" });
    expect(corsOf(beacon)).toEqual([200, "*", null, "Retry-After", "Origin"]);
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-1", "visitor-2", "visitor-4"]);
    // Not listed, "null" is refused like any other origin.
    const unlisted = await startCollector({ allowedOrigins: ["https://shop.example"] });
    const refused = await post1(unlisted.base, "null", 5);
    expect([...corsOf(refused), await refused.json()]).toEqual([403, null, null, null, "Origin", { error: "origin null may not post here: allowedOrigins of this collector does not list it" }]);
    expect(preflightOf(await preflight(unlisted.base, "null"))).toEqual([204, null, null, null, null, null, "Origin"]);
    expect((await readStream(unlisted.stream)).events).toEqual([]);
  });
});

describe("http collector - a platform's tenants (publicSuffixTenants)", () => {
  const post1 = (base: string, origin: string, i: number) => post(base, JSON.stringify(pageView(i)), { "x-write-key": KEY, origin });
  const ANY = ["*", null, "Retry-After", "Origin"];
  const ANY_PREFLIGHT = [204, "*", null, "POST, GET, OPTIONS", "Content-Type, Content-Encoding, Authorization, X-Write-Key", "86400", "Origin"];

  it("lets every tenant's page post, answered \"*\" and never with credentials, errors included; no other site", async () => {
    const { base, stream } = await startCollector({ allowedOrigins: [{ origin: "https://*.myshopify.com", publicSuffixTenants: true }, "https://admin.shop.example"] });
    const origins = [
      "https://tenant-a.myshopify.com",
      "https://a.b.myshopify.com",
      "HTTPS://Tenant-B.MyShopify.com",
      "https://admin.shop.example",
      "https://myshopify.com",
      "http://tenant-a.myshopify.com",
      "https://tenant-a.myshopify.com:8443",
      "https://evil.example",
    ];
    const answers = [];
    for (const [i, origin] of origins.entries()) answers.push(await post1(base, origin, i));
    expect(answers.map(corsOf)).toEqual([
      [200, ...ANY],
      [200, ...ANY],
      [200, ...ANY],
      [200, "https://admin.shop.example", "true", "Retry-After", "Origin"],
      ...Array(4).fill([403, null, null, null, "Origin"]),
    ]);
    expect(await answers[4].json()).toEqual({ error: "origin https://myshopify.com may not post here: allowedOrigins of this collector does not list it" });
    for (const origin of ["https://tenant-a.myshopify.com", "https://a.b.myshopify.com"]) expect(preflightOf(await preflight(base, origin)), origin).toEqual(ANY_PREFLIGHT);
    expect(preflightOf(await preflight(base, "https://admin.shop.example"))).toEqual([
      204,
      "https://admin.shop.example",
      "true",
      "POST, GET, OPTIONS",
      "Content-Type, Content-Encoding, Authorization, X-Write-Key",
      "86400",
      "Origin",
    ]);
    expect(preflightOf(await preflight(base, "https://myshopify.com"))).toEqual([204, null, null, null, null, null, "Origin"]);
    // A 401 (wrong key) and a 400 reach the tenant's page the same way: "*", no credentials.
    const unknownKey = await post(base, JSON.stringify(pageView(20)), { "x-write-key": "wk_wrong", origin: "https://tenant-a.myshopify.com" });
    const notJson = await post(base, "{", { "x-write-key": KEY, origin: "https://tenant-a.myshopify.com" });
    expect([corsOf(unknownKey), corsOf(notJson)]).toEqual([
      [401, ...ANY],
      [400, ...ANY],
    ]);
    // A sendBeacon of text from a tenant's page (no preflight): stored.
    const beacon = await post(base, JSON.stringify({ ...pageView(30), writeKey: KEY }), { origin: "https://tenant-c.myshopify.com", "content-type": "text/plain;charset=UTF-8" });
    expect(corsOf(beacon)).toEqual([200, ...ANY]);
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-0", "visitor-1", "visitor-2", "visitor-3", "visitor-30"]);
  });

  it("keeps a plain wildcard under the suffix as it was, with credentials, and refuses a public suffix beneath the opted-in one", async () => {
    const { base, stream } = await startCollector({
      allowedOrigins: [{ origin: "https://*.appspot.com", publicSuffixTenants: true }, "https://*.mystore.appspot.com"],
    });
    // x.r.appspot.com is a public suffix of its own beneath appspot.com (*.r.appspot.com): another platform's tenants.
    const origins = ["https://eu.mystore.appspot.com", "https://myapp.appspot.com", "https://v2.myapp.appspot.com", "https://app.x.r.appspot.com", "https://x.r.appspot.com"];
    const answers = [];
    for (const [i, origin] of origins.entries()) answers.push(await post1(base, origin, i));
    expect(answers.map(corsOf)).toEqual([
      [200, "https://eu.mystore.appspot.com", "true", "Retry-After", "Origin"],
      [200, ...ANY],
      [200, ...ANY],
      [403, null, null, null, "Origin"],
      [403, null, null, null, "Origin"],
    ]);
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-0", "visitor-1", "visitor-2"]);
  });
});

describe("http collector - connections", () => {
  async function openConnection(port: number): Promise<Socket> {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => undefined); // a refused connection may end in a reset; its close is what counts
    await once(socket, "connect");
    return socket;
  }

  /** Sends one request on `socket` with Connection: close and returns all the server wrote before closing it. */
  async function exchange(socket: Socket, head: string, body = ""): Promise<string> {
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
    const closed = once(socket, "close");
    socket.write(`${head}\r\nHost: collector\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await closed;
    return received;
  }

  it("closes connections past maxConnections at once, unread, counts them, and serves the open ones and later ones", async () => {
    const { collector, stream, metrics } = await startCollector({ maxConnections: 2 });
    const port = collector.address().port;
    const held = [await openConnection(port), await openConnection(port)];
    const refused = await exchange(await openConnection(port), "GET /healthz HTTP/1.1");
    expect(refused).toBe("");
    expect(await counterValue(metrics, "clickpipe_http_connections_refused_total")).toBe(1);
    // The connections within the bound are served, publishing included.
    const stored = await exchange(held[0], `POST /v1/events HTTP/1.1\r\nX-Write-Key: ${KEY}\r\nContent-Type: application/json`, JSON.stringify(pageView(1)));
    expect(stored).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(stored).toContain('{"accepted":1,"rejected":0,"errors":[]}');
    expect((await readStream(stream)).events.map((event) => event.anon_id)).toEqual(["visitor-1"]);
    // Once the others closed, a new connection is taken again (the server learns of a close a moment later).
    held[1].destroy();
    let later = "";
    for (let attempt = 0; attempt < 50 && !later.startsWith("HTTP/1.1 200"); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      later = await exchange(await openConnection(port), "GET /healthz HTTP/1.1");
    }
    expect(later).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  });
});

describe("http collector - connections per client", () => {
  async function openConnection(port: number): Promise<Socket> {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    await once(socket, "connect");
    return socket;
  }

  async function exchange(socket: Socket, head: string): Promise<string> {
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
    const closed = once(socket, "close");
    socket.write(`${head}\r\nHost: collector\r\nConnection: close\r\n\r\n`);
    await closed;
    return received;
  }

  it("closes a client IP's connections past maxConnectionsPerClient at once, counts them by reason, and takes it again once one closed", async () => {
    const { collector, metrics } = await startCollector({ maxConnectionsPerClient: 2 });
    const port = collector.address().port;
    const held = [await openConnection(port), await openConnection(port)];
    expect(await exchange(await openConnection(port), "GET /healthz HTTP/1.1")).toBe("");
    expect(await counterValue(metrics, "clickpipe_http_connections_refused_total", { reason: "per_client" })).toBe(1);
    expect(await counterValue(metrics, "clickpipe_http_connections_refused_total", { reason: "max_connections" })).toBe(0);
    expect(await exchange(held[0], "GET /healthz HTTP/1.1")).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // held[0] is closed now: one slot is free again (the server learns of a close a moment later).
    let later = "";
    for (let attempt = 0; attempt < 50 && !later.startsWith("HTTP/1.1 200"); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      later = await exchange(await openConnection(port), "GET /healthz HTTP/1.1");
    }
    expect(later).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
    held[1].destroy();
  });

  it("gives back a client's slot however its connection ends: after 10,000 short ones the client holds none", async () => {
    const limit = 3;
    const { collector, metrics } = await startCollector({ maxConnectionsPerClient: limit }, {}, { requestTimeoutMs: 200 });
    const port = collector.address().port;
    /** Settles when `socket` closes, whatever error (a reset of a refused connection) came before. */
    const closedOf = (socket: Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()));
    /** One connection that ends in the `kind`th way; resolves once the client saw it closed (refused ones too). */
    const shortConnection = async (kind: number): Promise<void> => {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.on("data", () => undefined);
      const closed = closedOf(socket);
      await Promise.race([new Promise((resolve) => socket.once("connect", resolve)), closed]);
      if (kind === 0) socket.end("GET /healthz HTTP/1.1\r\nHost: collector\r\nConnection: close\r\n\r\n"); // served, then closed
      else if (kind === 1) socket.destroy(); // the client goes before sending anything
      else if (kind === 2) socket.write("NOT HTTP\r\n\r\n"); // a parse error: the server answers 400 and destroys it
      else socket.resetAndDestroy(); // a reset: an error on the server's side
      await closed;
    };
    // Two at a time (under the limit, which a close the server has not processed yet may still hold a moment).
    const lanes = [0, 1].map(async (lane) => {
      for (let index = lane; index < 10_000; index += 2) await shortConnection(index % 4);
    });
    await Promise.all(lanes);
    // Connections the server closes: by its timeout (idle, no byte sent), and past the limit.
    const idle = Array.from({ length: limit + 1 }, () => connect(port, "127.0.0.1").on("error", () => undefined));
    await Promise.all(idle.map(closedOf));
    const refusedBefore = await counterValue(metrics, "clickpipe_http_connections_refused_total", { reason: "per_client" });
    expect(refusedBefore).toBeGreaterThanOrEqual(1);
    // A slot still held would refuse one of `limit` connections now. The server learns of the last closes a moment
    // after the client: tried again a bounded number of times, as a held slot never comes back.
    let served: string[] = [];
    for (let attempt = 0; attempt < 50 && served.filter((answer) => answer.startsWith("HTTP/1.1 200")).length < limit; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const sockets = Array.from({ length: limit }, () => connect(port, "127.0.0.1").on("error", () => undefined));
      await Promise.all(sockets.map((socket) => Promise.race([new Promise((resolve) => socket.once("connect", resolve)), closedOf(socket)])));
      served = await Promise.all(
        sockets.map(async (socket) => {
          let answer = "";
          socket.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
          const closed = closedOf(socket);
          if (!socket.destroyed) socket.write("GET /healthz HTTP/1.1\r\nHost: collector\r\nConnection: close\r\n\r\n");
          await closed;
          return answer;
        }),
      );
    }
    expect(served.map((answer) => answer.split("\r\n", 1)[0])).toEqual(Array(limit).fill("HTTP/1.1 200 OK"));
  }, 120_000);

  it("does not count the connections of a trusted proxy, which carry many clients", async () => {
    const { collector, metrics } = await startCollector({ maxConnectionsPerClient: 2, trustedProxies: ["127.0.0.0/8"] });
    const port = collector.address().port;
    const held = [await openConnection(port), await openConnection(port), await openConnection(port)];
    expect(await exchange(await openConnection(port), "GET /healthz HTTP/1.1")).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(await counterValue(metrics, "clickpipe_http_connections_refused_total")).toBe(0);
    for (const socket of held) socket.destroy();
  });
});

describe("http collector - client address", () => {
  const clientIp = "203.0.113.77";
  const noAnonymizing = { ingest: { privacy: { anonymizeIp: false } } } as Partial<PipelineInput>;

  it("believes X-Forwarded-For only from a trusted proxy (CIDR)", async () => {
    const trusting = await startCollector({ trustedProxies: ["127.0.0.0/8"] }, noAnonymizing);
    await post(trusting.base, JSON.stringify(pageView(1)), { "x-write-key": KEY, "x-forwarded-for": `198.51.100.1, ${clientIp}` });
    expect((await readStream(trusting.stream)).events[0].ip).toBe(clientIp);
    const untrusting = await startCollector({ trustedProxies: ["10.0.0.0/8"] }, noAnonymizing);
    await post(untrusting.base, JSON.stringify(pageView(1)), { "x-write-key": KEY, "x-forwarded-for": clientIp });
    expect((await readStream(untrusting.stream)).events[0].ip).toBe("127.0.0.1");
  });

  it("stores no raw client IP when anonymizeIp is on (the default)", async () => {
    const { base, stream } = await startCollector({ trustedProxies: ["127.0.0.1"] });
    await post(base, JSON.stringify(pageView(1, { ip: "192.0.2.55" })), { "x-write-key": KEY, "x-forwarded-for": clientIp });
    const stored = await readStream(stream);
    expect(stored.events[0].ip).toBe("203.0.113.0");
    expect(stored.rawText).not.toContain(clientIp);
    expect(stored.rawText).not.toContain("192.0.2.55");
    expect(stored.rawText).not.toContain("127.0.0.1");
  });

  it("applies the privacy rules to the raw text of dead letters too (pseudonyms, dropped fields, addresses)", async () => {
    const privacy = { ingest: { privacy: { anonymizeIp: true, pseudonymize: ["user_id" as const], dropFields: ["email"] } } };
    const { base, stream } = await startCollector({}, privacy, { env: { CLICKPIPE_PSEUDONYM_KEY: "collector-key" } });
    const bad = { type: "page_view", ts: "yesterday", anon_id: "carol-dev", user_id: "carol", email: "carol@example.com", ip: "198.51.100.23" };
    expect(await (await post(base, JSON.stringify([bad]))).json()).toMatchObject({ accepted: 0, rejected: 1 });
    const stored = await readStream(stream);
    expect(stored.deadLetters).toHaveLength(1);
    expect(JSON.parse(stored.deadLetters[0].raw)).toEqual({ ...bad, user_id: pseudonymize("carol", "collector-key"), email: null, ip: "198.51.100.0" });
    for (const secret of ['"carol"', "carol@example.com", "198.51.100.23"]) expect(stored.rawText).not.toContain(secret);
    // A pixel's dead letter is its query string (no ts: rejected, still answered with the GIF).
    const pixel = await fetch(`${base}/v1/pixel.gif?writeKey=${KEY}&type=page_view&anon_id=p&url=/x&user_id=alice-px&email=alice%40example.com`);
    expect(pixel.status).toBe(200);
    const letters = (await readStream(stream)).deadLetters;
    expect(letters[1].raw).toBe(`writeKey=[redacted]&type=page_view&anon_id=p&url=/x&user_id=${pseudonymize("alice-px", "collector-key")}&email=`);
  });
  it("redacts listed members, addresses and URLs' tokens in a dead letter's own JSON and in its reason, keeping the rest", async () => {
    const { base, stream } = await startCollector();
    const bad = '{"type":"page_view","ts":"yesterday","anon_id":"d","token":"tok_c0llect","props":{"payload":"{\\"password\\":\\"pw_c0llect\\"}"},"note":"to jane@shop.example","url":{"href":"/p?access_token=at_c0llect"}}';
    expect(await (await post(base, `${bad}\n{"type":"page_view","token":"tok2_c0llect"`, { "x-write-key": KEY, "content-type": "application/x-ndjson" })).json()).toMatchObject({ rejected: 2 });
    const stored = await readStream(stream);
    expect(stored.deadLetters.map((letter) => letter.raw)).toEqual([
      '{"type":"page_view","ts":"yesterday","anon_id":"d","token":"(redacted)","props":{"payload":"{\\"password\\":\\"(redacted)\\"}"},"note":"to (redacted)","url":{"href":"/p?access_token=(redacted)"}}',
      '{"type":"page_view","token":"(redacted)"',
    ]);
    expect(stored.deadLetters.map((letter) => letter.reason.split(":")[0])).toEqual(["bad_ts", "not_json"]);
    for (const secret of ["c0llect", "jane@shop.example"]) expect(stored.rawText).not.toContain(secret);
  });
});

describe("http collector - acknowledgement, health, metrics, stop", () => {
  it("answers 503, not 200, when JetStream cannot store the events, and /readyz turns 503", async () => {
    const { base, stream } = await startCollector({}, {}, { ackTimeoutMs: 2_000 });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    await collectors.manager.streams.delete(stream);
    const response = await post(base, JSON.stringify(pageView(1)));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the readiness cache
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it("counts received = accepted + rejected in clickpipe_events_received_total{source=http}", async () => {
    const { base, stream, metrics } = await startCollector();
    const answers = [];
    answers.push(await (await post(base, JSON.stringify([pageView(0), { type: "page_view" }, pageView(2), 7]))).json());
    answers.push(await (await post(base, `${JSON.stringify(pageView(3))}\nnot json`)).json());
    answers.push(await (await post(base, JSON.stringify(pageView(4)))).json());
    const totals = (answers as { accepted: number; rejected: number }[]).reduce(
      (sum, answer) => ({ accepted: sum.accepted + answer.accepted, rejected: sum.rejected + answer.rejected }),
      { accepted: 0, rejected: 0 },
    );
    expect(totals).toEqual({ accepted: 4, rejected: 3 });
    const received = await counterValue(metrics, "clickpipe_events_received_total", { source: "http" });
    const invalid = await counterValue(metrics, "clickpipe_events_invalid_total");
    const filtered = await counterValue(metrics, "clickpipe_events_filtered_total");
    expect(received).toBe(7);
    expect(received).toBe(totals.accepted + invalid + filtered);
    expect(await counterValue(metrics, "clickpipe_events_invalid_total", { reason: "missing_field" })).toBe(1);
    expect(await counterValue(metrics, "clickpipe_events_invalid_total", { reason: "not_object" })).toBe(1);
    expect(await counterValue(metrics, "clickpipe_events_invalid_total", { reason: "not_json" })).toBe(1);
    const stored = await readStream(stream);
    expect(stored.events).toHaveLength(totals.accepted);
    expect(stored.deadLetters).toHaveLength(totals.rejected);
    const durations = await metrics.registry.getSingleMetric("clickpipe_http_request_duration_seconds")!.get();
    const count = (durations.values as { metricName?: string; labels: Record<string, unknown>; value: number }[]).find(
      (value) => value.metricName?.endsWith("_count") && value.labels.route === "events" && value.labels.code === "200",
    );
    expect(count?.value).toBe(3);
  });

  it("takes gzip, deflate and br bodies, refuses other encodings with 415, and a body that expands past the limit with 413", async () => {
    const { base, stream } = await startCollector();
    const send = (body: Buffer, encoding: string) =>
      fetch(`${base}/v1/events`, { method: "POST", headers: { "content-type": "application/json", "x-write-key": KEY, "content-encoding": encoding }, body });
    const batch = (from: number) => JSON.stringify([pageView(from), pageView(from + 1)]);
    expect((await send(gzipSync(batch(0)), "gzip")).status).toBe(200);
    expect((await send(deflateSync(batch(2)), "deflate")).status).toBe(200);
    expect((await send(brotliCompressSync(batch(4)), "br")).status).toBe(200);
    const unsupported = await send(Buffer.from(batch(6)), "compress");
    expect([unsupported.status, await unsupported.json()]).toEqual([415, { error: "Content-Encoding compress is not supported: send gzip, deflate, br or none" }]);
    // 10 MB of spaces compress to a few KB: the limit applies to what they expand to.
    const bomb = await send(gzipSync(Buffer.concat([Buffer.from(batch(8)), Buffer.alloc(10_000_000, 0x20)])), "gzip");
    expect(bomb.status).toBe(413);
    const broken = await send(Buffer.from("not gzip at all"), "gzip");
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: string }).error).toMatch(/^the body is not valid gzip: /);
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.anon_id)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `visitor-${i}`));
  });

  it("answers 400 to a body that is not UTF-8 instead of storing its bytes replaced by U+FFFD", async () => {
    const { base, stream } = await startCollector();
    const text = JSON.stringify(pageView(1, { title: "caf\u00e9" }));
    const latin1 = Buffer.from(text, "latin1"); // é as the single byte 0xE9
    const response = await fetch(`${base}/v1/events`, { method: "POST", headers: { "content-type": "application/json", "x-write-key": KEY }, body: latin1 });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "the body is not valid UTF-8 (JSON text is UTF-8, RFC 8259)" });
    expect((await post(base, text)).status).toBe(200); // the same event in UTF-8
    const stored = await readStream(stream);
    expect(stored.events.map((event) => event.title)).toEqual(["caf\u00e9"]);
  });

  it("dead-letters an event nested thousands of levels deep (array element or NDJSON line) and keeps the good ones", async () => {
    const { base, stream } = await startCollector();
    // Built as text: JSON.stringify itself overflows on such a value.
    const deepText = (event: object) => JSON.stringify(event).replace(/}$/, `,"extra":${"[".repeat(6_000)}${"]".repeat(6_000)}}`);
    const deepLine = deepText(pageView(3));
    const arrayAnswer = await post(base, `[${JSON.stringify(pageView(0))},${deepText(pageView(1))}]`);
    const ndjsonAnswer = await post(base, `${JSON.stringify(pageView(2))}\n${deepLine}`);
    for (const answer of [arrayAnswer, ndjsonAnswer]) {
      expect(answer.status).toBe(200);
      const body = (await answer.json()) as { accepted: number; rejected: number; errors: { index: number; reason: string }[] };
      expect(body).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 1 }] });
      expect(body.errors[0].reason).toMatch(/^too_large: extra: nested deeper than the 64-level limit/);
    }
    const stored = await readStream(stream);
    expect(stored.events).toHaveLength(2);
    expect(stored.deadLetters.map((letter) => letter.reason.split(":")[0])).toEqual(["too_large", "too_large"]);
    expect(stored.deadLetters[1].raw).toBe(deepLine);
  });

  it("stop() answers the requests waiting in an open group with 200 after storing them, then refuses connections", async () => {
    const { base, stream, collector } = await startCollector({}, {}, { commitWindowMs: 1_000 });
    const pending = Array.from({ length: 10 }, (_, i) => post(base, JSON.stringify(pageView(i))));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the requests are in the open group now
    const startedStop = Date.now();
    await collector.stop();
    expect(Date.now() - startedStop).toBeLessThan(1_000); // the window was cut short, not waited out
    expect((await Promise.all(pending)).map((response) => response.status)).toEqual(new Array(10).fill(200));
    expect((await readStream(stream)).events).toHaveLength(10);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});

describe("http collector - refusing a client out of budget before reading its body", () => {
  const BODY_BYTES = "clickpipe_http_request_body_bytes_total";

  /** A body of exactly `bytes` bytes: a JSON array of 15 events of about 30 KB with `writeKey` in them, then spaces. */
  function bodyOf(bytes: number, writeKey: string, first = 0): string {
    const events = Array.from({ length: 15 }, (_, i) => ({ writeKey, ...pageView(first + i, { title: "t".repeat(30_000) }) }));
    const text = JSON.stringify(events);
    return `${text.slice(0, -1)}${" ".repeat(bytes - Buffer.byteLength(text))}]`;
  }

  async function answerCount(metrics: Metrics, code: string): Promise<number> {
    const durations = await metrics.registry.getSingleMetric("clickpipe_http_request_duration_seconds")!.get();
    const count = (durations.values as { metricName?: string; labels: Record<string, unknown>; value: number }[]).find(
      (value) => value.metricName?.endsWith("_count") && value.labels.route === "events" && value.labels.code === code,
    );
    return count?.value ?? 0;
  }

  it("answers 429 unread, closing the connection, to a 512 KiB body from a block over its bad-key budget; its good clients go on", async () => {
    // 127.0.0.1 is a trusted proxy: X-Forwarded-For names three clients of one IPv6 /64, which shares one bad-key budget.
    const { base, stream, metrics } = await startCollector({ rateLimit: { badKeyBurst: 2 }, trustedProxies: ["127.0.0.1"] });
    const [bad, inBody, inHeader] = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"].map((address) => ({ "x-forwarded-for": address }));
    const read: string[] = [];
    const sendRead = async (body: string, headers: Record<string, string>) => {
      read.push(body);
      return (await post(base, body, headers)).status;
    };
    // The good clients' keys are accepted from their addresses first.
    const firstOfInBody = JSON.stringify({ writeKey: KEY, ...pageView(1) });
    expect(await sendRead(firstOfInBody, inBody)).toBe(200);
    expect(await sendRead(JSON.stringify(pageView(2)), { ...inHeader, "x-write-key": KEY })).toBe(200);
    // The bad client spends the block's budget, its bodies read to find their key.
    const guess = JSON.stringify({ writeKey: "guess", ...pageView(90) });
    expect([await sendRead(guess, bad), await sendRead(guess, bad)]).toEqual([401, 401]);

    // Over budget, with no key accepted from its address, it gets 429 whatever the body holds (a right key too, as
    // before): 512 KiB sent, none of it read, and the connection closed rather than read to its end.
    const big = bodyOf(512 * 1024, KEY, 100);
    expect(Buffer.byteLength(big)).toBe(512 * 1024);
    const refused = await post(base, big, bad);
    expect([refused.status, await refused.json()]).toEqual([429, { error: "too many requests from this client" }]);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(10);
    expect(refused.headers.get("connection")).toBe("close");
    expect(await counterValue(metrics, BODY_BYTES)).toBe(read.reduce((sum, body) => sum + Buffer.byteLength(body), 0));

    // The block's good clients are not refused early: a 512 KiB body with the key accepted from its address is read.
    const bigOfInBody = bodyOf(512 * 1024, KEY, 200);
    expect(await sendRead(bigOfInBody, inBody)).toBe(200);
    expect(await sendRead(JSON.stringify(pageView(3)), { ...inHeader, "x-write-key": KEY })).toBe(200);
    expect(read).toHaveLength(6);
    expect(await counterValue(metrics, BODY_BYTES)).toBe(read.reduce((sum, body) => sum + Buffer.byteLength(body), 0));

    // Each request counted once, by its answer; the events stored are the good clients' only.
    expect([await answerCount(metrics, "200"), await answerCount(metrics, "401"), await answerCount(metrics, "429")]).toEqual([4, 2, 1]);
    const stored = await readStream(stream);
    const expected = ["visitor-1", "visitor-2", ...Array.from({ length: 15 }, (_, i) => `visitor-${200 + i}`), "visitor-3"];
    expect(stored.events.map((event) => event.anon_id)).toEqual(expected);
    expect(await counterValue(metrics, "clickpipe_events_received_total", { source: "http" })).toBe(expected.length);
  });

  it("refuses early a client over every key's own budget (a wrong key then gets 429, not 401), taking no token", async () => {
    // Three requests at once per key and client, and next to no refill: the tokens taken are counted exactly.
    const { base, metrics } = await startCollector({ rateLimit: { requestsPerSecond: 0.001, burst: 3 }, trustedProxies: ["127.0.0.1"] });
    const client = { "x-forwarded-for": "203.0.113.7" };
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(base, JSON.stringify({ writeKey: KEY, ...pageView(i) }), client)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const bytesBefore = await counterValue(metrics, BODY_BYTES);
    const big = await post(base, bodyOf(512 * 1024, KEY), client);
    expect([big.status, big.headers.get("connection")]).toEqual([429, "close"]);
    // One token per 1,000 s: the next is that far away.
    expect(Number(big.headers.get("retry-after"))).toBeGreaterThan(900);
    expect(Number(big.headers.get("retry-after"))).toBeLessThanOrEqual(1_000);
    const wrongKey = await post(base, JSON.stringify({ writeKey: "guess", ...pageView(9) }), client);
    expect(wrongKey.status).toBe(429);
    expect(await counterValue(metrics, BODY_BYTES)).toBe(bytesBefore);
    // Another client has its own budget; its first three requests, read and taken one token each, are let through.
    const other = { "x-forwarded-for": "203.0.113.8" };
    const others = [];
    for (let i = 0; i < 4; i++) others.push((await post(base, JSON.stringify({ writeKey: KEY, ...pageView(10 + i) }), other)).status);
    expect(others).toEqual([200, 200, 200, 429]);
    // The wrong key was refused before its key was read: it took none of the bad-key budget (20), which is whole.
    const guesses = [];
    for (let i = 0; i < 21; i++) guesses.push((await post(base, "{}", { ...client, "x-write-key": "guess" })).status);
    expect(guesses).toEqual([...Array(20).fill(401), 429]);
  });

  it("gives the same answers with 300 write keys: refused early only once every key used from the IP is out and none unused may be tried", async () => {
    // 300 keys, KEY listed twice (it counts once); one token per key and client, next to none refilled; 2 bad keys per IP.
    const keys = [KEY, ...Array.from({ length: 299 }, (_, i) => `wk_many_${String(i).padStart(3, "0")}`), KEY];
    const { base, metrics } = await startCollector({ writeKeys: keys, rateLimit: { requestsPerSecond: 0.001, burst: 1, badKeyBurst: 2 }, trustedProxies: ["127.0.0.1"] });
    const from = (address: string) => ({ "x-forwarded-for": address });
    const bodyRead = () => counterValue(metrics, BODY_BYTES);
    const retryAfter = (response: Response) => Number(response.headers.get("retry-after"));

    // A client that used two of the keys (the first and the last listed) and spent their tokens: with 298 keys unused
    // from its IP and its bad-key budget whole, a body is read (a key it has not used could be in it).
    const some = from("203.0.113.20");
    const [first, last] = [KEY, keys[299]];
    expect([(await post(base, JSON.stringify({ writeKey: first, ...pageView(1) }), some)).status, (await post(base, JSON.stringify({ writeKey: last, ...pageView(2) }), some)).status]).toEqual([200, 200]);
    let before = await bodyRead();
    const spent = JSON.stringify({ writeKey: last, ...pageView(3) });
    const readThenRefused = await post(base, spent, some);
    expect([readThenRefused.status, await bodyRead()]).toEqual([429, before + Buffer.byteLength(spent)]);
    // Its bad-key budget spent (two 401s, bodies read), no key may be tried from it: 429 unread, Retry-After the budget's.
    expect([(await post(base, '{"writeKey":"guess"}', some)).status, (await post(base, '{"writeKey":"guess"}', some)).status]).toEqual([401, 401]);
    before = await bodyRead();
    const big = await post(base, bodyOf(512 * 1024, first), some);
    expect([big.status, big.headers.get("connection"), await bodyRead()]).toEqual([429, "close", before]);
    expect(retryAfter(big)).toBeGreaterThanOrEqual(1);
    expect(retryAfter(big)).toBeLessThanOrEqual(10);

    // A client that used every key (X-Write-Key) and has its whole bad-key budget: refused early, Retry-After the
    // keys' (one token per 1,000 s), and a wrong key in the body gets 429, not 401.
    const every = from("203.0.113.21");
    const used = [];
    for (const key of new Set(keys)) used.push((await post(base, JSON.stringify(pageView(10)), { ...every, "x-write-key": key })).status);
    expect(used).toEqual(Array(300).fill(200));
    before = await bodyRead();
    const allOut = await post(base, bodyOf(512 * 1024, KEY), every);
    expect([allOut.status, allOut.headers.get("connection")]).toEqual([429, "close"]);
    expect(retryAfter(allOut)).toBeGreaterThan(900);
    expect(retryAfter(allOut)).toBeLessThanOrEqual(1_000);
    expect((await post(base, '{"writeKey":"guess"}', every)).status).toBe(429);
    expect(await bodyRead()).toBe(before);
    // Its bad-key budget was not touched: the next guesses with the key outside the body get 401 twice, then 429.
    const guesses = [];
    for (let i = 0; i < 3; i++) guesses.push((await post(base, "{}", { ...every, "x-write-key": "guess" })).status);
    expect(guesses).toEqual([401, 401, 429]);

    // A client with no key used and its bad-key budget spent: a right key in the body is not tried (429 unread), as
    // with few keys.
    const fresh = from("203.0.113.22");
    expect([(await post(base, "{}", { ...fresh, "x-write-key": "guess" })).status, (await post(base, "{}", { ...fresh, "x-write-key": "guess" })).status]).toEqual([401, 401]);
    before = await bodyRead();
    const rightKey = await post(base, bodyOf(512 * 1024, keys[150], 20), fresh);
    expect([rightKey.status, rightKey.headers.get("connection"), await bodyRead()]).toEqual([429, "close", before]);
    // One whose budget ran out after its key's token: that body was read (200), the next is not.
    const known = from("203.0.113.23");
    expect((await post(base, "{}", { ...known, "x-write-key": "guess" })).status).toBe(401);
    expect((await post(base, JSON.stringify({ writeKey: keys[150], ...pageView(21) }), known)).status).toBe(200);
    expect((await post(base, "{}", { ...known, "x-write-key": "guess" })).status).toBe(401);
    before = await bodyRead();
    const afterOut = await post(base, bodyOf(512 * 1024, keys[150], 22), known);
    expect([afterOut.status, afterOut.headers.get("connection")]).toEqual([429, "close"]);
    expect(await bodyRead()).toBe(before);
  });

  it("answers as soon as the headers are in, before the body is sent; keeps the connection when the body is small", async () => {
    const { collector } = await startCollector({ rateLimit: { badKeyBurst: 1 } }, {}, { requestTimeoutMs: 5_000 });
    const socket = connect(collector.address().port, "127.0.0.1");
    socket.on("error", () => undefined);
    await once(socket, "connect");
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
    const answered = async (count: number) => {
      while ((received.match(/HTTP\/1\.1 /g) ?? []).length < count) await once(socket, "data");
      while (!received.endsWith("}")) await once(socket, "data");
    };
    const head = (length: number, headers = "") => `POST /v1/events HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n${headers}Content-Length: ${length}\r\n\r\n`;
    // The budget of one is spent on a request without a key (401).
    socket.write(`${head(2)}{}`);
    await answered(1);
    expect(received).toMatch(/^HTTP\/1\.1 401 /);
    // A small body (a beacon's) is dropped by Node unread by the collector, and the connection kept for the next request.
    received = "";
    const small = JSON.stringify({ writeKey: KEY, ...pageView(1) });
    socket.write(head(Buffer.byteLength(small)) + small);
    await answered(1);
    expect(received).toMatch(/^HTTP\/1\.1 429 /);
    expect(received).toMatch(/\r\nConnection: keep-alive\r\n/i);
    // 512 KiB announced, 1 KiB sent: the 429 comes with Connection: close, and the collector closes the connection.
    received = "";
    const closed = once(socket, "close");
    socket.write(head(512 * 1024) + "[" + " ".repeat(1023));
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 429 /);
    expect(received).toMatch(/\r\nConnection: close\r\n/i);
    expect(received).toMatch(/\r\nRetry-After: \d+\r\n/i);
    expect(received.endsWith('{"error":"too many requests from this client"}')).toBe(true);
  });
});
