// renderPrometheusConfig: the repository template pointed at another target, with absolute rule files.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ALERT_RULES, PROMETHEUS_TEMPLATE, renderPrometheusConfig } from "../../src/metrics/prometheus-config.ts";

const template = readFileSync(PROMETHEUS_TEMPLATE, "utf8");

interface RenderedConfig {
  global: { scrape_interval: string; evaluation_interval: string };
  rule_files: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
}

describe("renderPrometheusConfig", () => {
  it("scrapes localhost:9464 every 5s in the template itself", () => {
    const config = parse(template) as RenderedConfig;
    expect(config.scrape_configs).toEqual([{ job_name: "clickpipe", static_configs: [{ targets: ["localhost:9464"] }] }]);
    expect(config.global.scrape_interval).toBe("5s");
    expect(config.rule_files).toEqual(["alerts.yml"]);
  });

  it("points the clickpipe job at the given target, sets the interval and makes the rule file absolute", () => {
    const config = parse(renderPrometheusConfig(template, { target: "10.1.2.3:9999", scrapeInterval: "1s" })) as RenderedConfig;
    expect(config.scrape_configs).toEqual([{ job_name: "clickpipe", static_configs: [{ targets: ["10.1.2.3:9999"] }] }]);
    expect(config.global).toEqual({ scrape_interval: "1s", evaluation_interval: "1s" });
    expect(config.rule_files).toEqual([ALERT_RULES]);
  });

  it("keeps the template's interval when none is given, and accepts an IPv6 target", () => {
    const config = parse(renderPrometheusConfig(template, { target: "[::1]:9464" })) as RenderedConfig;
    expect(config.global.scrape_interval).toBe("5s");
    expect(config.scrape_configs[0].static_configs[0].targets).toEqual(["[::1]:9464"]);
  });

  it("rejects a target that is not host:port, naming the expected form", () => {
    expect(() => renderPrometheusConfig(template, { target: "http://localhost:9464/metrics" })).toThrow('is not host:port (e.g. localhost:9464)');
    expect(() => renderPrometheusConfig(template, { target: "localhost" })).toThrow("is not host:port");
  });

  it("rejects a template without a clickpipe job", () => {
    expect(() => renderPrometheusConfig("scrape_configs:\n  - job_name: other\n", { target: "localhost:9464" })).toThrow(
      "no scrape job named clickpipe",
    );
  });
});
