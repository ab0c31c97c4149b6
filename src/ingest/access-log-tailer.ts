// The `accessLog` source: tails web server logs (rotation included) into the pipeline's stream, one page_view per request.
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { SourceConfig } from "../config/pipeline.ts";
import { ensureStream } from "../transport/stream.ts";
import { compileAccessLineReader } from "./access-log.ts";
import type { Source, SourceDependencies } from "./source.ts";
import { TailedPath } from "./tailer-file.ts";
import { TailPositionStore } from "./tailer-position.ts";
import { TailPublisher } from "./tailer-publisher.ts";

export type AccessLogSourceConfig = Extract<SourceConfig, { type: "accessLog" }>;

export interface AccessLogTailerOptions {
  /** Bytes read and published per chunk (default 1 MiB); small values exercise chunk boundaries in tests. */
  chunkBytes?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** How long a renamed-away file is still followed once it stops growing (default ROTATED_GRACE_MS, 5 s). */
  rotatedGraceMs?: number;
}

/**
 * Polls every path each `pollInterval` (a file-system event only makes the next poll come sooner: fs.watch misses
 * events on some file systems). Positions live in `deps.stateDirectory`, one file per path; see TailedPath for why
 * they are written after the JetStream ack and why the ids are derived from the file.
 */
export function createAccessLogTailer(config: AccessLogSourceConfig, deps: SourceDependencies, options: AccessLogTailerOptions = {}): Source {
  return new AccessLogTailer(config, deps, options);
}

class AccessLogTailer implements Source {
  private readonly paths: TailedPath[] = [];
  private readonly watchers: FSWatcher[] = [];
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AccessLogSourceConfig,
    private readonly deps: SourceDependencies,
    private readonly options: AccessLogTailerOptions,
  ) {}

  async start(): Promise<void> {
    const { deps, config } = this;
    await ensureStream(await jetstreamManager(deps.connection), deps.pipeline.nats.stream, { replicas: deps.pipeline.nats.replicas });
    const publisher = new TailPublisher({
      config: deps.pipeline,
      js: jetstream(deps.connection),
      connection: deps.connection,
      read: compileAccessLineReader(config.format),
      metrics: deps.metrics,
      env: this.options.env,
    });
    const store = new TailPositionStore(deps.stateDirectory);
    for (const path of config.paths) {
      const tailed = new TailedPath({
        path,
        store,
        publisher,
        log: deps.log,
        now: this.options.now ?? Date.now,
        stopping: () => this.stopping,
        chunkBytes: this.options.chunkBytes,
        rotatedGraceMs: this.options.rotatedGraceMs,
      });
      await tailed.restore();
      this.paths.push(tailed);
      this.watchDirectoryOf(path);
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const watcher of this.watchers) watcher.close();
    this.wake?.();
    await this.loop;
    await Promise.all(this.paths.map((tailed) => tailed.close()));
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      for (const tailed of this.paths) {
        try {
          await tailed.poll();
        } catch (error) {
          // The position did not move, so the next poll sends the same chunk again under the same ids.
          this.deps.log(`access log ${tailed.path}: ${(error as Error).message}; retrying in ${this.config.pollInterval} ms`);
        }
      }
      await this.sleep(this.config.pollInterval);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.timer = setTimeout(done, ms);
    });
  }

  private watchDirectoryOf(path: string): void {
    const name = basename(path);
    try {
      const watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || changed.startsWith(`${name}.`)) this.wake?.();
      });
      watcher.on("error", () => watcher.close());
      this.watchers.push(watcher);
    } catch {
      // No watch support (or no folder yet): polling alone still finds every line.
    }
  }
}
