// The `clickpipe` bin's bundle of the CLI: built from the sources, and the same commands behave as under tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { bundledCli } from "../../bin/cli-bundle.js";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";

describe("bin - the bundled CLI", () => {
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
