// `clickpipe monitor` as a user runs it: the real Prometheus scrapes every --target and the --pipeline's metrics port as
// instances of the job clickpipe, loads the alert rules, names the target that does not answer, and stops cleanly.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ALERT_RULES } from "../../src/metrics/prometheus-config.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { startMetricsServer } from "../../src/metrics/server.ts";
import { spawnCli, type CliProcess } from "../helpers/cli.ts";
import { freePort } from "../helpers/nats-server.ts";
import { waitFor, waitForValue } from "../helpers/wait-for.ts";

interface UpSeries {
  metric: { job: string; instance: string };
  value: [number, string];
}

function portOf(server: Server): number {
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("server not listening");
  return address.port;
}

describe("clickpipe monitor with several targets", () => {
  const servers: Server[] = [];
  let directory: string;
  let monitor: CliProcess;
  let prometheusUrl: string;
  let storage: string;
  /** A worker given by --target, one given by the pipeline's metrics section (0.0.0.0), one where nothing listens. */
  let byTarget: string;
  let byPipeline: string;
  let silent: string;
  /** The --target worker again, by another name of this machine: scraped once, not as a fourth target. */
  let alias: string;
  let pipelineFile: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "clickpipe-monitor-it-"));
    // Two workers' metrics servers (one registry each, as two processes have), on their own ports.
    const first = await startMetricsServer(new Metrics({ defaultMetrics: false }), 0, "127.0.0.1");
    const second = await startMetricsServer(new Metrics({ defaultMetrics: false }), 0, "0.0.0.0");
    servers.push(first, second);
    byTarget = `127.0.0.1:${portOf(first)}`;
    byPipeline = `127.0.0.1:${portOf(second)}`;
    silent = `127.0.0.1:${await freePort()}`;
    alias = `localhost:${portOf(first)}`;
    pipelineFile = join(directory, "p.yaml");
    await writeFile(pipelineFile, `name: p\nnats: { stream: S }\nsinks: [{ type: parquet, path: out }]\nmetrics: { port: ${portOf(second)} }\n`);

    monitor = spawnCli(["monitor", "--port", "0", "--scrape-interval", "1s", "--target", `${byTarget},${silent},${alias}`, "--pipeline", pipelineFile]);
    // The answer check follows the banner; its lines end with the standby sentence.
    if (!(await monitor.printed(/until it holds the pipeline's lock, so its target stays down until then\n/))) {
      throw new Error(`clickpipe monitor exited before its banner:\n${monitor.output()}`);
    }
    prometheusUrl = /^Prometheus on (http:\/\/\S+?),/m.exec(monitor.output())![1];
    storage = /temporary storage (\S+)$/m.exec(monitor.output())![1];
  });

  afterAll(async () => {
    if (monitor !== undefined && monitor.child.exitCode === null && monitor.child.signalCode === null) {
      monitor.child.kill("SIGKILL");
      await monitor.exited;
    }
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await rm(directory, { recursive: true, force: true });
  });

  it("lists every target in the banner, the pipeline's with its file", () => {
    const output = monitor.output();
    expect(output).toContain(
      `scraping job clickpipe at 3 targets every 1s:\n  ${byTarget}\n  ${silent}\n  ${byPipeline} (metrics of ${pipelineFile})\n` +
        `  ${alias} reaches the worker at ${byTarget}: scraped once, since two targets of one worker would count its series twice in every sum\n`,
    );
  });

  it("names the one target where nothing answers, and only it", () => {
    const silentLines = monitor.output().split("\n").filter((line) => line.startsWith("nothing answers at "));
    expect(silentLines).toEqual([`nothing answers at http://${silent}/metrics yet`]);
  });

  it("scrapes both workers as instances of the job clickpipe (up 1), and the silent target as down (up 0)", async () => {
    const expected = { [byTarget]: "1", [byPipeline]: "1", [silent]: "0" };
    const up = await waitForValue(
      "up of every target",
      async () => {
        const body = (await (await fetch(`${prometheusUrl}/api/v1/query?query=up`)).json()) as { data: { result: UpSeries[] } };
        return Object.fromEntries(body.data.result.map((series) => [`${series.metric.job} ${series.metric.instance}`, series.value[1]]));
      },
      (seen) => Object.entries(expected).every(([instance, value]) => seen[`clickpipe ${instance}`] === value),
      40_000,
    );
    expect(up).toEqual(Object.fromEntries(Object.entries(expected).map(([instance, value]) => [`clickpipe ${instance}`, value])));
  });

  it("loads the alert rules file: Prometheus lists each of its groups with every rule", async () => {
    const shipped = (parse(readFileSync(ALERT_RULES, "utf8")) as { groups: { name: string; rules: { alert: string }[] }[] }).groups;
    expect(shipped.length).toBeGreaterThan(0);
    type Rules = { data: { groups: { name: string; file: string; rules: { name: string }[] }[] } };
    const groups = await waitForValue(
      "the alert rule groups",
      async () => ((await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as Rules).data.groups,
      (seen) => seen.length === shipped.length,
      40_000,
    );
    expect(groups.map((group) => ({ name: group.name, file: group.file, rules: group.rules.map((rule) => rule.name) }))).toEqual(
      shipped.map((group) => ({ name: group.name, file: ALERT_RULES, rules: group.rules.map((rule) => rule.alert) })),
    );
  });

  it("stops Prometheus on SIGTERM, exits 0 and removes the temporary storage", async () => {
    expect(existsSync(storage)).toBe(true);
    monitor.child.kill("SIGTERM");
    const exit = await monitor.exited;
    expect(exit.code).toBe(0);
    expect(exit.output).toContain("SIGTERM: Prometheus stopped, temporary storage removed");
    expect(existsSync(storage)).toBe(false);
  });
});

/** Kills (SIGKILL) every process whose command line holds `argument`: a Prometheus the monitor left behind, by its storage. */
function killLeftBehind(argument: string): number {
  let killed = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (!commandLine.split("\0").some((part) => part.includes(argument))) continue;
    process.kill(Number(pid), "SIGKILL");
    killed++;
  }
  return killed;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

describe("clickpipe monitor ended otherwise than by Ctrl-C", () => {
  /** Accepts connections and never answers: the monitor's answer check of this target waits out its 1.5 s timeout. */
  let mute: NetServer;
  let muteTarget: string;
  const sockets = new Set<Socket>();
  const storages: string[] = [];

  beforeAll(async () => {
    mute = createNetServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
    muteTarget = `127.0.0.1:${(mute.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    // On a monitor that left Prometheus running, the tests fail; its Prometheus must not outlive them.
    for (const storage of storages) {
      killLeftBehind(storage);
      await rm(storage, { recursive: true, force: true });
    }
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => mute.close(resolve));
  });

  async function started(): Promise<{ monitor: CliProcess; url: string; storage: string }> {
    const monitor = spawnCli(["monitor", "--port", "0", "--target", muteTarget]);
    if (!(await monitor.printed(/Ctrl-C stops Prometheus and removes its storage\.\n/))) throw new Error(`no banner:\n${monitor.output()}`);
    const url = /^Prometheus on (http:\/\/\S+?),/m.exec(monitor.output())![1];
    const storage = /temporary storage (\S+)$/m.exec(monitor.output())![1];
    storages.push(storage);
    expect(await answers(url)).toBe(true);
    return { monitor, url, storage };
  }

  it("stops Prometheus and removes its storage when its terminal hangs up (SIGHUP), where Prometheus only reloads", async () => {
    const { monitor, url, storage } = await started();
    monitor.child.kill("SIGHUP");
    const exit = await monitor.exited;
    expect(exit.code).toBe(0);
    expect(exit.output).toContain("SIGHUP: Prometheus stopped, temporary storage removed");
    expect(existsSync(storage)).toBe(false);
    expect(await answers(url)).toBe(false);
  });

  it("stops Prometheus and removes its storage when the reader of its output goes (`clickpipe monitor | head`)", async () => {
    const { monitor, url, storage } = await started();
    // The line on the mute target follows the banner once its answer check times out, into a closed pipe.
    monitor.child.stdout!.destroy();
    const exit = await monitor.exited;
    expect(exit.code).toBe(0);
    await waitFor("Prometheus to stop", async () => !(await answers(url)), 5_000);
    expect(existsSync(storage)).toBe(false);
  });
});
