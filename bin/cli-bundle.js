// The CLI as one esbuild bundle of its TypeScript sources, cached while the sources are unchanged.
//
// tsx compiles every module through a loader thread at each start: about 0.3 s before a command does anything, and a
// fifth of a CPU second on that thread, which `clickpipe publish` of a big log pays on a 2-core machine next to its
// parse threads and nats-server (bench/OPTIMIZATIONS.md). The bundle (packages stay external, one chunk per command)
// starts with no loader at all. `import.meta.url` is replaced by each source file's own URL, so paths relative to a
// source file (worker entries, config files) resolve as they do under tsx.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SOURCES = join(ROOT, "src");
/** Inside the project's node_modules, so that the bundle's bare imports resolve to the installed packages. */
const CACHE = join(ROOT, "node_modules", ".cache", "clickpipe", "cli");

/** Every source file's name, size and modification time: a changed or added file names a new bundle. */
function sourcesKey() {
  const hash = createHash("sha256");
  for (const entry of readdirSync(SOURCES, { recursive: true, withFileTypes: true }).sort((a, b) => pathOf(a).localeCompare(pathOf(b)))) {
    if (!entry.isFile()) continue;
    const stat = statSync(pathOf(entry));
    hash.update(`${relative(SOURCES, pathOf(entry))}\0${stat.size}\0${stat.mtimeMs}\n`);
  }
  // How it is built: the installed packages, the TypeScript settings esbuild reads, and this file.
  for (const file of ["package-lock.json", "tsconfig.json", "bin/cli-bundle.js"]) hash.update(readFileSync(join(ROOT, file)));
  return hash.digest("hex").slice(0, 20);
}

function pathOf(entry) {
  return join(entry.parentPath ?? entry.path, entry.name);
}

/** Source file URLs in place of import.meta.url (import.meta.resolve is left as is: it resolves packages). */
export const importMetaUrlPlugin = {
  name: "source-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      // Not inside a string literal (thread-entry.ts looks for the text "import.meta.url" in worker bundles).
      const contents = source.replace(/(?<!["'`])\bimport\.meta\.url\b(?!["'`])/g, JSON.stringify(pathToFileURL(args.path).href));
      return { contents, loader: "ts" };
    });
  },
};

/** The bundled CLI's entry (built on first use), or undefined where it cannot be built: then tsx runs the sources. */
export async function bundledCli() {
  try {
    const key = sourcesKey();
    const directory = join(CACHE, key);
    const entry = join(directory, "main.js");
    if (!existsSync(entry)) await build(directory);
    // Worker threads' bundles are named by the same key (src/runtime/thread-entry.ts).
    globalThis[Symbol.for("clickpipe.sourcesKey")] = key;
    return pathToFileURL(entry);
  } catch (error) {
    if (process.env.CLICKPIPE_DEBUG_BUNDLE === "1") console.error(error);
    return undefined;
  }
}

async function build(directory) {
  const { build: esbuild } = await import("esbuild");
  mkdirSync(CACHE, { recursive: true });
  // Built aside and renamed: a process starting at the same moment never sees half a bundle.
  const temporary = `${directory}.${process.pid}.tmp`;
  await esbuild({
    entryPoints: { main: join(SOURCES, "cli", "main.ts") },
    bundle: true,
    splitting: true,
    packages: "external",
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: temporary,
    outExtension: { ".js": ".js" },
    logLevel: "silent",
    plugins: [importMetaUrlPlugin],
  });
  try {
    renameSync(temporary, directory);
  } catch (error) {
    // Another process finished the same bundle first.
    rmSync(temporary, { recursive: true, force: true });
    if (!existsSync(join(directory, "main.js"))) throw error;
  }
  removeOlderBundles(directory);
}

/** Bundles of older sources, once an hour old (a process may still be running from one). */
function removeOlderBundles(current) {
  const hourAgo = Date.now() - 3_600_000;
  for (const name of readdirSync(CACHE)) {
    const path = join(CACHE, name);
    if (path === current) continue;
    if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < hourAgo) rmSync(path, { recursive: true, force: true });
  }
}
