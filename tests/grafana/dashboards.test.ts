// The Grafana dashboards and provisioning: structure Grafana needs, PromQL promtool accepts, and metrics the registry really has.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Histogram } from "prom-client";
import { parse } from "yaml";
import { ALERT_RULES } from "../../src/metrics/prometheus-config.ts";
import { LATE_SESSION_CONSUMERS } from "../../src/metrics/labels.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { parseExposition, seriesNames } from "../metrics/exposition.ts";
import { allPanels, DASHBOARDS_DIR, loadDashboards, metricNamesIn, selectorsIn, substituteGrafanaVariables, type DashboardPanel } from "./dashboards.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const PROVISIONING = join(REPO, "grafana", "provisioning");
const dashboards = loadDashboards();
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };

/** Names a PromQL query can read from this registry: sample names (with _bucket/_sum/_count) and family names. */
async function registryNames(): Promise<Set<string>> {
  const metrics = new Metrics({ defaultMetrics: true });
  const names = seriesNames(parseExposition(await metrics.registry.metrics()));
  for (const metric of metrics.registry.getMetricsAsArray()) {
    names.add(metric.name);
    // A labelled histogram has no sample before its first observation, yet its series are these.
    if (metric instanceof Histogram) for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
  }
  return names;
}

function alertExpressions(): { alert: string; expr: string }[] {
  const rules = parse(readFileSync(ALERT_RULES, "utf8")) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return rules.groups.flatMap((group) => group.rules);
}

describe("grafana dashboards", () => {
  it("are the two dashboards with stable, unique uids and their titles", () => {
    expect(dashboards.map(({ dashboard }) => [dashboard.uid, dashboard.title])).toEqual([
      ["clickpipe-customers-live", "clickpipe / customers live"],
      ["clickpipe-pipeline-health", "clickpipe / pipeline health"],
    ]);
    expect(new Set(dashboards.map(({ dashboard }) => dashboard.uid)).size).toBe(dashboards.length);
  });

  for (const { file, dashboard } of dashboards) {
    describe(file, () => {
      it("declares a datasource variable of type datasource that lists Prometheus data sources", () => {
        const variable = dashboard.templating.list.find((v) => v.name === "datasource");
        expect(variable).toMatchObject({ type: "datasource", query: "prometheus" });
      });

      it("queries the templated datasource in every panel and target", () => {
        for (const panel of allPanels(dashboard)) {
          expect(panel.datasource, panel.title).toEqual(DATASOURCE);
          for (const target of panel.targets ?? []) expect(target.datasource ?? DATASOURCE, `${panel.title} ${target.refId}`).toEqual(DATASOURCE);
        }
      });

      it("offers a pipeline variable (the scrape job) listing the jobs clickpipe workers report under, one at a time", () => {
        const job = dashboard.templating.list.find((v) => v.name === "job");
        // clickpipe_events_received_total is preset at 0 for every source from the start, so every worker of every pipeline
        // has it; up of the shipped job lists it before any worker answered (panel-semantics checks what it lists).
        expect(job).toMatchObject({
          type: "query",
          query: 'query_result(count by (job) (max_over_time(clickpipe_events_received_total[$__range]) or up{job="clickpipe"}))',
          regex: '/job="([^"]+)"/',
          multi: false,
          includeAll: false,
          refresh: 2,
        });
        expect((job as { definition?: unknown }).definition).toBe(job?.query);
        expect((job as { datasource?: unknown }).datasource).toEqual(DATASOURCE);
      });

      it("reads in every query only the series of the selected pipeline: two pipelines scraped by one Prometheus do not add up", () => {
        for (const panel of allPanels(dashboard)) {
          for (const target of panel.targets ?? []) {
            for (const selector of selectorsIn(target.expr ?? "")) expect(selector.matchers, `${panel.title} ${target.refId} ${selector.metric}`).toContain('job=~"$job"');
          }
        }
      });

      it("gives every panel at least one PromQL query and a unit", () => {
        for (const panel of allPanels(dashboard)) {
          expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0);
          for (const target of panel.targets ?? []) expect(target.expr?.trim() ?? "", `${panel.title} ${target.refId}`).not.toBe("");
          expect(panel.fieldConfig?.defaults?.unit ?? "", panel.title).not.toBe("");
        }
      });

      it("has unique panel ids and panels that fit the 24-column grid without overlapping", () => {
        const panels = allPanels(dashboard);
        expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
        for (const [index, a] of panels.entries()) {
          expect(a.gridPos.x + a.gridPos.w, a.title).toBeLessThanOrEqual(24);
          for (const b of panels.slice(index + 1)) {
            const apart =
              a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
              b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
              a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
              b.gridPos.y + b.gridPos.h <= a.gridPos.y;
            expect(apart, `${a.title} overlaps ${b.title}`).toBe(true);
          }
        }
      });
    });
  }

  it("lets pipeline health show chosen workers (instance, several or all) and filters every query by them", () => {
    const health = dashboards.find(({ dashboard }) => dashboard.uid === "clickpipe-pipeline-health")!.dashboard;
    const instance = health.templating.list.find((v) => v.name === "instance");
    expect(instance).toMatchObject({
      type: "query",
      query: 'label_values(clickpipe_events_received_total{job=~"$job"}, instance)',
      multi: true,
      includeAll: true,
      allValue: ".*",
    });
    for (const panel of allPanels(health)) {
      for (const target of panel.targets ?? []) {
        for (const selector of selectorsIn(target.expr ?? "")) expect(selector.matchers, `${panel.title} ${target.refId} ${selector.metric}`).toContain('instance=~"$instance"');
      }
    }
  });

  it("draws the alerts' thresholds on the panels of their metrics: checkpoint age at 300 s, pending messages at 10000", () => {
    const health = dashboards.find(({ dashboard }) => dashboard.uid === "clickpipe-pipeline-health")!.dashboard;
    const rules = new Map(alertExpressions().map((rule) => [rule.alert, rule.expr]));
    // The bound each rule compares its panel's metric with, read from the rule itself.
    const bound = (alert: string, pattern: RegExp) => Number(pattern.exec(rules.get(alert) ?? "")?.[1]);
    const stale = bound("ClickpipeCheckpointStale", /time\(\) - clickpipe_last_checkpoint_timestamp_seconds > (\d+)/);
    const lag = bound("ClickpipeConsumerLagGrowing", /clickpipe_consumer_pending_messages > (\d+)/);
    expect([stale, lag]).toEqual([300, 10000]);
    for (const [title, value] of [["Checkpoint age", stale], ["Consumer pending messages", lag]] as const) {
      const found = allPanels(health).find((p) => p.title === title) as DashboardPanel & {
        fieldConfig: { defaults: { thresholds?: { steps: { value: number | null }[] }; custom?: { thresholdsStyle?: { mode: string } } } };
      };
      expect(found.fieldConfig.defaults.thresholds?.steps.map((step) => step.value), title).toEqual([null, value]);
      expect(found.fieldConfig.defaults.custom?.thresholdsStyle?.mode, title).not.toBe("off");
    }
  });

  it("the pipeline-health and customers-live panels cover what issue 9 asks for", () => {
    const exprs = (uid: string) =>
      allPanels(dashboards.find(({ dashboard }) => dashboard.uid === uid)!.dashboard)
        .flatMap((p) => p.targets ?? [])
        .map((t) => t.expr ?? "")
        .join("\n");
    const health = exprs("clickpipe-pipeline-health");
    for (const metric of [
      "clickpipe_events_received_total",
      "clickpipe_events_processed_total",
      "clickpipe_events_invalid_total",
      "clickpipe_events_late_total",
      "clickpipe_events_duplicate_total",
      "clickpipe_dead_letters_duplicate_total",
      "clickpipe_consumer_pending_messages",
      "clickpipe_watermark_lag_seconds",
      "clickpipe_last_checkpoint_timestamp_seconds",
      "clickpipe_checkpoint_duration_seconds_bucket",
      "clickpipe_parquet_rows_written_total",
      "clickpipe_parquet_files_written_total",
      "clickpipe_state_bytes",
      "nodejs_eventloop_lag_seconds",
      "process_resident_memory_bytes",
      "clickpipe_source_claims",
      "clickpipe_source_takeovers_total",
      "clickpipe_stream_messages_discarded_total",
      "clickpipe_http_request_duration_seconds_count",
      "clickpipe_http_request_duration_seconds_bucket",
      "clickpipe_http_connections_refused_total",
    ])
      expect(health).toContain(metric);
    const customers = exprs("clickpipe-customers-live");
    for (const metric of [
      "clickpipe_sessions_final_total",
      "clickpipe_open_sessions",
      "clickpipe_sessions_bounced_total",
      "clickpipe_sessions_converted_total",
      "clickpipe_revenue_total",
      "clickpipe_refunds_total",
      "histogram_quantile(0.5, sum by (le) (rate(clickpipe_session_duration_seconds_bucket",
      "clickpipe_patterns_frequent",
      "clickpipe_patterns_top_support",
    ])
      expect(customers).toContain(metric);
  });

  it("queries only metrics the Metrics registry (with prom-client's default metrics) exposes, as do the alert rules", async () => {
    const names = await registryNames();
    const queried = [
      ...dashboards.flatMap(({ dashboard }) => allPanels(dashboard).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ""))),
      ...alertExpressions().map((rule) => rule.expr),
    ].flatMap(metricNamesIn);
    expect(queried.length).toBeGreaterThan(30);
    expect(queried.filter((name) => !names.has(name))).toEqual([]);
  });

  it("says on the late panel what clickpipe_sessions_late_total counts for each of its operators: the table the version misses", () => {
    // Each session consumer that counts late versions, and the table of its own that such a version is missing from.
    const missedTable: Record<(typeof LATE_SESSION_CONSUMERS)[number], string> = { sequencePatterns: "patterns", churnFeatures: "customer_features" };
    expect(Object.keys(missedTable).sort()).toEqual([...LATE_SESSION_CONSUMERS].sort());
    const health = dashboards.find(({ dashboard }) => dashboard.uid === "clickpipe-pipeline-health")!.dashboard;
    const late = allPanels(health).find((p) => (p.targets ?? []).some((t) => t.expr?.includes("clickpipe_sessions_late_total")));
    for (const [operator, table] of Object.entries(missedTable)) {
      expect(late?.description, operator).toContain(operator);
      expect(late?.description, operator).toContain(`not in ${table}`);
    }
  });

  it("finds a sample of every metric its panels query from the start, so no panel reads 'No data' before the first event", async () => {
    const metrics = new Metrics({ defaultMetrics: true });
    // A pipeline's sources, as startSources presets them before any source starts (a pipeline without any has none).
    metrics.presetSources([{ type: "http" }, { type: "accessLog" }]);
    const sampled = seriesNames(parseExposition(await metrics.registry.metrics()));
    const queried = new Set(dashboards.flatMap(({ dashboard }) => allPanels(dashboard).flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr ?? "")))));
    // Labelled by the pipeline's own operators, so set by the worker at its first report rather than preset here.
    // The collector's request histogram, labelled by route and code, appears at its first answer: no data is right for
    // a pipeline without a collector.
    const setByWorker = new Set([
      "clickpipe_state_bytes",
      "clickpipe_http_request_duration_seconds_bucket",
      "clickpipe_http_request_duration_seconds_count",
    ]);
    expect([...queried].filter((name) => !sampled.has(name) && !setByWorker.has(name))).toEqual([]);
  });

  it("holds only PromQL that promtool parses (every query checked as a recording rule)", async () => {
    const exprs = dashboards.flatMap(({ dashboard }) => allPanels(dashboard).flatMap((p) => (p.targets ?? []).map((t) => substituteGrafanaVariables(t.expr ?? ""))));
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-dashboard-promql-"));
    try {
      const rules = { groups: [{ name: "dashboards", rules: exprs.map((expr, index) => ({ record: `dashboard:query_${index}`, expr })) }] };
      await writeFile(join(directory, "queries.yml"), JSON.stringify(rules));
      const result = spawnSync("promtool", ["check", "rules", "queries.yml"], { cwd: directory, encoding: "utf8" });
      expect(`${result.stdout}${result.stderr}`).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("grafana provisioning", () => {
  const compose = parse(readFileSync(join(REPO, "docker-compose.yml"), "utf8")) as {
    services: Record<string, { environment?: Record<string, string>; volumes?: string[]; ports?: string[] }>;
  };
  const grafana = compose.services.grafana;
  /** Container path → host path of the Grafana service's bind mounts. */
  const mounts = new Map(
    (grafana.volumes ?? []).map((volume) => {
      const [host, container] = volume.split(":");
      return [container, resolve(REPO, host)];
    }),
  );
  const expand = (value: string) => value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => grafana.environment?.[a ?? b] ?? "");

  it("mounts grafana/provisioning where Grafana reads it", () => {
    expect(mounts.get("/etc/grafana/provisioning")).toBe(PROVISIONING);
    expect(readdirSync(PROVISIONING).sort()).toEqual(["dashboards", "datasources"]);
  });

  it("provisions a Prometheus data source at the URL of the compose prometheus service", () => {
    const file = parse(readFileSync(join(PROVISIONING, "datasources", "prometheus.yml"), "utf8")) as {
      apiVersion: number;
      datasources: { name: string; type: string; access: string; url: string }[];
    };
    expect(file.apiVersion).toBe(1);
    expect(file.datasources).toHaveLength(1);
    expect(file.datasources[0]).toMatchObject({ type: "prometheus", access: "proxy" });
    const url = new URL(expand(file.datasources[0].url));
    expect(url.hostname).toBe("prometheus");
    expect(compose.services.prometheus.ports).toContain(`${url.port}:${url.port}`);
  });

  it("gives the data source the scrape interval of the Prometheus it reads ($__rate_interval spans two scrapes of it)", () => {
    const file = parse(readFileSync(join(PROVISIONING, "datasources", "prometheus.yml"), "utf8")) as {
      datasources: { jsonData: { timeInterval: string } }[];
    };
    // The compose prometheus service runs config/prometheus/prometheus.yml with only its target replaced.
    const prometheus = parse(readFileSync(join(REPO, "config", "prometheus", "prometheus.yml"), "utf8")) as { global: { scrape_interval: string } };
    expect(expand(file.datasources[0].jsonData.timeInterval)).toBe(prometheus.global.scrape_interval);
  });

  it("refers to variables only as Grafana expands them: ${NAME} or $NAME, no shell default", () => {
    // Grafana runs each value through Go's os.ExpandEnv: `${X:-5s}` reads a variable named "X:-5s", empty whatever X is.
    const references = ["datasources/prometheus.yml", "dashboards/clickpipe.yml"].flatMap((file) =>
      [...readFileSync(join(PROVISIONING, file), "utf8").replace(/^\s*#.*$/gm, "").matchAll(/\$\{[^}]*\}/g)].map((match) => match[0]),
    );
    expect(references.sort()).toEqual(["${CLICKPIPE_DASHBOARDS}", "${CLICKPIPE_SCRAPE_INTERVAL}", "${PROMETHEUS_URL}"]);
  });

  it("provisions a file provider whose path is the mounted grafana/dashboards folder holding every dashboard", () => {
    const file = parse(readFileSync(join(PROVISIONING, "dashboards", "clickpipe.yml"), "utf8")) as {
      apiVersion: number;
      providers: { name: string; type: string; options: { path: string } }[];
    };
    expect(file.apiVersion).toBe(1);
    expect(file.providers).toHaveLength(1);
    expect(file.providers[0].type).toBe("file");
    const containerPath = expand(file.providers[0].options.path);
    expect(containerPath).not.toBe("");
    const hostPath = mounts.get(containerPath);
    expect(hostPath).toBe(DASHBOARDS_DIR.replace(/\/$/, ""));
    expect(existsSync(hostPath!)).toBe(true);
    expect(readdirSync(hostPath!).filter((f) => f.endsWith(".json")).sort()).toEqual(dashboards.map((d) => d.file));
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? "";
    expect(existsSync(home.replace(containerPath, hostPath!))).toBe(true);
  });
});
