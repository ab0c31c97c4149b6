// Run by part-temporaries.test.ts (under `unshare --pid`, as a container sharing the host's name): writes the temporary
// a rewrite of the part argv[2] by this process would write, prints its name, and stays alive until stdin closes.
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { temporaryPartName, thisProcessAsWriter } from "../../src/sinks/part-temporaries.ts";

const temporary = temporaryPartName(process.argv[2], thisProcessAsWriter(), 0, 1);
writeFileSync(temporary, "being written");
console.log(JSON.stringify({ name: basename(temporary), pid: process.pid }));
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
