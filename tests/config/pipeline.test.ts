// The pipeline schema: defaults as ARCHITECTURE.md states them, and the cross-field rules as plain sentences.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parsePipelineText } from "../../src/config/load.ts";
import { pipelineSchema } from "../../src/config/pipeline.ts";

interface JsonSchema {
  description?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

const base = { name: "t", nats: { stream: "S" }, sinks: [{ type: "parquet", path: "./out" }] };

function parse(overrides: Record<string, unknown>) {
  return pipelineSchema.safeParse({ ...base, ...overrides });
}

function violations(overrides: Record<string, unknown>): string[] {
  const result = parse(overrides);
  if (result.success) return [];
  return result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

describe("pipeline schema - defaults", () => {
  it("fills every default of a minimal file", () => {
    const config = pipelineSchema.parse(base);
    expect(config.nats).toEqual({ url: "nats://127.0.0.1:4222", stream: "S", partitions: 1, customerPartitions: 1, replicas: 1, duplicateWindow: 120_000 });
    expect(config.operators).toEqual([]);
    expect(config.sources).toBeUndefined();
    expect(config.metrics).toBeUndefined();
    expect(config.checkpoint).toEqual({ interval: 10_000, store: "directory" });
    expect(config.sinks).toEqual([{ type: "parquet", path: "./out", compression: "snappy", rowGroupSize: 100_000, compaction: { minParts: 16, mergesPerCheckpoint: 1 } }]);
    expect(config.ingest.pages).toEqual({ exclude: ["static", "non2xx"] });
    expect(config.ingest.bots).toBe("flag");
    expect(config.ingest.privacy).toEqual({
      anonymizeIp: true,
      ipv6Bits: 80,
      pseudonymize: [],
      dropFields: [],
      redactQueryParams: [
        ...["writeKey", "email", "token", "access_token", "id_token", "refresh_token", "password", "secret", "api_key"],
        ...["x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential", "signature", "sig"],
      ],
      redactEmails: true,
    });
  });

  it("fills operator defaults in milliseconds: sessionize gap 30 min, maxDuration 12 h", () => {
    const config = pipelineSchema.parse({ ...base, operators: [{ type: "sessionize" }, { type: "churnFeatures" }] });
    expect(config.operators[0]).toMatchObject({ gap: 1_800_000, maxDuration: 43_200_000, outOfOrderness: 60_000, allowedLateness: 3_600_000 });
    expect(config.operators[1]).toMatchObject({ type: "churnFeatures", snapshotEvery: 86_400_000, outOfOrderness: 60_000, allowedLateness: 3_600_000 });
  });

  it("fills source defaults: http on 0.0.0.0:8080 with 32 KiB events, access logs polled every second", () => {
    const config = pipelineSchema.parse({
      ...base,
      sources: [{ type: "http", writeKeys: ["k"] }, { type: "accessLog", paths: ["/var/log/a.log"] }],
      metrics: {},
    });
    expect(config.sources).toEqual([
      {
        type: "http",
        port: 8080,
        host: "0.0.0.0",
        writeKeys: ["k"],
        allowedOrigins: [],
        trustedProxies: [],
        rateLimit: { requestsPerSecond: 100, burst: 200, badKeysPerSecond: 0.1, badKeyBurst: 20 },
        maxEventBytes: 32_768,
        maxRequestBytes: 524_288,
        maxBatchEvents: 2500,
        maxConnections: 4096,
        maxConnectionsPerClient: 64,
      },
      { type: "accessLog", paths: ["/var/log/a.log"], format: "combined", pollInterval: 1000 },
    ]);
    expect(config.metrics).toEqual({ port: 9464, host: "0.0.0.0" });
  });

  it("describes every key of the pipeline's own sections (operators and ingest are described where they are declared)", () => {
    const jsonSchema = z.toJSONSchema(pipelineSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
    const undocumented: string[] = [];
    const seen: string[] = [];
    const visit = (node: JsonSchema | undefined, path: string): void => {
      if (node === undefined || path === "ingest" || path === "operators[]") return;
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        seen.push(`${path}.${key}`);
        if (key !== "type" && child.description === undefined) undocumented.push(`${path}.${key}`);
        visit(child, path === "" ? key : `${path}.${key}`);
      }
      visit(node.items, `${path}[]`);
      for (const option of node.anyOf ?? node.oneOf ?? []) visit(option, path);
    };
    visit(jsonSchema, "");
    expect(seen).toEqual(expect.arrayContaining(["nats.tls.ca", "sources[].rateLimit.burst", "sinks[].rowGroupSize", "checkpoint.interval"]));
    expect(undocumented).toEqual([]);
  });
});

describe("pipeline schema - names", () => {
  it("accepts letters, digits, _ and - in a pipeline name and nothing else", () => {
    expect(parse({ name: "web_shop-2" }).success).toBe(true);
    expect(violations({ name: "web shop" })).toEqual(["name: a pipeline name uses only letters, digits, _ and -"]);
  });

  it("rejects stream names JetStream rejects: spaces, dots, * and >", () => {
    for (const stream of ["A B", "A.B", "A*", "A>", ""]) {
      expect(violations({ nats: { stream } })).toEqual([
        "nats.stream: a JetStream stream name cannot be empty or contain spaces, dots, *, > or slashes",
      ]);
    }
  });
});

describe("pipeline schema - cross-field rules", () => {
  it("needs at least one parquet sink", () => {
    expect(violations({ sinks: [{ type: "nats", subject: "out" }] })).toEqual([
      "sinks: no parquet sink: tables and checkpoints are written under the first parquet sink's path",
    ]);
    expect(violations({ sinks: [] })).toEqual(["sinks: Too small: expected array to have >=1 items"]);
  });

  it("allows each operator type once, since step ids are the types", () => {
    expect(violations({ operators: [{ type: "basket" }, { type: "churnFeatures" }, { type: "basket", window: "1h" }] })).toEqual([
      "operators.2.type: a second basket operator (the first is operators[0])",
    ]);
  });

  it("keeps customer-level operators, which count or rank over every customer, on one customer partition", () => {
    const nats = { stream: "S", partitions: 8, customerPartitions: 4 };
    expect(violations({ nats, operators: [{ type: "sessionize" }, { type: "basket" }] })).toEqual([
      "nats.customerPartitions: basket counts over every order of a window, so it cannot be split over 4 customer partitions",
    ]);
    // churnFeatures ranks RFM over every customer and commits a day once: split, each task ranked its share alone.
    expect(violations({ nats, operators: [{ type: "sessionize" }, { type: "churnFeatures" }] })).toEqual([
      "nats.customerPartitions: churnFeatures ranks RFM quintiles over every customer and commits one snapshot per day, so it cannot be split over 4 customer partitions",
    ]);
    expect(parse({ nats: { ...nats, customerPartitions: 1 }, operators: [{ type: "sessionize" }, { type: "churnFeatures" }] }).success).toBe(true);
  });

  it("needs a sessionize operator for sequencePatterns, in any order", () => {
    expect(violations({ operators: [{ type: "sequencePatterns" }] })).toEqual([
      "operators.0: sequencePatterns mines sessions, but the pipeline has no sessionize operator",
    ]);
    expect(parse({ operators: [{ type: "sequencePatterns" }, { type: "sessionize" }] }).success).toBe(true);
  });

  it("runs churnFeatures and basket without sessionize", () => {
    expect(parse({ operators: [{ type: "churnFeatures" }, { type: "basket" }] }).success).toBe(true);
  });

  it("rejects zero-length windows and gaps but allows zero lateness and out-of-orderness", () => {
    expect(
      violations({
        operators: [{ type: "sessionize", gap: "0s", allowedLateness: "0ms", outOfOrderness: "0s" }],
        checkpoint: { interval: "0ms" },
      }),
    ).toEqual(["operators.0.gap: must be a positive duration", "checkpoint.interval: must be a positive duration"]);
  });

  it("rejects a hop longer than the window and a fractional count minSupport", () => {
    expect(
      violations({ operators: [{ type: "sessionize" }, { type: "sequencePatterns", window: "1h", every: "2h", minSupport: 2.5 }] }),
    ).toEqual([
      "operators.1.every: the hop (every) is longer than the window, so some sessions would fall in no window",
      "operators.1.minSupport: minSupport 2.5 is neither a ratio in (0,1) nor a whole count",
    ]);
  });

  it("requires user and password together, and not with a token", () => {
    expect(violations({ nats: { stream: "S", user: "u" } })).toEqual(["nats.user: user and password go together"]);
    expect(violations({ nats: { stream: "S", password: "p" } })).toEqual(["nats.password: user and password go together"]);
    expect(violations({ nats: { stream: "S", user: "u", password: "p", token: "t" } })).toEqual([
      "nats.token: token and user/password are two ways to log in; pick one",
    ]);
    expect(violations({ nats: { stream: "S", tls: { cert: "c.pem" } } })).toEqual([
      "nats.tls: a client certificate needs its key (cert and key go together)",
    ]);
  });

  it("rejects two servers on one port", () => {
    expect(violations({ sources: [{ type: "http", port: 9464, writeKeys: ["k"] }], metrics: { port: 9464 } })).toEqual([
      "metrics.port: port 9464 is already used by sources[0].port",
    ]);
  });

  it("republishes only tables that exist and that a configured operator writes", () => {
    const sinks = [{ type: "parquet", path: "x" }, { type: "nats", subject: "out.web", tables: ["sessions", "late_events", "sesions"] }];
    expect(violations({ sinks, operators: [{ type: "churnFeatures" }] })).toEqual([
      'sinks.1.tables.0: table "sessions" is written by a sessionize operator, and the pipeline has none',
      'sinks.1.tables.2: unknown table "sesions"',
    ]);
  });

  it("accepts named and custom access-log formats and suggests a fix for a typo", () => {
    const source = (format: string) => ({ sources: [{ type: "accessLog", paths: ["a.log"], format }] });
    expect(parse(source("common")).success).toBe(true);
    expect(parse(source('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent')).success).toBe(true);
    const result = parsePipelineText(
      "name: t\nnats: { stream: S }\nsources:\n  - type: accessLog\n    paths: [a.log]\n    format: combind\nsinks: [{ type: parquet, path: x }]\n",
      "t.yaml",
      {},
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toMatchObject([{ path: "sources[0].format", line: 6, column: 5, message: 'unknown log format "combind"' }]);
    expect(result.errors[0].hint).toMatch(/^Did you mean "combined"\?/);
  });

  it("accepts w3c, caddy and an nginx escape=json format, and names a JSON format's missing status and the fix", () => {
    const source = (format: string) => ({ sources: [{ type: "accessLog", paths: ["a.log"], format }] });
    expect(parse(source("w3c")).success).toBe(true);
    expect(parse(source("caddy")).success).toBe(true);
    expect(parse(source(`'{"ip":"$remote_addr","t":"$time_iso8601","s":$status}'`)).success).toBe(true);
    const text = (format: string) => `name: t\nnats: { stream: S }\nsources:\n  - type: accessLog\n    paths: [a.log]\n    format: ${format}\nsinks: [{ type: parquet, path: x }]\n`;
    const typo = parsePipelineText(text("w3"), "t.yaml", {});
    expect(typo.ok).toBe(false);
    if (typo.ok) return;
    expect(typo.errors).toMatchObject([{ path: "sources[0].format", line: 6, message: 'unknown log format "w3"' }]);
    expect(typo.errors[0].hint).toMatch(/^Did you mean "w3c"\?.*caddy/);
    const noStatus = parsePipelineText(text(`'{"ip":"$remote_addr","t":"$time_iso8601"}'`), "t.yaml", {});
    expect(noStatus.ok).toBe(false);
    if (noStatus.ok) return;
    expect(noStatus.errors).toMatchObject([{ path: "sources[0].format", message: expect.stringMatching(/lacks a status \("\$status"\)$/) }]);
    expect(noStatus.errors[0].hint).toMatch(/escape=json/);
  });

  it("takes a caddy source's timeZone for its wall times, names the path and the fix for an unknown zone, and refuses it for other formats", () => {
    const source = (format: string, timeZone: unknown) => ({ sources: [{ type: "accessLog", paths: ["a.log"], format, timeZone }] });
    expect(parse(source("caddy", "Europe/Berlin")).data?.sources).toEqual([{ type: "accessLog", paths: ["a.log"], format: "caddy", pollInterval: 1000, timeZone: "Europe/Berlin" }]);
    // Absent: UTC, read by the reader (no default written into the config).
    expect(parse({ sources: [{ type: "accessLog", paths: ["a.log"], format: "caddy" }] }).data?.sources?.[0]).not.toHaveProperty("timeZone");
    const text = "name: t\nnats: { stream: S }\nsources:\n  - type: accessLog\n    paths: [a.log]\n    format: caddy\n    timeZone: Europe/Berln\nsinks: [{ type: parquet, path: x }]\n";
    const unknown = parsePipelineText(text, "t.yaml", {});
    expect(unknown.ok).toBe(false);
    if (unknown.ok) return;
    expect(unknown.errors).toMatchObject([{ path: "sources[0].timeZone", line: 7, column: 5, message: '"Europe/Berln" is not a time zone (did you mean "Europe/Berlin"?)' }]);
    expect(unknown.errors[0].hint).toMatch(/^Use an IANA time zone name such as "UTC", "Europe\/Berlin"/);
    expect(violations(source("combined", "Europe/Berlin"))).toEqual(['sources.0.timeZone: timeZone only applies to format caddy (its wall times), and this source\'s format is "combined"']);
    expect(violations(source("caddy", 2))).toEqual(["sources.0.timeZone: Invalid input: expected string, received number"]);
  });

  it("takes an accessLog instance that can name files, and says what is wrong with one that cannot", () => {
    const accessLog = (instance: unknown) => ({ sources: [{ type: "accessLog", paths: ["/var/log/nginx/access.log"], instance }] });
    expect(parse(accessLog("web-1.example.com")).data?.sources).toEqual([
      { type: "accessLog", paths: ["/var/log/nginx/access.log"], format: "combined", pollInterval: 1000, instance: "web-1.example.com" },
    ]);
    expect(violations(accessLog(""))).toEqual(["sources.0.instance: an instance cannot be empty"]);
    expect(violations(accessLog("web 1/eu"))).toEqual(['sources.0.instance: "web 1/eu" holds " ", "/": an instance has only letters, digits, ".", "_" and "-"']);
    expect(violations(accessLog(".."))).toEqual(['sources.0.instance: ".." starts with ".": an instance starts with a letter or a digit']);
    expect(violations(accessLog(7))).toEqual(["sources.0.instance: Invalid input: expected string, received number"]);
    expect(violations({ sources: [{ type: "http", writeKeys: ["k"], instance: "web-1" }] })).toEqual(['sources.0: Unrecognized key: "instance"']);
  });

  it("reads allowedOrigins as browsers send origins, wildcard subdomains included, and refuses what is no origin", () => {
    const http = (allowedOrigins: string[]) => ({ sources: [{ type: "http", writeKeys: ["k"], allowedOrigins }] });
    const origins = ["*", "HTTPS://Shop.Example:443/", "http://LOCALHOST:80", "http://localhost:8080", "https://bücher.example", "https://*.Shop.Example:8443", "https://[::1]:443"];
    expect((parse(http(origins)).data?.sources?.[0] as { allowedOrigins: string[] }).allowedOrigins).toEqual([
      "*",
      "https://shop.example",
      "http://localhost",
      "http://localhost:8080",
      "https://xn--bcher-kva.example",
      "https://*.shop.example:8443",
      "https://[::1]",
    ]);
    expect(
      violations(http(["https://shop.example/checkout", "https://shop.example?a=1", "shop.example", "ftp://shop.example", "https://*.com", "https://a.*.example", "*.shop.example", "file:///app/index.html", "https://u@shop.example", "https://*.10.0.0.1"])),
    ).toEqual([
      'sources.0.allowedOrigins.0: "https://shop.example/checkout" is not an origin: it has a path (/checkout)',
      'sources.0.allowedOrigins.1: "https://shop.example?a=1" is not an origin: it has a query (?a=1)',
      'sources.0.allowedOrigins.2: "shop.example" is not an origin: it has no scheme',
      'sources.0.allowedOrigins.3: "ftp://shop.example" has the scheme ftp, which no page is served from',
      'sources.0.allowedOrigins.4: "https://*.com" puts a wildcard over com, which would match other sites or none',
      'sources.0.allowedOrigins.5: "https://a.*.example" has a wildcard that is not the whole first label',
      'sources.0.allowedOrigins.6: "*.shop.example" is not an origin: it has no scheme',
      'sources.0.allowedOrigins.7: "file:///app/index.html" is not an origin: a file: page sends the opaque origin "null"',
      'sources.0.allowedOrigins.8: "https://u@shop.example" is not an origin: it has a user name',
      'sources.0.allowedOrigins.9: "https://*.10.0.0.1" puts a wildcard over 10.0.0.1, which would match other sites or none',
    ]);
    const result = parsePipelineText(
      "name: t\nnats: { stream: S }\nsources:\n  - type: http\n    writeKeys: [k]\n    allowedOrigins: [\"https://shop.example/\", \"https://shop.example/cart\"]\nsinks: [{ type: parquet, path: x }]\n",
      "t.yaml",
      {},
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toMatchObject([{ path: "sources[0].allowedOrigins[1]", hint: "An origin is scheme://host[:port]: write https://shop.example." }]);
  });

  it("takes IP addresses and host names to listen on, and names a port, a URL or brackets written into host with the fix", () => {
    const http = (host: string) => ({ sources: [{ type: "http", writeKeys: ["k"], host }] });
    for (const host of ["0.0.0.0", "::", "::1", "127.0.0.1", "localhost", "collector.internal", "fe80::1%eth0"]) expect(violations(http(host))).toEqual([]);
    expect(violations({ metrics: { host: "localhost:9464" } })).toEqual(['metrics.host: "localhost:9464" holds a port']);
    expect(violations(http("http://0.0.0.0:8080"))).toEqual(['sources.0.host: "http://0.0.0.0:8080" is a URL, not an address to listen on']);
    expect(violations(http("[::1]"))).toEqual(['sources.0.host: "[::1]" has brackets']);
    expect(violations(http("*"))).toEqual(['sources.0.host: "*" is not an address to listen on']);
    expect(violations(http(""))).toEqual(["sources.0.host: Too small: expected string to have >=1 characters"]);
    const result = parsePipelineText("name: t\nnats: { stream: S }\nsinks: [{ type: parquet, path: x }]\nmetrics:\n  port: 9464\n  host: localhost:9464\n", "t.yaml", {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toMatchObject([{ path: "metrics.host", line: 6, column: 3, hint: "Write the host alone (localhost) and the port in port:." }]);
  });

  it("says several origins written as one entry are several, and lists them as entries", () => {
    const result = parsePipelineText(
      'name: t\nnats: { stream: S }\nsources:\n  - type: http\n    writeKeys: [k]\n    allowedOrigins: ["https://a.example, https://b.example:8443", { origin: "https://c.example https://d.example" }]\nsinks: [{ type: parquet, path: x }]\n',
      "t.yaml",
      {},
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => [error.path, error.message, error.hint])).toEqual([
      ["sources[0].allowedOrigins[0]", '"https://a.example, https://b.example:8443" holds 2 origins in one entry', 'List each origin as its own entry: ["https://a.example", "https://b.example:8443"].'],
      ["sources[0].allowedOrigins[1].origin", '"https://c.example https://d.example" holds 2 origins in one entry', 'List each origin as its own entry: ["https://c.example", "https://d.example"].'],
    ]);
  });

  it("reads app origins and \"null\", and refuses wildcards over public suffixes, naming the entry and the fix", () => {
    const http = (allowedOrigins: string[]) => ({ sources: [{ type: "http", writeKeys: ["k"], allowedOrigins }] });
    const origins = ["Capacitor://LocalHost/", "ionic://localhost", "app://localhost:80", "null", "https://*.shop.github.io"];
    expect((parse(http(origins)).data?.sources?.[0] as { allowedOrigins: string[] }).allowedOrigins).toEqual([
      "capacitor://localhost",
      "ionic://localhost",
      "app://localhost:80",
      "null",
      "https://*.shop.github.io",
    ]);
    expect(violations(http(["https://*.co.uk", "https://*.github.io:8443", "app://*.shop.example", "capacitor://localhost:70000", "1app://localhost"]))).toEqual([
      'sources.0.allowedOrigins.0: "https://*.co.uk" puts a wildcard over co.uk, a public suffix (Public Suffix List): its subdomains are other people\'s sites',
      'sources.0.allowedOrigins.1: "https://*.github.io:8443" puts a wildcard over github.io, a public suffix (Public Suffix List): its subdomains are other people\'s sites',
      'sources.0.allowedOrigins.2: "app://*.shop.example" has a wildcard, which only http and https origins may have',
      'sources.0.allowedOrigins.3: "capacitor://localhost:70000" has the port 70000, over 65535',
      'sources.0.allowedOrigins.4: "1app://localhost" is not an origin: "1app" is not a scheme',
    ]);
    const result = parsePipelineText(
      "name: t\nnats: { stream: S }\nsources:\n  - type: http\n    writeKeys: [k]\n    allowedOrigins: [\"capacitor://localhost\", \"https://*.github.io\", \"file://\"]\nsinks: [{ type: parquet, path: x }]\n",
      "t.yaml",
      {},
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toMatchObject([
      {
        path: "sources[0].allowedOrigins[1]",
        hint:
          "List your own domain under it, such as https://*.shop.github.io, or each origin exactly (https://shop.github.io). " +
          'If github.io is your platform and its tenants\' pages are to post here, write { origin: "https://*.github.io", publicSuffixTenants: true }: they are then allowed without credentials.',
      },
      {
        path: "sources[0].allowedOrigins[2]",
        hint: 'List "null" to allow file: pages (any site\'s sandboxed frames send it too), or serve the app from a scheme of its own, such as app://localhost, and list that.',
      },
    ]);
  });

  it("takes a wildcard over a private-section public suffix only with publicSuffixTenants, and never an ICANN one", () => {
    const http = (allowedOrigins: unknown[]) => ({ sources: [{ type: "http", writeKeys: ["k"], allowedOrigins }] });
    const origins = [
      { origin: "HTTPS://*.MyShopify.com:443/", publicSuffixTenants: true },
      { origin: "https://*.vercel.app.", publicSuffixTenants: true },
      { origin: "https://*.github.io:8443", publicSuffixTenants: true },
      { origin: "https://*.Shop.Example", publicSuffixTenants: false },
      { origin: "https://Shop.Example" },
    ];
    expect((parse(http(origins)).data?.sources?.[0] as { allowedOrigins: unknown[] }).allowedOrigins).toEqual([
      { origin: "https://*.myshopify.com", publicSuffixTenants: true },
      { origin: "https://*.vercel.app.", publicSuffixTenants: true },
      { origin: "https://*.github.io:8443", publicSuffixTenants: true },
      "https://*.shop.example",
      "https://shop.example",
    ]);
    const refused = [
      { origin: "https://*.co.uk", publicSuffixTenants: true },
      { origin: "https://*.com.au", publicSuffixTenants: true },
      { origin: "https://*.shop.example", publicSuffixTenants: true },
      { origin: "https://shop.myshopify.com", publicSuffixTenants: true },
      { origin: "*", publicSuffixTenants: true },
      { origin: "https://*.com", publicSuffixTenants: true },
      { origin: "https://*.myshopify.com", publicSuffixTenants: false },
      { origin: "https://*.r.appspot.com", publicSuffixTenants: true },
    ];
    expect(violations(http(refused))).toEqual([
      'sources.0.allowedOrigins.0.origin: "https://*.co.uk" puts a wildcard over co.uk, a public suffix of the Public Suffix List\'s ICANN section, which publicSuffixTenants cannot allow',
      'sources.0.allowedOrigins.1.origin: "https://*.com.au" puts a wildcard over com.au, a public suffix of the Public Suffix List\'s ICANN section, which publicSuffixTenants cannot allow',
      'sources.0.allowedOrigins.2.publicSuffixTenants: "https://*.shop.example" has publicSuffixTenants, but shop.example is no public suffix (Public Suffix List): its subdomains are one owner\'s sites',
      'sources.0.allowedOrigins.3.publicSuffixTenants: "https://shop.myshopify.com" has publicSuffixTenants, which only a wildcard over a public suffix may have (https://*.myshopify.com)',
      'sources.0.allowedOrigins.4.publicSuffixTenants: "*" has publicSuffixTenants, which only a wildcard over a public suffix may have (https://*.myshopify.com)',
      'sources.0.allowedOrigins.5.origin: "https://*.com" puts a wildcard over com, which would match other sites or none',
      'sources.0.allowedOrigins.6.origin: "https://*.myshopify.com" puts a wildcard over myshopify.com, a public suffix (Public Suffix List): its subdomains are other people\'s sites',
      'sources.0.allowedOrigins.7.origin: "https://*.r.appspot.com" would match no origin: every subdomain of r.appspot.com is a public suffix of its own (Public Suffix List: *.r.appspot.com), whose hosts are its tenants, not r.appspot.com\'s',
    ]);
    const yaml = (entries: string) => `name: t\nnats: { stream: S }\nsources:\n  - type: http\n    writeKeys: [k]\n    allowedOrigins:\n${entries}\nsinks: [{ type: parquet, path: x }]\n`;
    const result = parsePipelineText(
      yaml(
        [
          "      - https://*.myshopify.com",
          "      - origin: https://*.co.uk",
          "        publicSuffixTenants: true",
          "      - origin: https://*.shop.example",
          "        publicSuffixTenants: true",
          "      - origin: https://*.vercel.app",
          "        publicSuffixTenant: true",
        ].join("\n"),
      ),
      "t.yaml",
      {},
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map(({ path, line, hint }) => ({ path, line, hint }))).toEqual([
      {
        path: "sources[0].allowedOrigins[0]",
        line: 7,
        hint:
          "List your own domain under it, such as https://*.shop.myshopify.com, or each origin exactly (https://shop.myshopify.com). " +
          'If myshopify.com is your platform and its tenants\' pages are to post here, write { origin: "https://*.myshopify.com", publicSuffixTenants: true }: they are then allowed without credentials.',
      },
      {
        path: "sources[0].allowedOrigins[1].origin",
        line: 8,
        hint:
          "publicSuffixTenants is for a platform's own domain in the list's private section (myshopify.com, github.io); co.uk's subdomains are a registry's unrelated registrants. " +
          "List your own domain under it, such as https://*.shop.co.uk, or each origin exactly (https://shop.co.uk).",
      },
      {
        path: "sources[0].allowedOrigins[2].publicSuffixTenants",
        line: 11,
        hint: 'Write the origin alone ("https://*.shop.example"), without publicSuffixTenants: its subdomains may then send credentials.',
      },
      {
        path: "sources[0].allowedOrigins[3].origin",
        line: 12,
        hint:
          "List your own domain under it, such as https://*.shop.vercel.app, or each origin exactly (https://shop.vercel.app). " +
          'If vercel.app is your platform and its tenants\' pages are to post here, write { origin: "https://*.vercel.app", publicSuffixTenants: true }: they are then allowed without credentials.',
      },
      { path: "sources[0].allowedOrigins[3].publicSuffixTenant", line: 13, hint: 'Did you mean "publicSuffixTenants"? Allowed keys in sources[0].allowedOrigins[3]: origin, publicSuffixTenants.' },
    ]);
    const good = parsePipelineText(yaml("      - https://admin.shop.example\n      - origin: https://*.myshopify.com\n        publicSuffixTenants: true"), "t.yaml", {});
    expect(good.ok && good.config.sources?.[0]).toMatchObject({ allowedOrigins: ["https://admin.shop.example", { origin: "https://*.myshopify.com", publicSuffixTenants: true }] });
  });

  it("fails what run and publish would fail on, with the components' own checks: log format, proxies, url rules, time zone", () => {
    const accessLog = (format: string) => ({ sources: [{ type: "accessLog", paths: ["a.log"], format }] });
    expect(violations(accessLog('$remote_addr [$time_local] "$request"'))).toEqual([
      'sources.0.format: log format "$remote_addr [$time_local] "$request"" lacks a status ($status or %>s)',
    ]);
    expect(violations(accessLog('%h %t "%r"'))).toEqual(['sources.0.format: log format "%h %t "%r"" lacks a status ($status or %>s)']);
    const http = (trustedProxies: string[]) => ({ sources: [{ type: "http", writeKeys: ["k"], trustedProxies }] });
    expect(violations(http(["10.0.0.0/8", "::1", "not-an-ip", "10.0.0.0/33"]))).toEqual([
      'sources.0.trustedProxies.2: "not-an-ip" is not an IP address or CIDR (e.g. 10.0.0.0/8)',
      'sources.0.trustedProxies.3: "10.0.0.0/33" has a prefix length outside 0..32',
    ]);
    const urlRules = [{ match: "/c/:category", item: ":category" }, { match: "c/:cat", item: ":cat" }, { match: "/p/:id", item: ":sku" }];
    expect(violations({ ingest: { urlRules } })).toEqual([
      'ingest.urlRules.1: match "c/:cat" must start with / (a URL path)',
      "ingest.urlRules.2: item uses :sku, which match does not define (it has :id)",
    ]);
    const nats = (url: string) => ({ nats: { stream: "S", url } });
    expect(violations(nats("nats://a:4222, b:4223,tls://c"))).toEqual([]);
    expect(violations(nats("not a url at all"))).toEqual(['nats.url: "not a url at all" is not a server URL']);
    expect(violations(nats("nats://a:4222,http://b:80"))).toEqual(['nats.url: "http://b:80" has the scheme http, not nats or tls']);
    // The message quotes the URL without its password (it goes to terminals and tickets).
    expect(violations(nats("http://ops:s3cret@b:80"))).toEqual(['nats.url: "http://ops:<redacted>@b:80" has the scheme http, not nats or tls']);
    const sessionize = (splitAtMidnight: string | boolean) => ({ operators: [{ type: "sessionize", splitAtMidnight }] });
    expect(violations(sessionize("Europe/Berlin"))).toEqual([]);
    // false is off, as leaving the key out.
    expect(violations(sessionize(false))).toEqual([]);
    const off = parse({ operators: [{ type: "sessionize", splitAtMidnight: false }] });
    expect(off.success && off.data.operators[0]).toMatchObject({ type: "sessionize", splitAtMidnight: undefined });
    expect(violations(sessionize("Europe/Berlinn"))).toEqual(['operators.0.splitAtMidnight: unknown time zone "Europe/Berlinn"']);
  });

  it("locates cross-field errors in the file like schema errors", () => {
    const text = "name: t\nnats: { stream: S }\noperators:\n  - type: basket\n  - type: basket\nsinks: [{ type: parquet, path: x }]\n";
    const result = parsePipelineText(text, "t.yaml", {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      {
        path: "operators[1].type",
        line: 5,
        column: 5,
        message: "a second basket operator (the first is operators[0])",
        hint: "Step ids are the operator types, so each type appears at most once; merge the two.",
      },
    ]);
  });
});

describe("pipeline schema - nats.duplicateWindow", () => {
  const nats = (duplicateWindow: unknown) => ({ nats: { stream: "S", duplicateWindow } });

  it("defaults to 2 minutes and reads durations as the file's other keys, compound ones too", () => {
    expect(pipelineSchema.parse(base).nats.duplicateWindow).toBe(120_000);
    expect(pipelineSchema.parse({ ...base, ...nats("1h") }).nats.duplicateWindow).toBe(3_600_000);
    expect(pipelineSchema.parse({ ...base, ...nats("1h30m") }).nats.duplicateWindow).toBe(5_400_000);
    expect(pipelineSchema.parse({ ...base, ...nats("1s") }).nats.duplicateWindow).toBe(1_000);
    expect(pipelineSchema.parse({ ...base, ...nats("7d") }).nats.duplicateWindow).toBe(604_800_000);
  });

  it("refuses a window outside 1s to 7d, naming the path, the range and what it costs", () => {
    expect(violations(nats("500ms"))).toEqual(["nats.duplicateWindow: 500ms is shorter than 1s"]);
    expect(violations(nats("7d1s"))).toEqual(["nats.duplicateWindow: 604801s is longer than 7d"]);
    expect(violations(nats("0s"))).toEqual(["nats.duplicateWindow: must be a positive duration"]);
    const result = parsePipelineText("name: t\nnats:\n  stream: S\n  duplicateWindow: 30d\nsinks: [{ type: parquet, path: x }]\n", "t.yaml", {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toMatchObject([{ path: "nats.duplicateWindow", line: 4, column: 3, message: "30d is longer than 7d" }]);
    expect(result.errors[0].hint).toMatch(/^Use 1s to 7d \(default "2m"\).*memory/);
  });

  it("refuses what is not a duration, naming the path", () => {
    expect(violations(nats("10 minutes"))).toEqual(['nats.duplicateWindow: expected a duration like "30m" (units ms, s, m, h, d), got "10 minutes"']);
    expect(violations(nats(600))).toHaveLength(1);
    expect(violations(nats(600))[0]).toMatch(/^nats\.duplicateWindow: /);
  });

  it("says in its description what a longer window trades", () => {
    const jsonSchema = z.toJSONSchema(pipelineSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
    const description = jsonSchema.properties?.nats?.properties?.duplicateWindow?.description ?? "";
    expect(description).toMatch(/Nats-Msg-Id/);
    expect(description).toMatch(/nats-server memory/);
    expect(description).toMatch(/Default "2m", 1s to 7d/);
  });
});

describe("pipeline schema - nats.maxAge and nats.maxBytes", () => {
  const nats = (extra: Record<string, unknown>) => ({ nats: { stream: "S", ...extra } });

  it("default to none (the stream keeps everything) and read durations and sizes", () => {
    const { maxAge, maxBytes } = pipelineSchema.parse(base).nats;
    expect([maxAge, maxBytes]).toEqual([undefined, undefined]);
    const parsed = pipelineSchema.parse({ ...base, ...nats({ maxAge: "1d12h", maxBytes: "10GiB" }) }).nats;
    expect([parsed.maxAge, parsed.maxBytes]).toEqual([129_600_000, 10 * 1024 ** 3]);
    expect(pipelineSchema.parse({ ...base, ...nats({ maxBytes: "2GB" }) }).nats.maxBytes).toBe(2_000_000_000);
    expect(pipelineSchema.parse({ ...base, ...nats({ maxBytes: 5_000_000 }) }).nats.maxBytes).toBe(5_000_000);
  });

  it("refuses what is not a size, naming the path and the units", () => {
    expect(violations(nats({ maxBytes: "10 gigs" }))).toEqual([
      'nats.maxBytes: expected a size like "10GiB" (units B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB), got "10 gigs"',
    ]);
    expect(violations(nats({ maxBytes: -1 }))).toHaveLength(1);
    expect(violations(nats({ maxBytes: 1.5 }))[0]).toMatch(/^nats\.maxBytes: expected a size/);
  });

  it("refuses a size below 1MiB and a max age below the duplicate window, with the fix", () => {
    expect(violations(nats({ maxBytes: "512KiB" }))).toEqual(["nats.maxBytes: 512KiB is less than 1MiB"]);
    expect(violations(nats({ maxAge: "1m" }))).toEqual(["nats.maxAge: 1m is shorter than nats.duplicateWindow (2m), which nats-server does not allow"]);
    expect(violations(nats({ maxAge: "1m", duplicateWindow: "30s" }))).toEqual([]);
    expect(violations(nats({ maxAge: "soon" }))).toEqual(['nats.maxAge: expected a duration like "30m" (units ms, s, m, h, d), got "soon"']);
    const result = parsePipelineText("name: t\nnats:\n  stream: S\n  maxAge: 1m\nsinks: [{ type: parquet, path: x }]\n", "t.yaml", {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toMatchObject([{ path: "nats.maxAge", line: 4, column: 3 }]);
    expect(result.errors[0].hint).toBe("Make maxAge at least 2m, or shorten nats.duplicateWindow to at most 1m.");
  });
});
