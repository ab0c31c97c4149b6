// The collector's pure parts: body sniffing, write keys, client address behind proxies, token buckets, pixel queries.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WriteKeys, writeKeyFromHeaders } from "../../src/ingest/http-auth.ts";
import { parseBody } from "../../src/ingest/http-body.ts";
import { clientBlock, TrustedProxies, TrustedProxyError } from "../../src/ingest/http-client-ip.ts";
import { queryIsUtf8, recordFromQuery, TRANSPARENT_GIF } from "../../src/ingest/http-pixel.ts";
import { RateLimiter } from "../../src/ingest/http-rate-limit.ts";
import { ConnectionsPerClient } from "../../src/ingest/http-connection-limit.ts";
import { AllowedOriginError, CorsPolicy, normalizeAllowedOrigin, type AllowedOriginEntry } from "../../src/ingest/http-cors.ts";
import type { OutgoingHttpHeaders } from "node:http";

describe("http body - sniffing", () => {
  it("reads a body starting with [ as an array of records without raw text", () => {
    const parsed = parseBody(' \n[{"a":1}, 2]', 10);
    expect(parsed).toEqual({ ok: true, shape: "array", records: [{ value: { a: 1 }, raw: undefined }, { value: 2, raw: undefined }] });
  });

  it("reads one JSON value as a single record whose raw text is the body", () => {
    expect(parseBody('{"a":1}\n', 10)).toEqual({ ok: true, shape: "single", records: [{ value: { a: 1 }, raw: '{"a":1}\n' }] });
  });

  it("reads NDJSON lines, skipping blank ones and stripping \\r, keeping lines that are not JSON as parse errors", () => {
    const parsed = parseBody('{"a":1}\r\n\n  \n{oops\n{"b":2}', 10);
    expect(parsed.ok && parsed.shape === "ndjson").toBe(true);
    if (!parsed.ok || parsed.shape !== "ndjson") return;
    expect(parsed.records.map((record) => [record.value, record.raw, record.parseError !== undefined])).toEqual([
      [{ a: 1 }, '{"a":1}', false],
      [undefined, "{oops", true],
      [{ b: 2 }, '{"b":2}', false],
    ]);
  });

  it("calls empty bodies, broken arrays and bodies without any JSON line unparseable", () => {
    for (const body of ["", "  \n ", '[{"a":1}', '{"a":1}]', "hello\nworld"]) {
      expect(parseBody(body, 10).ok, body).toBe(false);
    }
  });

  it("only counts the lines of an NDJSON body over the record limit, keeping its first JSON record (the write key's)", () => {
    expect(parseBody('{"writeKey":"k"}\n{}\n{}\n{}', 3)).toEqual({ ok: true, shape: "too_many", count: 4, first: { value: { writeKey: "k" }, raw: '{"writeKey":"k"}' } });
    expect(parseBody("{}\n{}\n{}", 3).ok && (parseBody("{}\n{}\n{}", 3) as { shape: string }).shape).toBe("ndjson");
  });
});

describe("http auth - write keys", () => {
  const keys = new WriteKeys(["alpha-key", "beta"]);

  it("accepts exactly the configured keys, whatever their lengths", () => {
    expect([keys.accepts("alpha-key"), keys.accepts("beta")]).toEqual([true, true]);
    expect([keys.accepts("alpha"), keys.accepts("alpha-key "), keys.accepts(""), keys.accepts(undefined)]).toEqual([false, false, false, false]);
  });

  it("takes the key from X-Write-Key, else from the Basic user name (password ignored, scheme case-insensitive)", () => {
    const basic = (text: string, scheme = "Basic") => `${scheme} ${Buffer.from(text).toString("base64")}`;
    expect(writeKeyFromHeaders({ "x-write-key": "k1", authorization: basic("k2:") })).toBe("k1");
    expect(writeKeyFromHeaders({ authorization: basic("k2:") })).toBe("k2");
    expect(writeKeyFromHeaders({ authorization: basic("k3:secret", "basic") })).toBe("k3");
    expect(writeKeyFromHeaders({ authorization: basic("k4") })).toBe("k4");
    expect(writeKeyFromHeaders({ authorization: basic(":only-password") })).toBeUndefined();
    expect(writeKeyFromHeaders({ authorization: "Bearer abc" })).toBeUndefined();
    expect(writeKeyFromHeaders({})).toBeUndefined();
  });
});

describe("http client address - trusted proxies", () => {
  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", () => {
    const proxies = new TrustedProxies(["10.0.0.0/8"]);
    expect(proxies.clientAddress("192.0.2.1", "198.51.100.7")).toBe("192.0.2.1");
    expect(new TrustedProxies([]).clientAddress("::ffff:192.0.2.1", "198.51.100.7")).toBe("192.0.2.1");
  });

  it("walks X-Forwarded-For from the right past trusted hops to the first untrusted address", () => {
    const proxies = new TrustedProxies(["10.0.0.0/8", "2001:db8::/32"]);
    // The client claimed 1.1.1.1; 198.51.100.7 connected to our first proxy 10.1.1.1, which connected to 10.2.2.2.
    expect(proxies.clientAddress("10.2.2.2", "1.1.1.1, 198.51.100.7, 10.1.1.1")).toBe("198.51.100.7");
    expect(proxies.clientAddress("::ffff:10.2.2.2", "203.0.113.9:5555")).toBe("203.0.113.9");
    expect(proxies.clientAddress("2001:db8::1", "[2001:db9::5]:443")).toBe("2001:db9::5");
    expect(proxies.clientAddress("10.2.2.2", "10.3.3.3")).toBe("10.3.3.3");
    expect(proxies.clientAddress("10.2.2.2", "not-an-ip, 10.3.3.3")).toBe("10.3.3.3");
  });

  it("matches single addresses and CIDR edges exactly", () => {
    const proxies = new TrustedProxies(["192.168.4.0/22", "127.0.0.1"]);
    expect(["192.168.4.0", "192.168.7.255", "192.168.8.0", "192.168.3.255", "127.0.0.1", "127.0.0.2"].map((ip) => proxies.isTrusted(ip))).toEqual([
      true, true, false, false, true, false,
    ]);
  });

  it("keeps per-client budgets by IPv4 address and by IPv6 /64, however the IPv6 address is written", () => {
    expect(["192.0.2.1", "::ffff:192.0.2.1"].map(clientBlock)).toEqual(["192.0.2.1", "192.0.2.1"]);
    const block = "2001:db8:0:2";
    const sameBlock = ["2001:db8:0:2::1", "2001:0DB8:0000:0002:ffff:ffff:ffff:ffff", "2001:db8::2:1:2:3:4", "2001:db8:0:2::10.1.2.3", "2001:db8:0:2::1%eth0"];
    expect(sameBlock.map(clientBlock)).toEqual(sameBlock.map(() => block));
    expect(["::1", "::", "1::", "2001:db8:0:3::1", "1:2:3:4:5:6:7:8", "a:0:0:b::"].map(clientBlock)).toEqual(["0:0:0:0", "0:0:0:0", "1:0:0:0", "2001:db8:0:3", "1:2:3:4", "a:0:0:b"]);
    expect(["not-an-ip", ""].map(clientBlock)).toEqual(["not-an-ip", ""]);
  });

  it("refuses an entry that is not an address or CIDR", () => {
    expect(() => new TrustedProxies(["10.0.0.0/33"])).toThrow(TrustedProxyError);
    expect(() => new TrustedProxies(["proxy.internal"])).toThrow(/not an IP address or CIDR/);
  });
});

describe("http rate limit - token buckets", () => {
  it("allows the burst at once, then one request per 1/rate seconds, per client", () => {
    const limiter = new RateLimiter({ requestsPerSecond: 2, burst: 3 });
    expect([0, 0, 0].map(() => limiter.take("a", 1_000))).toEqual([0, 0, 0]);
    expect(limiter.take("a", 1_000)).toBe(1);
    expect(limiter.take("b", 1_000)).toBe(0);
    expect(limiter.take("a", 1_499)).toBe(1); // 0.998 tokens
    expect(limiter.take("a", 1_500)).toBe(0); // 1 token after 500 ms at 2/s
    expect(limiter.take("a", 1_500)).toBe(1);
  });

  it("says how many whole seconds until the next token (Retry-After), never 0", () => {
    const limiter = new RateLimiter({ requestsPerSecond: 0.25, burst: 1 });
    expect(limiter.take("a", 0)).toBe(0);
    expect(limiter.take("a", 0)).toBe(4);
    expect(limiter.take("a", 2_000)).toBe(2);
  });

  it("forgets refilled buckets when it holds too many, keeping the ones still limiting", () => {
    const limiter = new RateLimiter({ requestsPerSecond: 1, burst: 1 }, 2);
    limiter.take("old", 0);
    limiter.take("busy", 9_900);
    limiter.take("new", 10_000); // evicts "old" (refilled), keeps "busy" (0.1 tokens)
    expect(limiter.take("busy", 10_000)).toBe(1);
  });

  it("frees at least a quarter of its buckets when it evicts, so that evictions (a pass over all) stay rare", () => {
    // 8 buckets at most, one token per 10 s: at 10 s only the first client's bucket has refilled.
    const limiter = new RateLimiter({ requestsPerSecond: 0.1, burst: 20 }, 8);
    limiter.take("refilled", 0);
    const busy = ["b1", "b2", "b3", "b4", "b5", "b6", "b7"];
    for (const client of busy) limiter.take(client, 9_000);
    limiter.take("n1", 10_000); // evicts "refilled", then the oldest busy ones down to half (4), then adds n1
    expect([...busy, "n1"].map((client) => limiter.knows(client))).toEqual([false, false, false, true, true, true, true, true]);
    // The next eviction is 3 new clients away, not 1: each new client used to pass over every bucket again.
    for (const client of ["n2", "n3", "n4"]) limiter.take(client, 10_001);
    expect(["b4", "n1", "n4"].map((client) => limiter.knows(client))).toEqual([true, true, true]);
  });

  it("tells without taking whether a client has a token (waitFor) and whether it took one lately (knows)", () => {
    const limiter = new RateLimiter({ requestsPerSecond: 0.5, burst: 2 });
    expect([limiter.waitFor("a", 0), limiter.knows("a")]).toEqual([0, false]);
    expect([limiter.take("a", 0), limiter.take("a", 0), limiter.knows("a")]).toEqual([0, 0, true]);
    expect([limiter.waitFor("a", 0), limiter.waitFor("a", 0)]).toEqual([2, 2]); // waiting takes nothing
    expect(limiter.waitFor("a", 1_000)).toBe(1); // 0.5 tokens after 1 s at 0.5/s
    expect(limiter.waitFor("a", 2_000)).toBe(0);
    expect(limiter.take("a", 2_000)).toBe(0);
    expect(limiter.take("a", 2_000)).toBe(2);
  });
});

describe("http rate limit - buckets found by group", () => {
  it("counts a group's buckets and says when its first one has a token, forgetting evicted buckets", () => {
    // Buckets of 2 tokens, one back every 2 s; at most 4 buckets.
    const limiter = new RateLimiter({ requestsPerSecond: 0.5, burst: 2 }, 4);
    expect([limiter.bucketsIn("ip1"), limiter.waitForAnyIn("ip1", 0)]).toEqual([0, Infinity]);
    for (const client of ["k1\u0000ip1", "k1\u0000ip1", "k2\u0000ip1", "k2\u0000ip1"]) limiter.take(client, 0, "ip1");
    expect([limiter.bucketsIn("ip1"), limiter.waitForAnyIn("ip1", 0)]).toEqual([2, 2]);
    limiter.take("k2\u0000ip1", 1_000, "ip1"); // refused: k2 has 0.5 tokens at 1 s, k1 too
    expect(limiter.waitForAnyIn("ip1", 1_000)).toBe(1);
    expect(limiter.waitForAnyIn("ip1", 2_000)).toBe(0);
    // A bucket without a group, or in another, is not ip1's.
    limiter.take("k1\u0000ip2", 2_000, "ip2");
    limiter.take("k1\u0000ip2", 2_000, "ip2");
    limiter.take("solo", 2_000);
    expect([limiter.bucketsIn("ip1"), limiter.bucketsIn("ip2"), limiter.bucketsIn("solo")]).toEqual([2, 1, 0]);
    // At 5 s ip1's buckets and "solo" have refilled, ip2's has 1.5 tokens: a fifth bucket evicts the full ones, and
    // ip1 is known no more.
    limiter.take("k3\u0000ip3", 5_000, "ip3");
    expect([limiter.knows("k1\u0000ip1"), limiter.bucketsIn("ip1"), limiter.waitForAnyIn("ip1", 5_000)]).toEqual([false, 0, Infinity]);
    expect([limiter.bucketsIn("ip2"), limiter.bucketsIn("ip3")]).toEqual([1, 1]);
  });

  it("agrees with asking every key's bucket, through takes, refills and evictions", () => {
    // The oracle is the collector's former loop: knows and waitFor for each key of a client.
    const keys = ["k1", "k2", "k3"];
    const clients = ["ip1", "ip2", "ip3", "ip4"];
    const step = fc.record({ key: fc.constantFrom(...keys), client: fc.constantFrom(...clients), advanceMs: fc.integer({ min: 0, max: 3_000 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.integer({ min: 2, max: 8 }), (steps, maxBuckets) => {
        const limiter = new RateLimiter({ requestsPerSecond: 0.5, burst: 2 }, maxBuckets);
        let now = 0;
        for (const { key, client, advanceMs } of steps) {
          now += advanceMs;
          limiter.take(`${key}\u0000${client}`, now, client);
          for (const ip of clients) {
            const indexed = [limiter.bucketsIn(ip), limiter.waitForAnyIn(ip, now)];
            const known = keys.filter((each) => limiter.knows(`${each}\u0000${ip}`));
            const waits = known.map((each) => limiter.waitFor(`${each}\u0000${ip}`, now));
            expect(indexed).toEqual([known.length, waits.includes(0) ? 0 : Math.min(Infinity, ...waits)]);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("http pixel - query records", () => {
  it("turns known numeric and boolean fields into numbers and booleans and leaves the rest as text", () => {
    const record = recordFromQuery("type=purchase&ts=1700000000000&anon_id=42&revenue=12.50&price=abc&is_bot=false&note=7&qty=");
    expect(record).toEqual({ type: "purchase", ts: "1700000000000", anon_id: "42", revenue: 12.5, price: "abc", is_bot: false, note: "7", qty: "" });
  });

  it("reads items given as a JSON array, converting numeric text in item prices", () => {
    const items = encodeURIComponent(JSON.stringify([{ sku: "s1", price: "9.99", qty: 2 }]));
    expect(recordFromQuery(`items=${items}`)).toEqual({ items: [{ sku: "s1", price: 9.99, qty: 2 }] });
  });

  it("answers with a 43-byte 1×1 GIF89a", () => {
    expect(TRANSPARENT_GIF.length).toBe(43);
    expect(TRANSPARENT_GIF.subarray(0, 6).toString("latin1")).toBe("GIF89a");
    expect([TRANSPARENT_GIF.readUInt16LE(6), TRANSPARENT_GIF.readUInt16LE(8)]).toEqual([1, 1]);
    expect(TRANSPARENT_GIF.at(-1)).toBe(0x3b); // the GIF trailer
  });
});

describe("http pixel - query encoding", () => {
  it("tells percent-escapes that decode to UTF-8 from those that do not", () => {
    expect(queryIsUtf8("type=page_view&url=%2Fa%20b+c")).toBe(true);
    expect(queryIsUtf8("anon_id=caf%C3%A9&x=%e2%82%ac")).toBe(true);
    expect(queryIsUtf8("bare=100%&odd=%zz&end=%")).toBe(true);
    expect(queryIsUtf8("anon_id=%ff%fe")).toBe(false);
    expect(queryIsUtf8("cut=%C3")).toBe(false);
    expect(queryIsUtf8("overlong=%C0%AF")).toBe(false);
  });
});

const HTTP_CORS = fileURLToPath(new URL("../../src/ingest/http-cors.ts", import.meta.url));

/**
 * Bytes allocated, on average, by one request's CORS checks (permits, then addResponseHeaders into the same headers)
 * from `origin` under `allowedOrigins`: heap growth over 100,000 of them in a child whose young generation (64 MB)
 * holds them all without a collection.
 */
function bytesPerCorsCheck(allowedOrigins: AllowedOriginEntry[], origin: string): number {
  const script = `
    const { CorsPolicy } = await import(${JSON.stringify(HTTP_CORS)});
    const policy = new CorsPolicy(${JSON.stringify(allowedOrigins)});
    const origin = ${JSON.stringify(origin)};
    const headers = {};
    const check = () => policy.permits(origin) && (policy.addResponseHeaders(headers, origin), true);
    for (let i = 0; i < 100_000; i++) check(); // optimized before measuring
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    let allowed = 0;
    for (let i = 0; i < 100_000; i++) if (check()) allowed++;
    const grown = process.memoryUsage().heapUsed - before;
    console.log(JSON.stringify({ allowed, bytes: grown / 100_000 }));`;
  const flags = ["--import", "tsx", "--expose-gc", "--min-semi-space-size=64", "--max-semi-space-size=64", "--input-type=module", "-e", script];
  const child = spawnSync(process.execPath, flags, { encoding: "utf8", timeout: 60_000 });
  expect(child.status, child.stderr).toBe(0);
  const result = JSON.parse(child.stdout.trim().split("\n").pop()!) as { allowed: number; bytes: number };
  expect(result.allowed).toBe(100_000);
  return result.bytes;
}

describe("CORS policy - origins", () => {
  it("allocates nothing per request for an origin allowed by \"*\", listed exactly or under a wildcard", () => {
    // An Origin header as browsers send it (lower case) was lower-cased again on every check: a new string each time.
    expect(bytesPerCorsCheck(["*"], "https://any.example")).toBeLessThan(4);
    expect(bytesPerCorsCheck(["https://shop.example", "*"], "https://other.example")).toBeLessThan(4);
    expect(bytesPerCorsCheck(["https://shop.example"], "https://shop.example")).toBeLessThan(4);
    expect(bytesPerCorsCheck(["https://*.shop.example"], "https://eu.shop.example")).toBeLessThan(4);
    expect(bytesPerCorsCheck([{ origin: "https://*.myshopify.com", publicSuffixTenants: true }], "https://tenant.myshopify.com")).toBeLessThan(4);
  });

  const headersFor = (policy: CorsPolicy, origin: string | undefined) => {
    const headers: OutgoingHttpHeaders = {};
    policy.addResponseHeaders(headers, origin);
    return headers;
  };

  it("matches a wildcard only on whole labels under its host, same scheme and port, echoing the origin with credentials", () => {
    const policy = new CorsPolicy(["https://*.shop.example"]);
    const allowed = ["https://eu.shop.example", "https://a-b.c_d.shop.example", "HTTPS://EU.Shop.Example"];
    const refused = [
      "https://shop.example",
      "https://.shop.example",
      "https://a..shop.example",
      "https://evilshop.example",
      "https://shop.example.evil.example",
      "https://eu.shop.example.evil.example",
      "https://evil.example/.shop.example",
      "https://evil.example?.shop.example",
      "https://evil.example#.shop.example",
      "https://user@eu.shop.example",
      "https://evil.example:1.shop.example",
      "http://eu.shop.example",
      "https://eu.shop.example:443",
      "null",
    ];
    expect(allowed.map((origin) => policy.permits(origin))).toEqual([true, true, true]);
    expect(refused.filter((origin) => policy.permits(origin))).toEqual([]);
    expect(headersFor(policy, "https://eu.shop.example")).toEqual({
      "access-control-allow-origin": "https://eu.shop.example",
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": "Retry-After",
      vary: "Origin",
    });
    // A refused origin, or none, gets no CORS headers but Vary: the answer depends on Origin once any is configured.
    expect(headersFor(policy, "https://evilshop.example")).toEqual({ vary: "Origin" });
    expect(headersFor(policy, undefined)).toEqual({ vary: "Origin" });
    // Nothing listed refuses nothing, and answers every origin as "*" does (no credentials), so a page reads its answers.
    const unlisted = new CorsPolicy([]);
    expect(["https://evilshop.example", "null", "capacitor://localhost"].map((origin) => unlisted.permits(origin))).toEqual([true, true, true]);
    expect(headersFor(unlisted, "https://evilshop.example")).toEqual({
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "Retry-After",
      vary: "Origin",
    });
    expect(headersFor(unlisted, undefined)).toEqual({});
  });

  it("matches under a wildcard only hosts DNS can name: labels of at most 63 characters, a host of at most 253", () => {
    // No page is served from a longer host, and each Origin matched is remembered: 10,000 of up to 16 KiB held 150 MB.
    const labels = (last: number) => `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(last)}`;
    const entries: [AllowedOriginEntry, string][] = [
      ["https://*.shops.example", ".shops.example"],
      ["https://*.shops.example.", ".shops.example."],
      [{ origin: "https://*.myshopify.com", publicSuffixTenants: true }, ".myshopify.com"],
    ];
    for (const [entry, suffix] of entries) {
      const policy = new CorsPolicy([entry]);
      // 63 + 1 + 63 + 1 + 63 + 1 + 47 = 239 characters, + ".shops.example" (14) = 253, a trailing dot not counted.
      expect(policy.permits(`https://${labels(47)}${suffix}`), suffix).toBe(true);
      expect(policy.permits(`https://${labels(48)}${suffix}`), suffix).toBe(false);
      expect(policy.permits(`https://${"x".repeat(63)}${suffix}`), suffix).toBe(true);
      expect(policy.permits(`https://${"x".repeat(64)}${suffix}`), suffix).toBe(false);
      expect(policy.permits(`https://${`${"x".repeat(60)}.`.repeat(260).slice(0, -1)}${suffix}`), suffix).toBe(false);
    }
  });

  it("refuses a wildcard over one label however it is written: a trailing dot or an empty label adds none", () => {
    // A page opened as https://evil.com./ sends the origin "https://evil.com.": "https://*.com." would list, with
    // credentials, every .com site so opened.
    for (const entry of ["https://*.com.", "https://*..com", "https://*.com..", "https://*.a.:443"]) {
      expect(() => new CorsPolicy([entry]), entry).toThrow(/puts a wildcard over/);
    }
    const dotted = new CorsPolicy(["https://*.shop.example."]);
    expect(["https://eu.shop.example.", "https://evil.com.", "https://eu.shop.example"].map((origin) => dotted.permits(origin))).toEqual([true, false, false]);
  });

  it("reads config origins as browsers serialize them and refuses to build a policy from one that is no origin", () => {
    expect(["HTTPS://Shop.Example:443/", "http://Shop.Example:80", "https://Shop.Example:8443//", "https://*.Shop.Example"].map(normalizeAllowedOrigin)).toEqual([
      "https://shop.example",
      "http://shop.example",
      "https://shop.example:8443",
      "https://*.shop.example",
    ]);
    const policy = new CorsPolicy(["HTTPS://Shop.Example:443/"]);
    expect([policy.permits("https://shop.example"), policy.permits("https://shop.example:8443")]).toEqual([true, false]);
    expect(() => new CorsPolicy(["https://shop.example/cart"])).toThrow(AllowedOriginError);
    expect(() => new CorsPolicy(["https://*.com"])).toThrow(/wildcard over com/);
  });

  it("answers a preflight without Expose-Headers (actual answers carry it) and \"*\" without credentials", () => {
    const policy = new CorsPolicy(["*", "https://shop.example"]);
    expect(policy.preflightHeaders("https://other.example")).toEqual({
      vary: "Origin",
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "POST, GET, OPTIONS",
      "access-control-allow-headers": "Content-Type, Content-Encoding, Authorization, X-Write-Key",
      "access-control-max-age": "86400",
    });
    expect(headersFor(policy, "https://other.example")).toEqual({ "access-control-allow-origin": "*", "access-control-expose-headers": "Retry-After", vary: "Origin" });
  });
});

describe("CORS policy - app origins and the opaque origin", () => {
  const headersFor = (policy: CorsPolicy, origin: string | undefined) => {
    const headers: OutgoingHttpHeaders = {};
    policy.addResponseHeaders(headers, origin);
    return headers;
  };

  it("lists an app's origin exactly, its port as written, and echoes it with credentials as a web origin", () => {
    const policy = new CorsPolicy(["Capacitor://LocalHost/", "ionic://localhost", "app://localhost:80"]);
    const allowed = ["capacitor://localhost", "ionic://localhost", "app://localhost:80", "CAPACITOR://localhost"];
    const refused = ["capacitor://localhost:80", "app://localhost", "capacitor://evil", "https://localhost", "null", "ionic://localhost."];
    expect(allowed.map((origin) => policy.permits(origin))).toEqual([true, true, true, true]);
    expect(refused.filter((origin) => policy.permits(origin))).toEqual([]);
    expect(headersFor(policy, "capacitor://localhost")).toEqual({
      "access-control-allow-origin": "capacitor://localhost",
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": "Retry-After",
      vary: "Origin",
    });
    expect(["Capacitor://LocalHost/", "app://LOCALHOST:0080", "app://bücher.example:8443", "chrome-extension://abcdefghijklmnop"].map(normalizeAllowedOrigin)).toEqual([
      "capacitor://localhost",
      "app://localhost:80",
      "app://xn--bcher-kva.example:8443",
      "chrome-extension://abcdefghijklmnop",
    ]);
  });

  it('allows "null" only when it is listed, and then as "*" does: no echo, no credentials', () => {
    const listed = new CorsPolicy(["https://shop.example", "null"]);
    expect([listed.permits("null"), listed.permits("https://shop.example"), listed.permits("https://evil.example")]).toEqual([true, true, false]);
    expect(headersFor(listed, "null")).toEqual({ "access-control-allow-origin": "*", "access-control-expose-headers": "Retry-After", vary: "Origin" });
    expect(listed.preflightHeaders("null")).toEqual({
      vary: "Origin",
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "POST, GET, OPTIONS",
      "access-control-allow-headers": "Content-Type, Content-Encoding, Authorization, X-Write-Key",
      "access-control-max-age": "86400",
    });
    const unlisted = new CorsPolicy(["https://shop.example"]);
    expect([unlisted.permits("null"), headersFor(unlisted, "null"), unlisted.preflightHeaders("null")]).toEqual([false, { vary: "Origin" }, { vary: "Origin" }]);
    // Alone, "null" still restricts the other origins, and "*" allows it as before.
    expect([new CorsPolicy(["null"]).permits("https://shop.example"), new CorsPolicy(["*"]).permits("null")]).toEqual([false, true]);
    expect(normalizeAllowedOrigin(" null ")).toBe("null");
  });

  it("refuses a wildcard over a public suffix of either section of the list, and a wildcard on an app scheme", () => {
    for (const entry of ["https://*.co.uk", "https://*.github.io", "https://*.GitHub.IO.", "https://*.s3.amazonaws.com", "https://*.公司.cn", "https://*.x.kawasaki.jp"]) {
      expect(() => new CorsPolicy([entry]), entry).toThrow(/a public suffix \(Public Suffix List\): its subdomains are other people's sites/);
    }
    expect(() => new CorsPolicy(["app://*.shop.example"])).toThrow(/only http and https origins may have/);
    // Domains registered under a public suffix are one owner's: their subdomains may be listed.
    const owned = new CorsPolicy(["https://*.shop.github.io", "https://*.shop.co.uk", "https://*.city.kawasaki.jp"]);
    const origins = ["https://eu.shop.github.io", "https://eu.shop.co.uk", "https://www.city.kawasaki.jp", "https://evil.github.io", "https://evil.co.uk"];
    expect(origins.map((origin) => owned.permits(origin))).toEqual([true, true, true, false, false]);
  });

  it("matches under a wildcard no host beneath a public suffix under its domain: that host is another site", () => {
    // Neither amazonaws.com nor core.windows.net is a public suffix; s3.amazonaws.com, eu-west-1.elb.amazonaws.com
    // (a wildcard rule, *.elb.amazonaws.com) and blob.core.windows.net are (private section).
    const policy = new CorsPolicy(["https://*.amazonaws.com", "https://*.core.windows.net:8443"]);
    const allowed = ["https://console.amazonaws.com", "https://a.b.amazonaws.com", "https://x.core.windows.net:8443", "HTTPS://Console.AmazonAWS.com"];
    const refused = [
      "https://mybucket.s3.amazonaws.com",
      "https://s3.amazonaws.com", // a public suffix is a site of its own
      "https://MyBucket.S3.AmazonAWS.com",
      "https://a.b.s3.amazonaws.com",
      "https://lb.eu-west-1.elb.amazonaws.com",
      "https://evil.blob.core.windows.net:8443",
    ];
    expect(allowed.map((origin) => policy.permits(origin))).toEqual(allowed.map(() => true));
    expect(refused.filter((origin) => policy.permits(origin))).toEqual([]);
    // Asked again (a cached answer), the same.
    expect([policy.permits("https://mybucket.s3.amazonaws.com"), policy.permits("https://console.amazonaws.com")]).toEqual([false, true]);
    expect(headersFor(policy, "https://mybucket.s3.amazonaws.com")).toEqual({ vary: "Origin" });
    // A wildcard over a domain beneath that suffix is its owner's own: it lists the hosts under it, though the wider
    // wildcard, asked first, refuses them (its answer was remembered per origin and given for both).
    const nested = new CorsPolicy(["https://*.amazonaws.com", "https://*.mybucket.s3.amazonaws.com"]);
    expect(["https://a.mybucket.s3.amazonaws.com", "https://a.mybucket.s3.amazonaws.com", "https://other.s3.amazonaws.com"].map((origin) => nested.permits(origin))).toEqual([true, true, false]);
    // Where "*" is listed too, such a host is answered "*" without credentials.
    expect(headersFor(new CorsPolicy(["https://*.amazonaws.com", "*"]), "https://mybucket.s3.amazonaws.com")).toEqual({
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "Retry-After",
      vary: "Origin",
    });
  });
});

describe("CORS policy - a platform's tenants (publicSuffixTenants)", () => {
  const headersFor = (policy: CorsPolicy, origin: string | undefined) => {
    const headers: OutgoingHttpHeaders = {};
    policy.addResponseHeaders(headers, origin);
    return headers;
  };
  const tenants = (origin: string): AllowedOriginEntry => ({ origin, publicSuffixTenants: true });
  const ANY = { "access-control-allow-origin": "*", "access-control-expose-headers": "Retry-After", vary: "Origin" };
  const ANY_PREFLIGHT = {
    vary: "Origin",
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, GET, OPTIONS",
    "access-control-allow-headers": "Content-Type, Content-Encoding, Authorization, X-Write-Key",
    "access-control-max-age": "86400",
  };

  it("allows every tenant's site under the suffix, however deep, answered \"*\" without credentials", () => {
    const policy = new CorsPolicy([tenants("https://*.myshopify.com")]);
    const allowed = ["https://tenant.myshopify.com", "https://a.b.myshopify.com", "HTTPS://Tenant.MyShopify.com", "https://x-1.myshopify.com"];
    const refused = [
      "https://myshopify.com", // the platform's own site is no tenant
      "https://evilmyshopify.com",
      "https://tenant.myshopify.com.evil.example",
      "http://tenant.myshopify.com",
      "https://tenant.myshopify.com:8443",
      "https://a..myshopify.com",
      "null",
    ];
    expect(allowed.map((origin) => policy.permits(origin))).toEqual(allowed.map(() => true));
    expect(refused.filter((origin) => policy.permits(origin))).toEqual([]);
    for (const origin of allowed) {
      expect(headersFor(policy, origin), origin).toEqual(ANY);
      expect(policy.preflightHeaders(origin), origin).toEqual(ANY_PREFLIGHT);
    }
    expect(headersFor(policy, "https://myshopify.com")).toEqual({ vary: "Origin" });
    expect(policy.preflightHeaders("https://myshopify.com")).toEqual({ vary: "Origin" });
    // Written with a trailing dot, it matches origins so written, as a plain wildcard does.
    const dotted = new CorsPolicy([tenants("https://*.github.io.")]);
    expect(["https://org.github.io.", "https://org.github.io", "https://github.io."].map((origin) => dotted.permits(origin))).toEqual([true, false, false]);
  });

  it("matches no host beneath a public suffix under the opted-in one: those are another platform's tenants", () => {
    // *.r.appspot.com is a rule of the private section beneath appspot.com: x.r.appspot.com is a suffix of its own.
    const policy = new CorsPolicy([tenants("https://*.appspot.com")]);
    expect(["https://myapp.appspot.com", "https://v2.myapp.appspot.com", "https://app.x.r.appspot.com", "https://x.r.appspot.com"].map((origin) => policy.permits(origin))).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it("refuses the opt-in over a suffix whose every subdomain is a suffix of its own: it would match no origin", () => {
    // *.r.appspot.com and *.elb.amazonaws.com are wildcard rules of the private section: x.r.appspot.com is a suffix,
    // app.x.r.appspot.com its tenant, so "https://*.r.appspot.com" matched neither (validated, then refused all).
    for (const [origin, domain] of [["https://*.r.appspot.com", "r.appspot.com"], ["https://*.elb.amazonaws.com:8443", "elb.amazonaws.com"]]) {
      expect(() => new CorsPolicy([tenants(origin)]), origin).toThrow(`"${origin}" would match no origin: every subdomain of ${domain} is a public suffix of its own`);
    }
    // The suffix beneath, listed, has tenants.
    const region = new CorsPolicy([tenants("https://*.x.r.appspot.com")]);
    expect(["https://app.x.r.appspot.com", "https://v2.app.x.r.appspot.com", "https://x.r.appspot.com"].map((origin) => region.permits(origin))).toEqual([true, true, false]);
  });

  it("keeps credentials for origins the owner lists otherwise, whichever entry comes first, and remembers each answer", () => {
    const policy = new CorsPolicy([tenants("https://*.myshopify.com"), "https://*.mystore.myshopify.com", "https://own.myshopify.com"]);
    const credentialed = (origin: string) => ({ "access-control-allow-origin": origin, "access-control-allow-credentials": "true", "access-control-expose-headers": "Retry-After", vary: "Origin" });
    for (let round = 0; round < 2; round++) {
      expect(headersFor(policy, "https://eu.mystore.myshopify.com")).toEqual(credentialed("https://eu.mystore.myshopify.com"));
      expect(headersFor(policy, "https://own.myshopify.com")).toEqual(credentialed("https://own.myshopify.com"));
      expect(headersFor(policy, "https://other.myshopify.com")).toEqual(ANY);
      // The tenant mystore.myshopify.com itself is not under its own wildcard: it is a tenant as any other.
      expect(headersFor(policy, "https://mystore.myshopify.com")).toEqual(ANY);
    }
    // A plain wildcard refuses a host beneath a public suffix under its domain; the opted-in one over that suffix
    // allows it as its tenant, without credentials, asked first or second.
    const both = new CorsPolicy(["https://*.amazonaws.com", tenants("https://*.s3.amazonaws.com")]);
    for (let round = 0; round < 2; round++) {
      expect(headersFor(both, "https://mybucket.s3.amazonaws.com")).toEqual(ANY);
      expect(headersFor(both, "https://console.amazonaws.com")).toEqual(credentialed("https://console.amazonaws.com"));
      expect(both.permits("https://s3.amazonaws.com")).toBe(false);
      expect(both.permits("https://lb.eu-west-1.elb.amazonaws.com")).toBe(false);
    }
  });

  it("refuses the opt-in on an ICANN suffix, on a domain that is no suffix, and on anything but a wildcard", () => {
    expect(() => new CorsPolicy([tenants("https://*.co.uk")])).toThrow(/co\.uk, a public suffix of the Public Suffix List's ICANN section, which publicSuffixTenants cannot allow/);
    expect(() => new CorsPolicy([tenants("https://*.公司.cn")])).toThrow(/ICANN section/);
    expect(() => new CorsPolicy([tenants("https://*.shop.example")])).toThrow(/shop\.example is no public suffix/);
    for (const entry of ["https://tenant.myshopify.com", "*", "null", "capacitor://localhost"]) {
      expect(() => new CorsPolicy([tenants(entry)]), entry).toThrow(/only a wildcard over a public suffix may have/);
    }
    expect(() => new CorsPolicy([{ origin: "https://*.myshopify.com", publicSuffixTenants: false }])).toThrow(/its subdomains are other people's sites/);
    expect([normalizeAllowedOrigin(tenants("HTTPS://*.MyShopify.com:443/")), normalizeAllowedOrigin({ origin: "https://*.Shop.Example", publicSuffixTenants: false })]).toEqual([
      { origin: "https://*.myshopify.com", publicSuffixTenants: true },
      "https://*.shop.example",
    ]);
  });
});

describe("connections per client", () => {
  it("holds at most the limit per client block, an IPv6 /64 as one, and frees a slot on release", () => {
    const connections = new ConnectionsPerClient(2);
    const first = clientBlock("2001:db8:1:2::1");
    const sameSlash64 = clientBlock("2001:db8:1:2:ffff:1:2:3");
    const otherSlash64 = clientBlock("2001:db8:1:3::1");
    expect([connections.take(first), connections.take(sameSlash64), connections.take(clientBlock("2001:0db8:1:2::9"))]).toEqual([true, true, false]);
    expect([connections.take(otherSlash64), connections.take(clientBlock("192.0.2.1")), connections.take(clientBlock("::ffff:192.0.2.1"))]).toEqual([true, true, true]);
    expect(connections.take("192.0.2.1")).toBe(false);
    connections.release(first);
    expect(connections.held(first)).toBe(1);
    expect([connections.take(sameSlash64), connections.take(first)]).toEqual([true, false]);
  });
});
