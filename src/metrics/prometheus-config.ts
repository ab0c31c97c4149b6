// Renders a Prometheus config from config/prometheus/prometheus.yml for the clickpipe job's targets (npm run monitor, tests).
import { fileURLToPath } from "node:url";
import { isMap, isSeq, parseDocument, type YAMLMap } from "yaml";

/** The repository's Prometheus files: prometheus.yml (the template), alerts.yml, alerts.test.yml. */
export const PROMETHEUS_CONFIG_DIR = fileURLToPath(new URL("../../config/prometheus/", import.meta.url));
export const PROMETHEUS_TEMPLATE = `${PROMETHEUS_CONFIG_DIR}prometheus.yml`;
export const ALERT_RULES = `${PROMETHEUS_CONFIG_DIR}alerts.yml`;

/** The scrape job the template declares for the pipeline. */
export const CLICKPIPE_JOB = "clickpipe";

export interface PrometheusConfigOptions {
  /** host:port of each worker's /metrics endpoint (at least one); each becomes a target of the job, its `instance`. */
  targets: readonly string[];
  /** Prometheus duration such as "1s" or "5s"; default: the template's. */
  scrapeInterval?: string;
  /** Absolute paths of rule files; default: the template's rule files resolved against its directory. */
  ruleFiles?: string[];
}

/**
 * Why `target` is not a scrape target Prometheus takes as written (host:port, an IPv6 address in brackets, a port
 * 1-65535), as a sentence naming it; undefined when it is one.
 */
export function scrapeTargetProblem(target: string): string | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s/:@?#[\]]+)):(\d{1,5})$/.exec(target);
  const port = match === null ? Number.NaN : Number(match[3]);
  if (match !== null && port >= 1 && port <= 65535) return undefined;
  const shown = `"${target}" is not host:port (e.g. localhost:9464)`;
  if (/^[a-z]+:\/\//i.test(target) || target.includes("/")) return `${shown}: leave out the scheme and the path (Prometheus scrapes http://<host:port>/metrics)`;
  if (match !== null) return `${shown}: the port must be 1-65535`;
  if ((target.match(/:/g) ?? []).length > 1) return `${shown}: an IPv6 address goes in brackets, e.g. [::1]:9464`;
  return shown;
}

/**
 * The template with the clickpipe job scraping `targets` (and `scrapeInterval` as the global scrape and evaluation
 * interval). Rule files become absolute, so the rendered file works from any directory.
 */
export function renderPrometheusConfig(template: string, options: PrometheusConfigOptions): string {
  if (options.targets.length === 0) throw new Error("no scrape target: give at least one host:port");
  for (const target of options.targets) {
    const problem = scrapeTargetProblem(target);
    if (problem !== undefined) throw new Error(`scrape target ${problem}`);
  }
  const doc = parseDocument(template);
  const job = findClickpipeJob(doc.get("scrape_configs"));
  if (job === undefined) throw new Error(`the Prometheus template has no scrape job named ${CLICKPIPE_JOB}`);
  // One target group: Prometheus labels each target's series with job="clickpipe" and instance="<host:port>".
  job.set("static_configs", doc.createNode([{ targets: [...new Set(options.targets)] }]));
  if (options.scrapeInterval !== undefined) {
    doc.setIn(["global", "scrape_interval"], options.scrapeInterval);
    doc.setIn(["global", "evaluation_interval"], options.scrapeInterval);
  }
  const ruleFiles = options.ruleFiles ?? templateRuleFiles(doc.get("rule_files"));
  doc.set("rule_files", doc.createNode(ruleFiles));
  return doc.toString({ lineWidth: 0 });
}

function findClickpipeJob(scrapeConfigs: unknown): YAMLMap | undefined {
  if (!isSeq(scrapeConfigs)) return undefined;
  for (const item of scrapeConfigs.items) {
    if (isMap(item) && item.get("job_name") === CLICKPIPE_JOB) return item;
  }
  return undefined;
}

function templateRuleFiles(ruleFiles: unknown): string[] {
  if (!isSeq(ruleFiles)) return [];
  return ruleFiles.items.map((item) => {
    const path = String((item as { value?: unknown }).value ?? item);
    return path.startsWith("/") ? path : `${PROMETHEUS_CONFIG_DIR}${path}`;
  });
}
