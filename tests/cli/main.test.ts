// The command line's own contract: --help for every command, usage errors exit 2 with the command's usage.
import { describe, expect, it } from "vitest";
import { commandUsage } from "../../src/cli/main.ts";
import { runCli } from "../helpers/cli.ts";

const COMMANDS = ["run", "validate", "publish", "mine", "forget", "train", "score", "fit", "demo"];

describe("clickpipe <command> --help", () => {
  it.each(COMMANDS)("%s --help prints its usage and exits 0 without doing anything", async (command) => {
    const result = await runCli([command, "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${commandUsage(command)}\n`);
    expect(result.stdout).toMatch(new RegExp(`^usage: clickpipe ${command}\\b`));
    expect(result.stderr).toBe("");
  });

  it("names the command's arguments and what it does", () => {
    expect(commandUsage("run")).toBe(
      "usage: clickpipe run <pipeline.yaml> [--drain] [--worker-id <id>]\n       run a pipeline (drain: process the stream, flush, exit)\n(README.md has the details)",
    );
    expect(commandUsage("mine").split("\n")[0]).toBe("usage: clickpipe mine patterns …  |  mine rules …");
  });
});

describe("usage errors", () => {
  it("exit 2 with the command's usage: an unknown option, an option without its value", async () => {
    for (const args of [["run", "x.yaml", "--bogus"], ["run", "x.yaml", "--worker-id"], ["publish", "f.ndjson", "--pipeline"]]) {
      const result = await runCli(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toContain(commandUsage(args[0]));
    }
  });

  it("demo takes no arguments instead of starting a demo whatever it is given", async () => {
    const result = await runCli(["demo", "--bogus"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("clickpipe demo: takes no arguments, got --bogus (CLICKPIPE_DEMO_* variables set it up: README.md)\n");
  });
});
