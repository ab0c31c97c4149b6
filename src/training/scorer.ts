// Scores a customer_features snapshot with a trained model and writes `scores/snapshot_date=D/` atomically.
import { readdir, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { readManifest, readSegmentModel, type Manifest } from "./artifacts.ts";
import { initBackend } from "./backend.ts";
import type { TrainingConfig } from "./config.ts";
import { addBgNbdColumns, bgnbdProbabilities, featureMatrix } from "./features.ts";
import { directoryModelHandler } from "./model-io.ts";
import { predict } from "./neural-models.ts";
import { Progress, type ProgressStream } from "./progress.ts";
import { decilesOfRanks, rankByScore } from "./ranking.ts";
import { SCORES, scoresTable } from "./scores-table.ts";
import { assignSegments, type SegmentModel } from "./segmentation.ts";
import { completeSnapshotDates, readSnapshot } from "./snapshots.ts";
import { ParquetSink } from "../sinks/parquet.ts";

export interface ScoredSnapshot {
  date: string;
  rows: number;
  directory: string;
  modelVersion: string;
}

/** Where scores go: `scores:` from the training file, else the features folder's parent (beside customer_features). */
export function scoresRoot(config: TrainingConfig): string {
  return config.scores !== undefined ? resolve(config.scores) : dirname(resolve(config.features));
}

const CHUNK = 65_536;

export class Scorer {
  private constructor(
    readonly config: TrainingConfig,
    readonly manifest: Manifest,
    private readonly segments: SegmentModel,
    private readonly model: tf.LayersModel | undefined,
    private readonly log: ProgressStream,
  ) {}

  /** Loads the manifest, the segmentation and (unless the scoring model is bgnbd) the TensorFlow.js model. */
  static async open(config: TrainingConfig, log: ProgressStream): Promise<Scorer> {
    const out = resolve(config.out);
    const manifest = await readManifest(out);
    const segments = await readSegmentModel(out);
    let model: tf.LayersModel | undefined;
    if (manifest.scoringModel !== "bgnbd") {
      const backend = await initBackend();
      log.write(`tensorflow.js backend: ${backend}\n`);
      model = await tf.loadLayersModel(directoryModelHandler(join(out, manifest.scoringModel)));
    }
    return new Scorer(config, manifest, segments, model, log);
  }

  /** Churn probability of every customer of the given columns. */
  probabilities(columns: Record<string, Float64Array>, size: number): Float64Array {
    addBgNbdColumns(columns, size, this.manifest.bgnbd, this.manifest.label.horizonDays);
    if (this.model === undefined) return bgnbdProbabilities(columns, size, this.manifest.noPurchaseChurnRate);
    const features = Float32Array.from(featureMatrix(this.manifest.scaler, columns, size, false).values);
    const progress = new Progress(`score ${this.manifest.scoringModel}`, this.log);
    const out = new Float64Array(size);
    for (let start = 0; start < size; start += CHUNK) {
      const rows = Math.min(CHUNK, size - start);
      const width = this.manifest.scaler.names.length;
      out.set(predict(this.model, features.subarray(start * width, (start + rows) * width), rows), start);
      progress.update(start + rows, size);
    }
    return out;
  }

  /** Scores one complete snapshot and commits its scores partition (with `_SUCCESS`); re-scoring replaces it. */
  async scoreSnapshot(date: string): Promise<ScoredSnapshot> {
    const snapshot = await readSnapshot(this.config.features, date);
    const size = snapshot.customerIds.length;
    const columns: Record<string, Float64Array> = { ...snapshot.columns };
    const scores = this.probabilities(columns, size);
    const segments = assignSegments(this.segments, columns, size);
    const ranks = rankByScore(scores, snapshot.customerIds);
    const deciles = decilesOfRanks(ranks);
    const root = scoresRoot(this.config);
    const sink = new ParquetSink({ path: root, tables: [scoresTable], useWorkerThread: false });
    try {
      for (let i = 0; i < size; i++) {
        sink.append(SCORES, {
          customer_id: snapshot.customerIds[i],
          snapshot_date: date,
          score: scores[i],
          rank: ranks[i],
          decile: deciles[i],
          segment: segments[i],
          model_version: this.manifest.modelVersion,
        });
      }
      sink.markSuccess(SCORES, date);
      const pending = await sink.prepare(0);
      const directory = join(root, SCORES, `snapshot_date=${date}`);
      await removeStaleParts(directory, new Set(pending.files.map((file) => file.path.split("/").pop()!)));
      await sink.commit(pending);
      return { date, rows: size, directory, modelVersion: this.manifest.modelVersion };
    } finally {
      await sink.close();
    }
  }

  dispose(): void {
    this.model?.dispose();
  }
}

/** Parts of an earlier scoring of the same date that this one does not overwrite (it had more rows). */
async function removeStaleParts(directory: string, keep: Set<string>): Promise<void> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return;
  }
  await Promise.all(names.filter((name) => name.endsWith(".parquet") && !keep.has(name)).map((name) => unlink(join(directory, name))));
}

/** Complete feature snapshots on or after `from` that have no complete scores partition yet. */
export async function unscoredSnapshots(config: TrainingConfig, from: string): Promise<string[]> {
  const features = await completeSnapshotDates(config.features);
  let scored: string[] = [];
  try {
    scored = await completeSnapshotDates(join(scoresRoot(config), SCORES));
  } catch {
    scored = [];
  }
  const done = new Set(scored);
  return features.filter((date) => date >= from && !done.has(date));
}

/**
 * `--follow`: scores each new snapshot once its `_SUCCESS` appears, polling every `intervalMs`, until `signal` aborts.
 * Snapshots are scored in date order.
 */
export async function followSnapshots(
  scorer: Scorer,
  from: string,
  options: { intervalMs: number; signal: AbortSignal; onScored?: (scored: ScoredSnapshot) => void },
): Promise<void> {
  while (!options.signal.aborted) {
    for (const date of await unscoredSnapshots(scorer.config, from)) {
      if (options.signal.aborted) return;
      options.onScored?.(await scorer.scoreSnapshot(date));
    }
    await sleep(options.intervalMs, options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
