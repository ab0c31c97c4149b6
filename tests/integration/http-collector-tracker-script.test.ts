// GET /v1/clickpipe.js on a real collector (real NATS): headers, ETag revalidation, gzip, methods and its metrics route.
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { get as httpGet, type IncomingMessage } from "node:http";
import { Script } from "node:vm";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { TRACKER_SOURCE } from "../../src/ingest/http-tracker-script.ts";
import { httpCollectorScratch } from "../helpers/http-collector-harness.ts";

const { startCollector } = httpCollectorScratch({
  connection: "http-collector-tracker-script-test",
  streamPrefix: "TRACKJS",
  pipelineName: "tracker-script-test",
  writeKey: "wk_tracker_script_0123456789",
});

/** fetch() asks for gzip by itself and decodes it; these requests say exactly what they accept. */
function get(url: string, headers: Record<string, string> = {}, method = "GET") {
  return fetch(url, { method, headers: { "accept-encoding": "identity", ...headers } });
}

/** The raw bytes as sent (fetch would decode the gzip). */
async function rawGet(url: string, headers: Record<string, string>): Promise<{ response: IncomingMessage; bytes: Buffer }> {
  const request = httpGet(url, { headers });
  const [response] = (await once(request, "response")) as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return { response, bytes: Buffer.concat(chunks) };
}

describe("http collector - the tracker script (GET /v1/clickpipe.js)", () => {
  it("serves the tracker as cacheable public JavaScript, without a write key, to any origin", async () => {
    // An origin that allowedOrigins does not list may still load the script: only posting events is limited.
    const { base } = await startCollector({ allowedOrigins: ["https://shop.example"] });
    const response = await get(`${base}/v1/clickpipe.js`, { origin: "https://elsewhere.example" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    expect(response.headers.get("content-encoding")).toBeNull();
    expect(response.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    const body = await response.text();
    expect(Number(response.headers.get("content-length"))).toBe(Buffer.byteLength(body));
    // The source minified: valid script, and smaller than the commented source it comes from.
    expect(() => new Script(body)).not.toThrow();
    const source = await readFile(TRACKER_SOURCE, "utf8");
    expect(body.length).toBeLessThan(source.length / 2);
    expect(body).toContain("/v1/events");
    expect(body).toContain("clickpipe_anon_id");
  });

  it("answers 304 to If-None-Match with its ETag (weak or in a list), and 200 to another", async () => {
    const { base } = await startCollector();
    const first = await get(`${base}/v1/clickpipe.js`);
    const etag = first.headers.get("etag")!;
    const body = await first.text();
    for (const condition of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const again = await get(`${base}/v1/clickpipe.js`, { "if-none-match": condition });
      expect(again.status, condition).toBe(304);
      expect(again.headers.get("etag")).toBe(etag);
      expect(again.headers.get("cache-control")).toBe("public, max-age=3600");
      expect(again.headers.get("access-control-allow-origin")).toBe("*");
      expect(await again.text()).toBe("");
    }
    const changed = await get(`${base}/v1/clickpipe.js`, { "if-none-match": '"an-older-release"' });
    expect(changed.status).toBe(200);
    expect(await changed.text()).toBe(body);
  });

  it("sends it gzipped, under an ETag of its own, to a client that accepts gzip", async () => {
    const { base } = await startCollector();
    const plain = await get(`${base}/v1/clickpipe.js`);
    const plainText = await plain.text();
    const { response: zipped, bytes } = await rawGet(`${base}/v1/clickpipe.js`, { "accept-encoding": "gzip, deflate, br" });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers.vary).toBe("Accept-Encoding");
    expect(zipped.headers.etag).not.toBe(plain.headers.get("etag"));
    expect(Number(zipped.headers["content-length"])).toBe(bytes.length);
    expect(gunzipSync(bytes).toString("utf8")).toBe(plainText);
    expect(bytes.length).toBeLessThan(plainText.length);
    // gzip;q=0 refuses it.
    const refused = await get(`${base}/v1/clickpipe.js`, { "accept-encoding": "gzip;q=0, identity" });
    expect(refused.headers.get("content-encoding")).toBeNull();
    const revalidated = await get(`${base}/v1/clickpipe.js`, { "accept-encoding": "gzip", "if-none-match": zipped.headers.etag! });
    expect(revalidated.status).toBe(304);
  });

  it("answers HEAD with the headers alone and other methods with 405, counted under route tracker", async () => {
    const { base, metrics } = await startCollector();
    const full = await get(`${base}/v1/clickpipe.js`);
    await full.text();
    const head = await get(`${base}/v1/clickpipe.js`, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(full.headers.get("content-length"));
    expect(head.headers.get("etag")).toBe(full.headers.get("etag"));
    expect(await head.text()).toBe("");
    const post = await fetch(`${base}/v1/clickpipe.js`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await get(`${base}/v1/clickpipe.js`, { "if-none-match": full.headers.get("etag")! });

    const histogram = (await metrics.registry.getSingleMetric("clickpipe_http_request_duration_seconds")!.get()) as {
      values: { value: number; labels: Record<string, unknown>; metricName?: string }[];
    };
    const counts = histogram.values
      .filter((value) => value.metricName === "clickpipe_http_request_duration_seconds_count")
      .map((value) => `${value.labels.route} ${value.labels.code} ${value.value}`)
      .sort();
    expect(counts).toEqual(["tracker 200 2", "tracker 304 1", "tracker 405 1"]);
  });
});
