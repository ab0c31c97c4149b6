// `clickpipe monitor` (npm run monitor): Debian's prometheus scraping a pipeline's workers, and where to point Grafana.
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./parse-command-line.ts";
import type { PipelineConfig } from "../config/pipeline.ts";
import { portSpan } from "../config/port-range.ts";
import { CLICKPIPE_JOB, PROMETHEUS_CONFIG_DIR, scrapeTargetProblem } from "../metrics/prometheus-config.ts";
import { DEFAULT_PROMETHEUS_PORT, loopbackFor, PrometheusMissingError, startPrometheus, urlHost, type RunningPrometheus } from "../metrics/prometheus-process.ts";
import { loadPipelineOrThrow } from "./load-config.ts";

export const DEFAULT_TARGET = "localhost:9464";
/** The alert rules' shortest rate window is 5m, and a rate needs two scrapes inside it. */
const MAX_SCRAPE_INTERVAL_MS = 120_000;

export const monitorUsage =
  "usage: clickpipe monitor [--target host:port]… [--pipeline <pipeline.yaml>] [--port N] [--host addr] [--scrape-interval 5s]\n" +
  "  --target           a worker's metrics endpoint; repeat it, or separate several with commas, to list every worker\n" +
  "                     (a partitioned pipeline's, one metrics port each on a host) and every standby host; default\n" +
  `                     ${DEFAULT_TARGET} when neither --target nor --pipeline is given\n` +
  "  --pipeline         a pipeline file, checked as clickpipe validate checks it: adds the target of its metrics section\n" +
  "                     (metrics.host, 127.0.0.1 for 0.0.0.0 and [::1] for ::, and metrics.port; one target per port\n" +
  "                     of a range such as 9464-9467) to those of --target\n" +
  `  --port             Prometheus port (default ${DEFAULT_PROMETHEUS_PORT}, or a free port when it is taken; 0: a free port)\n` +
  "  --host             Prometheus listen address (default 127.0.0.1; 0.0.0.0: other machines too)\n" +
  "  --scrape-interval  how often to scrape and evaluate the alert rules (default 5s, at most 2m)\n" +
  `Every target is a target of the job ${CLICKPIPE_JOB} (the alert rules' and dashboards' job), its instance label its host:port.`;

const GRAFANA_DIR = fileURLToPath(new URL("../../grafana/", import.meta.url));
/** Grafana's home folder as its .deb and .rpm packages install it (its official image's too). */
const GRAFANA_HOME = "/usr/share/grafana";

/** A command line monitor cannot run with: exit 2, the message naming the bad value. */
export class MonitorUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MonitorUsageError";
  }
}

/** A pipeline file whose metrics monitor cannot scrape: exit 1. */
export class MonitorPipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MonitorPipelineError";
  }
}

export interface MonitorTarget {
  /** host:port, as Prometheus scrapes it and labels its series (`instance`). */
  address: string;
  /** The pipeline file whose metrics section gave it; undefined for a --target. */
  pipeline?: string;
  /** metrics.port when it is a range ("9464-9467"), one target per port: a port no worker took is down, and that is fine. */
  range?: string;
}

/** Every --target value, each split at commas, in order; a value that is not host:port is named. */
export function targetsOfOptions(values: readonly string[]): string[] {
  const targets: string[] = [];
  for (const value of values) {
    for (const part of value.split(",").map((text) => text.trim())) {
      const problem = scrapeTargetProblem(part);
      if (problem !== undefined) {
        const within = part === value ? "" : ` (in --target "${value}")`;
        throw new MonitorUsageError(`--target ${problem}${within}`);
      }
      targets.push(part);
    }
  }
  return targets;
}

/**
 * Where Prometheus scrapes the workers of `pipeline` (read from `file`): its metrics host, this machine's loopback
 * address for one that listens on every interface (no address to connect to), at its metrics port, or at each port of its range (a
 * worker takes the first free one, so any of them may answer).
 */
export function pipelineMetricsTargets(pipeline: Pick<PipelineConfig, "metrics">, file: string): MonitorTarget[] {
  if (pipeline.metrics === undefined) {
    throw new MonitorPipelineError(`${file} has no metrics section, so its workers serve no metrics: add \`metrics: {port: 9464}\` to it (or give --target)`);
  }
  const { host, port } = pipeline.metrics;
  if (port === 0) {
    throw new MonitorPipelineError(
      `${file} has metrics.port 0: each worker takes a free port, which it logs ("metrics on http://…:<port>/metrics"); give that port as --target, or set metrics.port (a range such as 9464-9467 gives the workers ports monitor can list)`,
    );
  }
  // The loopback address of the family the server listens on, not localhost: that may resolve to ::1 first, where a
  // server on 0.0.0.0 does not listen and another process may (binding 0.0.0.0:<port> does not clash with [::1]:<port>).
  const reachable = urlHost(loopbackFor(host));
  const { first, last } = portSpan(port);
  const range = typeof port === "string" ? `${first}-${last}` : undefined;
  return Array.from({ length: last - first + 1 }, (_, index) => ({
    address: `${reachable}:${first + index}`,
    pipeline: file,
    ...(range === undefined ? {} : { range }),
  }));
}

/**
 * The --target targets, each once, then the pipeline's unless a --target names it already (that one then says it is
 * the pipeline's); DEFAULT_TARGET when there are none.
 */
export function monitorTargets(fromOptions: readonly string[], fromPipeline: readonly MonitorTarget[] = []): MonitorTarget[] {
  const ofPipeline = new Map(fromPipeline.map((target) => [target.address, target]));
  const targets = [...new Set(fromOptions)].map((address): MonitorTarget => ofPipeline.get(address) ?? { address });
  for (const target of fromPipeline) if (!fromOptions.includes(target.address)) targets.push(target);
  return targets.length === 0 ? [{ address: DEFAULT_TARGET }] : targets;
}

/** Where a connection to any of these addresses goes: this machine (0.0.0.0 and :: connect to it as well). */
const THIS_MACHINE = new BlockList();
THIS_MACHINE.addSubnet("127.0.0.0", 8, "ipv4");
THIS_MACHINE.addAddress("0.0.0.0", "ipv4");
THIS_MACHINE.addAddress("::1", "ipv6");
THIS_MACHINE.addAddress("::", "ipv6");

/** A target left out because another reaches the same worker. */
export interface TargetAlias {
  address: string;
  /** The target kept in its place. */
  sameAs: string;
}

/** The host (brackets off an IPv6 address) and port of a host:port target. */
function hostAndPort(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port: address.slice(colon + 1) };
}

/** What a target's endpoint is known by: its host's addresses (this machine's as one) at its port, and its host name. */
function endpointKeys(address: string, addressesOf: (host: string) => readonly string[]): Set<string> {
  const { host, port } = hostAndPort(address);
  const keys = new Set([`name ${host.toLowerCase()} ${port}`]);
  for (const ip of [host, ...addressesOf(host)]) {
    const family = isIP(ip);
    if (family === 0) continue;
    const kind = family === 4 ? "ipv4" : "ipv6";
    keys.add(THIS_MACHINE.check(ip, kind) ? `this-machine ${port}` : `${kind === "ipv4" ? ip : new URL(`http://[${ip}]/`).hostname} ${port}`);
  }
  return keys;
}

/**
 * `targets` with each endpoint once. Two targets at one port whose hosts share an address (a name as `addressesOf`
 * resolves it; localhost, 127.0.0.1 and [::1] all reach this machine) reach one worker: scraped as two instances, its
 * every series would count twice in the dashboards' and alerts' sums. The first keeps its place and takes the pipeline
 * of a later one (as monitorTargets does for the same address).
 */
export function oneTargetPerEndpoint(
  targets: readonly MonitorTarget[],
  addressesOf: (host: string) => readonly string[],
): { targets: MonitorTarget[]; aliases: TargetAlias[] } {
  const kept: { target: MonitorTarget; keys: Set<string> }[] = [];
  const aliases: TargetAlias[] = [];
  for (const target of targets) {
    const keys = endpointKeys(target.address, addressesOf);
    const same = kept.find((other) => [...keys].some((key) => other.keys.has(key)));
    if (same === undefined) {
      kept.push({ target: { ...target }, keys });
      continue;
    }
    aliases.push({ address: target.address, sameAs: same.target.address });
    if (same.target.pipeline === undefined && target.pipeline !== undefined) {
      same.target = { ...same.target, pipeline: target.pipeline, ...(target.range === undefined ? {} : { range: target.range }) };
    }
  }
  return { targets: kept.map(({ target }) => target), aliases };
}

/** The addresses each target's host name resolves to (none when it does not resolve); an address stands for itself. */
export async function targetHostAddresses(targets: readonly MonitorTarget[]): Promise<Map<string, string[]>> {
  const hosts = [...new Set(targets.map((target) => hostAndPort(target.address).host))].filter((host) => isIP(host) === 0);
  const resolved = await Promise.all(
    hosts.map((host) =>
      lookup(host, { all: true }).then(
        (found) => found.map((entry) => entry.address),
        () => [],
      ),
    ),
  );
  return new Map(hosts.map((host, index) => [host, resolved[index]]));
}

/**
 * Milliseconds of a Prometheus duration such as "5s", "500ms" or "1m30s"; undefined when it is not one. As Prometheus
 * reads it, each unit comes at most once, largest first: it refuses "30s1m" in its config and would not start.
 */
export function durationMs(text: string): number | undefined {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
  if (match === null || text === "") return undefined;
  const [hours, minutes, seconds, millis] = match.slice(1).map((amount) => Number(amount ?? 0));
  return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis;
}

interface MonitorOptions {
  targets: string[];
  pipeline: string | undefined;
  port: number | undefined;
  host: string;
  scrapeInterval: string;
}

/** The command line as monitor runs it; undefined for --help. Throws MonitorUsageError naming a bad value. */
export function monitorOptions(argv: string[]): MonitorOptions | undefined {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      target: { type: "string", multiple: true, default: [] },
      pipeline: { type: "string", multiple: true, default: [] },
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      "scrape-interval": { type: "string", default: "5s" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(/^\d+$/.test(values.port ?? "") && port <= 65535)) {
    throw new MonitorUsageError(`--port must be a port number 0-65535, got "${values.port}"`);
  }
  const interval = durationMs(values["scrape-interval"]);
  if (interval === undefined || interval === 0 || interval > MAX_SCRAPE_INTERVAL_MS) {
    throw new MonitorUsageError(
      `--scrape-interval must be a duration like 5s, above 0 and at most 2m (the alert rules' 5m rates need two scrapes), got "${values["scrape-interval"]}"`,
    );
  }
  // One job is one pipeline: its series carry no pipeline label, so two pipelines' would add up in every panel.
  if (values.pipeline.length > 1) throw new MonitorUsageError(`--pipeline names one pipeline (its workers are the job ${CLICKPIPE_JOB}), got ${values.pipeline.length}`);
  const host = values.host.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw new MonitorUsageError("--host must be an address, got none");
  return { targets: targetsOfOptions(values.target), pipeline: values.pipeline[0], port, host, scrapeInterval: values["scrape-interval"] };
}

export async function runMonitor(argv: string[]): Promise<number> {
  let options: MonitorOptions | undefined;
  try {
    options = monitorOptions(argv);
  } catch (error) {
    if (!(error instanceof MonitorUsageError)) throw error;
    console.error(`clickpipe monitor: ${error.message}\n${monitorUsage}`);
    return 2;
  }
  if (options === undefined) {
    console.log(monitorUsage);
    return 0;
  }
  let fromPipeline: MonitorTarget[] = [];
  if (options.pipeline !== undefined) {
    const pipeline = await loadPipelineOrThrow(options.pipeline);
    try {
      fromPipeline = pipelineMetricsTargets(pipeline, options.pipeline);
    } catch (error) {
      if (!(error instanceof MonitorPipelineError)) throw error;
      console.error(`clickpipe monitor: ${error.message}`);
      return 1;
    }
  }
  const listed = monitorTargets(options.targets, fromPipeline);
  const addresses = await targetHostAddresses(listed);
  const { targets, aliases } = oneTargetPerEndpoint(listed, (host) => addresses.get(host) ?? []);

  let prometheus: RunningPrometheus;
  try {
    prometheus = await startPrometheus({
      targets: targets.map((target) => target.address),
      port: options.port,
      host: options.host,
      scrapeInterval: options.scrapeInterval,
    });
  } catch (error) {
    if (error instanceof PrometheusMissingError) {
      console.error(`clickpipe monitor: ${error.message}`);
      return 1;
    }
    throw error;
  }
  // Ctrl-C in a terminal signals Prometheus too; either way the monitor stops it and removes the storage. A closed
  // terminal (SIGHUP) ended the monitor and only made Prometheus reload its config: it went on scraping, holding its
  // port and its storage. A closed stdout (`monitor | head`) exits the process at once (handleClosedOutput), as may
  // any other exit: Prometheus goes with it. Set before the banner and the answer checks, which take
  // up to 1.5 s: a signal then ended the monitor alone too.
  let signalled: string | undefined;
  const onSignal = (signal: string) => {
    signalled ??= signal;
    void prometheus.stop();
  };
  const stopOnExit = () => prometheus.stopNow();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);
  process.once("exit", stopOnExit);
  for (const line of monitorBanner(prometheus, targets, options.scrapeInterval, aliases)) console.log(line);
  const answers = await Promise.all(targets.map((target) => answersMetrics(target.address)));
  for (const line of silentTargetLines(targets.filter((_, index) => !answers[index]))) console.log(line);

  const exit = await prometheus.exited.catch((error: unknown) => (error as Error).message);
  await prometheus.stop();
  process.off("exit", stopOnExit);
  if (signalled !== undefined || exit === 0) {
    console.error(`${signalled ?? "exit"}: Prometheus stopped, temporary storage removed`);
    return 0;
  }
  console.error(`clickpipe monitor: prometheus exited (${String(exit)})`);
  return 1;
}

/** What the user reads after start: what Prometheus scrapes, where it is, and how to point Grafana at it. */
export function monitorBanner(
  prometheus: Pick<RunningPrometheus, "url" | "host" | "port" | "directory">,
  targets: readonly MonitorTarget[],
  scrapeInterval: string,
  aliases: readonly TargetAlias[] = [],
): string[] {
  const named = targets.map((target) =>
    target.pipeline === undefined ? target.address : `${target.address} (metrics of ${target.pipeline}${target.range === undefined ? "" : `, port range ${target.range}`})`,
  );
  const ranges = [...new Set(targets.flatMap((target) => (target.range === undefined ? [] : [target.range])))];
  // ClickpipeDown sums `up` over the job's targets, so ports no worker took (down) do not fire it while one answers.
  const rangeNote = ranges.map(
    (range) => `  ports of ${range} that no worker took show as down (up 0); that is fine: ClickpipeDown fires only when no target of the job answers`,
  );
  const listening = prometheus.host === "0.0.0.0" || prometheus.host === "::" ? ` (listening on ${prometheus.host}: from another machine, this host's name and port ${prometheus.port})` : "";
  const scraping =
    named.length === 1
      ? [`Prometheus on ${prometheus.url}${listening}, scraping job ${CLICKPIPE_JOB} at ${named[0]} every ${scrapeInterval}`]
      : [`Prometheus on ${prometheus.url}${listening}, scraping job ${CLICKPIPE_JOB} at ${named.length} targets every ${scrapeInterval}:`, ...named.map((text) => `  ${text}`)];
  const grafanaData = join(tmpdir(), "clickpipe-grafana");
  const aliasNote = aliases.map(
    (alias) => `  ${alias.address} reaches the worker at ${alias.sameAs}: scraped once, since two targets of one worker would count its series twice in every sum`,
  );
  return [
    ...scraping,
    ...aliasNote,
    ...rangeNote,
    `  alert rules ${PROMETHEUS_CONFIG_DIR}alerts.yml; alerts on ${prometheus.url}/alerts; temporary storage ${prometheus.directory}`,
    `Grafana: add a Prometheus data source with URL ${prometheus.url} and scrape interval ${scrapeInterval}, and import ${GRAFANA_DIR}dashboards/*.json,`,
    `  or start Grafana with this repository's provisioning (--homepath: the folder holding Grafana's conf/defaults.ini, ${GRAFANA_HOME} from its .deb or .rpm):`,
    // The binary by its path: the packages put it on the PATH in /usr/sbin, which a Debian user's PATH lacks.
    `  PROMETHEUS_URL=${prometheus.url} CLICKPIPE_SCRAPE_INTERVAL=${scrapeInterval} CLICKPIPE_DASHBOARDS=${shellWord(`${GRAFANA_DIR}dashboards`)} ` +
      `GF_PATHS_PROVISIONING=${shellWord(`${GRAFANA_DIR}provisioning`)} GF_PATHS_DATA=${shellWord(grafanaData)} GF_PATHS_LOGS=${shellWord(`${grafanaData}/log`)} ` +
      `GF_PATHS_PLUGINS=${shellWord(`${grafanaData}/plugins`)} ${GRAFANA_HOME}/bin/grafana server --homepath ${GRAFANA_HOME}`,
    "  (with Docker, `docker compose up` runs NATS, the demo, Prometheus and Grafana on http://localhost:3000)",
    "Ctrl-C stops Prometheus and removes its storage.",
  ];
}

/** `text` as one word of a POSIX shell command: as it is when plain, else in single quotes (a path with a space). */
export function shellWord(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** One line per target that did not answer, naming it, and what to do (nothing when every target answered). */
export function silentTargetLines(silent: readonly MonitorTarget[]): string[] {
  if (silent.length === 0) return [];
  const ofRange = silent.some((target) => target.range !== undefined);
  return [
    ...silent.map((target) => `nothing answers at http://${target.address}/metrics yet`),
    "  start the pipeline there (npm start, or clickpipe run <pipeline.yaml> with a metrics section); a standby worker of an",
    "  unpartitioned pipeline serves no metrics until it holds the pipeline's lock, so its target stays down until then",
    ...(ofRange ? ["  each worker on a host takes the first free port of the range, so its last ports answer only when that many workers run"] : []),
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
