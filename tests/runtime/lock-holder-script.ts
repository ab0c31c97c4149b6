// Run by lock-file.test.ts (under `unshare --pid`, as a container sharing the host's name, or plainly): takes the
// checkpoint lock of sink path argv[2], pipeline argv[3] with the real lock API, prints its holder, and keeps it with
// its heartbeat until stdin closes; then exits without releasing it, as a killed worker leaves it.
import { DirectoryCheckpointStore } from "../../src/runtime/checkpoint.ts";

const store = new DirectoryCheckpointStore(process.argv[2], process.argv[3]);
const lock = await store.acquireLock({ workerId: "container", staleAfterMs: 60_000, signal: AbortSignal.timeout(30_000) });
if (lock === undefined) throw new Error("the lock was not free");
console.log(JSON.stringify(lock.holder));
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
