// Every example in pipelines/ is a tested config: it validates, in a bare environment and with its variables set.
import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../src/config/load.ts";

const files = (await readdir("pipelines")).filter((name) => name.endsWith(".yaml")).sort();

/** The secrets an example needs from the environment and cannot default: web.yaml pseudonymizes user_id. */
const SECRETS = { CLICKPIPE_PSEUDONYM_KEY: "test-key" };

async function load(file: string, env: Record<string, string> = {}) {
  const result = await loadPipeline(`pipelines/${file}`, { ...SECRETS, ...env });
  if (!result.ok) throw new Error(`${file}: ${result.errors.map((error) => `${error.path}: ${error.message}`).join("; ")}`);
  return result.config;
}

describe("pipelines/", () => {
  it("holds the four documented examples", () => {
    expect(files).toEqual(["access-logs.yaml", "demo.yaml", "shop.yaml", "web.yaml"]);
  });

  it.each(files)("%s validates with no environment variables set but its secrets", async (file) => {
    const config = await load(file);
    expect(config.name).toBe(file.replace(/\.yaml$/, ""));
  });

  it.each(files)("%s takes its stream and output directory from the environment", async (file) => {
    const config = await load(file, { CLICKPIPE_STREAM: "CI_STREAM", CLICKPIPE_OUT: "/tmp/ci-out", NATS_URL: "nats://ci:4222" });
    expect(config.nats.stream).toBe("CI_STREAM");
    expect(config.nats.url).toBe("nats://ci:4222");
    expect(config.sinks[0]).toMatchObject({ type: "parquet", path: "/tmp/ci-out" });
  });

  it("demo runs every operator with short windows, metrics on 9464 and 5 s checkpoints", async () => {
    const config = await load("demo.yaml");
    expect(config.operators.map((operator) => operator.type)).toEqual(["sessionize", "sequencePatterns", "basket", "churnFeatures"]);
    expect(config.operators[1]).toMatchObject({ window: 3_600_000, minSupport: 0.01 });
    expect(config.operators[3]).toMatchObject({ snapshotEvery: 86_400_000 });
    expect(config.sinks[0]).toMatchObject({ path: "./data" });
    expect(config.metrics).toEqual({ port: 9464, host: "0.0.0.0" });
    expect(config.checkpoint.interval).toBe(5_000);
    expect(config.nats.stream).toBe("CLICKPIPE_DEMO");
    expect((await load("demo.yaml", { CLICKPIPE_METRICS_PORT: "9999" })).metrics?.port).toBe(9999);
    expect((await load("demo.yaml", { CLICKPIPE_CHECKPOINT_INTERVAL: "500ms" })).checkpoint.interval).toBe(500);
  });

  it("demo's stream keeps at most 2 GiB and 6 hours, so npm start left running does not fill the disk", async () => {
    const { nats } = await load("demo.yaml");
    expect([nats.maxBytes, nats.maxAge]).toEqual([2 * 1024 ** 3, 6 * 3_600_000]);
    const overridden = (await load("demo.yaml", { CLICKPIPE_STREAM_MAX_BYTES: "500MB", CLICKPIPE_STREAM_MAX_AGE: "1d" })).nats;
    expect([overridden.maxBytes, overridden.maxAge]).toEqual([500_000_000, 86_400_000]);
    const result = await loadPipeline("pipelines/demo.yaml", { CLICKPIPE_STREAM_MAX_BYTES: "lots" });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => error.path)).toEqual(["nats.maxBytes"]);
  });

  it("shop runs churnFeatures and basket only; access-logs tails a log with page filtering and UTC-day sessions", async () => {
    expect((await load("shop.yaml")).operators.map((operator) => operator.type)).toEqual(["churnFeatures", "basket"]);
    const accessLogs = await load("access-logs.yaml", { CLICKPIPE_ACCESS_LOG: "/srv/log/access.log" });
    expect(accessLogs.sources).toEqual([{ type: "accessLog", paths: ["/srv/log/access.log"], format: "combined", pollInterval: 1000 }]);
    expect(accessLogs.ingest.pages).toEqual({ exclude: ["static", "non2xx"] });
    expect(accessLogs.operators[0]).toMatchObject({ type: "sessionize", splitAtMidnight: "UTC" });
  });

  it("web.yaml without CLICKPIPE_PSEUDONYM_KEY fails validation at ingest.privacy.pseudonymize, naming the variable", async () => {
    const result = await loadPipeline("pipelines/web.yaml", {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => [error.path, error.line, error.message])).toEqual([
      ["ingest.privacy.pseudonymize", 13, "pseudonymizes [user_id] but CLICKPIPE_PSEUDONYM_KEY is not set"],
    ]);
    expect(result.errors[0].hint).toContain("CLICKPIPE_PSEUDONYM_KEY=$(openssl rand -hex 32)");
  });

  it("web turns on the collector with a write key from CLICKPIPE_WRITE_KEY", async () => {
    const web = await load("web.yaml", { CLICKPIPE_WRITE_KEY: "wk_live_1" });
    expect(web.sources?.[0]).toMatchObject({ type: "http", port: 8080, writeKeys: ["wk_live_1"] });
    expect(web.ingest.urlRules).toEqual([{ match: "/c/:category/p/:id", item: ":category" }]);
  });

  it("web listens on 8080, serves metrics on 9464 and tails nginx's log unless CLICKPIPE_HTTP_PORT, CLICKPIPE_METRICS_PORT, CLICKPIPE_ACCESS_LOG say otherwise", async () => {
    const shipped = await load("web.yaml");
    expect([shipped.sources?.[0], shipped.sources?.[1], shipped.metrics]).toMatchObject([{ port: 8080 }, { paths: ["/var/log/nginx/access.log"] }, { port: 9464 }]);
    // Beside a running `npm start` (which holds 9464), or in a test on free ports.
    const moved = await load("web.yaml", { CLICKPIPE_HTTP_PORT: "18080", CLICKPIPE_METRICS_PORT: "19464", CLICKPIPE_ACCESS_LOG: "/srv/log/access.log" });
    expect([moved.sources?.[0], moved.sources?.[1], moved.metrics]).toMatchObject([{ port: 18080 }, { paths: ["/srv/log/access.log"] }, { port: 19464 }]);
  });
});

describe("pipelines/training", () => {
  it("every training file validates", async () => {
    const { loadTrainingConfig } = await import("../src/training/config.ts");
    const trainingFiles = (await readdir("pipelines/training")).filter((name) => name.endsWith(".yaml"));
    expect(trainingFiles).toEqual(["churn.yaml"]);
    for (const file of trainingFiles) {
      const config = await loadTrainingConfig(`pipelines/training/${file}`, {});
      expect(config.models).toEqual(["logistic", "mlp", "bgnbd"]);
      expect(config.horizon).toBe(90 * 86_400_000);
    }
  });

  it("churn.yaml reads the customer_features that shop.yaml writes, by default and under CLICKPIPE_OUT", async () => {
    const { loadTrainingConfig } = await import("../src/training/config.ts");
    for (const env of [{}, { CLICKPIPE_OUT: "/tmp/ci-out" }] as Record<string, string>[]) {
      const shop = await load("shop.yaml", env);
      const training = await loadTrainingConfig("pipelines/training/churn.yaml", env);
      const parquet = shop.sinks.find((sink) => sink.type === "parquet");
      expect(training.features).toBe(`${parquet?.path}/customer_features`);
    }
  });
});
