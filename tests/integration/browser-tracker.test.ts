// The browser tracker end to end: headless Debian Chromium loads pages of one origin that load /v1/clickpipe.js from a
// real collector (real NATS) on another, through a small recording HTTP proxy; the events are read back from the stream.
import { existsSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { delimiter, join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { httpSource, pipelineSchema } from "../../src/config/pipeline.ts";
import { createHttpCollector, type HttpCollector } from "../../src/ingest/http-collector.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { splitBatch } from "../../src/transport/batch-codec.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { StreamReader } from "../../src/transport/reader.ts";
import { parseSubject } from "../../src/transport/subjects.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";
import { waitForValue } from "../helpers/wait-for.ts";

const KEY = "wk_browser_tracker_0123456789";
/** Debian's package (scripts/ensure-tools.mjs installs it); playwright-core downloads no browser of its own. */
// Where scripts/ensure-tools.mjs finds it: any directory of PATH (Debian's package puts it in /usr/bin).
const CHROMIUM = (process.env.PATH ?? "/usr/bin")
  .split(delimiter)
  .flatMap((directory) => [join(directory, "chromium"), join(directory, "chromium-browser")])
  .find((path) => existsSync(path));
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

type Event = Record<string, unknown>;

/** A request the proxy forwarded (or refused), as it arrived. */
interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  status: number;
}

/** Pages by path: the script tag's extra attributes and a script run before the tracker loads. */
interface PageSpec {
  title: string;
  attributes?: string;
  before?: string;
  /** KEY unless given. */
  writeKey?: string;
  /** HTML after the page's #next link. */
  body?: string;
}

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let browser: Browser;
let pageServer: Server;
let pageOrigin: string;
const pages = new Map<string, PageSpec>();
const streams: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (CHROMIUM === undefined) throw new Error("no chromium: install the Debian package chromium (npm test does, through scripts/ensure-tools.mjs)");
  nc = await connectNats({ url: inject("natsUrl"), name: "browser-tracker-test" });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  browser = await chromium.launch({ executablePath: CHROMIUM });
  pageServer = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://page");
    // A file the browser saves instead of showing: clicking its link leaves the page where it is.
    if (url.pathname.startsWith("/files/")) return response.writeHead(200, { "content-type": "application/pdf", "content-disposition": "attachment" }).end("%PDF-1.4");
    const spec = pages.get(url.pathname);
    if (spec === undefined) return response.writeHead(404).end();
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(pageHtml(spec, url.searchParams.get("collector")!));
  });
  pageServer.listen(0, "127.0.0.1");
  await new Promise((resolve) => pageServer.once("listening", resolve));
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
});

afterEach(async () => {
  while (contexts.length > 0) await contexts.pop()!.close();
  while (cleanups.length > 0) await cleanups.pop()!();
  pages.clear();
});

afterAll(async () => {
  await browser?.close();
  pageServer?.close();
  for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  await nc?.close();
});

/** The documented snippet: the stub queues calls (with their time) until the async script replaces it. */
function pageHtml(spec: PageSpec, collector: string): string {
  return `<!doctype html><html><head><title>${spec.title}</title>
<script>window.clickpipe=window.clickpipe||function(){(clickpipe.q=clickpipe.q||[]).push([Date.now(),arguments])};</script>
<script>${spec.before ?? ""}</script>
<script async src="${collector}/v1/clickpipe.js" data-write-key="${spec.writeKey ?? KEY}" data-site-id="shop" ${spec.attributes ?? ""}></script>
</head><body><a id="next" href="/next?collector=${encodeURIComponent(collector)}">next</a>${spec.body ?? ""}</body></html>`;
}

interface Setup {
  stream: string;
  /** The proxy's origin: the pages load the script from it, so the tracker posts there. */
  collector: string;
  seen: Seen[];
  /** Answers the next `count` POSTs itself with 503 and Retry-After, as a load balancer without a backend would. */
  failNextPosts(count: number, retryAfterSeconds: number): void;
}

/** A collector that allows the page origin, behind a recording proxy. */
async function startCollector(writeKey = KEY): Promise<Setup> {
  const stream = uniqueStreamName("TRACKER");
  streams.push(stream);
  const pipeline = pipelineSchema.parse({ name: "browser-tracker-test", nats: { url: inject("natsUrl"), stream }, sinks: [{ type: "parquet", path: "/tmp/unused" }] });
  const config = httpSource.parse({ type: "http", port: 0, host: "127.0.0.1", writeKeys: [writeKey], allowedOrigins: [pageOrigin] });
  const collector: HttpCollector = createHttpCollector(config, { pipeline, connection: nc, metrics: new Metrics(), stateDirectory: "/tmp/unused", log: () => undefined });
  await collector.start();
  cleanups.push(() => collector.stop());
  const upstreamPort = collector.address().port;

  const seen: Seen[] = [];
  let failures = { count: 0, retryAfter: 0 };
  const proxy = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const record: Seen = { method: request.method!, path: request.url!, headers: request.headers, body: body.toString("utf8"), at: Date.now(), status: 0 };
    seen.push(record);
    if (request.method === "POST" && failures.count > 0) {
      failures.count--;
      record.status = 503;
      // Exposed as the collector exposes it, so the page can read when to come back.
      return response
        .writeHead(503, { "retry-after": String(failures.retryAfter), "access-control-allow-origin": "*", "access-control-expose-headers": "Retry-After" })
        .end("no backend");
    }
    const upstream = httpRequest({ host: "127.0.0.1", port: upstreamPort, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      record.status = answer.statusCode!;
      response.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(response);
    });
    // A test's cleanup can close the collector or the browser's socket while a request is in flight.
    upstream.on("error", () => response.destroy());
    upstream.end(body);
  });
  proxy.listen(0, "127.0.0.1");
  await new Promise((resolve) => proxy.once("listening", resolve));
  cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  proxy.on("connection", (socket) => cleanups.push(async () => void socket.destroy()));
  return {
    stream,
    collector: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    seen,
    failNextPosts: (count, retryAfter) => (failures = { count, retryAfter }),
  };
}

async function storedEvents(stream: string): Promise<Event[]> {
  const reader = await StreamReader.open(js, stream, { drainUntil: true });
  const events: Event[] = [];
  for await (const message of reader) {
    if (parseSubject(stream, message.subject)?.kind === "dlq") throw new Error(`dead letter: ${Buffer.from(message.data).toString("utf8")}`);
    for (const line of splitBatch(message.data)) events.push(JSON.parse(line) as Event);
  }
  // The collector stores ts as epoch ms.
  return events.sort((a, b) => (a.ts as number) - (b.ts as number));
}

function waitForEvents(stream: string, what: string, done: (events: Event[]) => boolean): Promise<Event[]> {
  return waitForValue(what, () => storedEvents(stream), done, 20_000);
}

async function newContext(options: { gpc?: boolean } = {}): Promise<BrowserContext> {
  const context = await browser.newContext();
  contexts.push(context);
  // What a browser with Global Privacy Control on (Brave, Firefox's setting, an extension) shows the page.
  if (options.gpc) await context.addInitScript({ content: 'Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true });' });
  return context;
}

/**
 * Links and a button for automatic clicks. The page's own origin is 127.0.0.1; localhost on the same port is another
 * host (an outbound link, which the page server answers 404). The internal and mailto links are cancelled by the page,
 * as a router would, so the page stays.
 */
const clickBody = () => `
  <a id="partner" href="${pageOrigin.replace("127.0.0.1", "localhost")}/partner?token=t0k&ref=shop#offer"><span id="partner-label">partner</span></a>
  <a id="report" href="/files/Report.PDF?token=abc&v=2#page=3"><i id="report-icon">pdf</i> report</a>
  <button id="buy" data-clickpipe-click="buy-now"><b id="buy-label">Buy</b></button>
  <a id="internal" href="/about?collector=x" onclick="event.preventDefault()">about</a>
  <a id="mail" href="mailto:jane@x.example" onclick="event.preventDefault()">mail</a>
  <span id="plain">text</span>`;

const clickFields = (events: Event[]) =>
  events
    .filter((event) => event.type === "click")
    .map(({ url, click_kind, click_name, element, target_url }) => JSON.parse(JSON.stringify({ url, click_kind, click_name, element, target_url })) as Event);

const pageUrl = (setup: Setup, path: string) => `${pageOrigin}${path}?collector=${encodeURIComponent(setup.collector)}`;

/**
 * A page script that writes an outbox, as [send after, event time, event JSON, site], before the tracker loads: `entries`
 * is a JS expression that may use `now` and `line(i, at, extra)` (a click's JSON); the site is the page's collector and
 * KEY, as the tracker tags them (FNV-1a of "<endpoint> <write key>").
 */
const seedOutbox = (entries: string) => `
  const now = Date.now();
  const line = (i, at, extra) => JSON.stringify(Object.assign({ type: "click", ts: new Date(at).toISOString(), event_id: "seeded-" + i + "-" + now, anon_id: "anon-old", site_id: "shop", url: location.href, element: "e" + i }, extra));
  let site = 2166136261;
  for (const char of new URLSearchParams(location.search).get("collector") + "/v1/events ${KEY}") site = Math.imul(site ^ char.charCodeAt(0), 16777619) >>> 0;
  localStorage.setItem("clickpipe_outbox", JSON.stringify((${entries}).map((entry) => (Array.isArray(entry) ? entry.concat([site]) : entry))));`;

describe("browser tracker - in Chromium against a real collector", () => {
  it("sends the page view, a call queued before load, identify, purchase, an SPA navigation, and flushes by beacon on hide", async () => {
    const setup = await startCollector();
    pages.set("/start", { title: "Start", before: "clickpipe('track', 'add_to_cart', { sku: 'SKU-1', price: 9.5, qty: 2 });" });
    pages.set("/next", { title: "Next" });
    const page = await (await newContext()).newPage();
    const start = pageUrl(setup, "/start");
    await page.goto(start);
    await waitForEvents(setup.stream, "the page view and the queued add_to_cart", (events) => events.length >= 2);

    // Page code runs in the browser, so it is given as text (the tests' TypeScript has no DOM types).
    await page.evaluate(`
      clickpipe("identify", "user-42");
      clickpipe("purchase", { order_id: "o-1", revenue: 19, currency: "EUR", items: [{ sku: "SKU-1", price: 9.5, qty: 2 }] });
      // A router's navigation: it changes the URL, then the title.
      history.pushState({}, "", "/cart?collector=x");
      document.title = "Cart";
    `);
    await waitForEvents(setup.stream, "identify, purchase and the SPA page view", (events) => events.length >= 5);
    // The same URL again (scroll restoration) and a fragment: no page view.
    await page.evaluate(`
      history.replaceState({ scrolled: 1 }, "", location.href);
      location.hash = "#reviews";
      clickpipe("track", "click", { element: "buy" });
    `);
    // Leaving within the flush delay: the click goes out on pagehide, by sendBeacon.
    await page.click("#next");
    const events = await waitForEvents(setup.stream, "the click and the next page's view", (stored) => stored.length >= 7);
    await page.waitForTimeout(1_500); // a duplicate page view from the fragment or replaceState would be sent by now
    const final = await storedEvents(setup.stream);
    expect(final).toHaveLength(7);

    const anonId = events[0].anon_id as string;
    expect(anonId).toMatch(UUID_V4);
    for (const event of final) {
      expect(event.event_id).toMatch(UUID_V4);
      expect(typeof event.ts).toBe("number");
      expect(event.anon_id).toBe(anonId);
      expect(event.site_id).toBe("shop");
      expect(event).not.toHaveProperty("writeKey");
    }
    expect(new Set(final.map((event) => event.event_id)).size).toBe(7);
    const cart = `${pageOrigin}/cart?collector=x`;
    const next = pageUrl(setup, "/next");
    const shape = final.map(({ type, url, referrer, title, user_id, sku, price, qty, order_id, revenue, currency, items, element }) =>
      JSON.parse(JSON.stringify({ type, url, referrer, title, user_id, sku, price, qty, order_id, revenue, currency, items, element })),
    );
    expect(shape).toEqual([
      { type: "page_view", url: start, referrer: "", title: "Start" },
      { type: "add_to_cart", url: start, sku: "SKU-1", price: 9.5, qty: 2 },
      { type: "identify", user_id: "user-42" },
      { type: "purchase", url: start, user_id: "user-42", order_id: "o-1", revenue: 19, currency: "EUR", items: [{ sku: "SKU-1", price: 9.5, qty: 2 }] },
      { type: "page_view", url: cart, referrer: start, title: "Cart", user_id: "user-42" },
      // The fragment is not sent: it never reaches servers and may hold tokens.
      { type: "click", url: cart, user_id: "user-42", element: "buy" },
      // The next document: same anon_id and user_id from localStorage; the browser's referrer (no fragment).
      { type: "page_view", url: next, referrer: cart, title: "Next", user_id: "user-42" },
    ]);

    const posts = setup.seen.filter((seen) => seen.method === "POST");
    const sent = posts.flatMap((post) => post.body.split("\n").map((line) => JSON.parse(line) as Event));
    // Sent as ISO 8601 in UTC, stored as the same instant.
    expect(sent.map((event) => event.event_id).sort()).toEqual(final.map((event) => event.event_id).sort());
    for (const event of sent) {
      expect(event.ts).toMatch(ISO_UTC);
      expect(Date.parse(event.ts as string)).toBe(final.find((stored) => stored.event_id === event.event_id)!.ts);
    }
    for (const post of posts) {
      expect(post.headers["content-type"]).toBe("text/plain;charset=UTF-8");
      expect(post.status).toBe(200);
      // Each body's first event carries the key, which the collector stored nowhere.
      expect(JSON.parse(post.body.split("\n")[0]).writeKey).toBe(KEY);
    }
    // No preflight ever: text/plain with the key in the body is a simple request.
    expect(setup.seen.filter((seen) => seen.method === "OPTIONS")).toEqual([]);
    // The click went out by sendBeacon (mode no-cors, the browser's beacon), the rest by fetch (mode cors).
    const clickPost = posts.find((post) => post.body.includes('"type":"click"'))!;
    expect(clickPost.headers["sec-fetch-mode"]).toBe("no-cors");
    expect(posts.find((post) => post.body.includes('"type":"add_to_cart"'))!.headers["sec-fetch-mode"]).toBe("cors");
  });

  it("keeps anon_id across reloads in localStorage, and makes one per page load with data-storage=none", async () => {
    const setup = await startCollector();
    pages.set("/keep", { title: "Keep" });
    pages.set("/none", { title: "None", attributes: 'data-storage="none"' });
    const kept = await (await newContext()).newPage();
    await kept.goto(pageUrl(setup, "/keep"));
    await kept.reload();
    const keptViews = await waitForEvents(setup.stream, "two page views of /keep", (events) => events.length >= 2);
    expect(keptViews.map((event) => event.type)).toEqual(["page_view", "page_view"]);
    expect(keptViews[1].anon_id).toBe(keptViews[0].anon_id);
    expect(await kept.evaluate('localStorage.getItem("clickpipe_anon_id")')).toBe(keptViews[0].anon_id);

    const context = await newContext();
    const none = await context.newPage();
    await none.goto(pageUrl(setup, "/none"));
    await none.reload();
    const all = await waitForEvents(setup.stream, "two page views of /none", (events) => events.length >= 4);
    const noneViews = all.filter((event) => String(event.url).includes("/none"));
    expect(noneViews).toHaveLength(2);
    expect(noneViews[0].anon_id).toMatch(UUID_V4);
    expect(noneViews[1].anon_id).toMatch(UUID_V4);
    expect(noneViews[1].anon_id).not.toBe(noneViews[0].anon_id);
    expect(noneViews.map((event) => event.anon_id)).not.toContain(keptViews[0].anon_id);
    // Nothing kept on the device.
    expect(await none.evaluate("localStorage.length")).toBe(0);
    expect(await context.cookies()).toEqual([]);

    // A visitor who withdrew consent: the ids an earlier page kept are removed, not left on the device.
    await kept.evaluate('clickpipe("identify", "user-consented")');
    expect(await kept.evaluate('localStorage.getItem("clickpipe_user_id")')).toBe("user-consented");
    await kept.goto(pageUrl(setup, "/none"));
    await kept.waitForFunction("clickpipe.loaded === true");
    expect(await kept.evaluate("[localStorage.getItem('clickpipe_anon_id'), localStorage.getItem('clickpipe_user_id')]")).toEqual([null, null]);
  });

  it("sends nothing and stores nothing under Global Privacy Control, unless data-respect-gpc=false", async () => {
    const setup = await startCollector();
    pages.set("/private", { title: "Private", before: "clickpipe('track', 'add_to_cart', { sku: 'SKU-GPC' });" });
    pages.set("/opted-out", { title: "Opted out", attributes: 'data-respect-gpc="false"' });
    const page = await (await newContext({ gpc: true })).newPage();
    await page.goto(pageUrl(setup, "/private"));
    await page.waitForFunction("clickpipe.loaded === true");
    await page.evaluate('clickpipe("identify", "user-gpc")');
    expect(await page.evaluate("localStorage.length")).toBe(0);
    // Leaving would flush by beacon; the next page, whose site overrides GPC, sends its page view after that.
    await page.goto(pageUrl(setup, "/opted-out"));
    const events = await waitForEvents(setup.stream, "the opted-out page's view", (stored) => stored.length >= 1);
    expect(events.map((event) => [event.type, event.title])).toEqual([["page_view", "Opted out"]]);
    expect(setup.seen.filter((seen) => seen.method === "POST").map((seen) => seen.body).join("\n")).not.toMatch(/SKU-GPC|user-gpc|Private/);
  });

  it("delivers the batches sendBeacon refuses past its 64 KiB quota when the page is hidden but lives on", async () => {
    const setup = await startCollector();
    pages.set("/big", { title: "Big", attributes: 'data-auto-pageviews="false"' });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/big"));
    await page.waitForFunction("clickpipe.loaded === true");
    // Three events of about 31 KB: one request each (two would pass 60 KiB), 93 KB in all, over the beacon quota.
    // Then the tab is switched away from: the page is hidden (as the browser reports it) but keeps running.
    await page.evaluate(`
      for (let i = 0; i < 3; i++) clickpipe("track", "click", { element: "big-" + i, blob: "x".repeat(31000) });
      Object.defineProperty(document, "visibilityState", { get: () => "hidden", configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    `);
    const events = await waitForEvents(setup.stream, "the three big clicks", (stored) => stored.length >= 3);
    expect(events.map((event) => event.element).sort()).toEqual(["big-0", "big-1", "big-2"]);
    await page.waitForTimeout(1_500);
    expect(await storedEvents(setup.stream)).toHaveLength(3);
    // The browser took two as beacons and refused the third, which went by fetch.
    const modes = setup.seen.filter((seen) => seen.method === "POST" && seen.status === 200).map((seen) => seen.headers["sec-fetch-mode"]);
    expect(modes.sort()).toEqual(["cors", "no-cors", "no-cors"]);
  });

  it('identifies the given user for clickpipe("track", "identify", { user_id })', async () => {
    const setup = await startCollector();
    pages.set("/login", { title: "Login", attributes: 'data-auto-pageviews="false"', before: "clickpipe('identify', 'user-old');" });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/login"));
    await page.waitForFunction("clickpipe.loaded === true");
    await page.evaluate(`
      clickpipe("track", "identify", { user_id: "user-new" });
      clickpipe("track", "click", { element: "after" });
    `);
    const events = await waitForEvents(setup.stream, "two identifies and the click", (stored) => stored.length >= 3);
    expect(events.map(({ type, user_id, element }) => JSON.parse(JSON.stringify({ type, user_id, element })))).toEqual([
      { type: "identify", user_id: "user-old" },
      { type: "identify", user_id: "user-new" },
      { type: "click", user_id: "user-new", element: "after" },
    ]);
    expect(await page.evaluate('localStorage.getItem("clickpipe_user_id")')).toBe("user-new");
  });

  it("retries a batch answered 503 after its Retry-After, with the same event_ids, and stores it once", async () => {
    const setup = await startCollector();
    setup.failNextPosts(1, 2);
    pages.set("/busy", { title: "Busy", before: "clickpipe('track', 'add_to_cart', { sku: 'SKU-R', qty: 1 });" });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/busy"));
    const events = await waitForEvents(setup.stream, "the retried batch", (stored) => stored.length >= 2);
    expect(events.map((event) => event.type)).toEqual(["page_view", "add_to_cart"]);

    const posts = setup.seen.filter((seen) => seen.method === "POST");
    expect(posts.map((post) => post.status)).toEqual([503, 200]);
    expect(posts[1].body).toBe(posts[0].body);
    const sentIds = posts[0].body.split("\n").map((line) => JSON.parse(line).event_id);
    expect(events.map((event) => event.event_id)).toEqual(sentIds);
    // Not before the 2 s the 503 asked for (the backoff alone would have retried after 1 s).
    expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(1_900);
    await page.waitForTimeout(1_000);
    expect(await storedEvents(setup.stream)).toHaveLength(2);
  });

  it("counts a page restored from the back/forward cache as a page view, with a new event_id, once per restore", async () => {
    const setup = await startCollector();
    pages.set("/cached", { title: "Cached" });
    pages.set("/next", { title: "Next" });
    // playwright-core turns the back/forward cache off by default; a browser of this test's own keeps it on.
    const cachingBrowser = await chromium.launch({ executablePath: CHROMIUM, ignoreDefaultArgs: ["--disable-back-forward-cache"] });
    cleanups.push(() => cachingBrowser.close());
    const page = await (await cachingBrowser.newContext()).newPage();
    const cached = pageUrl(setup, "/cached");
    const next = pageUrl(setup, "/next");
    await page.goto(cached);
    await waitForEvents(setup.stream, "the first page view", (events) => events.length >= 1);
    await page.evaluate("window.beforeLeaving = true");
    await page.click("#next");
    await waitForEvents(setup.stream, "the next page's view", (events) => events.length >= 2);
    // A restore fires no load event: the history step is done once the document is back.
    await page.goBack({ waitUntil: "commit" });
    await page.waitForURL(cached, { waitUntil: "commit" });
    await waitForEvents(setup.stream, "the restored page's view", (events) => events.length >= 3);
    // The same document, not a new load: this is a back/forward cache restore.
    expect(await page.evaluate("window.beforeLeaving")).toBe(true);
    await page.goForward({ waitUntil: "commit" });
    await page.waitForURL(next, { waitUntil: "commit" });
    await waitForEvents(setup.stream, "the restored next page's view", (events) => events.length >= 4);
    await page.waitForTimeout(1_500); // a second view of one restore would be sent by now
    const events = await storedEvents(setup.stream);
    expect(events.map(({ type, url, title }) => [type, url, title])).toEqual([
      ["page_view", cached, "Cached"],
      ["page_view", next, "Next"],
      ["page_view", cached, "Cached"],
      ["page_view", next, "Next"],
    ]);
    expect(new Set(events.map((event) => event.event_id)).size).toBe(4);
    expect(new Set(events.map((event) => event.anon_id)).size).toBe(1);
  });

  it("keeps a batch still failing after the page's last beacon in localStorage, and sends it on a page load after its Retry-After", async () => {
    const setup = await startCollector();
    // The first flush and the beacon on leaving: no backend, come back in 3 s.
    setup.failNextPosts(2, 3);
    pages.set("/down", { title: "Down", before: "clickpipe('track', 'add_to_cart', { sku: 'SKU-O', qty: 1 });" });
    pages.set("/next", { title: "Next" });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/down"));
    const failed = await waitForValue("the failed flush", async () => setup.seen.find((seen) => seen.method === "POST"), Boolean, 10_000);
    expect(failed!.status).toBe(503);
    const failedIds = failed!.body.split("\n").map((line) => JSON.parse(line).event_id as string);
    expect(failedIds).toHaveLength(2);
    // Once the page has read the answer (at most 3 s, for code without an outbox), it leaves: the beacon, a last try, is refused too.
    await waitForValue("the answer read", () => page.evaluate("localStorage.length"), (length) => length === 2, 3_000).catch(() => undefined);
    await page.click("#next");
    await waitForEvents(setup.stream, "the next page's view", (events) => events.length >= 1);
    const posts = () => setup.seen.filter((seen) => seen.method === "POST");
    expect(posts().map((post) => [post.status, post.headers["sec-fetch-mode"]])).toEqual([
      [503, "cors"],
      [503, "no-cors"],
      [200, "cors"],
    ]);
    // Not resent before the 3 s the collector asked for: this page load found them not due.
    expect(posts()[2].body).not.toContain(failedIds[0]);
    expect(JSON.parse((await page.evaluate('localStorage.getItem("clickpipe_outbox")')) as string)).toHaveLength(2);
    await page.waitForTimeout(Math.max(0, failed!.at + 3_000 - Date.now()));
    await page.reload();
    const events = await waitForEvents(setup.stream, "the kept events and the reload's view", (stored) => stored.length >= 4);
    expect(events.filter((event) => failedIds.includes(event.event_id as string)).map((event) => event.type)).toEqual(["page_view", "add_to_cart"]);
    await page.waitForTimeout(1_500);
    expect(await storedEvents(setup.stream)).toHaveLength(4);
    // Delivered: out of the outbox.
    await waitForValue("an empty outbox", () => page.evaluate('localStorage.getItem("clickpipe_outbox")'), (outbox) => outbox === null, 5_000);
  });

  it('stores no undelivered event with data-storage="none": a batch failing past the last beacon is lost', async () => {
    const setup = await startCollector();
    setup.failNextPosts(2, 30);
    pages.set("/down", { title: "Down", attributes: 'data-storage="none"' });
    pages.set("/next", { title: "Next", attributes: 'data-storage="none"' });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/down"));
    await waitForValue("the failed flush", async () => setup.seen.filter((seen) => seen.status === 503).length, (count) => count >= 1, 10_000);
    expect(await page.evaluate("localStorage.length")).toBe(0);
    await page.click("#next");
    await waitForEvents(setup.stream, "the next page's view", (events) => events.length >= 1);
    await page.reload();
    await waitForEvents(setup.stream, "the reload's view", (events) => events.length >= 2);
    await page.waitForTimeout(1_500);
    expect((await storedEvents(setup.stream)).map((event) => event.title)).toEqual(["Next", "Next"]);
    expect(await page.evaluate("localStorage.length")).toBe(0);
  });

  it("leaves a batch another tab is retrying to that tab, so the two tabs send it once", async () => {
    const setup = await startCollector();
    setup.failNextPosts(1, 3);
    pages.set("/first", { title: "First", before: "clickpipe('track', 'add_to_cart', { sku: 'SKU-T', qty: 1 });" });
    pages.set("/second", { title: "Second" });
    const context = await newContext();
    const first = await context.newPage();
    await first.goto(pageUrl(setup, "/first"));
    const failed = await waitForValue("the failed flush", async () => setup.seen.find((seen) => seen.method === "POST"), Boolean, 10_000);
    const failedIds = failed!.body.split("\n").map((line) => JSON.parse(line).event_id as string);
    // The second tab loads while the first waits out the Retry-After: the outbox holds the batch, leased to the first.
    expect(JSON.parse((await first.evaluate('localStorage.getItem("clickpipe_outbox")')) as string)).toHaveLength(2);
    const second = await context.newPage();
    await second.goto(pageUrl(setup, "/second"));
    const events = await waitForEvents(setup.stream, "both tabs' events", (stored) => stored.length >= 3);
    await first.waitForTimeout(1_500);
    expect(await storedEvents(setup.stream)).toHaveLength(3);
    expect(events.map((event) => event.title ?? event.type)).toEqual(["First", "add_to_cart", "Second"]);
    const posts = setup.seen.filter((seen) => seen.method === "POST");
    // The failed batch went twice, both times as the same body from the first tab; the second tab sent its view alone.
    const withFailed = posts.filter((post) => post.body.includes(failedIds[0]));
    expect(withFailed.map((post) => post.status)).toEqual([503, 200]);
    expect(withFailed[1].body).toBe(withFailed[0].body);
    expect(posts.filter((post) => post.body.includes('"title":"Second"')).map((post) => post.body.split("\n").length)).toEqual([1]);
    expect(await second.evaluate('localStorage.getItem("clickpipe_outbox")')).toBeNull();
  });

  it("bounds the outbox: 200 events, 256 Ki characters, none over 24 h old, the oldest dropped first", async () => {
    const setup = await startCollector();
    // Outboxes an earlier page left: written before the tracker loads.
    const seed = seedOutbox;
    // 250 small events a second apart, one 25 h old, and an entry that is not one.
    pages.set("/count", {
      title: "Count",
      attributes: 'data-auto-pageviews="false"',
      before: seed(`[[0, now - 25 * 3600e3, line(-1, now - 25 * 3600e3, {})], "junk"].concat(Array.from({ length: 250 }, (_, i) => [0, now - (250 - i) * 1000, line(i, now - (250 - i) * 1000, {})]))`),
    });
    // 10 events of about 31,000 characters, older than 150 small ones (about 24,000 characters): 7 of them fit.
    pages.set("/chars", {
      title: "Chars",
      attributes: 'data-auto-pageviews="false"',
      before: seed(
        `Array.from({ length: 10 }, (_, i) => [0, now - (500 - i) * 1000, line(1000 + i, now - (500 - i) * 1000, { blob: "x".repeat(31000) })])` +
          `.concat(Array.from({ length: 150 }, (_, i) => [0, now - (150 - i) * 1000, line(i, now - (150 - i) * 1000, {})]))`,
      ),
    });
    await (await (await newContext()).newPage()).goto(pageUrl(setup, "/count"));
    const counted = await waitForEvents(setup.stream, "the outbox's 200 newest events", (events) => events.length >= 200);
    expect(counted.map((event) => event.element)).toEqual(Array.from({ length: 200 }, (_, i) => `e${i + 50}`));

    await (await (await newContext()).newPage()).goto(pageUrl(setup, "/chars"));
    const all = await waitForEvents(setup.stream, "the second outbox's events", (events) => events.length >= 200 + 157);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const charsEvents = (await storedEvents(setup.stream)).filter((event) => String(event.url).includes("/chars"));
    expect(all.length).toBe(357);
    expect(charsEvents.map((event) => event.element)).toEqual([
      ...Array.from({ length: 7 }, (_, i) => `e${1003 + i}`),
      ...Array.from({ length: 150 }, (_, i) => `e${i}`),
    ]);
  });

  it("waits out a Retry-After over 60 s, up to an hour", async () => {
    const setup = await startCollector();
    setup.failNextPosts(1, 120);
    // No automatic page view: it is dated by performance.timeOrigin, which the fake clock sets to 0.
    pages.set("/slow", { title: "Slow", attributes: 'data-auto-pageviews="false"' });
    const context = await newContext();
    // The page's timers under the test's control; time runs on its own until paused.
    await context.clock.install();
    const page = await context.newPage();
    await page.goto(pageUrl(setup, "/slow"));
    await page.waitForFunction("clickpipe.loaded === true");
    await page.evaluate('clickpipe("track", "click", { element: "first" })');
    const posts = () => setup.seen.filter((seen) => seen.method === "POST");
    await waitForValue("the failed flush", async () => posts().length, (count) => count >= 1, 10_000);
    // The proxy sees the post before the page reads its answer: the clock runs on once the page has (the outbox is
    // written in the task that sets the retry timer), or after 3 s for code without an outbox.
    const answered = (text: string) =>
      waitForValue("the answer read", () => page.evaluate('localStorage.getItem("clickpipe_outbox") || ""') as Promise<string>, (outbox) => outbox.includes(text), 3_000).catch(() => undefined);
    await answered('"first"');
    await page.clock.pauseAt(await page.evaluate("Date.now() + 1000"));
    await page.clock.runFor(90_000);
    await page.waitForTimeout(500); // a retry would be on its way by now
    expect(posts()).toHaveLength(1);
    await page.clock.runFor(35_000);
    await waitForEvents(setup.stream, "the first click, retried after 120 s", (events) => events.length >= 1);
    expect(posts().map((post) => post.status)).toEqual([503, 200]);

    // Two hours asked for: retried after one.
    setup.failNextPosts(1, 7_200);
    await page.evaluate('clickpipe("track", "click", { element: "later" })');
    await page.clock.runFor(1_000);
    await waitForValue("the click's failed post", async () => posts().length, (count) => count >= 3, 10_000);
    await answered('"later"');
    await page.clock.runFor(3_590_000);
    await page.waitForTimeout(500);
    expect(posts()).toHaveLength(3);
    await page.clock.runFor(15_000);
    await waitForEvents(setup.stream, "the click, retried after an hour", (events) => events.length >= 2);
    expect(posts().map((post) => post.status)).toEqual([503, 200, 503, 200]);
  });

  it("counts the write key's UTF-8 bytes in a request's 60 KiB", async () => {
    // 2,000 characters of 3 bytes each: 4,000 bytes more than its length says.
    const key = "wk_" + "€".repeat(2_000);
    const setup = await startCollector(key);
    pages.set("/key", { title: "Key", writeKey: key, attributes: 'data-auto-pageviews="false"' });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/key"));
    await page.waitForFunction("clickpipe.loaded === true");
    // Three events of about 18.6 KB: 56 KB with the key's length, 62 KB with its bytes.
    await page.evaluate('for (let i = 0; i < 3; i++) clickpipe("track", "click", { element: "big-" + i, blob: "x".repeat(18500) })');
    const events = await waitForEvents(setup.stream, "the three clicks", (stored) => stored.length >= 3);
    expect(events.map((event) => event.element).sort()).toEqual(["big-0", "big-1", "big-2"]);
    const posts = setup.seen.filter((seen) => seen.method === "POST");
    expect(posts.map((post) => post.status)).toEqual([200, 200]);
    for (const post of posts) expect(Buffer.byteLength(post.body, "utf8")).toBeLessThanOrEqual(60 * 1024);
  });

  it("sends the outbox's events only to the collector and with the write key they were made for, not another site's of the origin", async () => {
    const shop = await startCollector();
    const blogKey = "wk_browser_tracker_blog_0123456789";
    const blog = await startCollector(blogKey);
    // Every try of the shop's page fails, at once: after 5 the page keeps its events, due now, for the next page load.
    shop.failNextPosts(5, 0);
    pages.set("/shop", { title: "Shop", before: "clickpipe('track', 'add_to_cart', { sku: 'SKU-S', qty: 1 });" });
    pages.set("/blog", { title: "Blog", writeKey: blogKey });
    const page = await (await newContext()).newPage();
    const gaveUp = new Promise<void>((resolve) => page.on("console", (message) => message.text().includes("undelivered after 5 tries") && resolve()));
    await page.goto(pageUrl(shop, "/shop"));
    await gaveUp;
    const shopIds = shop.seen.find((seen) => seen.method === "POST")!.body.split("\n").map((line) => JSON.parse(line).event_id as string);
    expect(shopIds).toHaveLength(2);
    // The blog, another site of the same origin with its own collector and write key, loads: the shop's events stay put.
    await page.goto(pageUrl(blog, "/blog"));
    await waitForEvents(blog.stream, "the blog's view", (events) => events.length >= 1);
    await page.waitForTimeout(1_500);
    expect((await storedEvents(blog.stream)).map((event) => event.title)).toEqual(["Blog"]);
    for (const seen of blog.seen) for (const id of shopIds) expect(seen.body).not.toContain(id);
    expect(JSON.parse((await page.evaluate('localStorage.getItem("clickpipe_outbox")')) as string)).toHaveLength(2);
    // The shop's next page load sends them to the shop's collector.
    await page.goto(pageUrl(shop, "/shop"));
    const events = await waitForEvents(shop.stream, "the kept events and the new view", (stored) => stored.length >= 4);
    expect(events.filter((event) => shopIds.includes(event.event_id as string)).map((event) => event.type)).toEqual(["page_view", "add_to_cart"]);
  });

  it("keeps in the outbox at once the batches posted on hide past the beacon quota, in case the page never runs again", async () => {
    const setup = await startCollector();
    pages.set("/big", { title: "Big", attributes: 'data-auto-pageviews="false"' });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/big"));
    await page.waitForFunction("clickpipe.loaded === true");
    // As in the beacon quota test: two beacons taken, the third batch posted by fetch. A mobile page may be discarded
    // right after visibilitychange (no pagehide follows), so what the fetch carries must be in the outbox by then.
    const kept = (await page.evaluate(`
      for (let i = 0; i < 3; i++) clickpipe("track", "click", { element: "big-" + i, blob: "x".repeat(31000) });
      Object.defineProperty(document, "visibilityState", { get: () => "hidden", configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
      JSON.parse(localStorage.getItem("clickpipe_outbox") || "[]").map((entry) => JSON.parse(entry[2]).element)
    `)) as string[];
    expect(kept).toEqual(["big-2"]);
    // The page lived on: delivered, and out of the outbox.
    await waitForEvents(setup.stream, "the three big clicks", (stored) => stored.length >= 3);
    await waitForValue("an empty outbox", () => page.evaluate('localStorage.getItem("clickpipe_outbox")'), (outbox) => outbox === null, 5_000);
  });

  it("drops an outbox entry that is no event (a tampered one) instead of losing the request it would lead", async () => {
    const setup = await startCollector();
    pages.set("/tampered", {
      title: "Tampered",
      attributes: 'data-auto-pageviews="false"',
      before: seedOutbox(`[[0, now - 3000, "not json"], [0, now - 2000, "[1]"], [0, now - 1000, line(1, now - 1000, {})]]`),
    });
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/tampered"));
    const events = await waitForEvents(setup.stream, "the kept click", (stored) => stored.length >= 1);
    expect(events.map((event) => event.element)).toEqual(["e1"]);
    await waitForValue("an empty outbox", () => page.evaluate('localStorage.getItem("clickpipe_outbox")'), (outbox) => outbox === null, 5_000);
  });

  it('sends one click per outbound link, download and tagged element with data-auto-clicks, none for an internal link, and delivers a click that leaves the page', async () => {
    const setup = await startCollector();
    pages.set("/clicks", { title: "Clicks", attributes: 'data-auto-clicks="outbound downloads tagged"', body: clickBody() });
    const context = await newContext();
    const page = await context.newPage();
    const start = pageUrl(setup, "/clicks");
    await page.goto(start);
    await page.waitForFunction("clickpipe.loaded === true");
    // Inside the links and the button; the download stays on the page; nothing for the internal link, the mailto link
    // or plain text.
    await page.click("#report-icon");
    await page.click("#buy-label");
    await page.click("#internal");
    await page.click("#mail");
    await page.click("#plain");
    // A right click (an auxclick too) opens a menu, not the link: no event. A middle click (auxclick) and a ctrl-click
    // open new tabs: one click event each.
    await page.click("#partner-label", { button: "right" });
    await page.click("#partner-label", { button: "middle" });
    await page.click("#partner-label", { modifiers: ["Control"] });
    await waitForEvents(setup.stream, "four clicks", (events) => clickFields(events).length >= 4);
    expect(page.url()).toBe(start);
    // The same link in this tab: the page is gone at once, and its click goes by sendBeacon on pagehide.
    await page.click("#partner-label");
    await waitForEvents(setup.stream, "the click that left the page", (events) => clickFields(events).length >= 5);
    expect(page.url()).not.toBe(start);
    await page.waitForTimeout(1_500); // a second event for a click, or one for the internal link, would be sent by now

    const events = await storedEvents(setup.stream);
    const partner = `${pageOrigin.replace("127.0.0.1", "localhost")}/partner?token=(redacted)&ref=shop`;
    // The targets without their fragment, and with the collector's query redaction, as a page's url.
    const outbound = { url: start, click_kind: "outbound", element: "a", target_url: partner };
    expect(clickFields(events)).toEqual([
      { url: start, click_kind: "download", element: "a", target_url: `${pageOrigin}/files/Report.PDF?token=(redacted)&v=2` },
      { url: start, click_kind: "tagged", click_name: "buy-now", element: "button" },
      outbound,
      outbound,
      outbound,
    ]);
    expect(events.filter((event) => event.type !== "click").map((event) => [event.type, event.title])).toEqual([["page_view", "Clicks"]]);
    const anonId = events[0].anon_id;
    for (const event of events) {
      expect(event.anon_id).toBe(anonId);
      expect(event.site_id).toBe("shop");
      expect(event.event_id).toMatch(UUID_V4);
    }
    // Only the collector's redacted copy is stored; the browser sent the target's query, never its fragment.
    const bodies = setup.seen.filter((seen) => seen.method === "POST").map((seen) => seen.body);
    expect(bodies.join("\n")).not.toMatch(/#offer|#page=3|mailto|about/);
    const lastPost = setup.seen.filter((seen) => seen.method === "POST").at(-1)!;
    expect(lastPost.body.split("\n").map((line) => (JSON.parse(line) as Event).click_kind)).toEqual(["outbound"]);
    expect(lastPost.headers["sec-fetch-mode"]).toBe("no-cors");
  });

  it("counts a tagged label's click once, no middle click off a link, SVG and shadow-DOM links, and sends no link's user name or password", async () => {
    const setup = await startCollector();
    const other = pageOrigin.replace("127.0.0.1", "localhost");
    pages.set("/click-cases", {
      title: "Click cases",
      attributes: 'data-auto-clicks="outbound downloads tagged"',
      body: `
  <label data-clickpipe-click="plan-pro"><input id="plan-box" type="checkbox"><span id="plan-text">Pro plan</span></label>
  <button id="buy" data-clickpipe-click="buy-now"><b id="buy-label">Buy</b></button>
  <a id="credentials" href="${other.replace("://", "://visitor:s3cret@")}/partner?ref=shop">partner</a>
  <svg width="40" height="40"><a xlink:href="${other}/svg"><rect id="svg-rect" width="40" height="40"/></a></svg>
  <div id="widget"></div>
  <script>document.getElementById("widget").attachShadow({ mode: "open" }).innerHTML = '<a id="shadow" href="${other}/shadow">shadow</a>';</script>`,
    });
    const page = await (await newContext()).newPage();
    const start = pageUrl(setup, "/click-cases");
    await page.goto(start);
    await page.waitForFunction("clickpipe.loaded === true");
    // The label's text: the browser clicks its checkbox too, in the same task, and both clicks reach the document.
    await page.click("#plan-text");
    expect(await page.isChecked("#plan-box")).toBe(true);
    // A middle click on a button does not press it: no click event.
    await page.click("#buy-label", { button: "middle" });
    await page.click("#credentials", { modifiers: ["Control"] });
    await page.click("#svg-rect", { modifiers: ["Control"] });
    await page.click("#shadow", { modifiers: ["Control"] });
    await waitForEvents(setup.stream, "four clicks", (events) => clickFields(events).length >= 4);
    await page.waitForTimeout(1_500); // a second event for the label, or one for the middle click, would be sent by now

    const events = await storedEvents(setup.stream);
    expect(clickFields(events)).toEqual([
      { url: start, click_kind: "tagged", click_name: "plan-pro", element: "label" },
      { url: start, click_kind: "outbound", element: "a", target_url: `${other}/partner?ref=shop` },
      { url: start, click_kind: "outbound", element: "a", target_url: `${other}/svg` },
      { url: start, click_kind: "outbound", element: "a", target_url: `${other}/shadow` },
    ]);
    const bodies = setup.seen.filter((seen) => seen.method === "POST").map((seen) => seen.body);
    expect(bodies.join("\n")).not.toMatch(/visitor|s3cret/);
  });

  it("sends no click without data-auto-clicks, only the listed kinds with it, and none under Global Privacy Control", async () => {
    const setup = await startCollector();
    pages.set("/default", { title: "Default", body: clickBody() });
    pages.set("/tagged-only", { title: "Tagged only", attributes: 'data-auto-clicks="tagged"', body: clickBody() });
    pages.set("/private", { title: "Private", attributes: 'data-auto-clicks="outbound downloads tagged"', body: clickBody() });
    const clickAll = async (page: Page) => {
      await page.click("#report-icon");
      await page.click("#buy-label");
      await page.click("#internal");
      await page.click("#partner-label", { button: "middle" });
      await page.click("#partner-label", { modifiers: ["Control"] });
    };
    const page = await (await newContext()).newPage();
    await page.goto(pageUrl(setup, "/default"));
    await page.waitForFunction("clickpipe.loaded === true");
    await clickAll(page);
    await page.goto(pageUrl(setup, "/tagged-only"));
    await page.waitForFunction("clickpipe.loaded === true");
    await clickAll(page);
    const gpcPage = await (await newContext({ gpc: true })).newPage();
    await gpcPage.goto(pageUrl(setup, "/private"));
    await gpcPage.waitForFunction("clickpipe.loaded === true");
    await clickAll(gpcPage);
    await gpcPage.click("#partner-label");

    await waitForEvents(setup.stream, "the tagged click", (events) => clickFields(events).length >= 1);
    await page.waitForTimeout(1_500); // any other click would be sent by now
    const events = await storedEvents(setup.stream);
    expect(clickFields(events)).toEqual([{ url: pageUrl(setup, "/tagged-only"), click_kind: "tagged", click_name: "buy-now", element: "button" }]);
    expect(events.filter((event) => event.type === "page_view").map((event) => event.title)).toEqual(["Default", "Tagged only"]);
  });
});
