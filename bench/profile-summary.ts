// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self and inclusive time per function, biggest first.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [path, limitText] = process.argv.slice(2);
if (path === undefined) throw new Error("usage: profile-summary.ts <file.cpuprofile> [top N]");
const limit = Number(limitText ?? 40);
const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const selfMs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
}

function label(node: ProfileNode): string {
  const file = node.callFrame.url.replace(/^.*\/work\/main\//, "").replace(/^file:\/\//, "");
  return `${node.callFrame.functionName || "(anonymous)"} ${file}:${node.callFrame.lineNumber + 1}`;
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
for (const [id, ms] of selfMs) {
  total += ms;
  const node = byId.get(id)!;
  self.set(label(node), (self.get(label(node)) ?? 0) + ms);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const name = label(byId.get(at)!);
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
  }
}

function print(title: string, table: Map<string, number>): void {
  console.log(`\n${title} (total ${total.toFixed(0)} ms)`);
  for (const [name, ms] of [...table].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    console.log(`${ms.toFixed(0).padStart(7)} ms ${((ms / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
}
print("self", self);
print("inclusive", inclusive);

const byFile = new Map<string, number>();
for (const [name, ms] of self) {
  const file = name.slice(name.indexOf(" ") + 1).replace(/:\d+$/, "").replace(/^node_modules\/((@[^/]+\/)?[^/]+).*$/, "$1");
  byFile.set(file, (byFile.get(file) ?? 0) + ms);
}
print("self by file", byFile);
