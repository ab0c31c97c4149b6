#!/usr/bin/env node
// The `clickpipe` command: runs the TypeScript sources with no build step, so it works right after `npm ci`: from a
// cached esbuild bundle of them (bin/cli-bundle.js), else through tsx.
import { bundledCli } from "./cli-bundle.js";

const bundle = process.env.CLICKPIPE_NO_BUNDLE === "1" ? undefined : await bundledCli();
let main;
if (bundle !== undefined) {
  ({ main } = await import(bundle.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
