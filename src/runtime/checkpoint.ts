// Checkpoints: operator state and stream positions committed together by an atomic rename, bound to (pipeline, stream).
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";

export interface Checkpoint<PendingCommit = unknown> {
  format: 1;
  pipeline: string;
  stream: string;
  /** When the stream was created: a stream deleted and created again under the same name is another stream. */
  streamCreated: string;
  /** Increases by one per commit; names the Parquet parts of that commit. */
  epoch: number;
  /** Last stream sequence whose effects are in `state` and in the committed Parquet parts. */
  position: number;
  state: Record<string, unknown>;
  /** Parquet renames that this checkpoint commits; recovery finishes them. */
  pending: PendingCommit | undefined;
  workerId: string;
  committedAt: number;
}

export class StaleCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StaleCheckpointError";
  }
}

/** Stores checkpoints in `<sink path>/_checkpoints/<pipeline>/checkpoint.json`. */
export class DirectoryCheckpointStore {
  readonly directory: string;
  private readonly file: string;

  constructor(sinkPath: string, pipelineName: string) {
    this.directory = join(sinkPath, "_checkpoints", pipelineName);
    this.file = join(this.directory, "checkpoint.json");
  }

  /** The last committed checkpoint, or undefined when there is none. */
  async load<P>(): Promise<Checkpoint<P> | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    return JSON.parse(text) as Checkpoint<P>;
  }

  /**
   * Commits a checkpoint: write a temporary file, fsync, rename over the old one, fsync the directory.
   * Fencing: the commit fails when another worker has committed an epoch at or past ours since we loaded.
   */
  async commit<P>(checkpoint: Omit<Checkpoint<P>, "state">, stateJson: string): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const current = await this.load<P>();
    if (current !== undefined && current.epoch >= checkpoint.epoch && sameBinding(current, checkpoint)) {
      throw new StaleCheckpointError(
        `checkpoint epoch ${checkpoint.epoch} is stale: worker ${current.workerId} already committed epoch ${current.epoch}`,
      );
    }
    const temporary = `${this.file}.${process.pid}.tmp`;
    const handle = await open(temporary, "w");
    try {
      // The state arrives serialized: it was captured synchronously, before any later event could change it.
      const { pending, ...meta } = checkpoint;
      await handle.writeFile(
        `{${JSON.stringify(meta).slice(1, -1)},"pending":${JSON.stringify(pending ?? null)},"state":${stateJson}}`,
      );
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.file);
    await syncDirectory(this.directory);
  }

  async clear(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }
}

type Binding = Pick<Checkpoint<unknown>, "pipeline" | "stream" | "streamCreated">;

function sameBinding(a: Binding, b: Binding): boolean {
  return a.pipeline === b.pipeline && a.stream === b.stream && a.streamCreated === b.streamCreated;
}

/** A checkpoint resumes only the pipeline and stream it was taken from. */
export function checkpointMatches(
  checkpoint: Checkpoint<unknown>,
  binding: { pipeline: string; stream: string; streamCreated: string },
): boolean {
  return sameBinding(checkpoint, binding);
}

export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
