// Starts a pipeline's `sources:` (HTTP collector, access-log tailers) beside its worker, and stops them first.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { PipelineConfig } from "../config/pipeline.ts";
import type { Metrics } from "../metrics/registry.ts";
import { connectNats } from "../transport/connection.ts";
import { createAccessLogTailer } from "./access-log-tailer.ts";
import { createHttpCollector } from "./http-collector.ts";
import type { Source } from "./source.ts";
import { claimPlace, instanceKey } from "./tailer-instance.ts";

export interface RunningSources {
  count: number;
  /** Stops intake everywhere, publishes what the sources hold, persists their positions. */
  stop(): Promise<void>;
}

export async function startSources(
  config: PipelineConfig,
  options: { metrics: Metrics; log: (line: string) => void; workerId?: string },
): Promise<RunningSources> {
  const configs = config.sources ?? [];
  if (configs.length === 0) return { count: 0, stop: async () => undefined };
  const sinkPath = config.sinks.find((sink) => sink.type === "parquet")?.path ?? ".";
  const connection = await connectNats(config.nats);
  // Every source's clickpipe_source_claims series from the start, at 0 until its first try at its claims.
  const places = configs.map((source, index) => claimPlace(`sources[${index}]`, source.type === "accessLog" ? source.instance : undefined));
  options.metrics.presetSources(configs.map((source, index) => ({ type: source.type, place: places[index] })));
  const started: Source[] = [];
  try {
    for (const [index, sourceConfig] of configs.entries()) {
      const deps = {
        pipeline: config,
        connection,
        metrics: options.metrics,
        stateDirectory: join(sinkPath, "_checkpoints", config.name, "sources", `${index}-${sourceConfig.type}`),
        log: options.log,
        workerId: options.workerId,
        place: `sources[${index}]`,
      };
      const source = sourceConfig.type === "http" ? createHttpCollector(sourceConfig, deps) : createAccessLogTailer(sourceConfig, deps);
      await source.start();
      started.push(source);
      // The collector says where it listens itself, with the port it took (port 0 picks one) and its stream.
      if (sourceConfig.type === "accessLog") {
        const instance = sourceConfig.instance === undefined ? "" : ` as instance ${instanceKey(sourceConfig.instance)}`;
        options.log(`tailing ${sourceConfig.paths.join(", ")} (${sourceConfig.format})${instance}`);
        // A path with no file yet (a typo, a server not started, pipelines/web.yaml's /var/log/nginx/access.log on a
        // machine without nginx) was waited for without a word: "tailing" alone read as if lines were being read.
        for (const path of sourceConfig.paths) {
          if (!existsSync(path)) options.log(`${path} does not exist yet: sources[${index}] waits for it and reads it once it appears`);
        }
      }
    }
  } catch (error) {
    await Promise.allSettled(started.map((source) => source.stop()));
    for (const [index, sourceConfig] of configs.entries()) options.metrics.sourceSeries(sourceConfig.type, places[index]!).remove();
    await connection.close();
    throw error;
  }
  return {
    count: started.length,
    stop: async () => {
      await Promise.allSettled(started.map((source) => source.stop()));
      await connection.drain().catch(() => connection.close());
    },
  };
}
