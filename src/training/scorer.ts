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
import { completeSnapshotDates, isSnapshotComplete, readSnapshot, SnapshotColumnsError, type Snapshot } from "./snapshots.ts";
import { ParquetSink, SUCCESS_MARKER } from "../sinks/parquet.ts";
import { syncDirectory } from "../runtime/checkpoint.ts";
import { readParquetBatches } from "../sinks/parquet-reader.ts";

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

/** Columns churnFeatures fills from sessions: null for every customer when its pipeline runs no sessionize. */
const SESSION_COLUMNS = new Set(["sessions_7d", "sessions_30d", "sessions_90d", "pageviews_30d", "avg_session_duration_s_30d", "days_since_last_session"]);

/**
 * A model trained with session features cannot score a snapshot of a pipeline without sessionize: its nulls would be
 * filled with the training means, every customer alike, and the scores would rank on what is left. sessions_90d is 0,
 * not null, for a customer without sessions when sessionize runs, so a column of nulls means there were none.
 */
function checkSessionColumns(snapshot: Snapshot, featuresDir: string, manifest: Manifest, segments: SegmentModel): void {
  if (snapshot.customerIds.length === 0 || !snapshot.columns.sessions_90d.every(Number.isNaN)) return;
  const modelFeatures = manifest.scoringModel === "bgnbd" ? [] : manifest.scaler.names;
  const used = [...new Set([...modelFeatures, ...segments.plan.names])].filter((name) => SESSION_COLUMNS.has(name));
  if (used.length === 0) return;
  throw new SnapshotColumnsError(
    `snapshot ${snapshot.date} under ${featuresDir} has no session columns (null for every customer: no sessionize), but model ${manifest.modelVersion} uses ${used.join(", ")}: score snapshots of a pipeline with sessionize, or train on snapshots without sessions`,
  );
}

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
    checkSessionColumns(snapshot, this.config.features, this.manifest, this.segments);
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
      await replacePartition(directory, new Set(pending.files.map((file) => file.path.split("/").pop()!)), () => sink.commit(pending));
      return { date, rows: size, directory, modelVersion: this.manifest.modelVersion };
    } finally {
      await sink.close();
    }
  }

  dispose(): void {
    this.model?.dispose();
  }
}

/**
 * Replaces an earlier scoring of the same date: its `_SUCCESS` goes first (durably), then the parts this one does not
 * overwrite (it had more rows), then `commit` renames the new parts in and writes `_SUCCESS` again. A crash in between
 * leaves the date incomplete, which readers skip and `score --follow` scores again, never old and new parts under one
 * marker.
 */
export async function replacePartition(directory: string, keep: ReadonlySet<string>, commit: () => Promise<unknown>): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(directory);
  } catch {
    // No earlier scoring of this date.
  }
  if (names.includes(SUCCESS_MARKER)) {
    await unlink(join(directory, SUCCESS_MARKER));
    await syncDirectory(directory);
  }
  await Promise.all(names.filter((name) => name.endsWith(".parquet") && !keep.has(name)).map((name) => unlink(join(directory, name))));
  await commit();
}

/**
 * The model version that wrote a date's complete scores partition (its first part's first row), or undefined when the
 * date has no complete scores. Reads one row of the first part's first row group, so checking every followed date once
 * stays cheap; a damaged part rejects with a ParquetReadError naming it.
 */
export async function scoredModelVersion(config: TrainingConfig, date: string): Promise<string | undefined> {
  const directory = join(scoresRoot(config), SCORES, `snapshot_date=${date}`);
  if (!(await isSnapshotComplete(join(scoresRoot(config), SCORES), date))) return undefined;
  const part = (await readdir(directory)).filter((name) => name.endsWith(".parquet")).sort()[0];
  if (part === undefined) return undefined;
  const path = join(directory, part);
  // The first row group is decoded whole (see readParquetBatches) and freed once its first row is read.
  for await (const batch of readParquetBatches(path, { columns: ["model_version"] })) {
    for (const row of batch) return typeof row.model_version === "string" ? row.model_version : undefined;
  }
  return undefined;
}

/**
 * `--follow`: scores `from` (as a plain `score --snapshot` does), then every complete snapshot after it that has no
 * scores by this model yet (none, or a retrained model's older ones), then each new snapshot once its `_SUCCESS`
 * appears, polling every `intervalMs`, until `signal` aborts. Snapshots are scored in date order.
 */
export async function followSnapshots(
  scorer: Scorer,
  from: string,
  options: { intervalMs: number; signal: AbortSignal; onScored?: (scored: ScoredSnapshot) => void },
): Promise<void> {
  const checked = new Set<string>();
  while (!options.signal.aborted) {
    const dates = (await completeSnapshotDates(scorer.config.features)).filter((date) => date >= from && !checked.has(date));
    for (const date of dates) {
      if (options.signal.aborted) return;
      if (date === from || (await scoredModelVersion(scorer.config, date)) !== scorer.manifest.modelVersion) {
        options.onScored?.(await scorer.scoreSnapshot(date));
      }
      checked.add(date);
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
