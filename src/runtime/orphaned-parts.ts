// A start with no checkpoint over a lake that holds parts this writer committed: its checkpoints were removed.
import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { ownPartPattern } from "../sinks/compaction.ts";

/** A fresh start would write the rows of the writer's committed parts a second time (or rename over them). */
export class OrphanedPartsError extends Error {
  override name = "OrphanedPartsError";
}

/** Hive partition folders nest at most this deep under a table folder (`<table>/<column>=<value>/`), with room to spare. */
const MAX_DEPTH = 3;

async function entriesOf(directory: string) {
  try {
    return await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw error;
  }
}

/** Paths (relative to sinkPath, sorted) of the committed parts of `writerId` in the lake's table folders. */
export async function committedPartsOf(sinkPath: string, writerId: string): Promise<string[]> {
  const own = ownPartPattern(writerId);
  const found: string[] = [];
  const walk = async (directory: string, depth: number): Promise<void> => {
    for (const entry of await entriesOf(directory)) {
      const path = join(directory, entry.name);
      if (entry.isFile() && own.test(entry.name)) found.push(relative(sinkPath, path));
      else if (entry.isDirectory() && depth < MAX_DEPTH) await walk(path, depth + 1);
    }
  };
  // _checkpoints and other folders clickpipe keeps beside the tables start with "_".
  for (const entry of await entriesOf(sinkPath)) {
    if (entry.isDirectory() && !entry.name.startsWith("_") && !entry.name.startsWith(".")) await walk(join(sinkPath, entry.name), 1);
  }
  return found.sort();
}

/**
 * The error for a worker about to start from the stream's first message with no checkpoint while the lake holds parts
 * it committed: every row in them would be written again (and parts of the same epochs renamed over). Undefined when
 * there are none (a first start, or a lake emptied on purpose).
 */
export async function orphanedPartsError(sinkPath: string, writerId: string, checkpointLocation: string): Promise<OrphanedPartsError | undefined> {
  const parts = await committedPartsOf(sinkPath, writerId);
  if (parts.length === 0) return undefined;
  return new OrphanedPartsError(
    `no checkpoint in ${checkpointLocation}, but ${sinkPath} holds ${parts.length} part${parts.length === 1 ? "" : "s"} this pipeline committed ` +
      `(${parts[0]}${parts.length > 1 ? ", …" : ""}): its checkpoints were removed, and starting from the stream's first message would write ` +
      `their rows twice. Restore the checkpoints, or move those parts out of the lake to rebuild the tables from the stream; not starting`,
  );
}
