// `clickpipe generate`: files, stdout, ground truth and usage errors, through runGenerate as the CLI calls it.
import { mkdir, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGenerate } from "../../src/cli/generate.ts";
import { decodeRecord } from "../../src/events/decode.ts";

function capture() {
  let text = "";
  return {
    output: {
      write(chunk: string) {
        text += chunk;
        return true;
      },
    },
    text: () => text,
  };
}

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "clickpipe-generate-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("clickpipe generate", () => {
  it("writes byte-identical NDJSON files for the same seed, and only the final file remains", async () => {
    const stderr = capture();
    const first = join(directory, "a.ndjson");
    const second = join(directory, "b.ndjson");
    expect(await runGenerate(["--visitors", "200", "--days", "2", "--seed", "9", "--out", first], { stderr: stderr.output })).toBe(0);
    expect(await runGenerate(["--visitors", "200", "--days", "2", "--seed", "9", "--out", second], { stderr: stderr.output })).toBe(0);
    const [a, b] = await Promise.all([readFile(first, "utf8"), readFile(second, "utf8")]);
    expect(a).toBe(b);
    expect((await readdir(directory)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    const lines = a.trimEnd().split("\n");
    expect(a.endsWith("\n")).toBe(true);
    expect(stderr.text()).toContain(`generated ${lines.length} events`);
    for (const line of lines) expect(decodeRecord(line, 0).ok).toBe(true);
  });

  it("writes to stdout without --out, starting at --start (a UTC date)", async () => {
    const stdout = capture();
    expect(await runGenerate(["--visitors", "60", "--days", "1", "--start", "2015-05-17"], { stdout: stdout.output, stderr: capture().output })).toBe(0);
    const times = stdout
      .text()
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line).ts as string);
    expect(times.length).toBeGreaterThan(60);
    expect(times.every((ts) => ts.startsWith("2015-05-17T"))).toBe(true);
  });

  it("writes the ground truth: customers with their devices, churners with their churn instant, bots", async () => {
    const out = join(directory, "t.ndjson");
    const truthFile = join(directory, "truth.json");
    expect(await runGenerate(["--visitors", "300", "--days", "5", "--out", out, "--truth", truthFile], { stderr: capture().output })).toBe(0);
    const truth = JSON.parse(await readFile(truthFile, "utf8"));
    const lines = (await readFile(out, "utf8")).trimEnd().split("\n");
    expect(truth.counts.events).toBe(lines.length);
    expect(truth.start).toBe("2026-01-05T00:00:00.000Z");
    expect(truth.end).toBe("2026-01-10T00:00:00.000Z");
    const churned = Object.entries(truth.churned_customers) as [string, string][];
    expect(churned.length).toBeGreaterThan(0);
    for (const [userId, churnedAt] of churned) expect(truth.customers[userId].churned_at).toBe(churnedAt);
    expect(truth.bots.length).toBeGreaterThan(0);
  });

  it.each([
    [["--days", "3"], "--visitors is required"],
    [["--visitors", "0", "--days", "3"], "--visitors: expected a positive integer"],
    [["--visitors", "10", "--days", "1.5"], "--days: expected a positive integer"],
    [["--visitors", "10", "--days", "1", "--seed", "x"], "--seed: expected an integer"],
    [["--visitors", "10", "--days", "1", "--start", "2015-05-17T10:00:00"], "--start: expected a date"],
    [["--visitors", "10", "--days", "1", "--bogus"], "unknown option --bogus: this command takes --visitors, --days"],
  ])("rejects %j with exit code 2 and says why", async (argv, message) => {
    const stderr = capture();
    expect(await runGenerate(argv, { stdout: capture().output, stderr: stderr.output })).toBe(2);
    expect(stderr.text()).toContain(message);
    expect(stderr.text()).toContain("usage: clickpipe generate");
  });

  it("names an --out or --truth it cannot write before generating, leaving no <out>.tmp", async () => {
    // A folder failed only once everything was generated, with Node's "EISDIR: illegal operation on a directory,
    // rename '<out>.tmp' -> '<out>'", and left the whole output behind as <out>.tmp; a missing folder got "ENOENT: … open".
    const folder = join(directory, "a-folder");
    await mkdir(folder);
    const missing = join(directory, "missing", "events.ndjson");
    for (const [argv, message] of [
      [["--out", folder], `clickpipe generate: --out ${folder}: is a directory: name a file in it, e.g. ${join(folder, "events.ndjson")}\n`],
      [["--out", missing], `clickpipe generate: --out ${missing}: no folder ${join(directory, "missing")}: create it first (mkdir -p ${join(directory, "missing")})\n`],
      [["--truth", folder], `clickpipe generate: --truth ${folder}: is a directory: name a file in it, e.g. ${join(folder, "truth.json")}\n`],
    ]) {
      const stderr = capture();
      expect(await runGenerate(["--visitors", "10", "--days", "1", ...argv], { stdout: capture().output, stderr: stderr.output })).toBe(1);
      expect(stderr.text()).toBe(message);
    }
    expect((await readdir(directory)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("rejects a rate that is not a positive number", async () => {
    const stderr = capture();
    expect(await runGenerate(["--visitors", "10", "--days", "1", "--pipeline", "p.yaml", "--rate", "fast"], { stderr: stderr.output })).toBe(2);
    expect(stderr.text()).toContain("--rate: expected events per second > 0");
  });
});
