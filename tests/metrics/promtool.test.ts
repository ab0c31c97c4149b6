// The real promtool judges the registry's exposition, the alert rules (with their unit tests) and every Prometheus config we ship.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { generateLines } from "../../src/ingest/generate.ts";
import { PROMETHEUS_CONFIG_DIR, PROMETHEUS_TEMPLATE, renderPrometheusConfig } from "../../src/metrics/prometheus-config.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { runMeteredPipeline } from "./metered-run.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

function promtool(args: string[], input?: string, cwd = PROMETHEUS_CONFIG_DIR): { status: number | null; output: string } {
  const result = spawnSync("promtool", args, { input, cwd, encoding: "utf8" });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** promtool's lint lines that name a clickpipe_* metric (prom-client's own nodejs_*_total gauges are left alone). */
function clickpipeProblems(output: string): string[] {
  return output.split("\n").filter((line) => line.includes("clickpipe_"));
}

describe("promtool check metrics", () => {
  let directory: string;
  let exposition: string;
  let families: string[];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-promtool-"));
    const metrics = new Metrics({ defaultMetrics: true });
    await runMeteredPipeline(generateLines({ visitors: 100, days: 2, seed: 9 }), metrics, directory);
    metrics.httpRequestDuration.observe({ route: "/v1/events", code: "200" }, 0.004);
    metrics.httpRequestDuration.observe({ route: "/v1/pixel.gif", code: "400" }, 0.0007);
    metrics.checkpointFailures.inc();
    exposition = await metrics.registry.metrics();
    families = metrics.registry
      .getMetricsAsArray()
      .map((metric) => metric.name)
      .filter((name) => name.startsWith("clickpipe_"));
  });

  afterAll(() => rm(directory, { recursive: true, force: true }));

  it("reports nothing for any clickpipe_* metric after a pipeline run", () => {
    // promtool sees every clickpipe_* family, each with samples.
    expect(families.length).toBeGreaterThanOrEqual(25);
    for (const name of families) expect(exposition).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    const result = promtool(["check", "metrics"], exposition);
    expect(clickpipeProblems(result.output)).toEqual([]);
  });

  it("does report a clickpipe_* metric that breaks the conventions (the filter above sees real findings)", () => {
    const broken = `${exposition}# HELP clickpipe_broken_count A counter without _total.\n# TYPE clickpipe_broken_count counter\nclickpipe_broken_count 1\n`;
    const result = promtool(["check", "metrics"], broken);
    expect(clickpipeProblems(result.output).join("\n")).toContain("clickpipe_broken_count");
  });
});

describe("promtool on the shipped Prometheus files", () => {
  it("passes the alert rule unit tests: each alert fires in one case and stays quiet in another", () => {
    const result = promtool(["test", "rules", "alerts.test.yml"]);
    expect(result.output).toContain("SUCCESS");
    expect(result.status).toBe(0);
    const tests = parse(readFileSync(join(PROMETHEUS_CONFIG_DIR, "alerts.test.yml"), "utf8")) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const alerts = (parse(readFileSync(join(PROMETHEUS_CONFIG_DIR, "alerts.yml"), "utf8")) as { groups: { rules: { alert: string }[] }[] }).groups
      .flatMap((group) => group.rules)
      .map((rule) => rule.alert);
    const cases = tests.tests.flatMap((test) => test.alert_rule_test);
    for (const alert of alerts) {
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires somewhere`).toBe(true);
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays quiet somewhere`).toBe(true);
    }
  });

  it("accepts config/prometheus/prometheus.yml with its rule file", () => {
    const result = promtool(["check", "config", "prometheus.yml"]);
    expect(result.output).toContain("SUCCESS: 1 rule files found");
    expect(result.status).toBe(0);
  });

  it("accepts the config `npm run monitor` renders for several targets", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-monitor-config-"));
    try {
      const targets = ["127.0.0.1:19464", "localhost:19465", "[::1]:19466", "worker-2.internal:9464"];
      const rendered = renderPrometheusConfig(await readFile(PROMETHEUS_TEMPLATE, "utf8"), { targets, scrapeInterval: "1s" });
      await writeFile(join(directory, "prometheus.yml"), rendered);
      const result = promtool(["check", "config", "prometheus.yml"], undefined, directory);
      expect(result.output).toContain("SUCCESS: 1 rule files found");
      expect(result.status).toBe(0);
      const config = parse(rendered) as { global: { scrape_interval: string }; scrape_configs: { static_configs: { targets: string[] }[] }[] };
      expect(config.global.scrape_interval).toBe("1s");
      expect(config.scrape_configs[0].static_configs).toEqual([{ targets }]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("accepts the config docker-compose.yml's Prometheus builds (its own shell command, run here on the repo's files)", async () => {
    const compose = parse(readFileSync(join(REPO, "docker-compose.yml"), "utf8")) as { services: { prometheus: { command: string[] } } };
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-compose-prometheus-"));
    try {
      // The container paths become local ones; `exec /bin/prometheus …` becomes `promtool check config` of the same file.
      const script = compose.services.prometheus.command[0]
        .replace(/(^|[\s=])\/prometheus\//g, `$1${directory}/`)
        .replaceAll("/etc/prometheus/clickpipe/", PROMETHEUS_CONFIG_DIR)
        .replace(/exec \/bin\/prometheus --config\.file=(\S+).*$/, "promtool check config $1");
      const result = spawnSync("sh", ["-c", script], { encoding: "utf8" });
      expect(`${result.stdout}${result.stderr}`).toContain("SUCCESS: 1 rule files found");
      expect(result.status).toBe(0);
      const config = parse(readFileSync(join(directory, "config", "prometheus.yml"), "utf8")) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
      expect(config.scrape_configs[0].static_configs[0].targets).toEqual(["clickpipe:9464"]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
