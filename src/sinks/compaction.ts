// Compaction policy of the Parquet sink: which committed parts of this writer, in one hive partition, one merge takes.

/** A resolved policy (see the `compaction` key of the parquet sink in src/config/pipeline.ts). */
export interface CompactionPolicy {
  /** A partition is compacted once it holds at least this many of this writer's parts under targetRows rows. */
  minParts: number;
  /** Parts with fewer rows are small; a merge takes small parts in name order up to this many rows in all. */
  targetRows: number;
  /** Merges at most per checkpoint, so a live worker's checkpoint does a bounded amount of extra work. */
  mergesPerCheckpoint: number;
}

export const DEFAULT_MIN_PARTS = 16;
export const DEFAULT_MERGES_PER_CHECKPOINT = 1;
/** The most parts one merge takes, whatever their rows: a merge opens, reads and deletes each. */
export const MAX_MERGE_INPUTS = 128;

/** A committed part of a partition folder, with its row count. */
export interface PartListing {
  name: string;
  rows: number;
}

/** One planned merge in one partition folder: its inputs in name order, and their rows in all. */
export interface PlannedMerge {
  directory: string;
  inputs: PartListing[];
  rows: number;
}

/**
 * Names of this writer's committed parts: `part-<writerId>-<epoch>-<index>.parquet` (the sink's parts) and
 * `part-<writerId>-<epoch>-c<index>.parquet` (merged parts). Another writer's parts (another task or pipeline, whose
 * writer ids differ) and files clickpipe did not write never match.
 */
export function ownPartPattern(writerId: string | undefined): RegExp {
  const writer = writerId === undefined ? "" : `${writerId}-`;
  return new RegExp(`^part-${writer}\\d{10}-c?\\d{4}\\.parquet$`);
}

/** The deterministic name of the `index`-th merge of `epoch`: the epoch's own part names plus a `c` infix. */
export function mergedPartFileName(epoch: number, index: number, writerId?: string): string {
  const writer = writerId ? `${writerId}-` : "";
  return `part-${writer}${String(epoch).padStart(10, "0")}-c${String(index).padStart(4, "0")}.parquet`;
}

/**
 * The merge for one partition folder's parts, or undefined: this writer's parts under targetRows rows, in name order,
 * once there are minParts of them; the first of them up to targetRows rows in all (at least two, at most
 * MAX_MERGE_INPUTS). Other files of the folder are never inputs.
 */
export function planMerge(directory: string, parts: readonly PartListing[], policy: CompactionPolicy, writerId: string | undefined): PlannedMerge | undefined {
  const own = ownPartPattern(writerId);
  const small = parts.filter((part) => own.test(part.name) && part.rows < policy.targetRows).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (small.length < Math.max(2, policy.minParts)) return undefined;
  const inputs: PartListing[] = [];
  let rows = 0;
  for (const part of small) {
    if (inputs.length >= MAX_MERGE_INPUTS) break;
    if (inputs.length >= 2 && rows + part.rows > policy.targetRows) break;
    inputs.push(part);
    rows += part.rows;
  }
  return { directory, inputs, rows };
}

/** Merges of one checkpoint over the given folders, in folder order, at most mergesPerCheckpoint. */
export function planMerges(
  folders: ReadonlyArray<{ directory: string; parts: readonly PartListing[] }>,
  policy: CompactionPolicy,
  writerId: string | undefined,
): PlannedMerge[] {
  const merges: PlannedMerge[] = [];
  for (const folder of [...folders].sort((a, b) => (a.directory < b.directory ? -1 : 1))) {
    if (merges.length >= policy.mergesPerCheckpoint) break;
    const merge = planMerge(folder.directory, folder.parts, policy, writerId);
    if (merge !== undefined) merges.push(merge);
  }
  return merges;
}

/** Whether a name could be an input of this writer's merges, without its row count (a folder's first screen). */
export function countOwnParts(names: readonly string[], writerId: string | undefined): number {
  const own = ownPartPattern(writerId);
  return names.reduce((count, name) => (own.test(name) ? count + 1 : count), 0);
}
