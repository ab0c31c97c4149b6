// The `accessLog` source: tails web server logs (rotation included) into the pipeline's stream, one page_view per request.
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { SourceConfig } from "../config/pipeline.ts";
import type { SourceClaimSeries } from "../metrics/registry.ts";
import { ensureStream, streamOptions } from "../transport/stream.ts";
import { compileAccessLineReader } from "./access-log.ts";
import type { Source, SourceDependencies } from "./source.ts";
import { TailClaim } from "./tailer-claim.ts";
import { claimPlace, instanceKey } from "./tailer-instance.ts";
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
  /** A tailer's claim on a position file whose heartbeat is older than this is taken over (TailClaim). */
  claimStaleAfterMs?: number;
}

/**
 * Polls every path each `pollInterval` (a file-system event only makes the next poll come sooner: fs.watch misses
 * events on some file systems). Positions live in `deps.stateDirectory`, one file per path; see TailedPath for why
 * they are written after the JetStream ack and why the ids are derived from the file. A path is read only under its
 * claim (TailClaim): a second tailer of the same position file stands by and takes over from the saved position.
 * With `instance`, positions, claims and batch ids are the instance's (tailer-instance.ts): hosts that share the state
 * directory (a sink path on shared storage) each tail their own log at the same path.
 */
export function createAccessLogTailer(config: AccessLogSourceConfig, deps: SourceDependencies, options: AccessLogTailerOptions = {}): Source {
  return new AccessLogTailer(config, deps, options);
}

/** A configured path, its claim, and (while the claim is held and the position restored) its reader. */
interface ClaimedPath {
  path: string;
  claim: TailClaim;
  tailed: TailedPath | undefined;
}

class AccessLogTailer implements Source {
  private readonly paths: ClaimedPath[] = [];
  private readonly watchers: FSWatcher[] = [];
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private publisher: TailPublisher | undefined;
  private store: TailPositionStore | undefined;
  private series: SourceClaimSeries | undefined;
  /** instanceKey of the configured `instance`: in position files, claims, batch ids and the claim series' place. */
  private instance: string | undefined;

  constructor(
    private readonly config: AccessLogSourceConfig,
    private readonly deps: SourceDependencies,
    private readonly options: AccessLogTailerOptions,
  ) {}

  async start(): Promise<void> {
    const { deps, config } = this;
    await ensureStream(await jetstreamManager(deps.connection), deps.pipeline.nats.stream, streamOptions(deps.pipeline.nats, deps.log));
    this.publisher = new TailPublisher({
      config: deps.pipeline,
      js: jetstream(deps.connection),
      connection: deps.connection,
      read: compileAccessLineReader(config.format, { timeZone: config.timeZone }),
      metrics: deps.metrics,
      env: this.options.env,
    });
    const instance = config.instance === undefined ? undefined : instanceKey(config.instance);
    this.instance = instance;
    const store = (this.store = new TailPositionStore(deps.stateDirectory, instance));
    const series = deps.metrics.sourceSeries("accessLog", claimPlace(deps.place ?? "sources[…]", instance));
    this.series = series;
    try {
      for (const path of config.paths) {
        const claim = new TailClaim({
          positionFile: store.fileOf(path),
          path,
          workerId: deps.workerId ?? `worker-${process.pid}`,
          log: deps.log,
          staleAfterMs: this.options.claimStaleAfterMs,
          now: this.options.now,
          series,
          ...(instance !== undefined && { instance: { place: deps.place ?? "sources[…]", name: instance } }),
        });
        const claimed: ClaimedPath = { path, claim, tailed: undefined };
        this.paths.push(claimed);
        if (await claim.take()) await this.restore(claimed);
        this.watchDirectoryOf(path);
      }
    } catch (error) {
      await this.closeAll();
      throw error;
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    await this.closeAll();
  }

  private async closeAll(): Promise<void> {
    for (const watcher of this.watchers) watcher.close();
    await Promise.all(
      this.paths.map(async (claimed) => {
        await claimed.tailed?.close();
        claimed.tailed = undefined;
        await claimed.claim.release();
      }),
    );
    this.series?.remove();
  }

  /**
   * Reads the saved position of a path just claimed. Its position is saved only while the claim is still this
   * tailer's (a tailer that was paused past the stale limit and taken over must not move the new holder's position).
   */
  private async restore(claimed: ClaimedPath): Promise<void> {
    const { claim, path } = claimed;
    const store = this.store!;
    const publisher = this.publisher!;
    // A reader of its own: a W3C reader's columns belong to one file, not to every path of the source.
    const read = compileAccessLineReader(this.config.format, { timeZone: this.config.timeZone });
    const tailed = new TailedPath({
      path,
      store: {
        load: (of) => store.load(of),
        save: async (position) => {
          await claim.verify();
          await store.save(position);
        },
      },
      publisher: { publish: (prefix, lines, receivedAt, source) => publisher.publish(prefix, lines, receivedAt, { ...source, read }) },
      log: this.deps.log,
      now: this.options.now ?? Date.now,
      stopping: () => this.stopping || !claim.held,
      chunkBytes: this.options.chunkBytes,
      rotatedGraceMs: this.options.rotatedGraceMs,
      instance: this.instance,
    });
    await tailed.restore();
    claimed.tailed = tailed;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      for (const claimed of this.paths) {
        try {
          if (claimed.tailed === undefined) {
            // Standing by: take the claim over when its holder is gone or stale, then resume from the saved position.
            if (!(await claimed.claim.take())) continue;
            await this.restore(claimed);
          }
          await claimed.tailed!.poll();
        } catch (error) {
          // The position did not move, so the next poll sends the same chunk again under the same ids. A claim lost
          // meanwhile was logged when it was found lost.
          if (claimed.tailed === undefined || claimed.claim.held) this.deps.log(`access log ${claimed.path}: ${(error as Error).message}; retrying in ${this.config.pollInterval} ms`);
        }
        if (!claimed.claim.held && claimed.tailed !== undefined) {
          // Taken over (this process was paused past the stale limit): the new holder reads on from the saved position.
          await claimed.tailed.close();
          claimed.tailed = undefined;
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
