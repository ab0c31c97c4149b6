// The /metrics endpoint: serves the registry, 404 elsewhere, and says the URL it really answers on; retried while a
// stalled previous holder of the pipeline's lock keeps its port.
import type { Server } from "node:http";
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import { metricsUrl, retryMetricsServer, startMetricsServer } from "../../src/metrics/server.ts";
import { isPortInUse } from "../../src/runtime/listen.ts";
import { holdPortRange } from "../helpers/port-range.ts";
import { waitFor } from "../helpers/wait-for.ts";

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
        const third = startMetricsServer(new Metrics({ defaultMetrics: false }), range, "127.0.0.1");
        await expect(third).rejects.toThrow(
          `metrics: every port of ${first}-${first + 3} on 127.0.0.1 is in use (other workers on this host, or other processes): set metrics.port to a range with a port for each worker on this host`,
        );
        // A port in use, as retryMetricsServer tells it from other errors.
        expect(isPortInUse(await third.catch((error: unknown) => error))).toBe(true);
      } finally {
        await closed(one);
        await closed(two);
      }
    } finally {
      await held.release();
    }
  });

  it("with a range gives servers starting at the same moment a port each", async () => {
    const held = await holdPortRange(4);
    await held.release();
    const range = { first: held.first, last: held.first + 3 };
    const servers = await Promise.all([0, 1, 2, 3].map(() => startMetricsServer(new Metrics({ defaultMetrics: false }), range, "0.0.0.0")));
    try {
      const ports = servers.map((server) => (server.address() as { port: number }).port);
      expect(ports.sort((a, b) => a - b)).toEqual([held.first, held.first + 1, held.first + 2, held.first + 3]);
    } finally {
      for (const server of servers) await closed(server);
    }
  });

  it("on 0.0.0.0 or :: skips a port another process holds at 127.0.0.1 (the system refuses the overlapping bind)", async () => {
    const held = await holdPortRange(2);
    await held.release(held.first + 1);
    const range = { first: held.first, last: held.first + 1 };
    try {
      for (const host of ["0.0.0.0", "::"]) {
        const server = await startMetricsServer(new Metrics({ defaultMetrics: false }), range, host);
        expect((server.address() as { port: number }).port, host).toBe(held.first + 1);
        await closed(server);
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

describe("retryMetricsServer", () => {
  it("binds once the port's holder lets go of it, and serves what the registry counted meanwhile", async () => {
    const held = await holdPortRange(1);
    const metrics = new Metrics({ defaultMetrics: false });
    let attempts = 0;
    const start = () => {
      attempts++;
      return startMetricsServer(metrics, held.first, "127.0.0.1");
    };
    const serving: Server[] = [];
    const errors: unknown[] = [];
    const retry = retryMetricsServer(start, { retryMs: 20, onServing: (server) => serving.push(server), onError: (error) => errors.push(error) });
    try {
      await waitFor("two attempts on the held port", async () => attempts >= 2, 10_000, 5);
      expect(serving).toEqual([]);
      metrics.eventsProcessed.inc(7);
      await held.release();
      await waitFor("the server to bind", async () => serving.length === 1, 10_000, 5);
      expect(metricsUrl(serving[0], "127.0.0.1")).toBe(`http://127.0.0.1:${held.first}/metrics`);
      expect(await (await fetch(`http://127.0.0.1:${held.first}/metrics`)).text()).toMatch(/^clickpipe_events_processed_total 7$/m);
      expect(errors).toEqual([]);
    } finally {
      await retry.stop();
    }
    // stop() closed the server it bound: the port is free again.
    const again = await startMetricsServer(new Metrics({ defaultMetrics: false }), held.first, "127.0.0.1");
    await closed(again);
  });

  it("stop() while the port is held ends the retries and binds nothing", async () => {
    const held = await holdPortRange(1);
    let attempts = 0;
    const start = () => {
      attempts++;
      return startMetricsServer(new Metrics({ defaultMetrics: false }), held.first, "127.0.0.1");
    };
    const serving: Server[] = [];
    const retry = retryMetricsServer(start, { retryMs: 20, onServing: (server) => serving.push(server), onError: () => undefined });
    await waitFor("an attempt on the held port", async () => attempts >= 1, 10_000, 5);
    await retry.stop();
    const made = attempts;
    await held.release();
    // Five retry periods with the port free: a retry left running would bind it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(attempts).toBe(made);
    expect(serving).toEqual([]);
    const free = await startMetricsServer(new Metrics({ defaultMetrics: false }), held.first, "127.0.0.1");
    await closed(free);
  });

  it("ends the retries at an error other than a port in use, and hands it to onError", async () => {
    let attempts = 0;
    const start = () => {
      attempts++;
      return startMetricsServer(new Metrics({ defaultMetrics: false }), 40000, "203.0.113.7");
    };
    const errors: unknown[] = [];
    const retry = retryMetricsServer(start, { retryMs: 20, onServing: () => undefined, onError: (error) => errors.push(error) });
    await waitFor("the error", async () => errors.length === 1, 10_000, 5);
    await retry.stop();
    expect(attempts).toBe(1);
    expect(String(errors[0])).toContain("metrics: 203.0.113.7 is not an address of this machine");
  });
});
