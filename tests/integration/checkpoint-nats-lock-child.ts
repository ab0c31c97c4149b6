// A worker process for the KV lock tests: tries to take a pipeline's lock, prints the outcome, holds it, exits without release.
import { connect } from "@nats-io/transport-node";
import { NatsCheckpointStore } from "../../src/runtime/checkpoint-nats.ts";

const [natsUrl, pipeline, workerId, staleAfterMs, waitMs, holdMs] = process.argv.slice(2);
const connection = await connect({ servers: natsUrl });
const store = await NatsCheckpointStore.open(connection, pipeline);
const lock = await store.acquireLock({ workerId, staleAfterMs: Number(staleAfterMs), signal: AbortSignal.timeout(Number(waitMs)) });
console.log(lock === undefined ? "gave up" : "acquired");
// Holds for holdMs, or less when the parent closes our stdin (it has seen what it waited for).
if (lock !== undefined) {
  await new Promise((resolve) => {
    setTimeout(resolve, Number(holdMs));
    process.stdin.once("end", resolve).once("close", resolve).resume();
  });
}
// Exits while holding: the lock stays behind as after a crash.
process.exit(0);
