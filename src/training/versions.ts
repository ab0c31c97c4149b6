// Library versions recorded in the manifest, so a model can be traced to the code that trained it.
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";

export function libraryVersions(backend: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return { clickpipe: pkg.version, "tfjs-core": tf.version.tfjs, node: process.versions.node, backend };
}
