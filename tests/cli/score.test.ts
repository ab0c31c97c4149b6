// `clickpipe score`: the scores table read back with DuckDB (ranks, deciles, segments, version) and --follow.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScore } from "../../src/cli/score.ts";
import { replacePartition } from "../../src/training/scorer.ts";
import { runTrain } from "../../src/cli/train.ts";
import type { Manifest, MetricsFile } from "../../src/training/artifacts.ts";
import { writeCdnowSnapshots } from "../training/cdnow-snapshots.ts";
import { featureRow, writeSnapshots } from "../training/snapshot-fixtures.ts";
import { CapturedIo } from "../training/capture-io.ts";
import { waitFor } from "../helpers/wait-for.ts";

describe("clickpipe score - CDNOW", () => {
  let lake: string;
  let features: string;
  let file: string;
  let manifest: Manifest;
  let metrics: MetricsFile;
  let connection: DuckDBConnection;

  beforeAll(async () => {
    lake = mkdtempSync(join(tmpdir(), "clickpipe-score-"));
    features = await writeCdnowSnapshots(lake, ["1997-06-30", "1997-09-28", "1997-09-30", "1997-12-29"]);
    file = join(lake, "training.yaml");
    writeFileSync(
      file,
      `features: ${features}
train: { from: 1997-06-30, to: 1997-06-30 }
validate: { from: 1997-09-30, to: 1997-09-30 }
horizon: 90d
models: [logistic, mlp]
segments: { method: fcm, k: 4 }
out: ${join(lake, "models")}
epochs: 10
`,
    );
    expect(await runTrain([file], new CapturedIo())).toBe(0);
    manifest = JSON.parse(readFileSync(join(lake, "models", "manifest.json"), "utf8")) as Manifest;
    metrics = JSON.parse(readFileSync(join(lake, "models", "metrics.json"), "utf8")) as MetricsFile;
    for (const date of ["1997-09-30", "1997-12-29"]) expect(await runScore([file, "--snapshot", date], new CapturedIo())).toBe(0);
    connection = await (await DuckDBInstance.create(":memory:")).connect();
  }, 120_000);

  afterAll(() => {
    connection?.closeSync();
    if (lake) rmSync(lake, { recursive: true, force: true });
  });

  const scores = (date: string) => `read_parquet('${lake}/scores/snapshot_date=${date}/*.parquet')`;
  const one = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjects()[0];

  it("writes scores/ beside the features folder, one row per customer, with _SUCCESS", async () => {
    expect(existsSync(join(lake, "scores", "snapshot_date=1997-12-29", "_SUCCESS"))).toBe(true);
    const row = await one(`SELECT count(*) AS n, count(DISTINCT customer_id) AS customers FROM ${scores("1997-12-29")}`);
    expect(Number(row.n)).toBe(2357);
    expect(Number(row.customers)).toBe(2357);
  });

  it("ranks are 1..N by score, highest first (ties by customer id)", async () => {
    const row = await one(`
      SELECT min(rank) AS lo, max(rank) AS hi, count(DISTINCT rank) AS distinct_ranks,
             count(*) FILTER (WHERE rank <> expected) AS misplaced
      FROM (SELECT rank, row_number() OVER (ORDER BY score DESC, customer_id) AS expected FROM ${scores("1997-12-29")})`);
    expect(row).toEqual({ lo: 1n, hi: 2357n, distinct_ranks: 2357n, misplaced: 0n });
  });

  it("deciles 1..10 are balanced (235 or 236 customers each) and follow the ranks", async () => {
    const rows = (await connection.runAndReadAll(`SELECT decile, count(*) AS n, min(rank) AS first, max(rank) AS last FROM ${scores("1997-12-29")} GROUP BY decile ORDER BY decile`)).getRowObjects();
    expect(rows.map((r) => r.decile)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const r of rows) expect([235n, 236n]).toContain(r.n);
    for (let i = 1; i < rows.length; i++) expect(Number(rows[i].first)).toBe(Number(rows[i - 1].last) + 1);
  });

  it("scores with a TensorFlow.js network loaded from model.json + weights.bin", () => {
    expect(["logistic", "mlp"]).toContain(manifest.scoringModel);
  });

  it("scores are probabilities, segments are 1..k, every row carries the manifest's model version", async () => {
    const row = await one(`SELECT min(score) AS lo, max(score) AS hi, min(segment) AS s_lo, max(segment) AS s_hi,
      count(DISTINCT model_version) AS versions, any_value(model_version) AS version FROM ${scores("1997-12-29")}`);
    expect(row.lo as number).toBeGreaterThanOrEqual(0);
    expect(row.hi as number).toBeLessThanOrEqual(1);
    expect(row.s_lo).toBe(1);
    expect(row.s_hi).toBeLessThanOrEqual(4);
    expect(row).toMatchObject({ versions: 1n, version: manifest.modelVersion });
  });

  it("scores of the validation snapshot reproduce the training's validation AUC (labels by SQL)", async () => {
    const reader = (date: string) => `read_parquet('${features}/snapshot_date=${date}/*.parquet')`;
    const row = await one(`
      WITH examples AS (
        SELECT s.score, CASE WHEN l.orders_total > d.orders_total THEN 0 ELSE 1 END AS churned
        FROM ${scores("1997-09-30")} s JOIN ${reader("1997-09-30")} d USING (customer_id) JOIN ${reader("1997-12-29")} l USING (customer_id))
      SELECT sum(CASE WHEN p.score > n.score THEN 1.0 WHEN p.score = n.score THEN 0.5 ELSE 0 END)
             / ((SELECT count(*) FROM examples WHERE churned = 1) * (SELECT count(*) FROM examples WHERE churned = 0)) AS auc
      FROM examples p, examples n WHERE p.churned = 1 AND n.churned = 0`);
    expect(Number(row.auc)).toBeCloseTo(metrics.models[manifest.scoringModel].auc, 6);
  });

  it("re-scoring a date replaces its partition with identical rows", async () => {
    const before = await one(`SELECT sum(rank * score) AS digest FROM ${scores("1997-12-29")}`);
    expect(await runScore([file, "--snapshot", "1997-12-29"], new CapturedIo())).toBe(0);
    expect(await one(`SELECT count(*) AS n, sum(rank * score) AS digest FROM ${scores("1997-12-29")}`)).toEqual({ n: 2357n, digest: before.digest });
  }, 30_000);

  it("a re-scoring that fails before its commit leaves the date incomplete, not old and new parts under one marker", async () => {
    const scratch = join(lake, "replace-partition");
    cpSync(join(lake, "scores", "snapshot_date=1997-12-29"), scratch, { recursive: true });
    const parts = readdirSync(scratch).filter((name) => name.endsWith(".parquet"));
    expect(parts.length).toBeGreaterThan(0);
    // The new scoring keeps only the first part's name; the commit dies (a crash) before renaming anything in.
    const failing = replacePartition(scratch, new Set(parts.slice(0, 1)), () => Promise.reject(new Error("killed")));
    await expect(failing).rejects.toThrow("killed");
    expect(existsSync(join(scratch, "_SUCCESS"))).toBe(false);
    expect(readdirSync(scratch).filter((name) => name.endsWith(".parquet"))).toEqual(parts.slice(0, 1));
    rmSync(scratch, { recursive: true });
  });

  it("--follow scores a new snapshot once its _SUCCESS appears, not before", async () => {
    const newDate = "1998-01-05";
    const source = join(features, "snapshot_date=1997-12-29");
    const target = join(features, `snapshot_date=${newDate}`);
    cpSync(source, target, { recursive: true, filter: (path) => !path.endsWith("_SUCCESS") });
    const stop = new AbortController();
    const io = new CapturedIo();
    const running = runScore([file, "--snapshot", "1997-09-30", "--follow", "--interval", "0.05"], io, stop.signal);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(existsSync(join(lake, "scores", `snapshot_date=${newDate}`))).toBe(false);
    writeFileSync(join(target, "_SUCCESS"), "");
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(lake, "scores", `snapshot_date=${newDate}`, "_SUCCESS")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    expect(await running).toBe(0);
    expect(io.out).toContain(`scored ${newDate}: 2357 customers`);
    expect(io.out).toContain("scored 1997-09-30: 2357 customers"); // the named date is scored, as without --follow
    expect(io.out).not.toContain("scored 1997-12-29"); // scored by this model already: --follow only adds what is missing
  }, 40_000);

  it("--follow re-scores later snapshots that an older model scored", async () => {
    const manifestPath = join(lake, "models", "manifest.json");
    const original = readFileSync(manifestPath, "utf8");
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, modelVersion: "retrained-1" }));
    try {
      const stop = new AbortController();
      const io = new CapturedIo();
      const running = runScore([file, "--snapshot", "1997-09-30", "--follow", "--interval", "0.05"], io, stop.signal);
      await waitFor("1997-12-29 re-scored", async () => io.out.includes("scored 1997-12-29"), 20_000);
      stop.abort();
      expect(await running).toBe(0);
      const row = await one(`SELECT count(*) AS n, count(DISTINCT model_version) AS versions, any_value(model_version) AS version FROM ${scores("1997-12-29")}`);
      expect(row).toEqual({ n: 2357n, versions: 1n, version: "retrained-1" });
    } finally {
      writeFileSync(manifestPath, original);
    }
  }, 40_000);

  it("an impossible --snapshot date is a usage error naming it", async () => {
    const io = new CapturedIo();
    expect(await runScore([file, "--snapshot", "1997-10-99"], io)).toBe(2);
    expect(io.err).toContain('--snapshot "1997-10-99": expected a calendar date like 1997-09-30');
  });

  it("no trained model, or a manifest cut short, exits 1 saying to train, without Node's ENOENT or JSON text", async () => {
    // It said "no trained model under <out> (ENOENT: no such file or directory, open '<out>/manifest.json')".
    const untrained = join(lake, "untrained.yaml");
    writeFileSync(untrained, readFileSync(file, "utf8").replace(join(lake, "models"), join(lake, "no-models")));
    const io = new CapturedIo();
    expect(await runScore([untrained, "--snapshot", "1997-09-30"], io)).toBe(1);
    expect(io.err).toBe(
      `clickpipe score: no trained model under ${join(lake, "no-models")} (no manifest.json there): run \`clickpipe train <training.yaml>\` first\n`,
    );
    const cut = join(lake, "cut-models");
    mkdirSync(cut);
    writeFileSync(join(cut, "manifest.json"), '{"version": "20');
    writeFileSync(untrained, readFileSync(file, "utf8").replace(join(lake, "models"), cut));
    const io2 = new CapturedIo();
    expect(await runScore([untrained, "--snapshot", "1997-09-30"], io2)).toBe(1);
    expect(io2.err).toBe(
      `clickpipe score: ${join(cut, "manifest.json")}: cannot read it as JSON (a manifest cut short?): run \`clickpipe train <training.yaml>\` again\n`,
    );
  });

  it("a snapshot without _SUCCESS exits 1 naming it", async () => {
    const io = new CapturedIo();
    expect(await runScore([file, "--snapshot", "1997-10-01"], io)).toBe(1);
    expect(io.err).toMatch(/snapshot 1997-10-01 is missing or incomplete/);
  });
});

describe("clickpipe score - a snapshot without the session columns the model was trained on", () => {
  const TRAIN_DAY = "2026-01-10";
  const VALIDATE_DAY = "2026-02-01";
  const SCORE_DAY = "2026-03-01";
  const HORIZON = 14;
  let root: string;
  let withSessions: string;
  let withoutSessions: string;
  let manifest: Manifest;

  /** Customer i of a pipeline with sessionize: fewer sessions, likelier to churn (to stop buying, noPurchase). */
  function customerRows(date: string, labelDate: string, sessionize: boolean) {
    const rows = [];
    for (let i = 0; i < 200; i++) {
      const sessions30d = i % 11;
      const churned = (sessions30d < 4) !== (i % 13 === 0);
      const orders = 1 + (i % 3);
      const session = (value: number) => (sessionize ? value : null);
      const behaviour = {
        sessions_7d: session(Math.floor(sessions30d / 4)),
        sessions_30d: session(sessions30d),
        sessions_90d: session(sessions30d * 2),
        pageviews_30d: session(sessions30d * 3),
        days_since_last_session: sessionize && sessions30d > 0 ? 30 - 2 * sessions30d : null,
        avg_session_duration_s_30d: sessionize && sessions30d > 0 ? 60 + (i % 7) : null,
      };
      const purchases = (total: number) => ({ orders_total: total, frequency: total - 1, recency_days: total > 1 ? 5 : 0, days_since_last_purchase: 5 + (i % 17) });
      rows.push(featureRow(`c${i}`, date, { ...purchases(orders), ...behaviour }));
      rows.push(featureRow(`c${i}`, labelDate, { ...purchases(orders + (churned ? 0 : 1)), ...behaviour }));
    }
    return rows;
  }

  const yaml = (features: string) => `features: ${features}
train: { from: ${TRAIN_DAY}, to: ${TRAIN_DAY} }
validate: { from: ${VALIDATE_DAY}, to: ${VALIDATE_DAY} }
horizon: ${HORIZON}d
models: [logistic]
segments: { method: kmeans, k: 3 }
out: ${join(root, "models")}
epochs: 30
`;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "clickpipe-score-schema-"));
    const plusHorizon = (date: string) => new Date(Date.parse(date) + HORIZON * 86_400_000).toISOString().slice(0, 10);
    const sessionRows = [TRAIN_DAY, VALIDATE_DAY, SCORE_DAY].flatMap((date) => customerRows(date, plusHorizon(date), true));
    withSessions = await writeSnapshots(join(root, "with"), sessionRows, [TRAIN_DAY, VALIDATE_DAY, SCORE_DAY].flatMap((d) => [d, plusHorizon(d)]));
    // The same customers from a pipeline without sessionize: every session column null.
    withoutSessions = await writeSnapshots(join(root, "without"), customerRows(SCORE_DAY, plusHorizon(SCORE_DAY), false), [SCORE_DAY]);
    writeFileSync(join(root, "train.yaml"), yaml(withSessions));
    writeFileSync(join(root, "score.yaml"), yaml(withoutSessions));
    expect(await runTrain([join(root, "train.yaml")], new CapturedIo())).toBe(0);
    manifest = JSON.parse(readFileSync(join(root, "models", "manifest.json"), "utf8")) as Manifest;
  }, 120_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("the model uses session features", () => {
    expect(manifest.features).toEqual(expect.arrayContaining(["sessions_30d", "pageviews_30d"]));
  });

  it("scores a snapshot of the pipeline it was trained on", async () => {
    expect(await runScore([join(root, "train.yaml"), "--snapshot", SCORE_DAY], new CapturedIo())).toBe(0);
  });

  it("refuses, naming the columns, instead of filling every customer's session features with the training mean", async () => {
    const io = new CapturedIo();
    expect(await runScore([join(root, "score.yaml"), "--snapshot", SCORE_DAY], io)).toBe(1);
    expect(io.err).toContain(`snapshot ${SCORE_DAY} under ${withoutSessions} has no session columns (null for every customer: no sessionize)`);
    expect(io.err).toMatch(new RegExp(`but model ${manifest.modelVersion} uses [a-z_0-9, ]*sessions_30d`));
    expect(existsSync(join(root, "without", "scores", `snapshot_date=${SCORE_DAY}`))).toBe(false);
  });
});
