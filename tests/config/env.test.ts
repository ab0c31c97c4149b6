// ${VAR} and ${VAR:-default} expansion: in strings, and inside pipeline files before validation.
import { describe, expect, it } from "vitest";
import { expandVariables, typedPlainScalar } from "../../src/config/env.ts";
import { parsePipelineText } from "../../src/config/load.ts";

describe("config env - expandVariables", () => {
  it("replaces a set variable and leaves the rest of the text alone", () => {
    expect(expandVariables("nats://${HOST}:4222", { HOST: "nats.local" })).toEqual({ ok: true, text: "nats://nats.local:4222" });
  });

  it("uses the default when the variable is unset or empty, and the value when set", () => {
    expect(expandVariables("${OUT:-./data}", {})).toEqual({ ok: true, text: "./data" });
    expect(expandVariables("${OUT:-./data}", { OUT: "" })).toEqual({ ok: true, text: "./data" });
    expect(expandVariables("${OUT:-./data}", { OUT: "/lake" })).toEqual({ ok: true, text: "/lake" });
    expect(expandVariables("${URL:-nats://a:1,nats://b:2}", {})).toEqual({ ok: true, text: "nats://a:1,nats://b:2" });
  });

  it("lists every unset variable that has no default", () => {
    expect(expandVariables("${A}-${B:-b}-${C}", {})).toEqual({ ok: false, missing: ["A", "C"], malformed: [] });
  });

  it("reports shell forms it does not expand, a bad name and a missing } instead of keeping them as text", () => {
    expect(expandVariables("${OUT-./data}/${X:=1}/${NATS-URL}/${A", {})).toEqual({ ok: false, missing: [], malformed: ["${OUT-./data}", "${X:=1}", "${NATS-URL}", "${A"] });
    expect(expandVariables("$${OUT-./data}", {})).toEqual({ ok: true, text: "${OUT-./data}" });
  });

  it("keeps $${VAR} as a literal ${VAR}", () => {
    expect(expandVariables("cost $${PRICE}", {})).toEqual({ ok: true, text: "cost ${PRICE}" });
  });

  it("types unquoted expanded text as YAML would: numbers and booleans, else text", () => {
    expect(typedPlainScalar("9464")).toBe(9464);
    expect(typedPlainScalar("0.25")).toBe(0.25);
    expect(typedPlainScalar("true")).toBe(true);
    expect(typedPlainScalar("a # b")).toBe("a # b");
    expect(typedPlainScalar("30m")).toBe("30m");
  });
});

describe("config env - in pipeline files", () => {
  const text = [
    "name: ${NAME:-env-test}", //                 1
    "nats:", //                                  2
    "  stream: ${STREAM}", //                    3
    "  token: ${NATS_TOKEN:-}", //               4
    "sinks:", //                                 5
    "  - type: parquet", //                      6
    "    path: ${OUT:-./data}", //               7
    '    compression: "${CODEC:-zstd}"', //      8
    "metrics:", //                               9
    "  port: ${PORT:-9464}", //                  10
    "# ${IN_A_COMMENT} is never expanded", //    11
  ].join("\n");

  it("expands defaults and set variables, typing unquoted numbers", () => {
    const result = parsePipelineText(text, "env.yaml", { STREAM: "EVENTS", PORT: "9100" });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.name).toBe("env-test");
    expect(result.config.nats.stream).toBe("EVENTS");
    expect(result.config.sinks[0]).toEqual({ type: "parquet", path: "./data", compression: "zstd", rowGroupSize: 100_000, compaction: { minParts: 16, mergesPerCheckpoint: 1 } });
    expect(result.config.metrics).toEqual({ port: 9100, host: "0.0.0.0" });
  });

  it("treats an unquoted value that expands to nothing as omitted", () => {
    const unset = parsePipelineText(text, "env.yaml", { STREAM: "EVENTS" });
    const set = parsePipelineText(text, "env.yaml", { STREAM: "EVENTS", NATS_TOKEN: "s3cret" });
    expect(unset.ok && unset.config.nats.token).toBe(undefined);
    expect(set.ok && set.config.nats.token).toBe("s3cret");
  });

  it("names an unset variable without default, with its key path and line", () => {
    const result = parsePipelineText(text, "env.yaml", {});
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          path: "nats.stream",
          line: 3,
          column: 11,
          message: "environment variable STREAM is not set",
          hint: "Set STREAM, or give a default: ${STREAM:-value}.",
        },
      ],
    });
  });

  it("never lets a variable's value change the file's structure", () => {
    const result = parsePipelineText(text, "env.yaml", { STREAM: "EVENTS", OUT: "./x\nextra: 1", NAME: "n: 1" });
    // The name is checked as one string (and rejected by its pattern), not parsed as YAML.
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => error.path)).toEqual(["name"]);
  });
});
