// The /metrics endpoint: serves the registry, 404 elsewhere, and says the URL it really answers on.
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import { metricsUrl, startMetricsServer } from "../../src/metrics/server.ts";

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
});
