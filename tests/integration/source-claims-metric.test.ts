// clickpipe_source_claims across two `clickpipe run`s of one pipeline file on one host (startSources twice, a registry
// each), against a real nats-server: the second's collector and tailer stand by, take over once the first stops, and
// count the takeover; a stopped run's source series are gone.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { pipelineSchema, type PipelineConfig } from "../../src/config/pipeline.ts";
import { startSources } from "../../src/ingest/sources.ts";
import { Metrics } from "../../src/metrics/registry.ts";
import { connectNats } from "../../src/transport/connection.ts";
import { freePort } from "../../src/transport/local-server.ts";
import { parseExposition } from "../metrics/exposition.ts";
import { uniqueStreamName } from "../helpers/nats-server.ts";

let directory: string;
let config: PipelineConfig;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-source-claims-"));
  const log = join(directory, "access.log");
  await writeFile(log, "");
  config = pipelineSchema.parse({
    name: "source-claims",
    nats: { url: inject("natsUrl"), stream: uniqueStreamName("SRCCLAIMS") },
    sinks: [{ type: "parquet", path: join(directory, "lake") }],
    sources: [
      { type: "http", port: await freePort(), host: "127.0.0.1", writeKeys: ["k"] },
      { type: "accessLog", paths: [log], pollInterval: "50ms" },
    ],
  });
});

afterAll(async () => {
  const nc = await connectNats({ url: inject("natsUrl"), name: "source-claims-test" });
  await (await jetstreamManager(nc)).streams.delete(config.nats.stream).catch(() => undefined);
  await nc.close();
  await rm(directory, { recursive: true, force: true });
});

async function sourceSamples(metrics: Metrics): Promise<Record<string, number>> {
  const samples = parseExposition(await metrics.registry.metrics());
  return Object.fromEntries([...samples].filter(([series]) => series.startsWith("clickpipe_source_")));
}

/** Both sources' series: [active, standby, takeovers] each. */
function expected(http: [number, number, number], accessLog: [number, number, number]): Record<string, number> {
  const of = (source: string, place: string, [active, standby, takeovers]: [number, number, number]) => ({
    [`clickpipe_source_claims{source="${source}",place="${place}",state="active"}`]: active,
    [`clickpipe_source_claims{source="${source}",place="${place}",state="standby"}`]: standby,
    [`clickpipe_source_takeovers_total{source="${source}",place="${place}"}`]: takeovers,
  });
  return { ...of("http", "sources[0]", http), ...of("access_log", "sources[1]", accessLog) };
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("clickpipe_source_claims of a pipeline's sources", () => {
  it("shows the standby run's sources standing by, then active with one takeover each once the first run stops", async () => {
    const [metricsA, metricsB] = [new Metrics(), new Metrics()];
    const a = await startSources(config, { metrics: metricsA, log: () => undefined, workerId: "a" });
    let b: Awaited<ReturnType<typeof startSources>> | undefined;
    try {
      expect(await sourceSamples(metricsA)).toEqual(expected([1, 0, 0], [1, 0, 0]));
      b = await startSources(config, { metrics: metricsB, log: () => undefined, workerId: "b" });
      expect(await sourceSamples(metricsB)).toEqual(expected([0, 1, 0], [0, 1, 0]));

      await a.stop();
      expect(await sourceSamples(metricsA)).toEqual({});
      const target = expected([1, 0, 1], [1, 0, 1]);
      await waitFor("the standby run to take both sources over", async () => isDeepStrictEqual(await sourceSamples(metricsB), target));
      expect(await sourceSamples(metricsB)).toEqual(target);

      await b.stop();
      b = undefined;
      expect(await sourceSamples(metricsB)).toEqual({});
    } finally {
      await a.stop();
      await b?.stop();
    }
  });
});
