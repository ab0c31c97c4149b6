// clickpipe_http_connections_refused_total as the exposition shows it before any connection was refused.
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/registry.ts";
import { parseExposition, sampleValue } from "./exposition.ts";

describe("clickpipe_http_connections_refused_total", () => {
  it("exists at 0 for each reason from start, so that rate() and increase() see the first refusals", async () => {
    // A series that first appears at 1 has no earlier sample to rise from: an alert on increase(…) > 0 missed a
    // process's first burst of refusals of each reason.
    const samples = parseExposition(await new Metrics().registry.metrics());
    expect(sampleValue(samples, 'clickpipe_http_connections_refused_total{reason="max_connections"}')).toBe(0);
    expect(sampleValue(samples, 'clickpipe_http_connections_refused_total{reason="per_client"}')).toBe(0);
    expect([...samples.keys()].filter((series) => series.startsWith("clickpipe_http_connections_refused_total"))).toHaveLength(2);
  });
});
