// Compaction policy of the Parquet sink: which committed parts of this writer, in one hive partition, one merge takes.
import { setImmediate } from "node:timers/promises";

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

/**
 * Row counts of a folder's parts in name order (`names` sorted), `batch` parts at a time, up to where the merge
 * planMerge would take from all of them is settled: minParts small parts, and targetRows rows or MAX_MERGE_INPUTS parts
 * among them. A lake's first checkpoint then reads a few footers of a partition with thousands of parts, not all of
 * them (all of them when few are small). `count` gives a batch's counts (gone parts left out); it reads footers
 * synchronously (parquet-footer.ts), so the event loop turns between batches: a folder of thousands of large parts,
 * read whole, stalls the thread for one batch at a time, not for all of them.
 */
export async function rowCountsUntilSettled(
  names: readonly string[],
  policy: CompactionPolicy,
  batch: number,
  count: (names: readonly string[]) => PartListing[],
): Promise<PartListing[]> {
  const parts: PartListing[] = [];
  let small = 0;
  let smallRows = 0;
  for (let from = 0; from < names.length; from += batch) {
    if (from > 0) await setImmediate();
    for (const part of count(names.slice(from, from + batch))) {
      parts.push(part);
      if (part.rows >= policy.targetRows) continue;
      small++;
      smallRows += part.rows;
    }
    if (small >= policy.minParts && (smallRows > policy.targetRows || small >= MAX_MERGE_INPUTS)) break;
  }
  return parts;
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
