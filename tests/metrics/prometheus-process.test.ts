// startPrometheus with the real Debian prometheus: port choice, readiness, cleanup, and a clear error when it is missing.
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { DEFAULT_PROMETHEUS_PORT, PrometheusMissingError, startPrometheus } from "../../src/metrics/prometheus-process.ts";

/** Holds 127.0.0.1:port for the test, or returns undefined when another process already holds it (also "taken"). */
function occupy(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("startPrometheus", () => {
  it("falls back to a free port when 9090 is taken, answers ready, scrapes the target, and removes its storage on stop", async () => {
    const blocker = await occupy(DEFAULT_PROMETHEUS_PORT);
    try {
      const prometheus = await startPrometheus({ targets: ["127.0.0.1:9"] });
      try {
        expect(prometheus.port).not.toBe(DEFAULT_PROMETHEUS_PORT);
        expect(prometheus.url).toBe(`http://127.0.0.1:${prometheus.port}`);
        expect((await fetch(`${prometheus.url}/-/ready`)).status).toBe(200);
        // Target discovery runs shortly after ready: poll for it.
        let labels: { job: string; instance: string }[] = [];
        for (let attempt = 0; attempt < 100 && labels.length === 0; attempt++) {
          const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
            data: { activeTargets: { labels: { job: string; instance: string } }[] };
          };
          labels = targets.data.activeTargets.map((t) => t.labels);
          if (labels.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(labels).toEqual([{ job: "clickpipe", instance: "127.0.0.1:9" }]);
        expect(existsSync(prometheus.directory)).toBe(true);
      } finally {
        await prometheus.stop();
      }
      expect(existsSync(prometheus.directory)).toBe(false);
      expect(await prometheus.exited).not.toBeUndefined();
    } finally {
      blocker?.close();
    }
  });

  it("gives a URL this machine connects to when it listens on every interface (0.0.0.0 is no address to give Grafana)", async () => {
    const prometheus = await startPrometheus({ targets: ["127.0.0.1:9"], port: 0, host: "0.0.0.0" });
    try {
      expect(prometheus.host).toBe("0.0.0.0");
      expect(prometheus.url).toBe(`http://127.0.0.1:${prometheus.port}`);
      expect((await fetch(`${prometheus.url}/-/ready`)).status).toBe(200);
    } finally {
      await prometheus.stop();
    }
  });

  it("says which Debian package to install when the executable is missing", async () => {
    const start = startPrometheus({ targets: ["127.0.0.1:9"], port: 0, binary: "/nonexistent/prometheus" });
    await expect(start).rejects.toBeInstanceOf(PrometheusMissingError);
    await expect(start).rejects.toThrow("apt-get install prometheus");
  });
});
