// Soak of a partitioned pipeline: 4 workers over 8 partitions drain seeded traffic while workers are killed with -9
// and restarted again and again; the lake must equal one worker's no-fault run. Sizes: SOAK_PARTITIONED_VISITORS
// (default 20000: the run lasts long enough for all the kills), SOAK_DAYS (7), SOAK_PARTITIONED_KILLS (12).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publishAndDrainNoFault } from "./soak-kit.ts";
import { uniqueStreamName } from "../tests/helpers/nats-server.ts";
import { crashInput, filesEndingWith, lakeRows, rowCounts, sleep, spawnWorker, writePipelineFile, type WorkerProcess } from "../tests/integration/crash-harness.ts";

const WORKERS = 4;
const PARTITIONS = 8;
const LEASE_ENV = { CLICKPIPE_LEASE_STALE_MS: "5000" };

export async function soakPartitioned(natsUrl: string): Promise<boolean> {
  const visitors = Number(process.env.SOAK_PARTITIONED_VISITORS ?? 20_000);
  const days = Number(process.env.SOAK_DAYS ?? 7);
  const kills = Number(process.env.SOAK_PARTITIONED_KILLS ?? 12);
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-soak-partitioned-"));
  const stream = uniqueStreamName("SOAKPART");
  try {
    const lines = crashInput(visitors, days, 29);
    const input = join(directory, "input.ndjson");
    await writeFile(input, lines.join("\n") + "\n");
    const pipeline = async (name: string) =>
      writePipelineFile(directory, { name, natsUrl, stream, out: join(directory, name), partitions: PARTITIONS, interval: "1s" });
    const baselineFile = await pipeline("soakpart_baseline");
    console.log(`partitioned soak: ${lines.length} lines, ${PARTITIONS} partitions, ${WORKERS} workers, ${kills} kills`);
    const baselineSeconds = (await publishAndDrainNoFault(input, baselineFile, "baseline (one worker)", ["--worker-id", "solo"], LEASE_ENV)) / 1000;

    const file = await pipeline("soakpart_killed");
    const spawnNamed = (id: string) => spawnWorker(file, ["--drain", "--worker-id", id], LEASE_ENV);
    const workers = new Map<string, WorkerProcess>(Array.from({ length: WORKERS }, (_, index) => [`w${index}`, spawnNamed(`w${index}`)]));
    const started = performance.now();
    // Round robin, so each worker gets four spacings and a restart between its own kills to make progress.
    const spacingMs = Math.max(1_000, (baselineSeconds * 1000) / kills);
    let killed = 0;
    let round = 0;
    // Kill one worker at a time, round robin, and restart it after a pause; stop killing once one finished.
    while (killed < kills) {
      await sleep(spacingMs);
      const id = `w${round++ % WORKERS}`;
      const victim = workers.get(id)!;
      if (victim.child.exitCode !== null) break;
      victim.child.kill("SIGKILL");
      const result = await victim.exited;
      if (result.signal !== "SIGKILL") break; // it had finished by itself
      killed++;
      await sleep(500);
      workers.set(id, spawnNamed(id));
    }
    const results = await Promise.all([...workers.values()].map((worker) => worker.exited));
    const failed = results.filter((result) => result.code !== 0);
    if (failed.length > 0) throw new Error(`a worker failed: ${failed[0].output.slice(-2000)}`);
    console.log(`faulty run: ${((performance.now() - started) / 1000).toFixed(1)} s with ${killed} kills`);
    if (killed < kills) console.log(`note: the run finished before all ${kills} kills (raise SOAK_PARTITIONED_VISITORS)`);

    const expected = await lakeRows(join(directory, "soakpart_baseline"));
    const actual = await lakeRows(join(directory, "soakpart_killed"));
    const leftovers = await filesEndingWith(join(directory, "soakpart_killed"), [".inprogress", ".tmp"]);
    const equal = JSON.stringify(actual) === JSON.stringify(expected) && leftovers.length === 0;
    console.log(`rows: ${JSON.stringify(rowCounts(actual))} vs no-fault ${JSON.stringify(rowCounts(expected))}`);
    console.log(equal ? "partitioned soak: lake equals the no-fault run" : `partitioned soak FAILED (partial files: ${leftovers.join(", ")})`);
    return equal;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
