// renderPrometheusConfig: the repository template pointed at other targets, with absolute rule files; scrapeTargetProblem.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ALERT_RULES, PROMETHEUS_TEMPLATE, renderPrometheusConfig, scrapeTargetProblem } from "../../src/metrics/prometheus-config.ts";

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
    const config = parse(renderPrometheusConfig(template, { targets: ["10.1.2.3:9999"], scrapeInterval: "1s" })) as RenderedConfig;
    expect(config.scrape_configs).toEqual([{ job_name: "clickpipe", static_configs: [{ targets: ["10.1.2.3:9999"] }] }]);
    expect(config.global).toEqual({ scrape_interval: "1s", evaluation_interval: "1s" });
    expect(config.rule_files).toEqual([ALERT_RULES]);
  });

  it("keeps the template's interval when none is given, and accepts an IPv6 target", () => {
    const config = parse(renderPrometheusConfig(template, { targets: ["[::1]:9464"] })) as RenderedConfig;
    expect(config.global.scrape_interval).toBe("5s");
    expect(config.scrape_configs[0].static_configs[0].targets).toEqual(["[::1]:9464"]);
  });

  it("rejects a target that is not host:port, naming the expected form", () => {
    expect(() => renderPrometheusConfig(template, { targets: ["http://localhost:9464/metrics"] })).toThrow('is not host:port (e.g. localhost:9464)');
    expect(() => renderPrometheusConfig(template, { targets: ["localhost"] })).toThrow("is not host:port");
  });

  it("puts every target in the clickpipe job's one target group, in order, each once", () => {
    const config = parse(
      renderPrometheusConfig(template, { targets: ["worker-a:9464", "worker-a:9465", "[fd00::2]:9464", "worker-a:9464"] }),
    ) as RenderedConfig;
    expect(config.scrape_configs).toEqual([
      { job_name: "clickpipe", static_configs: [{ targets: ["worker-a:9464", "worker-a:9465", "[fd00::2]:9464"] }] },
    ]);
  });

  it("rejects a list with one bad target, naming it, and an empty list", () => {
    expect(() => renderPrometheusConfig(template, { targets: ["localhost:9464", "localhost:99999"] })).toThrow(
      'scrape target "localhost:99999" is not host:port (e.g. localhost:9464): the port must be 1-65535',
    );
    expect(() => renderPrometheusConfig(template, { targets: [] })).toThrow("no scrape target");
  });

  it("rejects a template without a clickpipe job", () => {
    expect(() => renderPrometheusConfig("scrape_configs:\n  - job_name: other\n", { targets: ["localhost:9464"] })).toThrow(
      "no scrape job named clickpipe",
    );
  });
});

describe("scrapeTargetProblem", () => {
  it("accepts host:port, an IPv4 address, an IPv6 address in brackets, ports 1 and 65535", () => {
    for (const target of ["localhost:9464", "worker-2.internal:9465", "10.0.0.7:1", "[::1]:65535", "[fd00::7]:9464"]) {
      expect(scrapeTargetProblem(target), target).toBeUndefined();
    }
  });

  it("names the value and says what is wrong: a scheme or path, a port out of range, IPv6 without brackets, no port", () => {
    expect(scrapeTargetProblem("http://w1:9464/metrics")).toBe(
      '"http://w1:9464/metrics" is not host:port (e.g. localhost:9464): leave out the scheme and the path (Prometheus scrapes http://<host:port>/metrics)',
    );
    expect(scrapeTargetProblem("w1:9464/metrics")).toContain("leave out the scheme and the path");
    expect(scrapeTargetProblem("w1:0")).toBe('"w1:0" is not host:port (e.g. localhost:9464): the port must be 1-65535');
    expect(scrapeTargetProblem("w1:65536")).toContain("the port must be 1-65535");
    expect(scrapeTargetProblem("::1:9464")).toBe('"::1:9464" is not host:port (e.g. localhost:9464): an IPv6 address goes in brackets, e.g. [::1]:9464');
    expect(scrapeTargetProblem("w1")).toBe('"w1" is not host:port (e.g. localhost:9464)');
    expect(scrapeTargetProblem("")).toBe('"" is not host:port (e.g. localhost:9464)');
    expect(scrapeTargetProblem("w 1:9464")).toBe('"w 1:9464" is not host:port (e.g. localhost:9464)');
  });
});
