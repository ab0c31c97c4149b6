// The /metrics endpoint: serves the registry, 404 elsewhere, and says the URL it really answers on.
import type { Server } from "node:http";
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import { metricsUrl, startMetricsServer } from "../../src/metrics/server.ts";
import { holdPortRange } from "../helpers/port-range.ts";

const closed = (server: Server) => new Promise((resolve) => server.close(resolve));

describe("startMetricsServer", () => {
  it("on port 0 answers at the free port it took, which metricsUrl names", async () => {
    const metrics = new Metrics();
    metrics.eventsProcessed.inc(3);
    const server = await startMetricsServer(metrics, 0, "127.0.0.1");
    try {
      const url = metricsUrl(server, "127.0.0.1");
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/metrics$/);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(await response.text()).toMatch(/^clickpipe_events_processed_total 3$/m);
      expect((await fetch(url.replace("/metrics", "/other"))).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("with a range takes the first port of it that is free, and a second server the next free one", async () => {
    // 4 ports: the first and third held by other processes, the others free.
    const held = await holdPortRange(4);
    const { first } = held;
    await held.release(first + 1, first + 3);
    const range = { first, last: first + 3 };
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.eventsProcessed.inc(5);
    try {
      const one = await startMetricsServer(metrics, range, "127.0.0.1");
      const two = await startMetricsServer(new Metrics({ defaultMetrics: false }), range, "127.0.0.1");
      try {
        expect([metricsUrl(one, "127.0.0.1"), metricsUrl(two, "127.0.0.1")]).toEqual([
          `http://127.0.0.1:${first + 1}/metrics`,
          `http://127.0.0.1:${first + 3}/metrics`,
        ]);
        expect(await (await fetch(metricsUrl(one, "127.0.0.1"))).text()).toMatch(/^clickpipe_events_processed_total 5$/m);
        // A third finds every port taken: it names the range and the key to widen.
        await expect(startMetricsServer(new Metrics({ defaultMetrics: false }), range, "127.0.0.1")).rejects.toThrow(
          `metrics: every port of ${first}-${first + 3} on 127.0.0.1 is in use (other workers on this host, or other processes): set metrics.port to a range with a port for each worker on this host`,
        );
      } finally {
        await closed(one);
        await closed(two);
      }
    } finally {
      await held.release();
    }
  });

  it("with a single port taken says so as it always did, naming metrics.port", async () => {
    const held = await holdPortRange(1);
    try {
      await expect(startMetricsServer(new Metrics({ defaultMetrics: false }), held.first, "127.0.0.1")).rejects.toThrow(
        `metrics: port ${held.first} on 127.0.0.1 is in use (another clickpipe run or process?): set metrics.port to a free port`,
      );
    } finally {
      await held.release();
    }
  });

  it("with a range stops at an error a next port would meet again (an address not of this machine)", async () => {
    const range = { first: 40000, last: 40003 };
    await expect(startMetricsServer(new Metrics({ defaultMetrics: false }), range, "203.0.113.7")).rejects.toThrow(
      "metrics: 203.0.113.7 is not an address of this machine: set metrics.host to one of its addresses, or 0.0.0.0 for all",
    );
  });
});
