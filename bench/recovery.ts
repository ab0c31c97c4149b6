// Recovery after kill -9 with ~100 MB of operator state, per checkpoint store: how long from restart to new output.
// A live worker (`clickpipe run`, no --drain) holds many open sessions and customers (one per event, all within minutes,
// so no session closes and no churn day is written); once a checkpoint covers the whole stream it is killed -9 and
// restarted. "First new output" is the first Parquet part committed after the restart: a dead letter published while
// the worker was down becomes an invalid_events row, which only reaches `.parquet` once a checkpoint holding the whole
// restored state commits. Run alone: `npx tsx bench/recovery.ts` (prints JSON; does not touch bench/results.json).
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { parsePipelineText } from "../src/config/load.ts";
import { checkpointBucketName } from "../src/runtime/checkpoint-nats.ts";
import { ensureLocalNats } from "../src/transport/local-server.ts";
import { ensureStream } from "../src/transport/stream.ts";
import { uniqueStreamName } from "../tests/helpers/nats-server.ts";
import { sleep, spawnWorker, type WorkerProcess } from "../tests/integration/crash-harness.ts";
import { streamRecordPublisher } from "../src/ingest/stream-record-publisher.ts";

export type CheckpointStoreKind = "directory" | "kv";

export interface RecoveryRun {
  store: CheckpointStoreKind;
  events: number;
  /** Bytes of the committed checkpoint document (state + position) the restart loads. */
  checkpointBytes: number;
  /** Live run: first event published → the checkpoint covering the whole stream committed (its part renamed). */
  fillSeconds: number;
  /** Process spawn → "resuming … (epoch n)": start-up, lock, checkpoint load and restore of the state. */
  restartToResumingSeconds: number;
  /** "resuming" → the first Parquet part of a checkpoint committed after the restart. */
  resumingToFirstOutputSeconds: number;
  /** Process spawn → that first new part: the recovery time. */
  restartToFirstOutputSeconds: number;
  /** The same pipeline started without any checkpoint (spawn → "starting"): the part of the load that is start-up. */
  emptyStartSeconds: number;
}

export interface RecoveryResult {
  targetStateBytes: number;
  runs: RecoveryRun[];
}

/** Events per MiB of checkpoint, measured on this pipeline (sessionize + churnFeatures, one open session and customer each). */
const EVENTS_PER_MIB = 1_900;
const PIPELINE_NAME = "recovery";

function pipelineText(url: string, stream: string, out: string, store: CheckpointStoreKind, interval: string): string {
  return `name: ${PIPELINE_NAME}
nats:
  url: ${url}
  stream: ${stream}
operators:
  - type: sessionize
    gap: 30m
  - type: churnFeatures
    snapshotEvery: 1d
sinks:
  - type: parquet
    path: ${out}
checkpoint:
  interval: ${interval}
  store: ${store}
`;
}

/** Event i: a new visitor and customer, 1 ms after the previous one, so every session and churn day stays open. */
function stateEvent(index: number): string {
  return JSON.stringify({
    type: "page_view",
    ts: Date.UTC(2026, 0, 5, 10) + index,
    anon_id: `visitor-${index.toString(36)}-${(index * 2_654_435_761).toString(36)}`,
    user_id: `customer-${index.toString(36)}`,
    url: `https://shop.example/c/category-${index % 97}/p/product-${index % 5_003}?utm_source=news&utm_campaign=spring`,
    referrer: "https://www.search.example/?q=shoes",
  });
}

/** Paths of committed invalid_events parts under `out`. */
async function invalidParts(out: string): Promise<string[]> {
  const entries = await readdir(join(out, "invalid_events"), { recursive: true }).catch(() => [] as string[]);
  return entries.filter((name) => name.endsWith(".parquet"));
}

async function waitFor<T>(probe: () => Promise<T | undefined>, worker: WorkerProcess, what: string, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (worker.child.exitCode !== null) throw new Error(`the worker exited before ${what}:\n${worker.output().slice(-2000)}`);
    if (performance.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${worker.output().slice(-2000)}`);
    await sleep(10);
  }
}

async function checkpointBytes(url: string, out: string, store: CheckpointStoreKind): Promise<number> {
  if (store === "directory") {
    const directory = join(out, "_checkpoints", PIPELINE_NAME);
    const names = (await readdir(directory)).filter((name) => /^checkpoint-\d+\.json$/.test(name)).sort();
    return (await stat(join(directory, names[names.length - 1]!))).size;
  }
  const connection = await connect({ servers: url });
  try {
    const kv = await new Kvm(connection).open(checkpointBucketName(PIPELINE_NAME));
    const meta = (await kv.get("checkpoint"))?.json<Record<string, unknown>>();
    const bytes = JSON.stringify(meta).match(/"bytes":(\d+)/)?.[1];
    if (bytes === undefined) throw new Error(`no chunk size in the kv checkpoint: ${JSON.stringify(meta).slice(0, 300)}`);
    return Number(bytes);
  } finally {
    await connection.close();
  }
}

async function measureStore(url: string, store: CheckpointStoreKind, events: number, directory: string): Promise<RecoveryRun> {
  const stream = uniqueStreamName("RECOVERY");
  const out = join(directory, store);
  // Filling commits a 100 MB checkpoint every interval, so a long one there; after the restart a short one, so that the
  // first checkpoint is due at once (the interval does not bind a checkpoint: the restart resumes from the filled one).
  const text = pipelineText(url, stream, out, store, "20s");
  const file = join(directory, `${store}.yaml`);
  await writeFile(file, text);
  const loaded = parsePipelineText(text, file, process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const connection = await connect({ servers: url });
  const manager = await jetstreamManager(connection);
  await ensureStream(manager, stream);
  if (store === "kv") await new Kvm(connection).open(checkpointBucketName(PIPELINE_NAME)).then((kv) => kv.destroy()).catch(() => undefined);
  const publisher = (prefix: string) =>
    streamRecordPublisher({ config: loaded.config, js: jetstream(connection), connection, source: "publish", msgIdPrefix: `${stream}-${prefix}` });
  let worker: WorkerProcess | undefined;
  try {
    // The empty start first: the same process start-up, lock and (empty) load, for comparison.
    let spawnedAt = performance.now();
    worker = spawnWorker(file);
    await worker.printed(/starting \S+ at/);
    const emptyStartSeconds = (performance.now() - spawnedAt) / 1000;

    const fillStarted = performance.now();
    const fill = publisher("fill");
    for (let index = 0; index < events; index++) await fill.publishJsonLine(stateEvent(index), Date.now());
    // A dead letter last: its invalid_events part is renamed once a checkpoint covers the whole stream.
    await fill.publishJsonLine("not json: end of fill", Date.now());
    await fill.flush();
    await waitFor(async () => ((await invalidParts(out)).length > 0 ? true : undefined), worker, "checkpoint of the filled state", 900_000);
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    worker.child.kill("SIGKILL");
    await worker.exited;
    const bytes = await checkpointBytes(url, out, store);
    const partsBefore = new Set(await invalidParts(out));

    // Input that is only processed after the restart.
    const after = publisher("after");
    await after.publishJsonLine("not json: after the kill", Date.now());
    await after.flush();

    await writeFile(file, pipelineText(url, stream, out, store, "1s"));
    spawnedAt = performance.now();
    worker = spawnWorker(file);
    if (!(await worker.printed(/resuming \S+ at/))) throw new Error(`the restarted worker did not resume:\n${worker.output()}`);
    const resumedAt = performance.now();
    await waitFor(
      async () => ((await invalidParts(out)).some((part) => !partsBefore.has(part)) ? true : undefined),
      worker,
      "new invalid_events part after the restart",
      600_000,
    );
    const outputAt = performance.now();
    return {
      store,
      events,
      checkpointBytes: bytes,
      fillSeconds,
      restartToResumingSeconds: (resumedAt - spawnedAt) / 1000,
      resumingToFirstOutputSeconds: (outputAt - resumedAt) / 1000,
      restartToFirstOutputSeconds: (outputAt - spawnedAt) / 1000,
      emptyStartSeconds,
    };
  } finally {
    worker?.child.kill("SIGKILL");
    await worker?.exited;
    await manager.streams.delete(stream).catch(() => undefined);
    if (store === "kv") await new Kvm(connection).open(checkpointBucketName(PIPELINE_NAME)).then((kv) => kv.destroy()).catch(() => undefined);
    await connection.close();
  }
}

/** Both checkpoint stores, each with about `targetStateBytes` of checkpoint (default 100 MiB; BENCH_RECOVERY_MB). */
export async function measureRecovery(url: string, targetStateBytes = 100 * 1024 * 1024): Promise<RecoveryResult> {
  const events = Math.round((targetStateBytes / (1024 * 1024)) * EVENTS_PER_MIB);
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-recovery-"));
  try {
    const runs: RecoveryRun[] = [];
    for (const store of ["directory", "kv"] as const) runs.push(await measureStore(url, store, events, directory));
    return { targetStateBytes, runs };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const nats = await ensureLocalNats(process.env.NATS_URL ?? "nats://127.0.0.1:4222");
  try {
    const loadBefore = loadavg()[0];
    const result = await measureRecovery(nats.url, Number(process.env.BENCH_RECOVERY_MB ?? 100) * 1024 * 1024);
    console.log(JSON.stringify({ ...result, loadAverage: [loadBefore, loadavg()[0]] }, null, 2));
  } finally {
    await nats.started?.stop();
  }
}
