// `validate --print`: the effective config as YAML that validates back to the same config, durations written as text.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parsePipelineText } from "../../src/config/load.ts";
import { printPipeline } from "../../src/config/print.ts";

const text = `name: printed
nats:
  stream: \${STREAM:-PRINTED}
sources:
  - type: accessLog
    paths: [a.log]
    pollInterval: 1500ms
operators:
  - type: sessionize
    gap: 45m
  - type: sequencePatterns
    window: 2h
    every: 30m
sinks:
  - type: parquet
    path: ./out
checkpoint:
  interval: 90s
`;

function load(source: string) {
  const result = parsePipelineText(source, "print.yaml", { CLICKPIPE_PSEUDONYM_KEY: "test-key" });
  if (!result.ok) throw new Error(result.errors.map((error) => `${error.path}: ${error.message}`).join("\n"));
  return result.config;
}

describe("config print", () => {
  it("prints durations back as text in their largest exact unit, defaults included", () => {
    const printed = parse(printPipeline(load(text)));
    expect(printed.nats).toEqual({ url: "nats://127.0.0.1:4222", stream: "PRINTED", partitions: 1, customerPartitions: 1, replicas: 1 });
    expect(printed.sources[0].pollInterval).toBe("1500ms");
    expect(printed.operators[0]).toMatchObject({ gap: "45m", maxDuration: "12h", outOfOrderness: "1m", allowedLateness: "1h" });
    expect(printed.operators[1]).toMatchObject({ window: "2h", every: "30m" });
    expect(printed.checkpoint).toEqual({ interval: "90s", store: "directory" });
  });

  it("re-validates to exactly the same config", () => {
    const config = load(text);
    expect(load(printPipeline(config))).toEqual(config);
  });

  it("re-validates every example pipeline to the same config", async () => {
    const { readdir, readFile } = await import("node:fs/promises");
    for (const file of (await readdir("pipelines")).filter((name) => name.endsWith(".yaml"))) {
      const config = load(await readFile(`pipelines/${file}`, "utf8"));
      expect(load(printPipeline(config)), file).toEqual(config);
    }
  });

  it("leaves omitted optional sections out", () => {
    const printed = parse(printPipeline(load(text)));
    expect(Object.keys(printed)).toEqual(["name", "nats", "ingest", "sources", "operators", "sinks", "checkpoint"]);
  });
});
