// The checkpoint store the worker commits to (a directory beside the lake, or a NATS KV bucket), chosen by `checkpoint.store`.
import type { NatsConnection } from "@nats-io/nats-core";
import { DirectoryCheckpointStore, type Checkpoint, type CheckpointMeta, type LockHolder, type LockOptions, type StateJson } from "./checkpoint.ts";
import { NatsCheckpointStore } from "./checkpoint-nats.ts";

/** A held pipeline lock: only its holder may commit; a heartbeat keeps it and notices a takeover. */
export interface HeldCheckpointLock {
  readonly holder: LockHolder;
  /**
   * The holder whose lock this one replaced, its process gone or its heartbeat stale; undefined when the lock was free
   * (a fresh start, or a holder that released it). A stale holder may still be alive, holding what it held (a port).
   */
  readonly tookOverFrom?: LockHolder;
  /** False once this holder found the lock taken over (or gone). */
  readonly held: boolean;
  /** Throws StaleCheckpointError unless the lock still names this holder. */
  verify(): Promise<void>;
  /** Stops the heartbeat and removes the lock if it is still this holder's. */
  release(): Promise<void>;
}

export interface CheckpointStore {
  /** Where the checkpoints live, for log lines (a directory, or `nats kv <bucket>`). */
  readonly location: string;
  /** Where the lock lives, for log lines. */
  readonly lockLocation: string;
  /** The last committed checkpoint (highest epoch), or undefined when there is none. */
  load<P>(): Promise<Checkpoint<P> | undefined>;
  /** The last committed checkpoint's metadata (no state, no pending renames), without reading its state. */
  loadMeta(): Promise<CheckpointMeta | undefined>;
  /** The epoch of the last committed checkpoint, without reading its state. */
  lastEpoch(): Promise<number | undefined>;
  /** Removes what crashed commits left behind; only for the holder of the exclusive right to commit. */
  discardUncommitted(): Promise<void>;
  /** Commits one epoch; throws StaleCheckpointError, changing nothing, when that epoch is already committed. */
  commit<P>(checkpoint: Omit<Checkpoint<P>, "state">, stateJson: StateJson): Promise<void>;
  /** Waits for the pipeline's exclusive lock (stand-by, stale takeover); undefined when the signal aborts the wait. */
  acquireLock(options: LockOptions): Promise<HeldCheckpointLock | undefined>;
  /** Removes every checkpoint and the lock. */
  clear(): Promise<void>;
}

export type CheckpointStoreKind = "directory" | "kv";

export interface CheckpointStoreTarget {
  sinkPath: string;
  pipelineName: string;
  /** The pipeline's NATS connection (the kv store keeps its bucket on that server). */
  connection: NatsConnection;
  /** Copies of a new kv bucket on a cluster (nats.replicas); default 1. */
  replicas?: number;
}

export async function openCheckpointStore(kind: CheckpointStoreKind, target: CheckpointStoreTarget): Promise<CheckpointStore> {
  if (kind === "kv") return NatsCheckpointStore.open(target.connection, target.pipelineName, { replicas: target.replicas });
  return new DirectoryCheckpointStore(target.sinkPath, target.pipelineName);
}

/** The store of a checkpoint name when it may hold checkpoints; undefined for a kv bucket that does not exist (not created). */
export async function openExistingCheckpointStore(kind: CheckpointStoreKind, target: CheckpointStoreTarget): Promise<CheckpointStore | undefined> {
  if (kind === "kv") return NatsCheckpointStore.openExisting(target.connection, target.pipelineName, { replicas: target.replicas });
  // Reading a directory store creates nothing.
  return new DirectoryCheckpointStore(target.sinkPath, target.pipelineName);
}
