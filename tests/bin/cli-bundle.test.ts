// The `clickpipe` bin's bundle of the CLI: built from the sources, and the same commands behave as under tsx.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { bundledCli } from "../../bin/cli-bundle.js";
import { CLICKPIPE_BIN, REPO_ROOT, runCli } from "../helpers/cli.ts";

describe("bin - the bundled CLI", () => {
  // Loading the bundle keys worker bundles by the sources for the rest of the process (bin/cli-bundle.js); unit files
  // share one process (vitest.config.ts), so a later file must not inherit that.
  afterAll(() => {
    delete (globalThis as Record<symbol, unknown>)[Symbol.for("clickpipe.sourcesKey")];
  });

  it("is built under node_modules/.cache and exports main", async () => {
    const entry = await bundledCli();
    expect(entry).toBeDefined();
    const path = fileURLToPath(entry!);
    expect(path.startsWith(`${REPO_ROOT}node_modules/.cache/clickpipe/cli/`)).toBe(true);
    expect(existsSync(path)).toBe(true);
    const module = (await import(entry!.href)) as { main?: unknown };
    expect(typeof module.main).toBe("function");
  });

  it("prints what the tsx path prints (worker entries found next to their sources: the integration tests run through it)", { timeout: 60_000 }, async () => {
    // validate --print reads the pipeline and the defaults; --help lists the commands.
    for (const args of [["validate", "pipelines/demo.yaml", "--print"], ["--help"], ["publish"]]) {
      const bundled = await runCli(args);
      const throughTsx = await runCli(args, { CLICKPIPE_NO_BUNDLE: "1" });
      expect(bundled.code, args.join(" ")).toBe(throughTsx.code);
      expect(bundled.stdout).toBe(throughTsx.stdout);
      expect(bundled.stderr).toBe(throughTsx.stderr);
    }
  });
});

describe("bin - a reader that stops early", () => {
  it("ends `clickpipe generate` quietly with 0 when stdout closes (as `| head` does)", { timeout: 60_000 }, async () => {
    // Enough output that the generator is still writing when the reader goes (≈ 40 MB without a reader that stops).
    const child = spawn(process.execPath, [CLICKPIPE_BIN, "generate", "--visitors", "100000", "--days", "3"], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const firstLine = await new Promise<string>((resolve) => {
      let text = "";
      const onData = (chunk: Buffer): void => {
        text += chunk.toString();
        const end = text.indexOf("\n");
        if (end < 0) return;
        child.stdout.off("data", onData);
        child.stdout.destroy();
        resolve(text.slice(0, end));
      };
      child.stdout.on("data", onData);
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (...result) => resolve(result)));
    expect(JSON.parse(firstLine)).toMatchObject({ type: expect.any(String), site_id: "demo-shop" });
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(stderr).toBe("");
  });
});
