// Parquet sink: buffers rows per table and partition, writes fsynced `.inprogress` parts, renames them once the checkpoint commits.
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Metrics } from "../metrics/registry.ts";
import { forEachInParallel } from "../runtime/in-parallel.ts";
import { startTypeScriptWorker } from "../runtime/thread-entry.ts";
import {
  ColumnBatchBuilder,
  roomLike,
  encodeSealedBatch,
  encoderReady,
  transferListOf,
  type EncodeOptions,
  type ParquetCompression,
  type SealedBatch,
} from "./parquet-encoder.ts";
import type { EncodeRequest, EncodeResponse, MergeRequest } from "./parquet-encoder-worker.ts";
import type { Row, TableSpec } from "./table.ts";
import { mergedPartFileName, ownPartPattern, planMerge, rowCountsUntilSettled, type CompactionPolicy, type PartListing, type PlannedMerge } from "./compaction.ts";
import { mergeAndEncode, type EncodedMerge } from "./parquet-merge.ts";
import { partRowCount } from "./parquet-footer.ts";
import { eraseForgottenFromParts, type PartChange } from "./parquet-rewrite.ts";
import { processProbe, type ProcessProbe } from "../runtime/process-identity.ts";
import { isTemporaryPartName, temporaryAbandoned, thisProcessAsWriter } from "./part-temporaries.ts";

export interface ParquetSinkOptions {
  /** Root of the lake: files go to `<path>/<table>/<partitionKey>=<value>/`. */
  path: string;
  tables: TableSpec[];
  /** Default "zstd". */
  compression?: ParquetCompression;
  /** Maximum rows per row group. Default 100 000. */
  rowGroupSize?: number;
  /** Maximum rows per file; bigger buffers split into several parts. Default 500 000. */
  maxRowsPerFile?: number;
  /**
   * With encoder threads, a partition's buffer is sealed into a part and encoded as soon as it holds this many rows
   * (default 16 384, at most maxRowsPerFile), so encoding overlaps event processing instead of waiting for the
   * checkpoint; such parts are files of their own.
   */
  encodeEarlyRows?: number;
  metrics?: Metrics;
  /** Encode in worker threads (default true); false encodes on the calling thread with the same code. */
  useWorkerThread?: boolean;
  /** Encoder threads (default: defaultEncoderThreads(), one on two cores or fewer); a checkpoint's parts encode in parallel across them. */
  encoderThreads?: number;
  /**
   * Encoder threads shared with other sinks of this process (the tasks of a partitioned worker), instead of a pool
   * of its own; the sink does not close them.
   */
  sharedEncoders?: EncoderPool;
  /**
   * Set when several workers share one lake: part names become `part-<writerId>-<epoch>-<index>` so workers
   * never collide, and recovery deletes only this writer's in-progress parts. Letters, digits and `_`.
   */
  writerId?: string;
  /**
   * Merge this writer's small committed parts as part of the commit protocol (see compaction.ts and the README);
   * undefined: never.
   */
  compaction?: CompactionPolicy;
  /**
   * The ids of forgotten people (tombstones) at the time of a merge: the merge leaves out the rows that name one
   * (isForgottenRow), people forgotten since the parts were written.
   */
  forgotten?: () => ReadonlySet<string>;
  /** Where a merge that failed is reported (the checkpoint goes on without it). */
  log?: (line: string) => void;
}

export interface PendingFile {
  /** Path of the final `.parquet` file relative to the sink path; the in-progress file is this + ".inprogress". */
  path: string;
  table: string;
  rows: number;
}

/** What a checkpoint stores to finish (or redo) a commit after a crash: plain JSON, paths relative to the sink. */
export interface PendingCommit {
  epoch: number;
  files: PendingFile[];
  /** `_SUCCESS` markers to write, relative paths. */
  markers: string[];
  /** Merges of committed parts (compaction): each output renamed into place, then its inputs deleted. */
  merges?: PendingMerge[];
}

/** One merge a checkpoint records: paths relative to the sink, the output's in-progress file being output + ".inprogress". */
export interface PendingMerge {
  table: string;
  output: string;
  /** The parts merged, in the order their rows are in the output. */
  inputs: string[];
  rows: number;
}

/** Test-only hooks into a commit's merges (fault injection): after the output's rename, after each input's delete. */
export interface MergeStepHooks {
  afterRename?: () => void;
  afterDelete?: (deleted: number) => void;
}

export interface CommitSummary {
  renamed: number;
  alreadyCommitted: number;
  /** Files of the pending commit found neither in progress nor committed (deleted since, e.g. by retention). */
  missing: string[];
  /** Merges of the pending commit finished (their outputs in place, their inputs deleted). */
  merged: number;
  deletedInProgress: number;
  /** Temporary files of part rewrites (forget) whose process was killed mid-rewrite, deleted (part-temporaries.ts). */
  deletedTemporaries: number;
}

export const IN_PROGRESS_SUFFIX = ".inprogress";
export const SUCCESS_MARKER = "_SUCCESS";
const DEFAULT_ROW_GROUP_SIZE = 100_000;
const DEFAULT_MAX_ROWS_PER_FILE = 500_000;
export const DEFAULT_ENCODE_EARLY_ROWS = 16_384;
const MAX_EPOCH = 9_999_999_999;
/** Files opened, renamed or synced at once by a commit: a backlog of thousands of partitions must not run out of descriptors. */
const FILE_OPERATIONS_AT_ONCE = 32;
/** Partition folders a checkpoint lists for compaction at most: a lake's first checkpoint does not list it all at once. */
const FOLDERS_EXAMINED_PER_CHECKPOINT = 64;

/** Deterministic part file name: the same epoch, index and writer always give the same name. */
export function partFileName(epoch: number, index: number, writerId?: string): string {
  const writer = writerId ? `${writerId}-` : "";
  return `part-${writer}${String(epoch).padStart(10, "0")}-${String(index).padStart(4, "0")}.parquet`;
}

/** A part sealed before the checkpoint: its rows still buffered, or already handed to an encoder thread. */
interface SealedPart {
  rows: number;
  batch?: SealedBatch;
  bytes?: Promise<Uint8Array>;
}

interface PartitionBuffer {
  /** `<table>/<key>=<value>` relative to the sink path. */
  directory: string;
  sealed: SealedPart[];
  current: ColumnBatchBuilder;
}

interface TableBuffer {
  spec: TableSpec;
  partitions: Map<string, PartitionBuffer>;
}

interface EncodeJob {
  file: PendingFile;
  part: SealedPart;
}

/** The most rows a part's buffers are sized for from the start. */
const PRESIZED_ROWS_LIMIT = 65_536;

export class ParquetSink {
  private readonly root: string;
  private readonly encodeOptions: EncodeOptions;
  private readonly maxRowsPerFile: number;
  /** A partition buffer this long is sealed (and, with encoder threads, encoded at once). */
  private readonly sealRows: number;
  private readonly metrics?: Metrics;
  private readonly writerId?: string;
  private readonly encoderThread?: EncoderPool;
  private readonly ownsEncoders: boolean;
  private tables = new Map<string, TableBuffer>();
  private requestedMarkers = new Set<string>();
  private rowCount = 0;
  private readonly compaction?: CompactionPolicy;
  private readonly forgotten?: ParquetSinkOptions["forgotten"];
  private readonly log?: (line: string) => void;
  /**
   * Partition folders (relative) to look at for compaction: every folder of the sink's tables at the first checkpoint,
   * then those this sink committed parts to. A folder is dropped once it holds nothing to merge, until the next part.
   */
  private readonly compactionFolders = new Set<string>();
  private lakeListed = false;
  /** Row counts of this writer's committed parts (relative path), from its commits or their footers. */
  private readonly partRows = new Map<string, number>();

  constructor(options: ParquetSinkOptions) {
    if (options.writerId !== undefined && !/^[A-Za-z0-9_]+$/.test(options.writerId)) {
      throw new Error(`parquet sink writerId "${options.writerId}": use letters, digits and _ only`);
    }
    this.root = options.path;
    this.encodeOptions = {
      compression: options.compression ?? "zstd",
      rowGroupSize: options.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE,
    };
    this.maxRowsPerFile = options.maxRowsPerFile ?? DEFAULT_MAX_ROWS_PER_FILE;
    const early = options.useWorkerThread !== false ? (options.encodeEarlyRows ?? DEFAULT_ENCODE_EARLY_ROWS) : Infinity;
    this.sealRows = Math.min(this.maxRowsPerFile, early);
    this.metrics = options.metrics;
    this.writerId = options.writerId;
    this.compaction = options.compaction;
    this.forgotten = options.forgotten;
    this.log = options.log;
    this.ownsEncoders = options.sharedEncoders === undefined;
    if (options.useWorkerThread !== false) {
      this.encoderThread = options.sharedEncoders ?? new EncoderPool(options.encoderThreads ?? defaultEncoderThreads());
    }
    for (const spec of options.tables) {
      if (this.tables.has(spec.name)) throw new Error(`parquet sink: table ${spec.name} declared twice`);
      this.tables.set(spec.name, { spec, partitions: new Map() });
    }
  }

  /** Buffers one row; throws ParquetEncodeError (row not buffered) when a value does not fit its column. */
  append(table: string, row: Row): void {
    const buffer = this.tableBuffer(table);
    const value = buffer.spec.partitionOf(row);
    const partition = buffer.partitions.get(value) ?? this.openPartition(buffer, value);
    partition.current.append(row);
    // A worker starts the encoder threads before it reads (ready()); any other owner starts them with the first row, not
    // at the first seal or checkpoint, so their start-up (a thread and its modules, ~0.1–0.2 s) is over before any part.
    if (this.rowCount++ === 0) this.encoderThread?.warm();
    if (partition.current.length >= this.sealRows) {
      const sealed = partition.current.seal();
      // This table fills parts: the next one starts with room for one like it (up to a bound, for sinks without
      // encoder threads), sized before sealPart transfers the sealed buffers.
      const room = roomLike(sealed, Math.min(this.sealRows, PRESIZED_ROWS_LIMIT));
      partition.sealed.push(this.sealPart(sealed));
      partition.current = new ColumnBatchBuilder(buffer.spec.columns, room);
    }
  }

  bufferedRows(): number {
    return this.rowCount;
  }

  /** Rows or `_SUCCESS` markers the next prepare would commit. */
  hasUncommitted(): boolean {
    return this.rowCount > 0 || this.requestedMarkers.size > 0;
  }

  /**
   * Resolves once the encoder threads run, their modules loaded (for zstd, its libraries too). A worker awaits this
   * before it reads: a thread's start-up (≈ 0.1–0.2 CPU s) then overlaps recovery instead of competing for a core
   * with the first batches, and a thread that cannot start fails the worker at once, not at its first checkpoint.
   */
  async ready(): Promise<void> {
    await this.encoderThread?.ready(this.encodeOptions);
  }

  /**
   * Requests `<table>/<key>=<partition>/_SUCCESS`, written by the commit of the next prepare. With encoder threads the
   * partition's buffered rows are sealed now: its writer says it is complete, so the part encodes in the background
   * instead of at the checkpoint (a drain's final checkpoint waited ≈ 0.2 s for parts nobody would add to; see
   * bench/OPTIMIZATIONS.md, session 12). Rows that still come make a part of their own, with the next index.
   */
  markSuccess(table: string, partition: string): void {
    const buffer = this.tableBuffer(table);
    this.requestedMarkers.add(`${partitionDirectory(buffer.spec, partition)}/${SUCCESS_MARKER}`);
    const buffered = buffer.partitions.get(partition);
    if (this.encoderThread !== undefined && buffered !== undefined && buffered.current.length > 0) {
      buffered.sealed.push(this.sealPart(buffered.current.seal()));
      buffered.current = new ColumnBatchBuilder(buffer.spec.columns);
    }
  }

  /**
   * Encodes every buffered row into fsynced `.inprogress` parts and returns what the checkpoint must store.
   * Rows appended while this runs belong to the next epoch. When it rejects, the buffered rows are gone:
   * treat it as a crash (recover, replay from the last checkpoint).
   */
  async prepare(epoch: number): Promise<PendingCommit> {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
      throw new Error(`parquet sink: epoch ${epoch} must be an integer in [0, ${MAX_EPOCH}]`);
    }
    const jobs = this.drainBuffers(epoch);
    const markers = [...this.requestedMarkers].sort();
    this.requestedMarkers = new Set();
    const directories = new Set(jobs.map((job) => dirname(job.file.path)));
    await forEachInParallel([...directories], FILE_OPERATIONS_AT_ONCE, (directory) => mkdir(join(this.root, directory), { recursive: true }).then(() => undefined));
    // Biggest parts first, so the encoder threads finish together rather than one waiting on a late big part.
    const bySize = [...jobs].sort((a, b) => b.part.rows - a.part.rows);
    const [, merges] = await Promise.all([
      forEachInParallel(bySize, FILE_OPERATIONS_AT_ONCE, async (job) => {
        const bytes = await (job.part.bytes ?? this.encode(job.part.batch!));
        await writeFileDurably(join(this.root, job.file.path + IN_PROGRESS_SUFFIX), bytes);
      }),
      this.compaction === undefined ? [] : this.prepareMerges(epoch, this.compaction),
    ]);
    return { epoch, files: jobs.map((job) => job.file), markers, ...(merges.length > 0 && { merges }) };
  }

  /**
   * Removes the rows that name a person of `forgotten` from committed parts (`files`, absolute paths), each rewritten in
   * place or deleted as removeRowsFromPart does, with this sink's encoding: on an encoder thread, which decodes and
   * encodes them, or here for a sink without them. Per file, in order: what changed; undefined for a part that was gone.
   */
  async eraseForgotten(files: string[], forgotten: ReadonlySet<string>): Promise<(PartChange | undefined)[]> {
    if (files.length === 0 || forgotten.size === 0) return files.map(() => ({ rowsRemoved: 0, deleted: false }));
    if (this.encoderThread) return this.encoderThread.eraseForgotten(files, forgotten, this.encodeOptions);
    return eraseForgottenFromParts(files, forgotten, this.encodeOptions);
  }

  /** Publishes a prepared epoch (after its checkpoint committed): renames parts, writes markers, fsyncs folders, finishes merges. */
  async commit(pending: PendingCommit, hooks: MergeStepHooks = {}): Promise<void> {
    const summary = await finishCommit(this.root, pending, hooks);
    // Kept while compaction may take the part in: a part merged away is forgotten, so a live worker keeps a few
    // entries per partition (its latest small parts and merged parts), not one per checkpoint.
    if (this.compaction !== undefined) {
      for (const file of summary.renamedFiles) {
        this.partRows.set(file.path, file.rows);
        this.compactionFolders.add(dirname(file.path));
      }
    }
    for (const merge of summary.mergedFiles) {
      this.partRows.set(merge.output, merge.rows);
      for (const input of merge.inputs) this.partRows.delete(input);
    }
    if (!this.metrics) return;
    for (const file of summary.renamedFiles) {
      this.metrics.parquetRowsWritten.inc({ table: file.table }, file.rows);
      this.metrics.parquetFilesWritten.inc({ table: file.table });
    }
    for (const merge of summary.mergedFiles) this.metrics.partsCompacted.inc({ table: merge.table }, merge.inputs.length);
  }

  /**
   * Compaction's share of a prepare: plans at most mergesPerCheckpoint merges over the folders to look at, and writes
   * each output as an fsynced `.inprogress` file named after this epoch (the parts read, decoded, merged and encoded
   * by an encoder thread). The checkpoint records them; commit renames the outputs and deletes the inputs.
   */
  private async prepareMerges(epoch: number, policy: CompactionPolicy): Promise<PendingMerge[]> {
    if (!this.lakeListed) {
      this.lakeListed = true;
      for (const table of this.tables.keys()) {
        for (const name of await subfolders(join(this.root, table))) this.compactionFolders.add(`${table}/${name}`);
      }
    }
    const own = ownPartPattern(this.writerId);
    const planned: PlannedMerge[] = [];
    for (const directory of [...this.compactionFolders].sort().slice(0, FOLDERS_EXAMINED_PER_CHECKPOINT)) {
      if (planned.length >= policy.mergesPerCheckpoint) break;
      const names = (await subfiles(join(this.root, directory))).filter((name) => own.test(name)).sort();
      let merge: PlannedMerge | undefined;
      try {
        merge = names.length < policy.minParts ? undefined : planMerge(directory, await this.rowCountsUntilMerge(directory, names, policy), policy, this.writerId);
      } catch (error) {
        this.mergeFailed(directory, error);
      }
      if (merge === undefined) this.compactionFolders.delete(directory);
      else planned.push(merge);
    }
    const merges: PendingMerge[] = [];
    for (const merge of planned) {
      const output = `${merge.directory}/${mergedPartFileName(epoch, merges.length, this.writerId)}`;
      try {
        const files = merge.inputs.map((input) => join(this.root, merge.directory, input.name));
        const encoded = await this.mergeAndEncode(files, this.forgotten?.(), merge.rows);
        // Nothing left to merge (parts gone, or every row forgotten: forget removes those parts itself).
        if (encoded === undefined) {
          this.compactionFolders.delete(merge.directory);
          continue;
        }
        await writeFileDurably(join(this.root, output + IN_PROGRESS_SUFFIX), encoded.bytes);
        const inputs = encoded.merged.map((file) => `${merge.directory}/${basename(file)}`);
        merges.push({ table: merge.directory.split("/")[0], output, inputs, rows: encoded.rows });
      } catch (error) {
        // Compaction is an optimization: a part it cannot read (or write) leaves the epoch's commit be.
        await unlink(join(this.root, output + IN_PROGRESS_SUFFIX)).catch(() => undefined);
        this.mergeFailed(merge.directory, error);
      }
    }
    return merges;
  }

  /** A folder whose merge failed is left alone until this sink commits a part there again; the failure is logged. */
  private mergeFailed(directory: string, error: unknown): void {
    this.compactionFolders.delete(directory);
    this.log?.(`compaction: ${directory} not merged this time: ${error instanceof Error ? error.message : String(error)}`);
  }

  /** Row counts of a folder's parts in name order, until the merge is settled (rowCountsUntilSettled). */
  private rowCountsUntilMerge(directory: string, names: readonly string[], policy: CompactionPolicy): Promise<PartListing[]> {
    return rowCountsUntilSettled(names, policy, FILE_OPERATIONS_AT_ONCE, (batch) => this.rowCounts(directory, batch));
  }

  /**
   * Row counts of a folder's parts: known from this sink's commits, else read from their footers (gone: left out) by
   * parquet-footer.ts, on this thread without parquet-wasm: a footer is a few KiB, read synchronously.
   */
  private rowCounts(directory: string, names: readonly string[]): PartListing[] {
    const counted: PartListing[] = [];
    for (const name of names) {
      const path = `${directory}/${name}`;
      let rows = this.partRows.get(path);
      if (rows === undefined) {
        rows = partRowCount(join(this.root, path));
        if (rows !== undefined) this.partRows.set(path, rows);
      }
      if (rows !== undefined) counted.push({ name, rows });
    }
    return counted;
  }

  /**
   * Startup recovery: finishes the renames and markers of the last committed checkpoint (idempotent), then
   * deletes every other in-progress part under `path` (only this writer's when writerId is given), and the temporary
   * files of part rewrites that processes killed mid-rewrite left (any writer's parts: any worker or `forget` rewrites
   * them; only those temporaryAbandoned judges nobody can be writing, so never one of a live process or another host).
   * `probe`: how processes of this host are looked at; `now`: the clock temporaries' ages are taken by (a test's stand-ins).
   */
  static async recover(
    path: string,
    pending: PendingCommit | undefined,
    options: { writerId?: string; probe?: ProcessProbe; now?: () => number } = {},
  ): Promise<CommitSummary> {
    if (!(await exists(path))) {
      return { renamed: 0, alreadyCommitted: 0, missing: pending ? pending.files.map((f) => f.path) : [], deletedInProgress: 0, deletedTemporaries: 0, merged: 0 };
    }
    const summary = pending ? await finishCommit(path, pending, {}) : { renamedFiles: [], alreadyCommitted: 0, missing: [], mergedFiles: [] };
    const prefix = options.writerId ? `part-${options.writerId}-` : "";
    const self = thisProcessAsWriter();
    const probe = options.probe ?? processProbe;
    const now = options.now ?? Date.now;
    const deleted = await deleteLeftovers(path, {
      inProgress: (name) => name.endsWith(IN_PROGRESS_SUFFIX) && name.startsWith(prefix),
      temporary: (name, modifiedMs) => temporaryAbandoned(name, self, probe, now() - modifiedMs),
    });
    return {
      renamed: summary.renamedFiles.length,
      alreadyCommitted: summary.alreadyCommitted,
      missing: summary.missing,
      deletedInProgress: deleted.inProgress,
      deletedTemporaries: deleted.temporaries,
      merged: summary.mergedFiles.length,
    };
  }

  async close(): Promise<void> {
    if (this.ownsEncoders) await this.encoderThread?.close();
  }

  private tableBuffer(table: string): TableBuffer {
    const buffer = this.tables.get(table);
    if (!buffer) throw new Error(`parquet sink: unknown table ${table} (declared: ${[...this.tables.keys()].join(", ")})`);
    return buffer;
  }

  private openPartition(buffer: TableBuffer, value: string): PartitionBuffer {
    const partition: PartitionBuffer = {
      directory: partitionDirectory(buffer.spec, value),
      sealed: [],
      current: new ColumnBatchBuilder(buffer.spec.columns),
    };
    buffer.partitions.set(value, partition);
    return partition;
  }

  /** Takes every buffered batch out, in a deterministic order: table, partition value, then append order. */
  private drainBuffers(epoch: number): EncodeJob[] {
    const jobs: EncodeJob[] = [];
    for (const name of [...this.tables.keys()].sort()) {
      const buffer = this.tables.get(name)!;
      for (const value of [...buffer.partitions.keys()].sort()) {
        const partition = buffer.partitions.get(value)!;
        const parts = [...partition.sealed];
        if (partition.current.length > 0) parts.push({ rows: partition.current.length, batch: partition.current.seal() });
        parts.forEach((part, index) => {
          const path = `${partition.directory}/${partFileName(epoch, index, this.writerId)}`;
          jobs.push({ file: { path, table: name, rows: part.rows }, part });
        });
      }
      buffer.partitions = new Map();
    }
    this.rowCount = 0;
    return jobs;
  }

  /** With encoder threads the part starts encoding now; its bytes wait in memory (compressed) for the checkpoint. */
  private sealPart(batch: SealedBatch): SealedPart {
    if (!this.encoderThread) return { rows: batch.length, batch };
    const bytes = this.encode(batch);
    // prepare() awaits and reports a failure; until then it must not count as an unhandled rejection.
    bytes.catch(() => undefined);
    return { rows: batch.length, bytes };
  }

  /**
   * A merge's output bytes: on an encoder thread, or here for a sink without them (letting the event loop run between
   * columns, as a merge of 100k rows copied at once held it for a few hundred ms).
   */
  private mergeAndEncode(files: string[], forgotten: ReadonlySet<string> | undefined, rows: number): Promise<EncodedMerge | undefined> {
    if (this.encoderThread) return this.encoderThread.merge(files, forgotten, this.encodeOptions, rows);
    return mergeAndEncode(files, forgotten, this.encodeOptions, () => new Promise((resolve) => setImmediate(resolve)));
  }

  private encode(batch: SealedBatch): Promise<Uint8Array> {
    if (this.encoderThread) return this.encoderThread.encode(batch, this.encodeOptions);
    return encoderReady(this.encodeOptions.compression).then(() => encodeSealedBatch(batch, this.encodeOptions));
  }
}

function partitionDirectory(spec: TableSpec, value: string): string {
  if (typeof value !== "string" || value === "" || value === "." || value === ".." || /[/\\\0]/.test(value)) {
    throw new Error(`table ${spec.name}: partition value ${JSON.stringify(value)} cannot be a folder name`);
  }
  return `${spec.name}/${spec.partitionKey}=${value}`;
}

/** Renames a pending commit's parts, writes its markers and finishes its merges; safe to run again after any partial run. */
async function finishCommit(
  root: string,
  pending: PendingCommit,
  hooks: MergeStepHooks,
): Promise<{ renamedFiles: PendingFile[]; alreadyCommitted: number; missing: string[]; mergedFiles: PendingMerge[] }> {
  const renamedFiles: PendingFile[] = [];
  const missing: string[] = [];
  let alreadyCommitted = 0;
  await forEachInParallel(pending.files, FILE_OPERATIONS_AT_ONCE, async (file) => {
    const final = join(root, file.path);
    try {
      await rename(final + IN_PROGRESS_SUFFIX, final);
      renamedFiles.push(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      if (await exists(final)) alreadyCommitted++;
      else missing.push(file.path);
    }
  });
  await forEachInParallel(pending.markers, FILE_OPERATIONS_AT_ONCE, async (marker) => {
    await mkdir(join(root, dirname(marker)), { recursive: true });
    await writeFileDurably(join(root, marker), new Uint8Array(0));
  });
  // Renames and new folders are durable only once every folder on the way holds its entry.
  const directories = new Set<string>();
  for (const path of [...pending.files.map((f) => f.path), ...pending.markers]) {
    for (let directory = dirname(path); directory !== "."; directory = dirname(directory)) directories.add(directory);
  }
  await forEachInParallel([...directories], FILE_OPERATIONS_AT_ONCE, (directory) => syncDirectory(join(root, directory)));
  if (directories.size > 0) await syncDirectory(root);
  const mergedFiles: PendingMerge[] = [];
  for (const merge of pending.merges ?? []) {
    if (await finishMerge(root, merge, hooks)) mergedFiles.push(merge);
    else missing.push(merge.output);
  }
  return { renamedFiles, alreadyCommitted, missing, mergedFiles };
}

/**
 * A committed merge: its output renamed into place (made durable), then its inputs deleted. In between, a reader
 * listing the folder sees the merged rows twice; at rest each row is once. Inputs are deleted only when the output is
 * there: an output found neither in progress nor in place (deleted since) leaves the inputs be. Returns whether the
 * output is in place.
 */
async function finishMerge(root: string, merge: PendingMerge, hooks: MergeStepHooks): Promise<boolean> {
  const output = join(root, merge.output);
  try {
    await rename(output + IN_PROGRESS_SUFFIX, output);
    await syncDirectory(dirname(output));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    if (!(await exists(output))) return false;
  }
  hooks.afterRename?.();
  let deleted = 0;
  for (const input of merge.inputs) {
    await unlink(join(root, input)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    hooks.afterDelete?.(++deleted);
  }
  await syncDirectory(dirname(output));
  return true;
}

/** Names of the folders in `directory` that are hive partitions (not `_`/`.` ones); none when it does not exist. */
async function subfolders(directory: string): Promise<string[]> {
  try {
    const entries = await readdir(directory, { withFileTypes: true });
    return entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith("_") && !entry.name.startsWith(".")).map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** Names in `directory`; none when it does not exist. */
async function subfiles(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/**
 * Deletes the in-progress parts and the abandoned temporaries (as the predicates pick them) under root, skipping
 * `_`/`.` folders (checkpoints, hidden) as Hive readers do. A temporary already gone is not counted: the tasks of a
 * partitioned worker recover at once, and each looks at every temporary.
 */
async function deleteLeftovers(
  directory: string,
  picks: { inProgress: (name: string) => boolean; temporary: (name: string, modifiedMs: number) => boolean },
): Promise<{ inProgress: number; temporaries: number }> {
  const deleted = { inProgress: 0, temporaries: 0 };
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
      const below = await deleteLeftovers(path, picks);
      deleted.inProgress += below.inProgress;
      deleted.temporaries += below.temporaries;
    } else if (picks.inProgress(entry.name)) {
      await unlink(path);
      deleted.inProgress++;
    } else if (entry.isFile() && isTemporaryPartName(entry.name)) {
      const modified = await stat(path).then((stats) => stats.mtimeMs, goneOrThrow);
      if (modified === undefined || !picks.temporary(entry.name, modified)) continue;
      if ((await unlink(path).then(() => true, goneOrThrow)) === true) deleted.temporaries++;
    }
  }
  return deleted;
}

/** undefined for a file gone meanwhile (renamed into place, or deleted by another task's recovery); throws otherwise. */
function goneOrThrow(error: NodeJS.ErrnoException): undefined {
  if (error.code === "ENOENT") return undefined;
  throw error;
}

async function writeFileDurably(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, "w");
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The encoder thread's entry: TypeScript under tsx or vitest (bundled for the thread, see thread-entry.ts), .js when built. */
export function startEncoderWorker(): Worker {
  const typescript = import.meta.url.endsWith(".ts");
  return startTypeScriptWorker(new URL(typescript ? "./parquet-encoder-worker.ts" : "./parquet-encoder-worker.js", import.meta.url));
}

/** Encoder threads on a machine with more than two cores: a part per thread at a checkpoint, and room to spare. */
export const ENCODER_THREADS_MANY_CORES = 2;

/**
 * Encoder threads by default: one on two cores or fewer, else ENCODER_THREADS_MANY_CORES. One thread encodes the
 * demo pipeline's `sessions` rows at 1.0–1.2M rows/s, twenty times what a drain on two cores produces. A second
 * thread is a second V8 isolate that compiles the writer again and runs collections of its own on V8's shared helper
 * threads; on two cores shared with the main thread and nats-server that cost the drain more than the parallel
 * encoding of a checkpoint's parts gave back: one thread was faster in 26 of 30 alternating drains (three series,
 * medians +10%, +5.3%, +5.7%), the final commit no longer (bench/OPTIMIZATIONS.md, session 22).
 */
export function defaultEncoderThreads(cores: number = availableParallelism()): number {
  return cores <= 2 ? 1 : ENCODER_THREADS_MANY_CORES;
}

/**
 * The encoder for the next part: the one with the fewest rows queued, ties going round from the one after `lastUsed`.
 * Ties are the rule in a drain, which seals one part at a time and finds every thread idle. Taking the first thread on
 * a tie left the others cold until the final checkpoint, whose biggest part then ran through a cold thread's
 * unoptimized encoder (≈ 3× slower) while the drain waited for it (bench/OPTIMIZATIONS.md, session 20).
 */
export function nextEncoder(queuedRows: readonly number[], lastUsed: number): number {
  const count = queuedRows.length;
  let chosen = (lastUsed + 1) % count;
  for (let offset = 2; offset <= count; offset++) {
    const index = (lastUsed + offset) % count;
    if (queuedRows[index] < queuedRows[chosen]) chosen = index;
  }
  return chosen;
}

/**
 * Encoder threads; each part goes to the thread with the fewest rows queued (nextEncoder). With several threads, the
 * parts a checkpoint waits for encode in parallel.
 */
export class EncoderPool {
  private readonly threads: EncoderThread[];
  /** Index of the thread that took the last part. */
  private lastUsed = -1;

  /** `startThread`: how a thread is started (a test starts one that fails); by default the encoder's entry. */
  constructor(size: number = defaultEncoderThreads(), startThread: () => Worker = startEncoderWorker) {
    this.threads = Array.from({ length: Math.max(1, size) }, () => new EncoderThread(startThread));
  }

  warm(): void {
    for (const thread of this.threads) thread.warm();
  }

  /** Starts every thread and resolves once each can encode with `options` (see ParquetSink.ready). */
  async ready(options: EncodeOptions): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.ready(options)));
  }

  encode(batch: SealedBatch, options: EncodeOptions): Promise<Uint8Array> {
    return this.nextThread().encode(batch, options);
  }

  /**
   * Reads, decodes, merges and encodes `files` on a thread (mergeAndEncode); `rows` (their rows, as far as known)
   * counts as queued on it meanwhile. Undefined when there is nothing to write.
   */
  merge(files: string[], forgotten: ReadonlySet<string> | undefined, options: EncodeOptions, rows: number): Promise<EncodedMerge | undefined> {
    return this.nextThread().merge(files, forgotten, options, rows);
  }

  /** Rewrites `files` without the rows of `forgotten` people on a thread (eraseForgottenFromParts). */
  eraseForgotten(files: string[], forgotten: ReadonlySet<string>, options: EncodeOptions): Promise<(PartChange | undefined)[]> {
    return this.nextThread().eraseForgotten(files, forgotten, options);
  }

  private nextThread(): EncoderThread {
    this.lastUsed = nextEncoder(this.threads.map((thread) => thread.queuedRows), this.lastUsed);
    return this.threads[this.lastUsed];
  }

  /** Stops the threads; requests after it reject with EncoderPoolClosedError instead of starting a thread again. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
}

/** A request to encoder threads that were closed: nothing may start them again, and no owner of a pool reuses it. */
export class EncoderPoolClosedError extends Error {
  override name = "EncoderPoolClosedError";
  constructor() {
    super("parquet encoder threads are closed: a request came after close()");
  }
}

interface Waiter {
  resolve: (response: EncodeResponse) => void;
  reject: (error: Error) => void;
}

/** One worker thread running the encoder; requests queue in it, so its parts encode one after another. */
class EncoderThread {
  /** Rows of the requests sent and not yet answered. */
  queuedRows = 0;
  constructor(private readonly startThread: () => Worker) {}
  private worker?: Worker;
  private nextId = 0;
  /**
   * Requests sent and not yet answered, by the thread they went to. A thread that dies reports 'error', then 'exit' a
   * turn later: by then a request may have gone to the thread started in its place, which the dead one must not fail.
   */
  private readonly waiting = new Map<Worker, Map<number, Waiter>>();

  private closed = false;

  /** Starts the thread (module loading) ahead of the first encode; a no-op once running or closed. */
  warm(): void {
    if (this.worker === undefined && !this.closed) this.start();
  }

  encode(batch: SealedBatch, options: EncodeOptions): Promise<Uint8Array> {
    // Transferred, not copied. Copying both ways (so no thread detaches a buffer and V8 keeps its faster typed-array
    // code) measured no lower main-thread CPU in the drain and a slower encoder: under tsx the main thread is in
    // that slower state before the first batch, and the encoder threads invalidate it even when nothing is transferred.
    return this.queued(batch.length, this.request({ batch, options }, transferListOf(batch))).then((response) => {
      if (!("bytes" in response)) throw new Error("parquet encoder thread: an encode answered without bytes");
      return response.bytes;
    });
  }

  merge(files: string[], forgotten: ReadonlySet<string> | undefined, options: EncodeOptions, rows: number): Promise<EncodedMerge | undefined> {
    // The tombstones are copied to the thread with each merge (a Set clones as one): structuredClone of 5,000 ids took
    // 3–4 ms here, serializing and deserializing both; a merge per checkpoint at most by default.
    const merge: MergeRequest = { files, ...(forgotten !== undefined && forgotten.size > 0 && { forgotten }) };
    return this.queued(rows, this.request({ merge, options }, [])).then((response) => {
      if (!("merged" in response)) throw new Error("parquet encoder thread: a merge answered without its result");
      return response.merged ?? undefined;
    });
  }

  eraseForgotten(files: string[], forgotten: ReadonlySet<string>, options: EncodeOptions): Promise<(PartChange | undefined)[]> {
    return this.request({ erase: { files, forgotten }, options }, []).then((response) => {
      if (!("erased" in response)) throw new Error("parquet encoder thread: an erase answered without its result");
      return response.erased.map((change) => change ?? undefined);
    });
  }

  /** Resolves once the thread runs and can encode with `options` (for zstd: its libraries loaded). */
  async ready(options: EncodeOptions): Promise<void> {
    await this.request({ options }, []);
  }

  /** Counts `rows` as queued on this thread until `answer` settles. */
  private queued<T>(rows: number, answer: Promise<T>): Promise<T> {
    this.queuedRows += rows;
    return answer.finally(() => {
      this.queuedRows -= rows;
    });
  }

  private request(request: Omit<EncodeRequest, "id">, transfer: ArrayBuffer[]): Promise<EncodeResponse> {
    if (this.closed) return Promise.reject(new EncoderPoolClosedError());
    const worker = this.worker ?? this.start();
    const waiting = this.waiting.get(worker)!;
    const id = this.nextId++;
    return new Promise<EncodeResponse>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, ...request } satisfies EncodeRequest, transfer);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    const worker = this.startThread();
    const waiting = new Map<number, Waiter>();
    this.waiting.set(worker, waiting);
    worker.on("message", (response: EncodeResponse) => {
      const waiter = waiting.get(response.id);
      if (!waiter) return;
      waiting.delete(response.id);
      if (waiting.size === 0) worker.unref();
      if ("error" in response) waiter.reject(new Error(`parquet encoder thread: ${response.error}`));
      else waiter.resolve(response);
    });
    const failAll = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      this.waiting.delete(worker);
      for (const waiter of waiting.values()) waiter.reject(error);
      waiting.clear();
    };
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new Error(`parquet encoder thread exited with code ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
