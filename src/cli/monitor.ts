// `clickpipe monitor` (npm run monitor): Debian's prometheus against a local pipeline, and where to point Grafana.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PROMETHEUS_CONFIG_DIR } from "../metrics/prometheus-config.ts";
import { DEFAULT_PROMETHEUS_PORT, PrometheusMissingError, startPrometheus, type RunningPrometheus } from "../metrics/prometheus-process.ts";

export const monitorUsage =
  "usage: clickpipe monitor [--target host:port] [--port N] [--host addr] [--scrape-interval 5s]\n" +
  "  --target           the pipeline's metrics endpoint (default localhost:9464, metrics.port of the pipeline)\n" +
  `  --port             Prometheus port (default ${DEFAULT_PROMETHEUS_PORT}, or a free port when it is taken; 0: a free port)\n` +
  "  --host             Prometheus listen address (default 127.0.0.1)\n" +
  "  --scrape-interval  how often to scrape (default 5s)";

const GRAFANA_DIR = fileURLToPath(new URL("../../grafana/", import.meta.url));

export async function runMonitor(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string", default: "localhost:9464" },
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      "scrape-interval": { type: "string", default: "5s" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(monitorUsage);
    return 0;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    console.error(`clickpipe monitor: --port must be a port number 0-65535, got "${values.port}"\n${monitorUsage}`);
    return 2;
  }
  if (!/^\d+(ms|s|m|h)$/.test(values["scrape-interval"])) {
    console.error(`clickpipe monitor: --scrape-interval must be a duration like 5s, got "${values["scrape-interval"]}"`);
    return 2;
  }
  let prometheus: RunningPrometheus;
  try {
    prometheus = await startPrometheus({ target: values.target, port, host: values.host, scrapeInterval: values["scrape-interval"] });
  } catch (error) {
    if (error instanceof PrometheusMissingError) {
      console.error(`clickpipe monitor: ${error.message}`);
      return 1;
    }
    throw error;
  }
  for (const line of monitorBanner(prometheus, values.target, values["scrape-interval"])) console.log(line);
  if (!(await answersMetrics(values.target))) {
    console.log(`nothing answers at http://${values.target}/metrics yet: start the pipeline (npm start, or a pipeline with metrics.port)`);
  }

  // Ctrl-C in a terminal signals Prometheus too; either way the monitor stops it and removes the storage.
  let signalled: string | undefined;
  const onSignal = (signal: string) => {
    signalled ??= signal;
    void prometheus.stop();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const exit = await prometheus.exited.catch((error: unknown) => (error as Error).message);
  await prometheus.stop();
  if (signalled !== undefined || exit === 0) {
    console.error(`${signalled ?? "exit"}: Prometheus stopped, temporary storage removed`);
    return 0;
  }
  console.error(`clickpipe monitor: prometheus exited (${String(exit)})`);
  return 1;
}

/** What the user reads after start: where Prometheus is and how to point Grafana at it. */
export function monitorBanner(prometheus: Pick<RunningPrometheus, "url" | "directory">, target: string, scrapeInterval: string): string[] {
  return [
    `Prometheus on ${prometheus.url}, scraping clickpipe at ${target} every ${scrapeInterval}`,
    `  alert rules ${PROMETHEUS_CONFIG_DIR}alerts.yml; alerts on ${prometheus.url}/alerts; temporary storage ${prometheus.directory}`,
    "Grafana: add a Prometheus data source with URL " + prometheus.url + ` and import ${GRAFANA_DIR}dashboards/*.json,`,
    "  or start Grafana with this repository's provisioning:",
    `  PROMETHEUS_URL=${prometheus.url} CLICKPIPE_DASHBOARDS=${GRAFANA_DIR}dashboards GF_PATHS_PROVISIONING=${GRAFANA_DIR}provisioning grafana server`,
    "  (with Docker, `docker compose up` runs NATS, the demo, Prometheus and Grafana on http://localhost:3000)",
    "Ctrl-C stops Prometheus and removes its storage.",
  ];
}

async function answersMetrics(target: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${target}/metrics`, { signal: AbortSignal.timeout(1500) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}
