// Edge processing: page filter, page_view events from access-log records, JSON events, bots and privacy end to end.
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ingestConfig, type IngestConfig } from "../../src/config/ingest.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import { compileAccessLineReader, compileLogFormat, type AccessLine, type AccessRecord } from "../../src/ingest/access-log.ts";
import { EdgeProcessor, type EdgeResult } from "../../src/ingest/edge.ts";
import { PseudonymKeyMissingError } from "../../src/ingest/privacy.ts";
import { joinJson } from "../../src/ingest/record-publisher.ts";

const CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
const KEYS = { visitorKey: "visitor-secret", pseudonymKey: "pseudonym-secret" };

function edge(config: unknown = {}, keys = KEYS): EdgeProcessor {
  return new EdgeProcessor(ingestConfig.parse(config) as IngestConfig, keys);
}

function record(overrides: Partial<AccessRecord> = {}): AccessRecord {
  return {
    ip: "83.149.9.216",
    ident: null,
    user: null,
    ts: Date.UTC(2015, 4, 17, 10, 5, 3),
    method: "GET",
    path: "/c/books/p/42?ref=home",
    protocol: "HTTP/1.1",
    status: 200,
    bytes: 100,
    referrer: null,
    userAgent: CHROME,
    ...overrides,
  };
}

function eventOf(result: EdgeResult): ClickEvent {
  if (result.kind === "filtered") throw new Error(`filtered: ${result.why}`);
  return result.event;
}

describe("edge - page filter for access logs", () => {
  // [exclusion, a request it excludes, a request it keeps]
  const exclusions: Array<[string, Partial<AccessRecord>, Partial<AccessRecord>]> = [
    ["static", { path: "/img/logo.PNG?v=2" }, { path: "/logo?format=png" }],
    ["1xx", { status: 101 }, { status: 200 }],
    ["2xx", { status: 204 }, { status: 304 }],
    ["3xx", { status: 304 }, { status: 200 }],
    ["4xx", { status: 404 }, { status: 500 }],
    ["5xx", { status: 503 }, { status: 404 }],
    ["non2xx", { status: 301 }, { status: 206 }],
    ["nonGet", { method: "HEAD" }, { method: "GET" }],
  ];
  for (const [exclusion, excluded, kept] of exclusions) {
    it(`excludes ${exclusion} (and only that)`, () => {
      const processor = edge({ pages: { exclude: [exclusion] } });
      expect(processor.fromAccessRecord(record(excluded), 0)).toEqual({ kind: "filtered", why: exclusion });
      expect(processor.fromAccessRecord(record(kept), 0).kind).toBe("event");
    });
  }

  it("excludes static and non2xx by default, and keeps them all with pages: all", () => {
    expect(edge().fromAccessRecord(record({ path: "/app.js" }), 0)).toEqual({ kind: "filtered", why: "static" });
    expect(edge().fromAccessRecord(record({ status: 404 }), 0)).toEqual({ kind: "filtered", why: "non2xx" });
    expect(edge({ pages: "all" }).fromAccessRecord(record({ path: "/app.js", status: 404 }), 0).kind).toBe("event");
  });

  it("does not take a dot in a directory name for an extension", () => {
    expect(edge().fromAccessRecord(record({ path: "/v1.2/about" }), 0).kind).toBe("event");
  });

  it("filters a garbage request line (no path) even with pages: all", () => {
    expect(edge({ pages: "all" }).fromAccessRecord(record({ method: null, path: null, status: 400 }), 0)).toEqual({
      kind: "filtered",
      why: "no_request_path",
    });
  });
});

describe("edge - access-log records become page_view events", () => {
  it("fills url, referrer, ua, ts, page_item and a keyed visitor hash of the raw IP + user agent", () => {
    const processor = edge({ urlRules: [{ match: "/c/:category/p/:id", item: ":category" }] });
    const event = eventOf(processor.fromAccessRecord(record({ referrer: "http://example.com/" }), 1234, { line: "L", lineNumber: 7 }));
    const expectedAnonId = createHmac("sha256", KEYS.visitorKey).update(`83.149.9.216\n${CHROME}`).digest("base64url").slice(0, 22);
    expect(event).toEqual({
      type: "page_view",
      ts: Date.UTC(2015, 4, 17, 10, 5, 3),
      event_id: createHash("sha256").update("7\nL").digest("base64url").slice(0, 22),
      anon_id: expectedAnonId,
      received_at: 1234,
      ip: "83.149.9.0",
      url: "/c/books/p/42?ref=home",
      page_item: "books",
      referrer: "http://example.com/",
      ua: CHROME,
      is_bot: false,
    });
  });

  it("leaves the referrer out when the log has -", () => {
    expect(eventOf(edge().fromAccessRecord(record({ referrer: null }), 0))).not.toHaveProperty("referrer");
  });

  it("gives the same event_id for the same line at the same position, and different ones for identical lines elsewhere", () => {
    const first = eventOf(edge().fromAccessRecord(record(), 0, { line: "same", lineNumber: 1 }));
    const again = eventOf(edge().fromAccessRecord(record(), 99, { line: "same", lineNumber: 1 }));
    const elsewhere = eventOf(edge().fromAccessRecord(record(), 0, { line: "same", lineNumber: 2 }));
    expect(again.event_id).toBe(first.event_id);
    expect(elsewhere.event_id).not.toBe(first.event_id);
  });

  it("flags a visitor after /robots.txt even though the robots request itself is filtered as static", () => {
    const processor = edge();
    expect(processor.fromAccessRecord(record({ path: "/robots.txt" }), 0).kind).toBe("filtered");
    const next = eventOf(processor.fromAccessRecord(record({ path: "/about", ts: record().ts + 1000 }), 0));
    expect(next).toMatchObject({ is_bot: true, bot_reason: "robots_txt" });
    const otherAgent = eventOf(processor.fromAccessRecord(record({ path: "/about", userAgent: CHROME.replace("120.0", "121.0") }), 0));
    expect(otherAgent.is_bot).toBe(false);
  });

  it("flags an empty user agent in combined logs but not a common-format record without one", () => {
    expect(eventOf(edge().fromAccessRecord(record({ userAgent: null }), 0))).toMatchObject({ is_bot: true, ua: "" });
    const common = eventOf(edge().fromAccessRecord(record({ userAgent: undefined, referrer: undefined }), 0));
    expect(common.is_bot).toBe(false);
    expect(common).not.toHaveProperty("ua");
  });

  it("routes bots away in drop mode, already anonymized", () => {
    const result = edge({ bots: "drop" }).fromAccessRecord(record({ userAgent: "Googlebot/2.1 (+http://www.google.com/bot.html)" }), 0);
    expect(result.kind).toBe("bot");
    expect(eventOf(result)).toMatchObject({ is_bot: true, bot_reason: "user_agent", ip: "83.149.9.0" });
  });

  it("keeps no raw IP in any event of the semicomplete log when privacy is on", () => {
    const lines = readFileSync(new URL("../fixtures/access-logs/semicomplete_apache_combined_2015.log", import.meta.url), "utf8").split("\n");
    const parse = compileLogFormat("combined");
    const processor = edge({ pages: "all" });
    let events = 0;
    lines.forEach((line, index) => {
      const parsed = parse(line);
      if (!parsed.ok) return;
      const ip = parsed.record.ip;
      const event = eventOf(processor.fromAccessRecord(parsed.record, 0, { line, lineNumber: index + 1 }));
      expect(event.ip).toBe(`${ip.split(".").slice(0, 3).join(".")}.0`);
      // An address already ending in .0 is its own anonymized form.
      if (!ip.endsWith(".0")) expect(JSON.stringify(event)).not.toContain(ip);
      events++;
    });
    expect(events).toBe(9_999);
  });
});

describe("edge - access-log lines: the page filter before the record", () => {
  /** The line as the reader gives it, counting how often the edge asks for its whole record. */
  function counted(line: AccessLine): { line: AccessLine; records: () => number } {
    let records = 0;
    const wrapper: AccessLine = {
      ok: true,
      ts: line.ts,
      method: line.method,
      path: line.path,
      protocol: line.protocol,
      status: line.status,
      record: () => {
        records++;
        return line.record();
      },
    };
    return { line: wrapper, records: () => records };
  }

  const LINES = [
    `83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /robots.txt HTTP/1.1" 200 5 "-" "${CHROME}"`, // static, but marks the visitor
    `83.149.9.216 - - [17/May/2015:10:05:04 +0000] "GET /app.js HTTP/1.1" 200 5 "-" "${CHROME}"`, // static
    `83.149.9.216 - - [17/May/2015:10:05:05 +0000] "GET /missing HTTP/1.1" 404 5 "-" "${CHROME}"`, // non2xx
    `83.149.9.216 - - [17/May/2015:10:05:06 +0000] "-" 200 0 "-" "${CHROME}"`, // no path
    `83.149.9.216 - - [17/May/2015:10:05:07 +0000] "GET /about HTTP/1.1" 200 5 "http://r/" "${CHROME}"`, // a page view, by a robots.txt fetcher
  ];

  it("builds a record only for a page view or a /robots.txt request, and gives what fromAccessRecord gives", () => {
    const read = compileAccessLineReader("combined");
    const parse = compileLogFormat("combined");
    const fast = edge();
    const full = edge();
    const records: number[] = [];
    const results: EdgeResult[] = [];
    LINES.forEach((text, index) => {
      const accessLine = read(text);
      if (!accessLine.ok) throw new Error(accessLine.reason);
      const { line, records: count } = counted(accessLine);
      const origin = { line: text, lineNumber: index + 1 };
      const result = fast.fromAccessLine(line, 5, origin);
      const parsed = parse(text);
      if (!parsed.ok) throw new Error(parsed.reason);
      expect(result).toEqual(full.fromAccessRecord(parsed.record, 5, origin));
      records.push(count());
      results.push(result);
    });
    // robots.txt: the visitor is needed; app.js, 404, "-": nothing; the page view: its record.
    expect(records).toEqual([1, 0, 0, 0, 1]);
    expect(results.slice(0, 4)).toEqual(["static", "static", "non2xx", "no_request_path"].map((why) => ({ kind: "filtered", why })));
    expect(eventOf(results[4])).toMatchObject({ url: "/about", is_bot: true, bot_reason: "robots_txt" });
    // Without the robots.txt request before it, the same line is no bot.
    const alone = read(LINES[4]);
    if (!alone.ok) throw new Error(alone.reason);
    expect(eventOf(edge().fromAccessLine(alone, 5, { line: LINES[4], lineNumber: 5 })).is_bot).toBe(false);
  });
});

describe("edge - a prepared access line completed in order is the event fromAccessLine gives", () => {
  const read = compileAccessLineReader("combined");
  const LINES = [
    `10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET /about HTTP/1.1" 200 5 "http://r/" "${CHROME}"`,
    `10.0.0.2 - - [17/May/2015:10:05:04 +0000] "GET /robots.txt HTTP/1.1" 200 5 "-" "${CHROME}"`,
    `10.0.0.2 - - [17/May/2015:10:05:05 +0000] "GET /pricing HTTP/1.1" 200 5 "-" "${CHROME}"`,
    `10.0.0.3 - - [17/May/2015:10:05:06 +0000] "GET /c/books/p/1 HTTP/1.1" 200 5 "-" "-"`,
    `10.0.0.4 - - [17/May/2015:10:05:07 +0000] "GET / HTTP/1.1" 200 5 "-" "Googlebot/2.1 (+http://www.google.com/bot.html)"`,
    ...Array.from({ length: 4 }, (_, second) => `10.0.0.5 - - [17/May/2015:10:06:0${second} +0000] "GET /p${second} HTTP/1.1" 200 5 "-" "${CHROME}"`),
  ];
  // The bot fields dropped by privacy too, and every field: the JSON must stay valid whatever is left.
  const configs = [
    { botRate: { maxEvents: 2, perSeconds: 60 } },
    { bots: "drop", botRate: { maxEvents: 2, perSeconds: 60 } },
    { privacy: { dropFields: ["is_bot"] } },
    { privacy: { dropFields: ["bot_reason", "ua", "referrer"], pseudonymize: ["anon_id"] } },
    { privacy: { dropFields: ["type", "ts", "event_id", "anon_id", "received_at", "ip", "url", "page_item", "referrer", "ua"] } },
    { privacy: { dropFields: ["type", "ts", "event_id", "anon_id", "received_at", "ip", "url", "page_item", "referrer", "ua", "is_bot", "bot_reason"] } },
  ];

  it.each(configs)("with %j", (config) => {
    const objects = edge(config);
    const prepared = edge(config);
    const completing = edge(config);
    LINES.forEach((text, index) => {
      const line = read(text);
      if (!line.ok) throw new Error(line.reason);
      const origin = { line: text, lineNumber: index + 1 };
      const expected = objects.fromAccessLine(line, 5, origin);
      const result = prepared.prepareAccessLine(line, 5, origin);
      if (result.kind === "filtered" || result.kind === "robots_txt") {
        expect(expected.kind).toBe("filtered");
        if (result.kind === "robots_txt") completing.completeRobotsTxt(result.visitor, result.ts);
        return;
      }
      const rest = completing.completePageView(result.visitor, result.ts, result.robotsTxt, result.userAgentReason);
      const event = eventOf(expected);
      if (expected.kind === "bot") event.is_bot = true;
      expect(JSON.parse(joinJson(result.json, rest))).toEqual(event);
      expect(joinJson(result.json, rest)).toBe(JSON.stringify(event));
    });
  });
});

describe("edge - secrets and email addresses in URL query strings", () => {
  const rules = { urlRules: [{ match: "/c/:category/p/:id", item: ":category" }] };
  const path = "/c/books/p/42?utm_source=news&email=jane%40x.com&writeKey=wk_live_1#top";
  const referrer = "https://mail.example/read?Token=t0k&q=a+b";
  const redactedPath = "/c/books/p/42?utm_source=news&email=(redacted)&writeKey=(redacted)#top";
  const redactedReferrer = "https://mail.example/read?Token=(redacted)&q=a+b";

  it("redacts url and referrer of an access-log record, keeping the page item from the path", () => {
    const event = eventOf(edge(rules).fromAccessRecord(record({ path, referrer }), 0));
    expect(event).toMatchObject({ url: redactedPath, referrer: redactedReferrer, page_item: "books" });
  });

  it("gives the same JSON on the prepared path (parse threads)", () => {
    const text = `10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET ${path} HTTP/1.1" 200 5 "${referrer}" "${CHROME}"`;
    const line = compileAccessLineReader("combined")(text);
    if (!line.ok) throw new Error(line.reason);
    const prepared = edge(rules).prepareAccessLine(line, 5, { line: text, lineNumber: 1 });
    if (prepared.kind !== "page_view") throw new Error(prepared.kind);
    expect(JSON.parse(`${prepared.json}}`)).toMatchObject({ url: redactedPath, referrer: redactedReferrer, page_item: "books" });
  });

  it("redacts url and referrer of a JSON event (collector, publish) without changing its input", () => {
    const input: ClickEvent = { type: "page_view", ts: 1, event_id: "e1", anon_id: "a1", url: `https://shop.example${path}`, referrer };
    const event = eventOf(edge(rules).process(input));
    expect(event).toMatchObject({ url: `https://shop.example${redactedPath}`, referrer: redactedReferrer, page_item: "books" });
    expect(input.url).toBe(`https://shop.example${path}`);
  });

  it("redacts an address in the path, in the page item a URL rule takes from it, and nested parameters, on every path", () => {
    const withRule = { urlRules: [{ match: "/u/:email/orders", item: "orders/:email" }] };
    const target = "/u/jane%40x.com/orders?next=%2Fcb%3Ftoken%3Dt0k";
    const expected = { url: "/u/(redacted)/orders?next=%2Fcb%3Ftoken%3D(redacted)", page_item: "orders/(redacted)" };
    expect(eventOf(edge(withRule).fromAccessRecord(record({ path: target }), 0))).toMatchObject(expected);
    const text = `10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET ${target} HTTP/1.1" 200 5 "-" "${CHROME}"`;
    const line = compileAccessLineReader("combined")(text);
    if (!line.ok) throw new Error(line.reason);
    const prepared = edge(withRule).prepareAccessLine(line, 5, { line: text, lineNumber: 1 });
    if (prepared.kind !== "page_view") throw new Error(prepared.kind);
    expect(JSON.parse(`${prepared.json}}`)).toMatchObject(expected);
    const input: ClickEvent = { type: "page_view", ts: 1, event_id: "e1", anon_id: "a1", url: `https://shop.example${target}` };
    expect(eventOf(edge(withRule).process(input))).toMatchObject({ ...expected, url: `https://shop.example${expected.url}` });
  });

  it("keeps url and referrer byte for byte when their parameters are not listed, and redacts only writeKey with an empty list", () => {
    const processor = edge({ privacy: { redactQueryParams: [], redactEmails: false } });
    const event = eventOf(processor.fromAccessRecord(record({ path, referrer }), 0));
    expect(event).toMatchObject({ url: "/c/books/p/42?utm_source=news&email=jane%40x.com&writeKey=(redacted)#top", referrer });
  });
});

describe("edge - JSON events", () => {
  const pageView: ClickEvent = {
    type: "page_view",
    ts: 1_000,
    event_id: "e1",
    anon_id: "a1",
    user_id: "customer-1",
    url: "https://shop.example/c/toys/p/7?x=1",
    ip: "2001:db8:85a3:8d3:1319:8a2e:370:7348",
    email: "c1@example.com",
  };

  it("sets page_item from url rules for page views and leaves the input untouched", () => {
    const input = { ...pageView };
    const event = eventOf(edge({ urlRules: [{ match: "/c/:category/p/:id", item: ":category" }] }).process(input));
    expect(event.page_item).toBe("toys");
    expect(input).toEqual(pageView);
  });

  it("does not flag a JSON event without a ua field, but flags ua: '' and an HTTP request without User-Agent", () => {
    expect(eventOf(edge().process(pageView)).is_bot).toBe(false);
    expect(eventOf(edge().process({ ...pageView, ua: "" }))).toMatchObject({ is_bot: true, bot_reason: "empty_user_agent" });
    expect(eventOf(edge().process({ ...pageView, ua: CHROME }, { hasUserAgent: false })).is_bot).toBe(true);
    expect(eventOf(edge().process({ ...pageView, ua: CHROME }, { hasUserAgent: true })).is_bot).toBe(false);
  });

  it("flags crawler user agents", () => {
    expect(eventOf(edge().process({ ...pageView, ua: "Mozilla/5.0 (compatible; bingbot/2.0)" })).is_bot).toBe(true);
  });

  it("with privacy on, no raw IP, user_id, anon_id or PII remains anywhere in the event JSON", () => {
    const processor = edge({ privacy: { pseudonymize: ["user_id", "anon_id"], dropFields: ["email"] } });
    const event = eventOf(processor.process(pageView));
    const json = JSON.stringify(event);
    for (const raw of ["2001:db8:85a3:8d3", "customer-1", '"a1"', "c1@example.com"]) expect(json).not.toContain(raw);
    expect(event.ip).toBe("2001:db8:85a3::");
    expect(event.user_id).toBe(createHmac("sha256", KEYS.pseudonymKey).update("customer-1").digest("hex"));
  });

  it("refuses to start when pseudonymize is configured and CLICKPIPE_PSEUDONYM_KEY is missing", () => {
    const config = ingestConfig.parse({ privacy: { pseudonymize: ["user_id"] } });
    expect(() => EdgeProcessor.fromConfig(config, { pipelineName: "web", env: {} })).toThrow(PseudonymKeyMissingError);
    expect(() => EdgeProcessor.fromConfig(config, { pipelineName: "web", env: { CLICKPIPE_PSEUDONYM_KEY: "k" } })).not.toThrow();
  });

  it("takes the visitor key from config, then CLICKPIPE_VISITOR_KEY, then the pipeline name", () => {
    const anonIdUnder = (key: string) => createHmac("sha256", key).update(`83.149.9.216\n${CHROME}`).digest("base64url").slice(0, 22);
    const fromName = EdgeProcessor.fromConfig(ingestConfig.parse({}), { pipelineName: "web", env: {} });
    const fromEnv = EdgeProcessor.fromConfig(ingestConfig.parse({}), { pipelineName: "web", env: { CLICKPIPE_VISITOR_KEY: "env" } });
    const fromConfig = EdgeProcessor.fromConfig(ingestConfig.parse({ visitorKey: "cfg" }), { pipelineName: "web", env: { CLICKPIPE_VISITOR_KEY: "env" } });
    expect(eventOf(fromName.fromAccessRecord(record(), 0)).anon_id).toBe(anonIdUnder("web"));
    expect(eventOf(fromEnv.fromAccessRecord(record(), 0)).anon_id).toBe(anonIdUnder("env"));
    expect(eventOf(fromConfig.fromAccessRecord(record(), 0)).anon_id).toBe(anonIdUnder("cfg"));
  });
});
