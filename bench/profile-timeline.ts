// Prints a V8 .cpuprofile as a timeline: per time slice, the share of idle, garbage collection and the rest.
import { readFileSync } from "node:fs";

interface Profile {
  nodes: { id: number; callFrame: { functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
}

const [path, sliceText] = process.argv.slice(2);
if (path === undefined) throw new Error("usage: profile-timeline.ts <file.cpuprofile> [slice ms]");
const sliceMs = Number(sliceText ?? 250);
const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
const nameOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame.functionName]));
const slices: { idle: number; gc: number; all: number }[] = [];
let elapsedMs = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const ms = (profile.timeDeltas[i] ?? 0) / 1000;
  elapsedMs += ms;
  const slice = (slices[Math.floor(elapsedMs / sliceMs)] ??= { idle: 0, gc: 0, all: 0 });
  const name = nameOf.get(profile.samples[i]);
  if (name === "(idle)") slice.idle += ms;
  if (name === "(garbage collector)") slice.gc += ms;
  slice.all += ms;
}
slices.forEach((slice, index) => {
  if (slice === undefined) return;
  const at = ((index * sliceMs) / 1000).toFixed(2).padStart(6);
  console.log(`${at} s  idle ${slice.idle.toFixed(0).padStart(4)} ms  gc ${slice.gc.toFixed(0).padStart(4)} ms  of ${slice.all.toFixed(0)} ms`);
});
