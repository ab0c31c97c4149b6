// metrics.port: one port, or a range "9464-9467" of which each worker on a host takes the first free port; and
// `clickpipe run --metrics-port`, which overrides it.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { withMetricsPort, RunUsageError } from "../../src/cli/run.ts";
import { summary } from "../../src/cli/validate.ts";
import { formatConfigError, parsePipelineText } from "../../src/config/load.ts";
import { pipelineSchema, type PipelineConfig } from "../../src/config/pipeline.ts";
import { printPipeline } from "../../src/config/print.ts";
import { portsOf } from "../../src/config/port-range.ts";

const HEAD = "name: t\nnats: { stream: S }\nsinks: [{ type: parquet, path: ./out }]\n";

function loaded(text: string, env: Record<string, string> = {}): PipelineConfig {
  const result = parsePipelineText(text, "p.yaml", env);
  if (!result.ok) throw new Error(result.errors.map((error) => formatConfigError(error, "p.yaml")).join("\n"));
  return result.config;
}

/** The lines `clickpipe validate` prints for `metrics: { port: <written> }` (line 4 of the file). */
function errorLines(written: string, extra = "", env: Record<string, string> = {}): string[] {
  const result = parsePipelineText(`${HEAD}metrics:\n  port: ${written}\n${extra}`, "p.yaml", env);
  if (result.ok) throw new Error(`expected port ${written} to be refused`);
  return result.errors.map((error) => formatConfigError(error, "p.yaml"));
}

const portOf = (written: string) => loaded(`${HEAD}metrics: { port: ${written} }\n`).metrics!.port;

describe("metrics.port - what it accepts", () => {
  it("keeps one port a number, as before, 0 (a free port) and the 9464 default included", () => {
    expect(portOf("9470")).toBe(9470);
    expect(portOf("0")).toBe(0);
    expect(loaded(`${HEAD}metrics: {}\n`).metrics).toEqual({ port: 9464, host: "0.0.0.0" });
    expect(portsOf(9470)).toBe(9470);
  });

  it("keeps a range as written (validate --print writes it back) and reads its first and last port", () => {
    expect(portOf("9464-9467")).toBe("9464-9467");
    const printed = printPipeline(loaded(`${HEAD}metrics: { port: 9464-9467 }\n`));
    expect(printed).toContain("metrics:\n  port: 9464-9467\n");
    expect(loaded(printed).metrics).toEqual({ port: "9464-9467", host: "0.0.0.0" });
    expect(portsOf("9464-9467")).toEqual({ first: 9464, last: 9467 });
    expect(portsOf(portOf('"9464 - 9467"'))).toEqual({ first: 9464, last: 9467 });
    expect(portsOf(portOf("9464-9464"))).toEqual({ first: 9464, last: 9464 });
    // The widest: 256 ports, and the ends of the port numbers.
    expect(portsOf(portOf("1-256"))).toEqual({ first: 1, last: 256 });
    expect(portsOf(portOf("65280-65535"))).toEqual({ first: 65280, last: 65535 });
    const fromVariable = loaded(`${HEAD}metrics:\n  port: \${CLICKPIPE_METRICS_PORT:-9464}\n`, { CLICKPIPE_METRICS_PORT: "9481-9483" });
    expect(fromVariable.metrics!.port).toBe("9481-9483");
  });

  it("says in the schema that it takes a port or a range, which is what JSON Schema tools read", () => {
    const jsonSchema = z.toJSONSchema(pipelineSchema, { io: "input", unrepresentable: "any" }) as unknown as {
      properties: { metrics: { properties: { port: { description: string; anyOf: { type: string; minimum?: number; maximum?: number }[] } } } };
    };
    const port = jsonSchema.properties.metrics.properties.port;
    expect(port.anyOf.map(({ type, minimum, maximum }) => ({ type, minimum, maximum }))).toEqual([
      { type: "integer", minimum: 0, maximum: 65535 },
      { type: "string", minimum: undefined, maximum: undefined },
    ]);
    expect(port.description).toContain('or a range "9464-9467" (at most 256 ports, within 1-65535) of which each worker on a host takes the first free port');
    expect(port.description).toContain("`clickpipe run --metrics-port` overrides it");
  });

  it("is summed up by validate: the port, or the range a worker takes the first free port of", () => {
    expect(summary(loaded(`${HEAD}metrics: { port: 9470 }\n`))).toBe("ok: t (no operators; no sources; 1 sink: parquet; metrics on 0.0.0.0:9470)");
    expect(summary(loaded(`${HEAD}metrics: { port: 9470-9473, host: 127.0.0.1 }\n`))).toBe(
      "ok: t (no operators; no sources; 1 sink: parquet; metrics on 127.0.0.1, the first free port of 9470-9473)",
    );
  });
});

describe("metrics.port - what it refuses, naming the key and the fix", () => {
  it("refuses a range that runs backwards, leaves 1-65535 or holds more than 256 ports", () => {
    expect(errorLines("9467-9464")).toEqual(['metrics.port (p.yaml:5:3): range "9467-9464" runs backwards. Write the lower port first: 9464-9467.']);
    expect(errorLines("0-3")).toEqual([
      'metrics.port (p.yaml:5:3): range "0-3" reaches outside ports 1-65535. Port 0 (a free port the system picks) stands alone, not in a range.',
    ]);
    expect(errorLines("65530-65540")).toEqual([
      'metrics.port (p.yaml:5:3): range "65530-65540" reaches outside ports 1-65535. Port 0 (a free port the system picks) stands alone, not in a range.',
    ]);
    expect(errorLines("9000-9256")).toEqual([
      'metrics.port (p.yaml:5:3): range "9000-9256" holds 257 ports, more than 256. One port per worker on a host is enough (9000-9007 for 8), and clickpipe monitor scrapes each port of the range.',
    ]);
  });

  it("refuses text that is neither, saying both forms", () => {
    expect(errorLines("http")).toEqual([
      'metrics.port (p.yaml:5:3): expected a port or a range like "9464-9467", got "http". Write one port (9464), or a range (9464-9467) of which each worker on a host takes the first free port.',
    ]);
    expect(errorLines("9464-9467-9470")).toEqual([
      'metrics.port (p.yaml:5:3): expected a port or a range like "9464-9467", got "9464-9467-9470". Write one port (9464), or a range (9464-9467) of which each worker on a host takes the first free port.',
    ]);
  });

  it("refuses single ports as before: quoted, fractional, out of range", () => {
    expect(errorLines('"9464"')).toEqual(['metrics.port (p.yaml:5:3): expected a number, got the text "9464". The quotes make it text: write 9464 without them.']);
    expect(errorLines('"${PORT}"', "", { PORT: "9464" })).toEqual([
      'metrics.port (p.yaml:5:3): expected a number, got the text "9464". The quotes make it text: write ${PORT} without them.',
    ]);
    const description = pipelineSchema.shape.metrics.unwrap().shape.port.description;
    expect(errorLines("70000")).toEqual([`metrics.port (p.yaml:5:3): must be at most 65535, got 70000. ${description}`]);
    expect(errorLines("1.5")).toEqual([`metrics.port (p.yaml:5:3): expected a whole number, got 1.5. ${description}`]);
    expect(errorLines("true")).toEqual([`metrics.port (p.yaml:5:3): expected a number or text, got true. ${description}`]);
  });

  it("refuses a range that includes the collector's port", () => {
    const sources = "sources: [{ type: http, port: 9466, writeKeys: [k] }]\n";
    expect(errorLines("9464-9467", sources)).toEqual([
      "metrics.port (p.yaml:5:3): range 9464-9467 includes port 9466, which is already used by sources[0].port. Give each server its own port.",
    ]);
    expect(loaded(`${HEAD}${sources}metrics: { port: 9467-9470 }\n`).metrics!.port).toBe("9467-9470");
  });
});

describe("clickpipe run --metrics-port", () => {
  const withMetrics = loaded(`${HEAD}metrics: { port: 9464, host: 127.0.0.1 }\n`);
  const withoutMetrics = loaded(HEAD);

  it("takes the place of the file's metrics.port, keeping its host", () => {
    expect(withMetricsPort(withMetrics, "9470-9473").metrics).toEqual({ port: "9470-9473", host: "127.0.0.1" });
    expect(withMetricsPort(withMetrics, "9470").metrics).toEqual({ port: 9470, host: "127.0.0.1" });
    expect(withMetricsPort(withMetrics, "0").metrics).toEqual({ port: 0, host: "127.0.0.1" });
    expect(withMetrics.metrics).toEqual({ port: 9464, host: "127.0.0.1" });
  });

  it("serves metrics on every interface for a file without a metrics section", () => {
    expect(withMetricsPort(withoutMetrics, "9470-9471").metrics).toEqual({ port: "9470-9471", host: "0.0.0.0" });
  });

  it("names a bad value and a port a source of the file listens on", () => {
    expect(() => withMetricsPort(withMetrics, "9467-9464")).toThrow(new RunUsageError('--metrics-port: range "9467-9464" runs backwards. Write the lower port first: 9464-9467.'));
    expect(() => withMetricsPort(withMetrics, "70000")).toThrow(new RunUsageError('--metrics-port must be a port 0-65535 or a range like 9464-9467, got "70000"'));
    expect(() => withMetricsPort(withMetrics, "metrics")).toThrow(
      new RunUsageError(
        '--metrics-port: expected a port or a range like "9464-9467", got "metrics". Write one port (9464), or a range (9464-9467) of which each worker on a host takes the first free port.',
      ),
    );
    const collector = loaded(`${HEAD}sources: [{ type: http, port: 9471, writeKeys: [k] }]\n`);
    expect(() => withMetricsPort(collector, "9470-9473")).toThrow(
      new RunUsageError("--metrics-port: range 9470-9473 includes port 9471, which is already used by sources[0].port. Give each server its own port."),
    );
    expect(() => withMetricsPort(collector, "9471")).toThrow(new RunUsageError("--metrics-port: port 9471 is already used by sources[0].port. Give each server its own port."));
  });
});
