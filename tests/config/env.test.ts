// ${VAR} and ${VAR:-default} expansion: in strings, and inside pipeline files before validation.
import { describe, expect, it } from "vitest";
import { expandVariables, typedPlainScalar } from "../../src/config/env.ts";
import { formatConfigWarning, parsePipelineText } from "../../src/config/load.ts";

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

  it("warns, naming the variable and the key whose default applies, when a variable without default is set but empty", () => {
    const file = "name: t\nnats:\n  url: ${NATS_URL}\n  stream: S\n  duplicateWindow: ${WINDOW}\n  token: ${NATS_TOKEN:-}\n  maxAge: ${MAX_AGE}\nsinks:\n  - type: parquet\n    path: ./out\n";
    const result = parsePipelineText(file, "env.yaml", { NATS_URL: "", WINDOW: "", NATS_TOKEN: "", MAX_AGE: "" });
    expect(result.ok && result.config.nats.url).toBe("nats://127.0.0.1:4222");
    expect(result.ok && result.warnings.map((warning) => formatConfigWarning(warning, "env.yaml"))).toEqual([
      'nats.url (env.yaml:3:3): warning: environment variable NATS_URL is set but empty, so url is left out and its default "nats://127.0.0.1:4222" applies. Set NATS_URL to a value, or write ${NATS_URL:-} to leave it out on purpose.',
      'nats.duplicateWindow (env.yaml:5:3): warning: environment variable WINDOW is set but empty, so duplicateWindow is left out and its default "2m" applies. Set WINDOW to a value, or write ${WINDOW:-} to leave it out on purpose.',
      "nats.maxAge (env.yaml:7:3): warning: environment variable MAX_AGE is set but empty, so maxAge is left out and it is unset (it has no default). Set MAX_AGE to a value, or write ${MAX_AGE:-} to leave it out on purpose.",
    ]);
    // A value given, and a ${VAR:-} written to leave the key out, warn of nothing.
    const given = parsePipelineText(file, "env.yaml", { NATS_URL: "nats://n:4222", WINDOW: "5m", MAX_AGE: "1d" });
    expect(given.ok && given.warnings).toEqual([]);
  });

  it("drops a list entry whose variable expands to nothing, rather than keeping ${VAR} as its text, and warns of it", () => {
    const file = "name: t\nnats:\n  stream: S\nsources:\n  - type: accessLog\n    paths:\n      - ${EXTRA_LOG}\n      - ${OTHER_LOG:-}\n      - /var/log/a.log\nsinks:\n  - type: parquet\n    path: ./out\n";
    const result = parsePipelineText(file, "env.yaml", { EXTRA_LOG: "" });
    expect(result.ok && result.config.sources?.[0]).toMatchObject({ paths: ["/var/log/a.log"] });
    expect(result.ok && result.warnings.map((warning) => [warning.path, warning.line, warning.column, warning.message])).toEqual([
      ["sources[0].paths[0]", 7, 9, "environment variable EXTRA_LOG is set but empty, so the entry is left out of sources[0].paths"],
    ]);
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
      warnings: [],
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
