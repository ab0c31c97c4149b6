// The command line's own contract: --help for every command, usage errors exit 2 with the command's usage.
// Most cases call the CLI's main() in this process (runCliInProcess: the same stdout, stderr and exit code, without a
// child's startup per case); run/publish/forget --help, demo's usage errors and the closed-output case run the real
// bin/clickpipe.js, so the command itself is proven to print, exit 0 and exit 2.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { fitUsage } from "../../src/cli/fit.ts";
import { demoUsage } from "../../src/cli/demo.ts";
import { commandUsage } from "../../src/cli/main.ts";
import { mineUsage } from "../../src/cli/mine.ts";
import { scoreUsage } from "../../src/cli/score.ts";
import { trainUsage } from "../../src/cli/train.ts";
import { validateUsage } from "../../src/cli/validate.ts";
import { runCli, runCliInProcess } from "../helpers/cli.ts";

const COMMANDS = ["run", "publish", "forget"];

describe("clickpipe <command> --help", () => {
  it.each(COMMANDS)("%s --help prints its usage and exits 0 without doing anything", async (command) => {
    const result = await runCli([command, "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${commandUsage(command)}\n`);
    expect(result.stdout).toMatch(new RegExp(`^usage: clickpipe ${command}\\b`));
    expect(result.stderr).toBe("");
  });

  it("publish --help explains the CSV options its usage line only names", async () => {
    const result = await runCliInProcess(["publish", "--help"]);
    const details = result.stdout.split("\n").slice(1).join("\n");
    for (const option of ["--map", "--delimiter", "--null", "--sort-by-time"]) expect(details, option).toContain(option);
    // What a file out of event-time order published without --sort-by-time costs.
    expect(details).toContain("go to late_events");
    // Each parser --map takes is named.
    for (const parser of ["string", "number", "yyyymmdd", "iso", "epoch_ms", "epoch_s"]) expect(details, parser).toContain(`:${parser}`);
    // So is each field of an order line's item.
    for (const field of ["sku", "category", "price", "qty"]) expect(details, field).toContain(`items.${field}`);
  });

  it("mine and fit print their subcommands' usage, with every option; demo the variables that set it up", async () => {
    for (const [command, usage] of [["mine", mineUsage], ["fit", fitUsage], ["demo", demoUsage]]) {
      const result = await runCliInProcess([command, "--help"]);
      expect(result.code, command).toBe(0);
      expect(result.stdout).toBe(`${usage}\n`);
      expect(result.stderr).toBe("");
    }
    expect(mineUsage.split("\n")[1]).toBe(
      "  clickpipe mine patterns --sessions <dir|file> --min-support <s> [--kind subsequence|contiguous|both] [--max-length <n>] [--item page_items|page_path] [--out <file.csv|dir>]",
    );
    expect(fitUsage.split("\n")[1]).toBe("  clickpipe fit bgnbd --summary <file.csv>");
  });

  it("validate, train and score print the usage a usage error prints: what --print writes, what training writes, --follow", async () => {
    // --help printed only their USAGE line, which leaves these out, while a usage error printed them.
    for (const [command, usage, detail] of [
      ["validate", validateUsage, "secrets redacted"],
      ["train", trainUsage, "metrics.json, report.html"],
      ["score", scoreUsage, "--follow: then scores each later snapshot"],
    ]) {
      const result = await runCliInProcess([command, "--help"]);
      expect(result.code, command).toBe(0);
      expect(result.stdout).toBe(`${usage}\n`);
      expect(result.stdout).toContain(detail);
      expect(result.stderr).toBe("");
      const error = await runCliInProcess([command]);
      expect(error.code, command).toBe(2);
      expect(error.stderr).toContain(usage);
    }
  });

  // Each prints what `<command> --help` prints; "-h" the same. None of them reads a file or connects.
  it.each([
    [["run", "pipelines/web.yaml", "--help"], "run"],
    [["validate", "pipelines/web.yaml", "-h"], "validate"],
    [["publish", "/tmp/nofile.ndjson", "--pipeline", "pipelines/demo.yaml", "--help"], "publish"],
    [["forget", "u1", "--pipeline", "pipelines/demo.yaml", "-h"], "forget"],
    [["train", "pipelines/training/churn.yaml", "--help"], "train"],
    [["score", "pipelines/training/churn.yaml", "--snapshot", "1997-09-30", "-h"], "score"],
    [["demo", "-h"], "demo"],
    [["mine", "patterns", "--help"], "mine"],
    [["mine", "rules", "--orders", "x.csv", "-h"], "mine"],
    [["fit", "bgnbd", "--help"], "fit"],
    [["fit", "bgnbd", "--features", "data/shop/customer_features", "-h"], "fit"],
    [["generate", "--visitors", "3", "-h"], "generate"],
    [["inspect", "./data", "-h"], "inspect"],
    [["monitor", "--port", "0", "--help"], "monitor"],
  ])("%j prints the usage to stdout and exits 0", async (args, command) => {
    const result = await runCliInProcess(args);
    const alone = await runCliInProcess([command, "--help"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(alone.stdout);
    expect(result.stdout).toMatch(/^usage:/);
  });

  it("takes a -h after -- as an operand, not as a request for help", async () => {
    const result = await runCliInProcess(["validate", "--", "-h"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("-h: no such file. Check the path (pipelines/*.yaml holds examples).\n");
  });

  it("names the command's arguments and what it does", () => {
    expect(commandUsage("run")).toBe(
      "usage: clickpipe run <pipeline.yaml> [--drain] [--worker-id <id>] [--metrics-port <port|range>]\n       run a pipeline (drain: process the stream, flush, exit)\n(README.md has the details)",
    );
    expect(commandUsage("mine").split("\n")[0]).toBe("usage: clickpipe mine patterns …  |  mine rules …");
    // Every option the command takes: score's --interval and publish's --delimiter were missing.
    expect(commandUsage("score").split("\n")[0]).toBe("usage: clickpipe score <training.yaml> --snapshot <date> [--follow] [--interval <s>]");
    expect(commandUsage("publish").split("\n")[0]).toBe(
      "usage: clickpipe publish <file[.gz]> --pipeline <pipeline.yaml> [--format ndjson|combined|common|w3c|caddy|csv|'<log format>'] [--map …] [--delimiter …] [--null …] [--timezone …] [--sort-by-time]",
    );
  });

  it("publish --help states strptime's codes, --timezone's default and rules, and the Online Retail example", () => {
    const help = commandUsage("publish");
    expect(help).toContain(":strptime(%m/%d/%Y %H:%M) reads a date-time as DuckDB's strptime does");
    expect(help).toContain("%Y %y %m %d %H %I %M %S %f %g %p %b %h %B %a %A %z %T %%");
    expect(help).toContain("--timezone <IANA zone> is the zone of local date-times, those of a pattern without %z (default UTC)");
    expect(help).toContain("one repeated in autumn is the earlier instant");
    expect(help).toContain("--format csv --timezone Europe/London --map 'type=purchase,order_id=$InvoiceNo,ts=$InvoiceDate:strptime(%m/%d/%Y %H:%M),");
  });
});

describe("clickpipe --help", () => {
  it("names every option that generate, inspect and monitor --help name", async () => {
    // Their lines left out --start and --truth, --json, --host and --scrape-interval.
    const overview = (await runCliInProcess(["--help"])).stdout.split("\n");
    for (const command of ["generate", "inspect", "monitor"]) {
      const own = (await runCliInProcess([command, "--help"])).stdout.split("\n")[0];
      const line = overview.find((text) => text.startsWith(`  ${command} `));
      for (const option of own.match(/--[a-z-]+/g) ?? []) expect(line, `${command} ${option}`).toContain(option);
    }
  });
});

describe("usage errors", () => {
  it("exit 2 with the command's usage: an unknown option, an option without its value", async () => {
    for (const args of [["run", "x.yaml", "--bogus"], ["run", "x.yaml", "--worker-id"], ["publish", "f.ndjson", "--pipeline"]]) {
      const result = await runCliInProcess(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toContain(commandUsage(args[0]));
    }
  });

  it("names a misspelt option's meaning and a value-less or dash-led value's fix in one line, for every command", async () => {
    // Node's own text ("Unknown option '--pipline'. To specify a positional argument starting with a '-', place it at
    // the end of the command after '--' …", "argument is ambiguous" over three lines) named no fix.
    for (const [args, reason] of [
      [["run", "p.yaml", "--drian"], "clickpipe run: unknown option --drian: did you mean --drain?"],
      [["publish", "f.ndjson", "--pipline", "p.yaml"], "clickpipe publish: unknown option --pipline: did you mean --pipeline?"],
      [["publish", "f.ndjson", "-pipeline", "p.yaml"], "clickpipe publish: unknown option -pipeline: did you mean --pipeline?"],
      [["forget", "u1", "--pipline", "p.yaml"], "clickpipe forget: unknown option --pipline: did you mean --pipeline?"],
      [["generate", "--visitor", "5", "--days", "1"], "clickpipe generate: unknown option --visitor: did you mean --visitors?"],
      [["mine", "patterns", "--min-suport", "2"], "clickpipe mine: unknown option --min-suport: did you mean --min-support?"],
      [["score", "t.yaml", "--snapshot", "1997-09-30", "--folow"], "clickpipe score: unknown option --folow: did you mean --follow?"],
      [["monitor", "--targets", "localhost:9464"], "clickpipe monitor: unknown option --targets: did you mean --target?"],
      [["fit", "bgnbd", "--sumary", "s.csv"], "clickpipe fit: unknown option --sumary: did you mean --summary?"],
      [["train", "t.yaml", "--out", "x"], "clickpipe train: unknown option --out: this command takes no options"],
      [["forget", "u1", "--bogus"], "clickpipe forget: unknown option --bogus: this command takes --pipeline"],
      [["run", "p.yaml", "--worker-id"], "clickpipe run: --worker-id is missing its value"],
      [["monitor", "--port", "--host", "::1"], "clickpipe monitor: --port is missing its value (--host after it is an option)"],
      [
        ["generate", "--visitors", "5", "--days", "-1"],
        'clickpipe generate: --days -1: a value starting with "-" is read as an option; write --days=-1 to give it as the value',
      ],
      [["run", "p.yaml", "--drain=yes"], "clickpipe run: --drain takes no value: write --drain alone"],
      [["monitor", "extra"], 'clickpipe monitor: unexpected argument "extra": this command takes options only'],
    ] as const) {
      const result = await runCliInProcess([...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr.split("\n")[0]).toBe(reason);
    }
  });

  it("run and forget say what is missing above their usage, as validate does", async () => {
    // They printed the usage line alone, leaving the reader to find what the command line lacked.
    for (const [args, reason] of [
      [["run"], "clickpipe run: name a pipeline file"],
      [["run", "a.yaml", "b.yaml"], "clickpipe run: name one pipeline file"],
      [["forget", "u1"], "clickpipe forget: --pipeline <pipeline.yaml> is required"],
      [["forget", "--pipeline", "pipelines/demo.yaml"], "clickpipe forget: name the user_id to erase"],
      [["forget", "u1", "u2", "--pipeline", "pipelines/demo.yaml"], "clickpipe forget: name one user_id"],
    ] as const) {
      const result = await runCliInProcess([...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toBe(`${reason}\n${commandUsage(args[0]).split("\n")[0]}\n`);
    }
  });

  it("demo takes no arguments instead of starting a demo whatever it is given", async () => {
    const result = await runCli(["demo", "--bogus"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("clickpipe demo: takes no arguments, got --bogus (CLICKPIPE_DEMO_* variables set it up: README.md)\n");
  });

  it("demo names a CLICKPIPE_DEMO_* variable that holds no valid number and exits 2 before it connects or writes", async () => {
    // NATS_URL points nowhere and CLICKPIPE_OUT at a folder that must stay absent: the check comes first.
    const out = join(tmpdir(), `clickpipe-demo-settings-${process.pid}`);
    const result = await runCli(["demo"], { CLICKPIPE_DEMO_VISITORS: "3k", NATS_URL: "nats://127.0.0.1:1", CLICKPIPE_OUT: out });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "clickpipe demo: CLICKPIPE_DEMO_VISITORS=3k is not a valid setting: it takes a whole number of visitors, at least 1 (default 3000)\n",
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe("closed output", () => {
  it("goes on when its stderr's reader is gone (Ctrl-C in `npm start 2>&1 | tee log` ends tee too), so a worker still commits", async () => {
    // The child installs the CLI's handlers, then, with its stderr's reader closed, logs as a stopping worker does and
    // only then does what it still has to do (here: print on stdout, still open). An unhandled EPIPE ended it with 1.
    const mainModule = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
    const script = `
      import { handleClosedOutput } from ${JSON.stringify(mainModule)};
      handleClosedOutput();
      process.stdin.resume();
      process.stdin.once("end", () => {
        console.error("SIGINT: stopping intake, committing a checkpoint");
        process.stderr.write("a second line\\n");
        setTimeout(() => console.log("committed"), 200);
      });`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["pipe", "pipe", "pipe"] });
    child.stderr.destroy();
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stdin.end();
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
    expect({ code, signal, stdout }).toEqual({ code: 0, signal: null, stdout: "committed\n" });
  });
});
