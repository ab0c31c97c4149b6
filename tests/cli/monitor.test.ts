// `clickpipe monitor`'s command line: its targets (--target, --pipeline), checks of every value, and what it prints.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  durationMs,
  MonitorPipelineError,
  MonitorUsageError,
  monitorBanner,
  monitorOptions,
  monitorTargets,
  oneTargetPerEndpoint,
  pipelineMetricsTargets,
  shellWord,
  silentTargetLines,
  targetHostAddresses,
  targetsOfOptions,
} from "../../src/cli/monitor.ts";
import { parsePipelineText } from "../../src/config/load.ts";
import type { PipelineConfig } from "../../src/config/pipeline.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { startMetricsServer } from "../../src/metrics/server.ts";
import { runCli } from "../helpers/cli.ts";

const PIPELINE = "name: p\nnats: { stream: S }\nsinks: [{ type: parquet, path: out }]\n";

function pipeline(text: string, env: Record<string, string> = {}): PipelineConfig {
  const loaded = parsePipelineText(text, "p.yaml", env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

/** Temporary folders of this file's tests, removed when they are done. */
const scratch: string[] = [];
afterAll(async () => {
  for (const directory of scratch) await rm(directory, { recursive: true, force: true });
});

async function pipelineFile(text: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-monitor-"));
  scratch.push(directory);
  const file = join(directory, "p.yaml");
  await writeFile(file, text);
  return file;
}

describe("monitor - targets", () => {
  it("takes --target repeated and comma-separated, in order, spaces around commas left out", () => {
    expect(targetsOfOptions(["w1:9464", "w1:9465, w2:9464", "[::1]:9464"])).toEqual(["w1:9464", "w1:9465", "w2:9464", "[::1]:9464"]);
    expect(monitorOptions(["--target", "w1:9464,w2:9464", "--target", "w3:9464"])?.targets).toEqual(["w1:9464", "w2:9464", "w3:9464"]);
  });

  it("names the bad value, and the --target it came in when that held several", () => {
    expect(() => targetsOfOptions(["w1:9464,w2"])).toThrow(new MonitorUsageError('--target "w2" is not host:port (e.g. localhost:9464) (in --target "w1:9464,w2")'));
    expect(() => targetsOfOptions(["http://w1:9464/metrics"])).toThrow(
      '--target "http://w1:9464/metrics" is not host:port (e.g. localhost:9464): leave out the scheme and the path',
    );
    expect(() => targetsOfOptions(["w1:9464,"])).toThrow('--target "" is not host:port');
  });

  it("scrapes localhost:9464 when neither --target nor --pipeline names one", () => {
    expect(monitorTargets([])).toEqual([{ address: "localhost:9464" }]);
    expect(monitorOptions([])?.targets).toEqual([]);
  });

  it("adds the pipeline's target to the --target ones, once when a --target names it too", () => {
    const fromPipeline = { address: "localhost:9464", pipeline: "p.yaml" };
    expect(monitorTargets(["w2:9464", "w2:9464"], [fromPipeline])).toEqual([{ address: "w2:9464" }, fromPipeline]);
    expect(monitorTargets(["w2:9464", "localhost:9464"], [fromPipeline])).toEqual([{ address: "w2:9464" }, fromPipeline]);
    expect(monitorTargets(["localhost:9464", "w2:9464"], [fromPipeline])).toEqual([fromPipeline, { address: "w2:9464" }]);
    expect(monitorTargets([], [fromPipeline])).toEqual([fromPipeline]);
  });

  it("adds each port of the pipeline's range, a --target naming one of them keeping its place", () => {
    const range = (port: number) => ({ address: `localhost:${port}`, pipeline: "p.yaml", range: "9464-9466" });
    const fromPipeline = [range(9464), range(9465), range(9466)];
    expect(monitorTargets(["w2:9464", "localhost:9465"], fromPipeline)).toEqual([{ address: "w2:9464" }, range(9465), range(9464), range(9466)]);
    expect(monitorTargets([], fromPipeline)).toEqual(fromPipeline);
  });
});

describe("monitor - one target per worker", () => {
  const resolved: Record<string, string[]> = { localhost: ["127.0.0.1", "::1"], w1: ["10.0.0.5"], "w1.example": ["10.0.0.5"], w2: ["10.0.0.6"] };
  const addressesOf = (host: string) => resolved[host] ?? [];

  it("scrapes once a worker that several targets reach on this machine (localhost, 127.0.0.1, [::1]), the first keeping its place", () => {
    const pipelineTarget = { address: "localhost:9464", pipeline: "p.yaml" };
    expect(oneTargetPerEndpoint([{ address: "127.0.0.1:9464" }, pipelineTarget, { address: "[::1]:9464" }, { address: "127.0.0.1:9465" }], addressesOf)).toEqual({
      targets: [{ address: "127.0.0.1:9464", pipeline: "p.yaml" }, { address: "127.0.0.1:9465" }],
      aliases: [
        { address: "localhost:9464", sameAs: "127.0.0.1:9464" },
        { address: "[::1]:9464", sameAs: "127.0.0.1:9464" },
      ],
    });
    // A range's port named by --target as 127.0.0.1 keeps the --target's place and says which range it is of.
    const range = (port: number) => ({ address: `localhost:${port}`, pipeline: "p.yaml", range: "9464-9465" });
    expect(oneTargetPerEndpoint([{ address: "127.0.0.1:9465" }, range(9464), range(9465)], addressesOf).targets).toEqual([
      { address: "127.0.0.1:9465", pipeline: "p.yaml", range: "9464-9465" },
      range(9464),
    ]);
  });

  it("takes names of one address as one worker, whatever their case, and keeps other addresses and ports apart", () => {
    const targets = ["w1:9464", "W1:9464", "w1.example:9464", "10.0.0.5:9465", "w2:9464", "[2001:db8::1]:9464", "[2001:DB8:0::1]:9464", "nowhere:9464", "NOWHERE:9464", "elsewhere:9464"];
    const { targets: kept, aliases } = oneTargetPerEndpoint(
      targets.map((address) => ({ address })),
      addressesOf,
    );
    expect(kept.map((target) => target.address)).toEqual(["w1:9464", "10.0.0.5:9465", "w2:9464", "[2001:db8::1]:9464", "nowhere:9464", "elsewhere:9464"]);
    expect(aliases).toEqual([
      { address: "W1:9464", sameAs: "w1:9464" },
      { address: "w1.example:9464", sameAs: "w1:9464" },
      { address: "[2001:DB8:0::1]:9464", sameAs: "[2001:db8::1]:9464" },
      { address: "NOWHERE:9464", sameAs: "nowhere:9464" },
    ]);
  });

  it("resolves names with the system's resolver: localhost is this machine, as 127.0.0.1 is", async () => {
    const listed = [{ address: "localhost:9464", pipeline: "p.yaml" }, { address: "127.0.0.1:9464" }, { address: "127.0.0.1:9470" }];
    const addresses = await targetHostAddresses(listed);
    expect([...addresses.keys()]).toEqual(["localhost"]);
    expect(oneTargetPerEndpoint(listed, (host) => addresses.get(host) ?? [])).toEqual({
      targets: [{ address: "localhost:9464", pipeline: "p.yaml" }, { address: "127.0.0.1:9470" }],
      aliases: [{ address: "127.0.0.1:9464", sameAs: "localhost:9464" }],
    });
  });
});

describe("monitor - the targets of a pipeline's metrics section", () => {
  const addresses = (text: string, env: Record<string, string> = {}) => pipelineMetricsTargets(pipeline(text, env), "p.yaml").map((target) => target.address);

  it("is this machine's loopback address of the server's family for a server on every interface (0.0.0.0, the default, or ::)", () => {
    // Not localhost: it may resolve to ::1 first, where a server on 0.0.0.0 does not listen and another process may.
    expect(pipelineMetricsTargets(pipeline(`${PIPELINE}metrics: { port: 9470 }\n`), "p.yaml")).toEqual([{ address: "127.0.0.1:9470", pipeline: "p.yaml" }]);
    expect(addresses(`${PIPELINE}metrics: { port: 9470, host: "::" }\n`)).toEqual(["[::1]:9470"]);
    expect(addresses(`${PIPELINE}metrics: {}\n`)).toEqual(["127.0.0.1:9464"]);
  });

  it("reaches the worker on 0.0.0.0, not another process holding [::1] at its port (real sockets)", async () => {
    const decoy = createServer((_request, response) => response.end("decoy_metric 1\n"));
    await new Promise<void>((resolve) => decoy.listen(0, "::1", resolve));
    const port = (decoy.address() as AddressInfo).port;
    const metrics = new Metrics({ defaultMetrics: false });
    // The range's first port is free on IPv4, so the worker takes it: [::1] at that port is another socket.
    const worker = await startMetricsServer(metrics, { first: port, last: port + 1 }, "0.0.0.0");
    try {
      expect((worker.address() as AddressInfo).port).toBe(port);
      const [target] = pipelineMetricsTargets(pipeline(`${PIPELINE}metrics: { port: ${port}-${port + 1} }\n`), "p.yaml");
      const body = await (await fetch(`http://${target.address}/metrics`)).text();
      expect(body).toContain("clickpipe_events_processed_total");
      expect(body).not.toContain("decoy_metric");
    } finally {
      await new Promise((resolve) => worker.close(resolve));
      await new Promise((resolve) => decoy.close(resolve));
    }
  });

  it("is metrics.host itself otherwise, an IPv6 address in brackets, and the port as the variables set it", () => {
    expect(addresses(`${PIPELINE}metrics: { port: 9470, host: 127.0.0.1 }\n`)).toEqual(["127.0.0.1:9470"]);
    expect(addresses(`${PIPELINE}metrics: { port: 9470, host: "::1" }\n`)).toEqual(["[::1]:9470"]);
    expect(addresses(`${PIPELINE}metrics:\n  port: \${CLICKPIPE_METRICS_PORT:-9464}\n`, { CLICKPIPE_METRICS_PORT: "9481" })).toEqual(["127.0.0.1:9481"]);
  });

  it("is one target per port of a range, each saying the range it is of", () => {
    expect(pipelineMetricsTargets(pipeline(`${PIPELINE}metrics: { port: 9464-9467 }\n`), "p.yaml")).toEqual([
      { address: "127.0.0.1:9464", pipeline: "p.yaml", range: "9464-9467" },
      { address: "127.0.0.1:9465", pipeline: "p.yaml", range: "9464-9467" },
      { address: "127.0.0.1:9466", pipeline: "p.yaml", range: "9464-9467" },
      { address: "127.0.0.1:9467", pipeline: "p.yaml", range: "9464-9467" },
    ]);
    expect(addresses(`${PIPELINE}metrics: { port: "9470 - 9471", host: "::1" }\n`)).toEqual(["[::1]:9470", "[::1]:9471"]);
    expect(addresses(`${PIPELINE}metrics:\n  port: \${CLICKPIPE_METRICS_PORT:-9464}\n`, { CLICKPIPE_METRICS_PORT: "9481-9483" })).toEqual([
      "127.0.0.1:9481",
      "127.0.0.1:9482",
      "127.0.0.1:9483",
    ]);
    // A range of one port is still a range: that port may be down while the range's other workers run elsewhere.
    expect(pipelineMetricsTargets(pipeline(`${PIPELINE}metrics: { port: 9470-9470 }\n`), "p.yaml")).toEqual([{ address: "127.0.0.1:9470", pipeline: "p.yaml", range: "9470-9470" }]);
  });

  it("is an error for a pipeline without metrics, saying what to add, and for metrics.port 0", () => {
    expect(() => pipelineMetricsTargets(pipeline(PIPELINE), "pipelines/x.yaml")).toThrow(
      new MonitorPipelineError("pipelines/x.yaml has no metrics section, so its workers serve no metrics: add `metrics: {port: 9464}` to it (or give --target)"),
    );
    expect(() => pipelineMetricsTargets(pipeline(`${PIPELINE}metrics: { port: 0 }\n`), "p.yaml")).toThrow("p.yaml has metrics.port 0: each worker takes a free port");
  });
});

describe("monitor - options", () => {
  it("reads Prometheus durations, compound ones too", () => {
    expect(durationMs("5s")).toBe(5000);
    expect(durationMs("500ms")).toBe(500);
    expect(durationMs("1m30s")).toBe(90_000);
    expect(durationMs("2h")).toBe(7_200_000);
    expect(durationMs("5")).toBeUndefined();
    expect(durationMs("5 s")).toBeUndefined();
  });

  it("takes units as Prometheus does: each at most once, largest first (it refuses 30s1m, and would not start)", () => {
    expect(durationMs("1h2m3s4ms")).toBe(3_723_004);
    expect(durationMs("5s500ms")).toBe(5500);
    for (const refused of ["30s1m", "1m1m", "500ms5s", "1m30s1m", "ms", ""]) expect(durationMs(refused), refused).toBeUndefined();
    expect(() => monitorOptions(["--scrape-interval", "30s1m"])).toThrow('--scrape-interval must be a duration like 5s, above 0 and at most 2m (the alert rules\' 5m rates need two scrapes), got "30s1m"');
  });

  it("takes a scrape interval above 0 and at most 2m, so that the alert rules' 5m rates see two scrapes", () => {
    expect(monitorOptions(["--scrape-interval", "2m"])?.scrapeInterval).toBe("2m");
    expect(monitorOptions(["--scrape-interval", "1m30s"])?.scrapeInterval).toBe("1m30s");
    for (const bad of ["0s", "3m", "5", "1d"]) expect(() => monitorOptions(["--scrape-interval", bad]), bad).toThrow(`got "${bad}"`);
  });

  it("rejects a port that is not 0-65535, a second --pipeline, and an empty --host", () => {
    for (const bad of ["65536", "-1", "1e3", "", "x"]) expect(() => monitorOptions([`--port=${bad}`]), bad).toThrow(`--port must be a port number 0-65535, got "${bad}"`);
    expect(monitorOptions(["--port", "0"])?.port).toBe(0);
    expect(() => monitorOptions(["--pipeline", "a.yaml", "--pipeline", "b.yaml"])).toThrow("--pipeline names one pipeline (its workers are the job clickpipe), got 2");
    expect(() => monitorOptions(["--host", ""])).toThrow("--host must be an address");
    expect(monitorOptions(["--host", "[::1]"])?.host).toBe("::1");
  });

  it("answers --help with undefined (the usage), whatever else is given", () => {
    expect(monitorOptions(["--target", "w1", "--help"])).toBeUndefined();
  });
});

describe("monitor - what it prints", () => {
  const prometheus = { url: "http://127.0.0.1:9090", host: "127.0.0.1", port: 9090, directory: "/tmp/clickpipe-prometheus-x" };

  it("names every target on a line of its own, and the pipeline a target came from", () => {
    const banner = monitorBanner(prometheus, [{ address: "w2:9464" }, { address: "localhost:9464", pipeline: "pipelines/web.yaml" }], "5s");
    expect(banner.slice(0, 3)).toEqual([
      "Prometheus on http://127.0.0.1:9090, scraping job clickpipe at 2 targets every 5s:",
      "  w2:9464",
      "  localhost:9464 (metrics of pipelines/web.yaml)",
    ]);
  });

  it("says of a range's targets which range they are of, and that its unused ports are down without firing ClickpipeDown", () => {
    const target = (port: number) => ({ address: `localhost:${port}`, pipeline: "p.yaml", range: "9464-9465" });
    const banner = monitorBanner(prometheus, [{ address: "w2:9464" }, target(9464), target(9465)], "5s");
    expect(banner.slice(0, 5)).toEqual([
      "Prometheus on http://127.0.0.1:9090, scraping job clickpipe at 3 targets every 5s:",
      "  w2:9464",
      "  localhost:9464 (metrics of p.yaml, port range 9464-9465)",
      "  localhost:9465 (metrics of p.yaml, port range 9464-9465)",
      "  ports of 9464-9465 that no worker took show as down (up 0); that is fine: ClickpipeDown fires only when no target of the job answers",
    ]);
    expect(monitorBanner(prometheus, [{ address: "w2:9464" }], "5s").join("\n")).not.toContain("no worker took");
    const silent = silentTargetLines([target(9465)]);
    expect(silent[0]).toBe("nothing answers at http://localhost:9465/metrics yet");
    expect(silent.at(-1)).toBe("  each worker on a host takes the first free port of the range, so its last ports answer only when that many workers run");
    expect(silentTargetLines([{ address: "w2:9464" }]).join("\n")).not.toContain("range");
  });

  it("says which target it left out, and why, after the targets", () => {
    const banner = monitorBanner(prometheus, [{ address: "127.0.0.1:9464", pipeline: "p.yaml" }], "5s", [{ address: "localhost:9464", sameAs: "127.0.0.1:9464" }]);
    expect(banner.slice(0, 2)).toEqual([
      "Prometheus on http://127.0.0.1:9090, scraping job clickpipe at 127.0.0.1:9464 (metrics of p.yaml) every 5s",
      "  localhost:9464 reaches the worker at 127.0.0.1:9464: scraped once, since two targets of one worker would count its series twice in every sum",
    ]);
  });

  it("names one target on the first line, and tells Grafana the scrape interval and its home folder", () => {
    const banner = monitorBanner(prometheus, [{ address: "localhost:9464" }], "15s");
    expect(banner[0]).toBe("Prometheus on http://127.0.0.1:9090, scraping job clickpipe at localhost:9464 every 15s");
    expect(banner.join("\n")).toContain("add a Prometheus data source with URL http://127.0.0.1:9090 and scrape interval 15s");
    const command = banner.find((line) => line.includes("grafana server"))!;
    expect(command).toMatch(/^ {2}PROMETHEUS_URL=http:\/\/127\.0\.0\.1:9090 CLICKPIPE_SCRAPE_INTERVAL=15s CLICKPIPE_DASHBOARDS=\/\S+\/grafana\/dashboards /);
    // By its path in the home folder: the packages put `grafana` in /usr/sbin, which a Debian user's PATH lacks.
    expect(command).toMatch(/GF_PATHS_DATA=\/\S+ .* \/usr\/share\/grafana\/bin\/grafana server --homepath \/usr\/share\/grafana$/);
  });

  it("quotes a path of the printed command that a shell would split or expand", () => {
    expect(shellWord("/home/me/clickpipe/grafana/dashboards")).toBe("/home/me/clickpipe/grafana/dashboards");
    expect(shellWord("/home/me/My Projects/clickpipe/grafana/provisioning")).toBe("'/home/me/My Projects/clickpipe/grafana/provisioning'");
    expect(shellWord("/tmp/it's/$HOME")).toBe("'/tmp/it'\\''s/$HOME'");
    // The shell reads each back as the text it was.
    for (const text of ["/home/me/My Projects/x", "/tmp/it's/$HOME", "/tmp/a`b`;c"]) {
      expect(execFileSync("sh", ["-c", `printf %s ${shellWord(text)}`]).toString()).toBe(text);
    }
  });

  it("says how another machine reaches a Prometheus listening on every interface", () => {
    const banner = monitorBanner({ ...prometheus, host: "0.0.0.0" }, [{ address: "localhost:9464" }], "5s");
    expect(banner[0]).toBe(
      "Prometheus on http://127.0.0.1:9090 (listening on 0.0.0.0: from another machine, this host's name and port 9090), scraping job clickpipe at localhost:9464 every 5s",
    );
  });

  it("names each target that did not answer, and nothing when all did", () => {
    const lines = silentTargetLines([{ address: "w1:9465" }, { address: "[::1]:9464" }]);
    expect(lines.slice(0, 2)).toEqual(["nothing answers at http://w1:9465/metrics yet", "nothing answers at http://[::1]:9464/metrics yet"]);
    expect(lines.slice(2).join("\n")).toContain("a standby worker of an\n  unpartitioned pipeline serves no metrics until it holds the pipeline's lock");
    expect(silentTargetLines([])).toEqual([]);
  });
});

describe("clickpipe monitor - errors before Prometheus starts", () => {
  it("exits 2 naming a bad --target, with the usage", async () => {
    const result = await runCli(["monitor", "--port", "0", "--target", "localhost:9464,localhost:9465/metrics"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n")[0]).toBe(
      'clickpipe monitor: --target "localhost:9465/metrics" is not host:port (e.g. localhost:9464): leave out the scheme and the path (Prometheus scrapes http://<host:port>/metrics) (in --target "localhost:9464,localhost:9465/metrics")',
    );
    expect(result.stderr).toContain("usage: clickpipe monitor [--target host:port]… [--pipeline <pipeline.yaml>]");
  });

  it("exits 1 for a --pipeline without metrics, saying to add it", async () => {
    const file = await pipelineFile(PIPELINE);
    const result = await runCli(["monitor", "--port", "0", "--pipeline", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `clickpipe monitor: ${file} has no metrics section, so its workers serve no metrics: add \`metrics: {port: 9464}\` to it (or give --target)\n`,
    );
  });

  it("exits 1 for a --pipeline that does not validate, with validate's lines", async () => {
    const file = await pipelineFile(`${PIPELINE}metrics: { port: 9464, hots: x }\n`);
    const result = await runCli(["monitor", "--port", "0", "--pipeline", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^metrics\\.hots \\(${file}:4:\\d+\\): unknown key "hots"\\. Did you mean "host"\\?`));
  });
});
