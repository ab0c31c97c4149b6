// Worker threads from TypeScript entries without a module loader thread of their own.
//
// clickpipe runs its TypeScript sources through tsx (no build step). tsx's loader is registered per thread and serves
// every import of that thread from a hooks thread of its own: a Parquet encoder or log-parse worker paid about 1 CPU s
// of start-up for it (apache-arrow alone is ~200 modules), on a 2-core machine that is shared with the pipeline's
// main thread and nats-server (bench/OPTIMIZATIONS.md). So the entry is bundled once with esbuild, which tsx itself
// runs on, into one plain ES module beside the project's node_modules (packages stay external, so parquet-wasm and the
// others load as installed), and the worker starts from that file with no hooks at all.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { threadId, Worker, type WorkerOptions } from "node:worker_threads";

/** Inside the project's node_modules so that the bundle's bare imports resolve to the installed packages. */
const BUNDLE_DIRECTORY = fileURLToPath(new URL("../../node_modules/.cache/clickpipe/threads/", import.meta.url));

/** Entry URL → its bundle (undefined: bundling is not possible here, use tsx). One build per entry and process. */
const bundles = new Map<string, URL | undefined>();

/**
 * Starts a worker thread on `entry`. A `.js` entry (built output) starts as it is; a `.ts` entry starts from its
 * esbuild bundle, or through tsx when it cannot be bundled (no esbuild, a read-only checkout).
 */
export function startTypeScriptWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith(".ts")) return new Worker(entry, options);
  const bundle = bundleOf(entry);
  if (bundle !== undefined) return new Worker(bundle, options);
  return new Worker(tsxBootstrap(entry), { ...options, eval: true });
}

/** The bundled entry, built on first use and kept while its content is the same. */
export function bundleOf(entry: URL): URL | undefined {
  if (!bundles.has(entry.href)) bundles.set(entry.href, buildBundle(entry));
  return bundles.get(entry.href);
}

/**
 * Set by bin/cli-bundle.js when the command runs from its bundle: the key of every source file (names, sizes, times)
 * and of how they are built. A worker bundle named by it is reused without building it again, which took 0.1–0.2 s at
 * each start of `clickpipe publish`; elsewhere (tsx, tests) the bundle is built and named by its content.
 */
const SOURCES_KEY = Symbol.for("clickpipe.sourcesKey");

function buildBundle(entry: URL): URL | undefined {
  try {
    const name = basename(entry.pathname, ".ts");
    const sourcesKey = (globalThis as Record<symbol, unknown>)[SOURCES_KEY];
    const keyed = typeof sourcesKey === "string" ? join(BUNDLE_DIRECTORY, `${name}-${sourcesKey}.mjs`) : undefined;
    if (keyed !== undefined && existsSync(keyed)) return pathToFileURL(keyed);
    // Loaded only to build (about 50 ms).
    const { buildSync } = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
    const result = buildSync({
      entryPoints: [fileURLToPath(entry)],
      bundle: true,
      packages: "external",
      format: "esm",
      platform: "node",
      target: "node20",
      write: false,
      logLevel: "silent",
    });
    const text = result.outputFiles[0].text;
    // import.meta.url would name the bundle, not the source module it was written in: such an entry runs through tsx.
    if (text.includes("import.meta.url") || text.includes("import.meta.resolve")) return undefined;
    const file = keyed ?? join(BUNDLE_DIRECTORY, `${name}-${createHash("sha256").update(text).digest("hex").slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      mkdirSync(BUNDLE_DIRECTORY, { recursive: true });
      // Written aside and renamed: a process starting the same worker at the same moment never sees half a file.
      const temporary = `${file}.${process.pid}-${threadId}.tmp`;
      writeFileSync(temporary, text);
      renameSync(temporary, file);
      removeOlderBundles(name, basename(file));
    }
    return pathToFileURL(file);
  } catch {
    return undefined;
  }
}

/** Builds of the same entry from sources changed since, once an hour old (a process may still be starting from one). */
function removeOlderBundles(name: string, current: string): void {
  const hourAgo = Date.now() - 3_600_000;
  for (const file of readdirSync(BUNDLE_DIRECTORY)) {
    if (file === current || !file.startsWith(`${name}-`) || !file.endsWith(".mjs")) continue;
    const path = join(BUNDLE_DIRECTORY, file);
    if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < hourAgo) rmSync(path, { force: true });
  }
}

/** tsx is registered per thread: the worker registers it before importing the TypeScript entry. */
function tsxBootstrap(entry: URL): string {
  const tsxApi = import.meta.resolve("tsx/esm/api");
  return `import(${JSON.stringify(tsxApi)}).then((tsx) => { (tsx.register ?? tsx.default.register)(); return import(${JSON.stringify(entry.href)}); });`;
}
