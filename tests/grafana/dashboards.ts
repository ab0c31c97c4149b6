// Reads the Grafana dashboards in tests: panels, their PromQL with Grafana's variables substituted, and the metric names it uses.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const DASHBOARDS_DIR = fileURLToPath(new URL("../../grafana/dashboards/", import.meta.url));

export interface DashboardTarget {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}

export interface DashboardVariable {
  name: string;
  type: string;
  query?: string;
  regex?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  templating: { list: DashboardVariable[] };
  panels: DashboardPanel[];
}

export interface DashboardFile {
  file: string;
  dashboard: Dashboard;
}

export function loadDashboards(): DashboardFile[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), "utf8")) as Dashboard }));
}

/** Every panel, including those nested in collapsed rows. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** The values of the dashboards' own variables a query is evaluated with: one pipeline (job), every worker. */
export interface SelectedValues {
  job: string;
  instance: string;
}

/**
 * Grafana's built-in interval variables replaced by a fixed range, and the dashboard's `$job` and `$instance` by the
 * selected values (an "All" of `instance` is its allValue, `.*`), as Grafana would before sending the query.
 */
export function substituteGrafanaVariables(expr: string, interval = "1m", selected: SelectedValues = { job: "clickpipe", instance: ".*" }): string {
  return expr
    .replaceAll("$__rate_interval", interval)
    .replaceAll("$__interval", interval)
    .replaceAll("$__range", interval)
    .replaceAll("$job", selected.job)
    .replaceAll("$instance", selected.instance);
}

/** Each series selector of a PromQL expression: a metric name and its label matchers as written ("" without braces). */
export function selectorsIn(expr: string): { metric: string; matchers: string }[] {
  return [...expr.matchAll(/\b((?:clickpipe|nodejs|process)_[a-zA-Z0-9_]*|up)\b(\{[^}]*\})?/g)].map((match) => ({ metric: match[1], matchers: match[2] ?? "" }));
}

/** Names of the metrics a PromQL expression reads (clickpipe_*, prom-client's nodejs_* and process_*). */
export function metricNamesIn(expr: string): string[] {
  // Label names and values never start with these prefixes in our queries; functions and keywords never do either.
  return [...new Set(expr.match(/\b(?:clickpipe|nodejs|process)_[a-zA-Z0-9_]*/g) ?? [])];
}

/**
 * The PromQL whose result's `label` values are a query variable's options over a time range `range` (as Grafana's
 * Prometheus data source lists them): label_values(M, L) asks for the series of M with a sample in the range, as
 * `group by (L) (last_over_time(M[range]))` finds them; query_result(E) runs E at the range's end with $__range set, and
 * the variable's regex picks `label` from each result's labels (checked apart), as `group by (label) (E)` keeps them.
 */
export function variableOptionsExpr(query: string, label: string, range: string): string {
  const labelValues = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
  if (labelValues !== null) return `group by (${labelValues[2]}) (last_over_time(${labelValues[1]}[${range}]))`;
  const queryResult = /^query_result\((.+)\)$/.exec(query);
  if (queryResult !== null) return `group by (${label}) (${queryResult[1].replaceAll("$__range", range)})`;
  throw new Error(`not a label_values or query_result variable query: ${query}`);
}

/** What a variable's regex (Grafana's "/pattern/flags") takes from an option's text: its first group, else the match. */
export function variableRegexPick(regex: string, text: string): string | undefined {
  const parsed = /^\/(.*)\/([a-z]*)$/.exec(regex);
  if (parsed === null) return text;
  const match = new RegExp(parsed[1], parsed[2]).exec(text);
  return match === null ? undefined : (match[1] ?? match[0]);
}
