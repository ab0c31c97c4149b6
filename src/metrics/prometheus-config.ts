// Renders a Prometheus config from config/prometheus/prometheus.yml for one clickpipe target (npm run monitor, tests).
import { fileURLToPath } from "node:url";
import { isMap, isSeq, parseDocument, type YAMLMap } from "yaml";

/** The repository's Prometheus files: prometheus.yml (the template), alerts.yml, alerts.test.yml. */
export const PROMETHEUS_CONFIG_DIR = fileURLToPath(new URL("../../config/prometheus/", import.meta.url));
export const PROMETHEUS_TEMPLATE = `${PROMETHEUS_CONFIG_DIR}prometheus.yml`;
export const ALERT_RULES = `${PROMETHEUS_CONFIG_DIR}alerts.yml`;

/** The scrape job the template declares for the pipeline. */
export const CLICKPIPE_JOB = "clickpipe";

export interface PrometheusConfigOptions {
  /** host:port of the pipeline's /metrics endpoint. */
  target: string;
  /** Prometheus duration such as "1s" or "5s"; default: the template's. */
  scrapeInterval?: string;
  /** Absolute paths of rule files; default: the template's rule files resolved against its directory. */
  ruleFiles?: string[];
}

/**
 * The template with the clickpipe job scraping `target` (and `scrapeInterval` as the global scrape and evaluation
 * interval). Rule files become absolute, so the rendered file works from any directory.
 */
export function renderPrometheusConfig(template: string, options: PrometheusConfigOptions): string {
  if (!/^[^\s/:]+:\d{1,5}$/.test(options.target) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(options.target)) {
    throw new Error(`scrape target "${options.target}" is not host:port (e.g. localhost:9464)`);
  }
  const doc = parseDocument(template);
  const job = findClickpipeJob(doc.get("scrape_configs"));
  if (job === undefined) throw new Error(`the Prometheus template has no scrape job named ${CLICKPIPE_JOB}`);
  job.set("static_configs", doc.createNode([{ targets: [options.target] }]));
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
