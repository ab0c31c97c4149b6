// `clickpipe mine patterns` over a sessions table bigger than a small heap: the command reduces the table as it reads
// it (only the columns it needs, one row group at a time, one candidate per session), so it fits where holding every
// row of every column did not. The patterns are checked against DuckDB SQL over the same files.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { contiguousRunsOracleSql, minedRuns, queryJson, withDuckDb } from "../helpers/mine-command.ts";

/** 50,000 sessions; 3 in 4 with a second version (100k+ rows of the sessions table's 25 columns). */
const SESSIONS = 50_000;
const MIN_SUPPORT = 0.03;
/**
 * The child's --max-old-space-size. Measured on this table: holding every row of every column before reducing ran
 * out of heap at 192 MB (done at 256); reading as now runs out at 24 and is done at 32. Half the one, thrice the other.
 */
const OLD_SPACE_MB = 96;

/**
 * The sessions table's 25 columns, selected from rows of session number `i`, hash `h`, `version` and `pages` (the
 * page items), as the sessionize sink writes them.
 */
const sessionsColumns = `SELECT 'session-' || i::VARCHAR AS session_id, version::INTEGER AS version, (version = 2 AND h % 10 = 3) AS retracted,
  'site' AS site_id, 'visitor-' || (i // 3)::VARCHAR AS visitor_id, NULL::VARCHAR AS user_id,
  TIMESTAMP '2024-03-01' + to_seconds(i) AS start_ts, TIMESTAMP '2024-03-01' + to_seconds(i + 60) AS end_ts,
  60000::BIGINT AS duration_ms, len(pages)::INTEGER AS event_count, len(pages)::INTEGER AS pageview_count,
  'https://shop.test' || pages[1] AS landing_url, 'https://shop.test' || pages[-1] AS exit_url, NULL::VARCHAR AS referrer,
  NULL::VARCHAR AS utm_source, NULL::VARCHAR AS utm_medium, NULL::VARCHAR AS utm_campaign, len(pages) > 1 AS is_engaged,
  len(pages) = 1 AS is_bounce, false AS converted, 0.0::DOUBLE AS revenue, (version = 2 AND h % 50 = 7) AS is_bot,
  'gap' AS split_reason, list_transform(pages, p -> p || '/') AS page_path, pages AS page_items`;

describe("clickpipe mine patterns on a sessions table larger than its heap", () => {
  let directory: string;
  let table: string;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), "mine-memory-"));
    table = join(directory, "sessions");
    mkdirSync(join(table, "dt=2024-03-01"), { recursive: true });
    // Every session starts at /home, then 1–8 pages of 5; a second version adds pages, retracts (1 in 10) or is a
    // crawler's (1 in 50). The second versions are in the first part, so the file order is not the version order;
    // row groups of 16,384 rows, so the command reads several per part.
    await withDuckDb(async (run) => {
      await run(`CREATE TABLE versions AS
        WITH s AS (SELECT i, hash(i) AS h FROM range(${SESSIONS}) t(i)),
        v1 AS (SELECT i, h, 1 AS version, ['/home'] || list_transform(range(1 + (h % 8)::INT), k -> '/p' || (hash(i, k) % 5)::VARCHAR) AS pages FROM s),
        v2 AS (SELECT i, h, 2 AS version, pages || list_transform(range(1 + (h % 3)::INT), k -> '/p' || (hash(i, k, 2) % 5)::VARCHAR) AS pages FROM v1 WHERE i % 4 <> 0)
        ${sessionsColumns} FROM (SELECT * FROM v1 UNION ALL SELECT * FROM v2)`);
      for (const [part, version] of [["part-0", 2], ["part-1", 1]] as const) {
        await run(`COPY (SELECT * FROM versions WHERE version = ${version} ORDER BY session_id)
                   TO '${join(table, "dt=2024-03-01", `${part}.parquet`)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)`);
      }
    });
  });

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it(`mines --kind contiguous in ${OLD_SPACE_MB} MB of heap, the patterns and supports DuckDB SQL counts over the same table`, async () => {
    const { code, stdout, stderr } = await runCli(
      ["mine", "patterns", "--sessions", table, "--kind", "contiguous", "--max-length", "3", "--min-support", String(MIN_SUPPORT)],
      { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --max-old-space-size=${OLD_SPACE_MB}` },
    );
    expect(code, stderr).toBe(0);
    const mined = minedRuns(stdout);
    // DuckDB's runs of 1–3 pages over the table's current truth, in the command's order.
    const oracle = await queryJson(contiguousRunsOracleSql(table, 3, MIN_SUPPORT));
    expect(mined).toEqual(oracle);
    // Every session starts at /home: the top pattern, in every current session.
    const [{ sessions }] = await queryJson(`SELECT count(*)::INTEGER AS sessions FROM (SELECT * FROM read_parquet('${table}/**/*.parquet')
      QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1) WHERE NOT retracted AND NOT is_bot`);
    expect(mined[0]).toEqual({ items: ["/home"], length: 1, support: sessions });
    expect(stderr).toContain(`from ${sessions as number} sequences`);
    expect(mined.some((row) => row.length === 3)).toBe(true);
  }, 60_000);
});

/** 2,000 sessions of 150 pages each: 11,325 runs per session, 22.6M distinct runs in all (nearly all of them once). */
const LONG_SESSIONS = 2_000;
const LONG_SESSION_PAGES = 150;

describe("clickpipe mine patterns --kind contiguous without --max-length on long sessions", () => {
  let directory: string;
  let table: string;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), "mine-long-"));
    table = join(directory, "sessions");
    mkdirSync(join(table, "dt=2024-03-01"), { recursive: true });
    // Pages drawn from 20,000 (each in about 15 sessions: never frequent), except that every third session holds the
    // funnel /home > /search > /product > /cart > /checkout somewhere: its 15 runs are the frequent ones.
    await withDuckDb(async (run) => {
      await run(`COPY (
        WITH s AS (SELECT i, hash(i) AS h, (hash(i, 'at') % ${LONG_SESSION_PAGES - 5})::INT AS funnel_at FROM range(${LONG_SESSIONS}) t(i))
        ${sessionsColumns} FROM (SELECT i, h, 1 AS version, list_transform(range(${LONG_SESSION_PAGES}), k ->
            CASE WHEN i % 3 = 0 AND k >= funnel_at AND k < funnel_at + 5 THEN ['/home', '/search', '/product', '/cart', '/checkout'][k - funnel_at + 1]
                 ELSE '/x' || (hash(i, k) % 20000)::VARCHAR END) AS pages FROM s)
        ) TO '${join(table, "dt=2024-03-01", "part-0.parquet")}' (FORMAT parquet, COMPRESSION zstd)`);
    });
  });

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it(`counts only runs whose prefix and suffix are frequent, in ${OLD_SPACE_MB} MB of heap: DuckDB SQL's frequent runs`, async () => {
    const { code, stdout, stderr } = await runCli(
      ["mine", "patterns", "--sessions", table, "--kind", "contiguous", "--min-support", "0.05"],
      { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --max-old-space-size=${OLD_SPACE_MB}` },
    );
    expect(code, stderr).toBe(0);
    // DuckDB's runs of up to 6 pages (every length would be 22.6M lists): none of 6 is frequent, so none longer is
    // either (a session holding a longer run holds its first 6 pages).
    const oracle = await queryJson(contiguousRunsOracleSql(table, 6, 0.05));
    expect(oracle.some((row) => row.length === 6)).toBe(false);
    expect(oracle.filter((row) => row.length === 5)).toEqual([
      { items: ["/home", "/search", "/product", "/cart", "/checkout"], length: 5, support: Math.ceil(LONG_SESSIONS / 3) },
    ]);
    expect(minedRuns(stdout)).toEqual(oracle);
  }, 60_000);
});
