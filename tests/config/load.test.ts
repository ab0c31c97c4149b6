// Loading pipeline files: every error found at once, each with its key path and its line and column in the file.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { churnFeaturesConfig } from "../../src/operators/churn-features.ts";
import { formatConfigError, loadPipeline, parsePipelineText, type ConfigError } from "../../src/config/load.ts";

function errorsOf(text: string, env: Record<string, string> = {}): ConfigError[] {
  const result = parsePipelineText(text, "test.yaml", env);
  if (result.ok) throw new Error("expected the pipeline to be rejected");
  return result.errors;
}

const minimal = (extra = "") => `name: t\nnats:\n  stream: S\nsinks:\n  - type: parquet\n    path: ./out\n${extra}`;

describe("config loading - errors located in the file", () => {
  it("reports an unknown key, a bad duration and a missing required key together, each at its own line", () => {
    const text = [
      "name: web", //                        1
      "nats:", //                            2
      "  url: nats://127.0.0.1:4222", //     3
      "operators:", //                       4
      "  - type: sessionize", //             5
      "    gap: 30m", //                     6
      "    maxDurationn: 12h", //            7  unknown key
      "  - type: basket", //                 8
      "    window: 1 day", //                9  bad duration
      "sinks:", //                           10
      "  - type: parquet", //                11
      "    path: ./data", //                 12
    ].join("\n"); // nats.stream is missing: reported at the `nats:` line
    const errors = errorsOf(text);
    expect(errors.map(({ path, line, column }) => ({ path, line, column }))).toEqual([
      { path: "nats.stream", line: 2, column: 1 },
      { path: "operators[0].maxDurationn", line: 7, column: 5 },
      { path: "operators[1].window", line: 9, column: 5 },
    ]);
    expect(errors[0].message).toBe('missing required key "stream"');
    expect(errors[1].message).toBe('unknown key "maxDurationn"');
    expect(errors[1].hint).toMatch(/^Did you mean "maxDuration"\? Allowed keys in operators\[0\]: type, gap, maxDuration,/);
    expect(errors[2].message).toContain('expected a duration like "30m"');
    expect(errors[2].message).toContain('got "1 day"');
  });

  it("formats an error as `path (file:line:col): message. hint`", () => {
    const text = minimal("operators:\n  - type: sessionize\n    gap: soon\n");
    const [error] = errorsOf(text);
    expect(formatConfigError(error, "pipelines/web.yaml")).toMatch(
      /^operators\[0\]\.gap \(pipelines\/web\.yaml:9:5\): expected a duration like "30m" \(units ms, s, m, h, d\), got "soon"\. Inactivity gap/,
    );
  });

  it("says a bare number is a duration without a unit, and how to write one", () => {
    const [error] = errorsOf(minimal("operators:\n  - type: sessionize\n    gap: 30\n"));
    expect([error.path, error.message, error.hint]).toEqual([
      "operators[0].gap",
      'expected a duration like "30m" (units ms, s, m, h, d), got 30',
      'A number alone has no unit: write "30m" for 30 minutes or "30s" for seconds.',
    ]);
  });

  it("shows the value a format rule rejected, as a ${VAR} on that line expanded it", () => {
    const result = parsePipelineText("name: t\nnats: { stream: \"${STREAM}\" }\nsinks: [{ type: parquet, path: x }]\n", "t.yaml", { STREAM: "my.stream" });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => [error.path, error.line, error.message])).toEqual([
      ["nats.stream", 2, 'a JetStream stream name cannot be empty or contain spaces, dots, *, > or slashes, got "my.stream"'],
    ]);
  });

  it("names a TLS or credentials file that is not there, at its key", () => {
    const text = "name: t\nnats:\n  stream: S\n  credentials: /nonexistent/user.creds\n  tls: { ca: /nonexistent/ca.pem, cert: package.json, key: package.json }\nsinks: [{ type: parquet, path: x }]\n";
    expect(errorsOf(text).map((error) => [error.path, error.line, error.message])).toEqual([
      ["nats.credentials", 4, "no such file: /nonexistent/user.creds"],
      ["nats.tls.ca", 5, "no such file: /nonexistent/ca.pem"],
    ]);
  });

  it("says how to write an empty list when a list key has nothing under it", () => {
    const [error] = errorsOf(minimal("operators:\n"));
    expect([error.path, error.message, error.hint]).toEqual([
      "operators",
      "expected a list, got an empty value",
      "Nothing follows the key: write [] for an empty list, or leave the key out.",
    ]);
  });

  it("rejects unknown keys at every level, naming the allowed keys there", () => {
    const text = [
      "name: t", //                                   1
      "nats:", //                                     2
      "  stream: S", //                               3
      "  tls: { ca: ca.pem, certificate: c.pem }", // 4
      "ingest:", //                                   5
      "  privacy: { anonymiseIp: true }", //          6
      "sources:", //                                  7
      "  - type: http", //                            8
      "    writeKeys: [k]", //                        9
      "    rateLimit: { rps: 5 }", //                 10
      "operators:", //                                11
      "  - type: churnFeatures", //                   12
      "    snapshotEvry: 1d", //                      13
      "sinks:", //                                    14
      "  - type: parquet", //                         15
      "    path: ./out", //                           16
      "    codec: zstd", //                           17
      "metrics: { port: 9464, tls: true }", //        18
      "extra: 1", //                                  19
    ].join("\n");
    const errors = errorsOf(text);
    expect(errors.map(({ path, line }) => `${path}@${line}`)).toEqual([
      "nats.tls.certificate@4",
      "ingest.privacy.anonymiseIp@6",
      "sources[0].rateLimit.rps@10",
      "operators[0].snapshotEvry@13",
      "sinks[0].codec@17",
      "metrics.tls@18",
      "extra@19",
    ]);
    expect(errors.find((error) => error.path === "operators[0].snapshotEvry")?.hint).toBe(
      // The operator's own schema lists its keys (its engineers add keys); these four are in ARCHITECTURE.md.
      `Did you mean "snapshotEvery"? Allowed keys in operators[0]: ${Object.keys(churnFeaturesConfig.shape).join(", ")}.`,
    );
    expect(Object.keys(churnFeaturesConfig.shape)).toEqual(expect.arrayContaining(["type", "snapshotEvery", "outOfOrderness", "allowedLateness"]));
    expect(errors.find((error) => error.path === "ingest.privacy.anonymiseIp")?.hint).toMatch(/^Did you mean "anonymizeIp"\?/);
    expect(errors.find((error) => error.path === "extra")?.hint).toBe(
      "Allowed keys at the top level: name, nats, ingest, sources, operators, sinks, metrics, checkpoint.",
    );
  });

  it("names an unknown operator type and suggests the closest one", () => {
    const errors = errorsOf(minimal("operators:\n  - type: sesionize\n"));
    expect(errors).toEqual([
      {
        path: "operators[0].type",
        line: 8,
        column: 5,
        message: 'unknown type "sesionize"',
        hint: 'Did you mean "sessionize"? Types: sessionize, sequencePatterns, basket, churnFeatures.',
      },
    ]);
  });

  it("points a missing operator type at the list item", () => {
    const errors = errorsOf(minimal("operators:\n  - gap: 30m\n"));
    expect(errors).toMatchObject([{ path: "operators[0].type", line: 8, column: 5, message: 'missing required key "type"' }]);
  });

  it("explains wrong value types and out-of-range numbers with the value found", () => {
    const text = "name: t\nnats:\n  stream: S\n  partitions: 0\nsinks: [{ type: parquet, path: x }]\nmetrics: { port: http }\n";
    const errors = errorsOf(text);
    expect(errors.map(({ path, line, message }) => `${path}@${line}: ${message}`)).toEqual([
      "nats.partitions@4: must be at least 1, got 0",
      'metrics.port@6: expected a port or a range like "9464-9467", got "http"',
    ]);
  });

  it("reports a bad enum value with a suggestion", () => {
    const errors = errorsOf(minimal("    compression: snapy\n"));
    expect(errors).toMatchObject([
      { path: "sinks[0].compression", line: 7, message: 'expected one of "zstd", "snappy", "none", got "snapy"', hint: 'Did you mean "snappy"?' },
    ]);
  });

  it("names the bad entry inside a value that may take several forms", () => {
    const errors = errorsOf(minimal("ingest:\n  pages: { exclude: [static, non2XX] }\n"));
    expect(errors).toEqual([
      {
        path: "ingest.pages.exclude[1]",
        line: 8,
        column: 30,
        message: 'expected one of "static", "1xx", "2xx", "3xx", "4xx", "5xx", "non2xx", "nonGet", got "non2XX"',
        hint: 'Did you mean "non2xx"?',
      },
    ]);
  });

  it("names a bad redactQueryParams entry by its path, with the fix", () => {
    const errors = errorsOf(minimal('ingest:\n  privacy:\n    redactQueryParams: [sid, "", "?token=", " email"]\n'));
    expect(errors.map(({ path, line, message, hint }) => [path, line, message, hint])).toEqual([
      [
        "ingest.privacy.redactQueryParams[1]",
        9,
        "empty parameter name",
        "Write the parameter's name alone, as it appears before = in a URL (e.g. token for ?token=…); names match in any case, escaped or not. Remove the empty entry.",
      ],
      [
        "ingest.privacy.redactQueryParams[2]",
        9,
        'parameter name "?token=" contains "?"',
        'Write the parameter\'s name alone, as it appears before = in a URL (e.g. token for ?token=…); names match in any case, escaped or not. Write "token".',
      ],
      ["ingest.privacy.redactQueryParams[3]", 9, 'parameter name " email" has spaces around it', 'Write "email".'],
    ]);
  });

  it("reports YAML syntax errors with their line, before any schema check", () => {
    const text = "name: t\nnats:\n  stream: S\nsinks:\n  - type: parquet\n   path: ./out\n";
    const errors = errorsOf(text);
    // The one syntax error and nothing else: no schema error about what the parser made of the rest.
    expect(errors).toHaveLength(1);
    expect(errors[0].line).toBe(6);
    expect(errors[0].message).toMatch(/^YAML syntax: /);
  });

  it("reports the first YAML syntax error only, and how many the parser found after it (one tab gave seventeen lines)", () => {
    const text = "name: t\nnats:\n  stream: S\noperators:\n  - type: sessionize\n\tgap: 30m\n    maxDuration: 12h\n    allowedLateness: 1h\nsinks: [{ type: parquet, path: x }]\n";
    const errors = errorsOf(text);
    expect(errors.map((error) => [error.line, error.message])).toEqual([[6, "YAML syntax: Tabs are not allowed as indentation"]]);
    expect(errors[0].hint).toMatch(/The parser reports \d+ more errors? after this one, most likely caused by it: fix it and validate again\.$/);
  });

  it("reports a duplicate key at the second occurrence, naming it and the line of the first", () => {
    const errors = errorsOf("name: t\nname: u\nnats: { stream: S }\nsinks: [{ type: parquet, path: x }]\n");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: "name", line: 2, column: 1, message: 'the key "name" appears twice in this mapping (first on line 1)' });
  });

  it("rejects a file that is not a mapping", () => {
    expect(errorsOf("")[0].message).toBe("test.yaml holds no pipeline mapping");
    expect(errorsOf("- a\n- b\n")[0].message).toBe("test.yaml holds no pipeline mapping");
  });

  it("reports a missing file clearly", async () => {
    const result = await loadPipeline(join(tmpdir(), "clickpipe-no-such-dir", "nope.yaml"), {});
    expect(result).toEqual({ ok: false, errors: [{ path: "", message: "no such file", hint: "Check the path (pipelines/*.yaml holds examples)." }] });
  });

  it("says a path through a file names no file, without Node's error text", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-config-"));
    try {
      const file = join(directory, "p.yaml");
      await writeFile(file, minimal());
      expect(await loadPipeline(join(file, "q.yaml"), {})).toEqual({ ok: false, errors: [{ path: "", message: "no such file (a folder on its path is a file)", hint: "Check the path (pipelines/*.yaml holds examples)." }] });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("loads a file from disk and returns the expanded text", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-config-"));
    try {
      const file = join(directory, "p.yaml");
      await writeFile(file, "name: t # comment kept\nnats:\n  stream: ${S:-FROM_DEFAULT}\nsinks:\n  - type: parquet\n    path: ./out\n");
      const result = await loadPipeline(file, {});
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.config.nats.stream).toBe("FROM_DEFAULT");
      expect(result.expanded).toContain("stream: FROM_DEFAULT");
      expect(result.expanded).toContain("# comment kept");
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("config loading - file encodings", () => {
  async function loadBytes(bytes: Buffer) {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-config-"));
    try {
      const file = join(directory, "p.yaml");
      await writeFile(file, bytes);
      return await loadPipeline(file, {});
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }
  const text = "name: web\nnats:\n  stream: S\nsinks:\n  - type: parquet\n    path: ./out\n";

  it("reads UTF-8 with or without a byte order mark, and CRLF line ends", async () => {
    expect((await loadBytes(Buffer.from(text))).ok).toBe(true);
    expect((await loadBytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text.replaceAll("\n", "\r\n"))]))).ok).toBe(true);
  });

  it("says a UTF-16 file is UTF-16 and to save it as UTF-8, instead of finding no pipeline in it", async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    expect(await loadBytes(utf16)).toEqual({
      ok: false,
      errors: [
        {
          path: "",
          line: 1,
          column: 1,
          message: "the file is UTF-16 text (as Windows PowerShell's > and Out-File write it), and clickpipe reads UTF-8",
          hint: "Save it as UTF-8 (Set-Content -Encoding utf8, your editor's encoding menu, or iconv -f UTF-16 -t UTF-8).",
        },
      ],
    });
  });

  it("names the line and column of the first byte that is not UTF-8 (a Latin-1 é), instead of a name with a replacement character", async () => {
    const result = await loadBytes(Buffer.from(text.replace("stream: S", "stream: caf\u00e9"), "latin1"));
    expect(result).toMatchObject({ ok: false, errors: [{ path: "", line: 3, column: 14, message: expect.stringMatching(/^the file is not UTF-8 text/) }] });
  });

  it("counts that column from the text after a byte order mark, as an editor shows it", async () => {
    const result = await loadBytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text.replace("name: web", "name: caf\u00e9"), "latin1")]));
    expect(result).toMatchObject({ ok: false, errors: [{ line: 1, column: 10 }] });
  });
});

describe("config loading - YAML as people write it", () => {
  it("names a duplicate key nested in an operator by its path, not as a bare YAML syntax error", () => {
    const errors = errorsOf(minimal("operators:\n  - type: sessionize\n    gap: 30m\n    gap: 10m\n"));
    expect(errors.map((error) => formatConfigError(error, "p.yaml"))).toEqual([
      'operators[0].gap (p.yaml:10:5): the key "gap" appears twice in this mapping (first on line 9). Keep one of them (YAML does not allow a key twice).',
    ]);
  });

  it("names the operator or source types whose key was written on another type, from the schemas", () => {
    const text = minimal(
      "operators:\n  - type: sequencePatterns\n    window: 1d\n    item: page_path\n    minConfidence: 0.5\n  - type: sessionize\n    maxLength: 3\n  - type: basket\n    window: 1d\n    gap: 30m\n" +
        "sources:\n  - type: accessLog\n    paths: [a.log]\n    port: 8080\n",
    );
    expect(errorsOf(text).map((error) => [error.path, error.line, error.message, error.hint?.split(" Allowed keys")[0]])).toEqual([
      ["operators[0].minConfidence", 11, 'unknown key "minConfidence"', "minConfidence is a key of basket, not of sequencePatterns."],
      ["operators[1].maxLength", 13, 'unknown key "maxLength"', "maxLength is a key of sequencePatterns and basket, not of sessionize."],
      ["operators[2].gap", 16, 'unknown key "gap"', "gap is a key of sessionize, not of basket."],
      ["sources[0].port", 20, 'unknown key "port"', "port is a key of http, not of accessLog."],
    ]);
  });

  it("says a ${VAR} written as a key is not expanded, variables being expanded in values only", () => {
    const errors = errorsOf(minimal("${PARTS_KEY}: 1\n"), { PARTS_KEY: "nats" });
    expect(errors.map((error) => formatConfigError(error, "p.yaml"))).toEqual([
      '${PARTS_KEY} (p.yaml:7:1): unknown key "${PARTS_KEY}". Variables are expanded in values only, not in keys: write the key\'s name, and ${VAR} in its value. Allowed keys at the top level: name, nats, ingest, sources, operators, sinks, metrics, checkpoint.',
    ]);
  });

  it("reports a null key (~, null, nothing) at its own line, named as written", () => {
    const text = "name: t\nnats:\n  stream: S\n  ~: 1\nsinks:\n  - type: parquet\n    path: ./out\n    null: 3\n: 4\n";
    expect(errorsOf(text).map((error) => [error.path, error.line, error.column, error.message, error.hint?.split(" Allowed keys")[0]])).toEqual([
      ["nats", 4, 3, "the key ~ is YAML's null, not a name", "Write the key's name before the colon (YAML reads ~, null and nothing there as null)."],
      ["sinks[0]", 8, 5, "the key null is YAML's null, not a name", "Write the key's name before the colon (YAML reads ~, null and nothing there as null)."],
      ["", 9, 1, "a key with no name (YAML reads it as null)", "Write the key's name before the colon (YAML reads ~, null and nothing there as null)."],
    ]);
    expect(errorsOf(text)[0].hint).toMatch(/ Allowed keys in nats: url, stream, /);
  });

  it("reports a list or mapping written as a key as no plain name, at its line, without a warning of the YAML library", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on("warning", onWarning);
    try {
      const errors = errorsOf("name: t\nnats:\n  stream: S\n  ? [a, b]\n  : 1\n  ? { c: d }\n  : 2\nsinks:\n  - type: parquet\n    path: ./out\n? - x\n  - y\n: 1\n");
      expect(errors.map((error) => [error.path, error.line, error.column, error.message])).toEqual([
        ["nats", 4, 5, "the key [a, b] is a list, not a plain name"],
        ["nats", 6, 5, "the key { c: d } is a mapping, not a plain name"],
        ["", 11, 3, "this key is a list, not a plain name"],
      ]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("applies merge keys (<<: *anchor) instead of rejecting << as an unknown key", () => {
    const text = minimal("operators:\n  - &base\n    type: sessionize\n    gap: 10m\n  - <<: *base\n    type: basket\n    window: 1d\n");
    const errors = errorsOf(text);
    expect(errors.map((error) => [error.path, error.message])).toEqual([["operators[1].gap", 'unknown key "gap"']]);
    const ok = parsePipelineText(minimal("checkpoint: &c\n  interval: 5s\nmetrics:\n  <<: { port: 9000 }\n  host: 127.0.0.1\n"), "t.yaml", {});
    expect(ok.ok && ok.config.metrics).toEqual({ port: 9000, host: "127.0.0.1" });
  });

  it("says a second document after --- is one too many, in words rather than the parser's API advice", () => {
    const errors = errorsOf(minimal("---\nname: u\n"));
    expect(errors).toEqual([
      expect.objectContaining({ line: 7, column: 1, message: "a second YAML document starts here (after `---`): a pipeline file holds one document" }),
    ]);
    expect(parsePipelineText(`---\n${minimal()}`, "t.yaml", {}).ok).toBe(true);
  });

  it("says how YAML typed an unquoted value where text is expected, showing it as written, and to quote it", () => {
    const errors = errorsOf("name: true\nnats:\n  stream: 0755\nsinks:\n  - type: parquet\n    path: ./out\n");
    expect(errors.map((error) => [error.path, error.message, error.hint])).toEqual([
      ["name", "expected text, got the boolean true (YAML reads true as a boolean)", 'Quote it to keep it as text: "true".'],
      ["nats.stream", "expected text, got the number 755 (YAML reads 0755 as a number)", 'Quote it to keep it as text: "0755".'],
    ]);
  });

  it("does not advise quoting a value the key would refuse as text too, and says what the key takes instead", () => {
    const errors = errorsOf(minimal("operators:\n  - type: sessionize\n    splitAtMidnight: true\n"));
    expect(errors.map((error) => [error.path, error.message, error.hint])).toEqual([
      [
        "operators[0].splitAtMidnight",
        "expected text, got true",
        'IANA time zone; when set, sessions split at local midnight (e.g. "UTC", "Europe/Berlin"); false or absent: off.',
      ],
    ]);
  });

  it("does not advise quoting a value refused by a check across the file too (an access log's format, a nats sink's table)", () => {
    const text =
      "name: t\nnats:\n  stream: S\noperators: [{ type: sessionize }]\nsinks:\n  - { type: parquet, path: ./out }\n  - { type: nats, subject: out, tables: [123] }\n" +
      "sources:\n  - type: accessLog\n    paths: [a.log]\n    format: true\n  - type: accessLog\n    paths: [b.log]\n    format: ${FMT}\n";
    expect(errorsOf(text, { FMT: "200" }).map((error) => [error.path, error.message, error.hint?.slice(0, 24)])).toEqual([
      ["sinks[1].tables[0]", "expected text, got 123", undefined],
      ["sources[0].format", "expected text, got true", '"combined", "common", "w'],
      ["sources[1].format", "expected text, got 200", '"combined", "common", "w'],
    ]);
    // Text the key takes, a write key, is still told to be quoted.
    const writeKey = errorsOf(minimal("sources:\n  - type: http\n    writeKeys: [true]\n"));
    expect(writeKey.map((error) => error.hint)).toEqual(['Quote it to keep it as text: "true".']);
  });

  it("says an unquoted ${VAR} that expanded to digits became a number, and to quote the reference", () => {
    const errors = errorsOf("name: t\nnats:\n  stream: ${S}\nsinks:\n  - type: parquet\n    path: ./out\n", { S: "007" });
    expect(errors.map((error) => [error.path, error.line, error.message, error.hint])).toEqual([
      ["nats.stream", 3, "expected text, got the number 7 (${S} expands to a number)", 'Quote it to keep it as text: "${S}".'],
    ]);
  });

  it("says quotes made a number or boolean text, and to drop them", () => {
    const errors = errorsOf(minimal('metrics:\n  port: "${PORT}"\noperators:\n  - type: sessionize\n    splitOnCampaignChange: "true"\n'), { PORT: "9464" });
    expect(errors.map((error) => [error.path, error.message, error.hint])).toEqual([
      ["metrics.port", 'expected a number, got the text "9464"', "The quotes make it text: write ${PORT} without them."],
      ["operators[0].splitOnCampaignChange", 'expected true or false, got the text "true"', "The quotes make it text: write true without them."],
    ]);
  });

  it("says yes/no/on/off are text in YAML 1.2 and which boolean to write", () => {
    const errors = errorsOf(minimal("operators:\n  - type: sessionize\n    splitOnCampaignChange: yes\n    splitAtMidnight: no\n"));
    expect(errors.map((error) => [error.path, error.message, error.hint])).toEqual([
      ["operators[0].splitOnCampaignChange", 'expected true or false, got "yes"', "YAML 1.2 reads yes/no/on/off as text, not as booleans: write true."],
      ["operators[0].splitAtMidnight", 'unknown time zone "no"', 'To not split at midnight, leave splitAtMidnight out. Use an IANA time zone name such as "UTC", "Europe/Berlin" or "America/New_York".'],
    ]);
  });

  it("shows a number too big for a double as Infinity, and one broken bound per key", () => {
    const errors = errorsOf("name: t\nnats:\n  stream: S\n  partitions: 99999999999999999999999\nsinks:\n  - type: parquet\n    path: ./out\n    rowGroupSize: 1e400\n");
    expect(errors.map((error) => [error.path, error.message])).toEqual([
      ["nats.partitions", "must be at most 1024, got 1e+23"],
      ["sinks[0].rowGroupSize", "expected a number, got Infinity"],
    ]);
  });

  it("accepts compound durations like 1h30m and rejects durations over 100 years", () => {
    const ok = parsePipelineText(minimal("operators:\n  - type: sessionize\n    gap: 1m30s\n    maxDuration: 1d12h\n"), "t.yaml", {});
    expect(ok.ok && ok.config.operators[0]).toMatchObject({ gap: 90_000, maxDuration: 36 * 3_600_000 });
    const errors = errorsOf(minimal("operators:\n  - type: sessionize\n    gap: 30m1h\n    maxDuration: 99999999999d\n"));
    expect(errors.map((error) => [error.path, error.message])).toEqual([
      ["operators[0].gap", 'expected a duration like "30m" (units ms, s, m, h, d), got "30m1h"'],
      ["operators[0].maxDuration", 'duration "99999999999d" is longer than 100 years (36500d)'],
    ]);
  });

  it("suggests the duration meant by units in words, spaces or ISO 8601, and says a duration is never negative", () => {
    const errors = errorsOf(
      minimal(
        'operators:\n  - type: sessionize\n    gap: "30 minutes"\n    maxDuration: 1h 30m\n    outOfOrderness: 90sec\n    allowedLateness: -1h\n    idleTimeout: -5\n' +
          "  - type: basket\n    window: PT12H\n    outOfOrderness: 30M\n",
      ),
    );
    expect(errors.map((error) => [error.path, error.hint])).toEqual([
      ["operators[0].gap", 'Did you mean "30m"?'],
      ["operators[0].maxDuration", 'Did you mean "1h30m"?'],
      ["operators[0].outOfOrderness", 'Did you mean "90s"?'],
      ["operators[0].allowedLateness", 'A duration is a length of time, never negative: write one such as "1h".'],
      ["operators[0].idleTimeout", 'A duration is a length of time, never negative: write one with its unit, such as "5m".'],
      ["operators[1].window", 'Did you mean "12h"?'],
      // 30M may mean months: no guess, the key's description.
      ["operators[1].outOfOrderness", "Watermark = max event time minus this."],
    ]);
  });

  it("reads a unit written into a duration key's name (gap_ms, maxDurationHours) as that key, with the value as a duration", () => {
    const errors = errorsOf(
      minimal("operators:\n  - type: sessionize\n    gap_ms: 1800000\n    maxDurationHours: 12\n    gaps: 30\n  - type: churnFeatures\n    snapshotEveryDays: 1\ncheckpoint:\n  interval_seconds: 10\n  store_s: kv\n"),
    );
    expect(errors.map((error) => [error.path, error.hint?.replace(/ Allowed keys.*$/, "")])).toEqual([
      ["operators[0].gap_ms", 'Did you mean "gap"? It takes the unit in its value: gap: 30m.'],
      ["operators[0].maxDurationHours", 'Did you mean "maxDuration"? It takes the unit in its value: maxDuration: 12h.'],
      // A plural is a typo, not seconds.
      ["operators[0].gaps", 'Did you mean "gap"?'],
      ["operators[1].snapshotEveryDays", 'Did you mean "snapshotEvery"? It takes the unit in its value: snapshotEvery: 1d.'],
      ["checkpoint.interval_seconds", 'Did you mean "interval"? It takes the unit in its value: interval: 10s.'],
      ["checkpoint.store_s", 'Did you mean "store"?'],
    ]);
  });

  it("names the operator type meant by its table or a short name, and how to write an entry given as its type alone", () => {
    const errors = errorsOf(minimal("operators:\n  - type: sessions\n  - type: churn\n  - basket\n"));
    expect(errors.map((error) => [error.path, error.message, error.hint?.replace(/ Types:.*$/, "")])).toEqual([
      ["operators[0].type", 'unknown type "sessions"', 'Did you mean "sessionize"?'],
      ["operators[1].type", 'unknown type "churn"', 'Did you mean "churnFeatures"?'],
      ["operators[2]", 'expected a mapping (key: value lines), got "basket"', "An entry is a mapping with its type: write `- type: basket`, its other keys on the lines below."],
    ]);
  });

  it("locates an alias of no anchor and another tool's tag instead of failing without a line or dropping the tag", () => {
    expect(errorsOf("name: t\nnats:\n  stream: *stream\nsinks:\n  - type: parquet\n    path: !Sub ${Out}\n")).toEqual([
      {
        path: "",
        line: 3,
        column: 11,
        message: "*stream refers to no anchor &stream above it",
        hint: "Define the anchor (&name) on a value above the alias, or correct the name: YAML reads anchors top to bottom.",
      },
      {
        path: "",
        line: 6,
        column: 11,
        message: "unknown YAML tag !Sub: clickpipe reads plain values",
        hint: "Write the value itself, or ${VAR} for one from the environment (tags such as CloudFormation's !Ref and !Sub are not expanded).",
      },
    ]);
  });

  it("locates a merge key (<<) of something that is no mapping, instead of the alias-bomb advice without a line", () => {
    const errors = errorsOf(minimal("operators:\n  - type: sessionize\n    gap: &gap 30m\n  - <<: *gap\n    type: basket\n  - <<: [{ window: 1d }, 5]\n    type: churnFeatures\n"));
    expect(errors.map((error) => [error.line, error.column, error.message, error.hint])).toEqual([
      [10, 9, "<< merges the keys of a mapping, and *gap is no mapping", "Merge an alias of a mapping (<<: *defaults, with &defaults before that mapping's keys) or a list of them."],
      [12, 26, "<< merges the keys of a mapping, and this value is no mapping", "Merge an alias of a mapping (<<: *defaults, with &defaults before that mapping's keys) or a list of them."],
    ]);
    const listOfAliases = parsePipelineText(minimal("metrics: &m\n  port: 9000\ncheckpoint:\n  <<: [*m]\n"), "t.yaml", {});
    expect(listOfAliases.ok || listOfAliases.errors.map((error) => error.message)).toEqual(['unknown key "port"']);
  });

  it("names a YAML type tag whose value is not of its type by its short form, not as an unknown tag", () => {
    const errors = errorsOf(minimal("operators:\n  - type: sessionize\n    gap: !!int 30m\n"));
    expect(errors).toEqual([
      {
        path: "",
        line: 9,
        column: 10,
        message: "the value tagged !!int does not read as one in YAML 1.2",
        hint: "Write the value without the tag: YAML reads unquoted digits as numbers and true/false as booleans, and quotes make text.",
      },
    ]);
  });

  it("refuses aliases of aliases that expand without bound, with a sentence rather than a thrown error", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (const name of "bcdefgh") lines.push(`${name}: &${name} [${Array(9).fill(`*${String.fromCharCode(name.charCodeAt(0) - 1)}`).join(", ")}]`);
    expect(errorsOf(lines.join("\n"))).toMatchObject([{ path: "", message: expect.stringMatching(/^YAML: Excessive alias count/) }]);
  });

  it("says to write one value where a list is wanted as a list of one, when that list would be accepted", () => {
    const errors = errorsOf(
      minimal('ingest:\n  urlRules: "/c/:category"\nsources:\n  - type: http\n    writeKeys: k1\n    allowedOrigins: "https://shop.example"\n'),
    );
    expect(errors.map((error) => [error.path, error.hint])).toEqual([
      // A rule is a mapping: ["/c/:category"] would be refused as well.
      ["ingest.urlRules", "URL → page item rules; default none (item = path)."],
      ["sources[0].writeKeys", 'Write one value as a list of one: [k1], or one "- " line per entry below the key.'],
      ["sources[0].allowedOrigins", 'Write one value as a list of one: ["https://shop.example"], or one "- " line per entry below the key.'],
    ]);
  });

  it("rejects a shell-only ${VAR-default} instead of writing to a directory literally named after it", () => {
    const errors = errorsOf("name: t\nnats:\n  stream: S\nsinks:\n  - type: parquet\n    path: ${OUT-./data}\n");
    expect(errors.map((error) => formatConfigError(error, "p.yaml"))).toEqual([
      'sinks[0].path (p.yaml:6:11): "${OUT-./data}" is not a variable reference clickpipe expands. Write ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or $${ for a literal ${.',
    ]);
  });

  it("says a required key whose ${VAR:-} expanded to nothing was emptied by it, at its own line", () => {
    const errors = errorsOf("name: t\nnats:\n  stream: S\nsinks:\n  - type: parquet\n    path: ${OUT:-}\n");
    expect(errors.map((error) => [error.path, error.line, error.column, error.message])).toEqual([
      ["sinks[0].path", 6, 5, "${OUT:-} expanded to nothing, so the key counts as left out, and it is required"],
    ]);
  });

  it("names a table that is a name of every JavaScript object (constructor, toString) as unknown", () => {
    const errors = errorsOf("name: t\nnats: { stream: S }\noperators: [{ type: sessionize }]\nsinks:\n  - { type: parquet, path: ./out }\n  - { type: nats, subject: out, tables: [constructor, toString] }\n");
    expect(errors.map((error) => [error.path, error.message])).toEqual([
      ["sinks[1].tables[0]", 'unknown table "constructor"'],
      ["sinks[1].tables[1]", 'unknown table "toString"'],
    ]);
  });

  it("suggests the closest table for a misspelt table of a nats sink", () => {
    const errors = errorsOf("name: t\nnats: { stream: S }\noperators: [{ type: sessionize }]\nsinks:\n  - { type: parquet, path: ./out }\n  - { type: nats, subject: out, tables: [sesions] }\n");
    expect(errors.map((error) => [error.path, error.message, error.hint?.split(" Tables:")[0]])).toEqual([["sinks[1].tables[0]", 'unknown table "sesions"', 'Did you mean "sessions"?']]);
  });
});
