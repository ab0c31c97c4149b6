// The examples in pipelines/ run as README.md says, on real data from tests/fixtures: the files themselves (their
// stream, folder, ports and paths from the environment, as the README tells users to set them), fed and drained
// through the `clickpipe` command, and their Parquet checked against DuckDB SQL over the same input.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { appendFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printedWithin, runCli, spawnCli, type CliProcess } from "../helpers/cli.ts";
import { jetStreamScratchAll } from "../helpers/jetstream-scratch.ts";
import { freePort, uniqueStreamName } from "../helpers/nats-server.ts";
import { countStreamContent } from "../helpers/stream-content.ts";
import { waitFor } from "../helpers/wait-for.ts";

const CDNOW = "tests/fixtures/cdnow/CDNOW_master.txt";
const SEMICOMPLETE = "tests/fixtures/access-logs/semicomplete_apache_combined_2015.log";
const ORDER_LINES = "tests/fixtures/groceries/groceries_order_lines.csv";
const YOOCHOOSE = "tests/fixtures/yoochoose/yoochoose-clicks-100k_train_full.txt";

/** The extensions `pages: { exclude: [static] }` leaves out by default (README, ingest.staticExtensions). */
const STATIC_EXTENSIONS = [
  "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "bmp", "woff", "woff2", "ttf",
  "eot", "otf", "mp4", "webm", "mp3", "ogg", "wav", "pdf", "zip", "gz", "tgz", "xml", "txt", "json", "rss", "atom",
];

/** Lines `from` … `to` (1-based, inclusive) of a text file, each with its own line ending. */
async function linesOf(file: string, from: number, to: number): Promise<string> {
  const lines = (await readFile(file, "utf8")).split(/(?<=\n)/);
  return lines.slice(from - 1, to).join("");
}

/** SQL: the lines of a file, numbered from 1, without their line endings. */
function fileLines(file: string): string {
  return `(SELECT rtrim(line, chr(13)) AS line, n FROM (
            SELECT unnest(lines) AS line, unnest(range(1, len(lines) + 1)) AS n
            FROM (SELECT string_split(content, chr(10)) AS lines FROM read_text('${file}')))
          WHERE line <> '')`;
}

/**
 * SQL: the page views of a combined-format access log as (visitor, t, url): the requests answered 2xx whose path is
 * not a static file, the visitor its IP and user agent (the pipeline hashes the two).
 */
function accessLogPageViews(file: string): string {
  return `(WITH parsed AS (
            SELECT regexp_extract(line, '^(\\S+) \\S+ \\S+ \\[([^\\]]+)\\] "\\S+ (\\S+)[^"]*" (\\d{3}) \\S+ "[^"]*" "([^"]*)"$',
                                  ['ip', 'time', 'target', 'status', 'ua']) AS f
            FROM ${fileLines(file)}
          ), requests AS (
            SELECT f.ip || ' ' || f.ua AS visitor, epoch_ms(strptime(f.time, '%d/%b/%Y:%H:%M:%S %z')) AS t, f.status::INTEGER AS status,
                   f.target AS url, regexp_replace(f.target, '[?#].*$', '') AS path
            FROM parsed WHERE f.ip <> ''
          )
          SELECT visitor, t, url FROM requests
          WHERE status BETWEEN 200 AND 299
            AND NOT (regexp_matches(path, '/[^/]+\\.[^./]*$')
                     AND lower(regexp_extract(path, '\\.([^./]*)$', 1)) IN (${STATIC_EXTENSIONS.map((extension) => `'${extension}'`).join(", ")})))`;
}

/**
 * SQL: the sessions of page views (visitor, t, url) split at every gap over `gapMs` (and, with `splitAtUtcMidnight`,
 * at each UTC midnight), as (start_ms, end_ms, events, landing_url), with the longest session's span beside them.
 */
function gapSessions(pageViews: string, gapMs: number, splitAtUtcMidnight: boolean): string {
  const key = splitAtUtcMidnight ? "visitor, t // 86400000" : "visitor";
  return `(WITH marked AS (
            SELECT *, CASE WHEN lag(t) OVER w IS NULL OR t - lag(t) OVER w > ${gapMs} THEN 1 ELSE 0 END AS starts
            FROM ${pageViews} WINDOW w AS (PARTITION BY ${key} ORDER BY t, url)
          ), numbered AS (
            SELECT *, sum(starts) OVER (PARTITION BY ${key} ORDER BY t, url ROWS UNBOUNDED PRECEDING) AS n FROM marked
          )
          SELECT min(t) AS start_ms, max(t) AS end_ms, count(*)::INTEGER AS events, arg_min(url, (t, url)) AS landing_url
          FROM numbered GROUP BY ${key}, n)`;
}

/** SQL: each session's current version in a lake (its highest, unless that one retracts it), as gapSessions gives them. */
function lakeSessions(out: string): string {
  return `(SELECT epoch_ms(start_ts) AS start_ms, epoch_ms(end_ts) AS end_ms, event_count AS events, landing_url
          FROM (FROM read_parquet('${out}/sessions/**/*.parquet', hive_partitioning = true)
                QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1)
          WHERE NOT retracted)`;
}

/** The rows of `expected` missing from `actual` and those `actual` has beyond it (as multisets), five of each at most. */
async function difference(db: DuckDBConnection, expected: string, actual: string): Promise<{ missing: unknown[]; unexpected: unknown[] }> {
  const rows = async (sql: string) => (await db.runAndReadAll(`${sql} LIMIT 5`)).getRowObjectsJson();
  return {
    missing: await rows(`FROM ${expected} EXCEPT ALL FROM ${actual}`),
    unexpected: await rows(`FROM ${actual} EXCEPT ALL FROM ${expected}`),
  };
}

async function count(db: DuckDBConnection, relation: string): Promise<number> {
  return Number((await db.runAndReadAll(`SELECT count(*) AS n FROM ${relation}`)).getRowObjectsJson()[0].n);
}

/** SQL: length-1 patterns the sessions table implies per 1-day window: non-bot sessions by their end's day, support ≥ ceil(1%). */
function singlePagePatterns(out: string): string {
  return `(WITH current AS (
            FROM read_parquet('${out}/sessions/**/*.parquet', hive_partitioning = true)
            QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1
          ), windows AS (
            SELECT session_id, epoch_ms(end_ts) // 86400000 AS day, page_path FROM current WHERE NOT retracted AND NOT is_bot
          ), sized AS (SELECT day, count(*) AS sessions FROM windows GROUP BY day),
          pages AS (SELECT DISTINCT session_id, day, unnest(page_path) AS page FROM windows)
          SELECT pages.day, page, count(*) AS support FROM pages JOIN sized USING (day)
          GROUP BY pages.day, page, sized.sessions HAVING count(*) >= ceil(0.01 * sized.sessions))`;
}

describe.concurrent("the example pipelines, as README.md runs them", () => {
  const scratch = jetStreamScratchAll("clickpipe-examples-");
  let db: DuckDBConnection;
  const running: CliProcess[] = [];

  beforeAll(async () => {
    db = await (await DuckDBInstance.create(":memory:")).connect();
  });

  afterAll(() => {
    for (const { child } of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    db?.closeSync();
  });

  /** The variables the README has users set for a pipeline file: its own stream and folder, the test's NATS server. */
  function exampleEnv(name: string): { env: Record<string, string>; stream: string; out: string; folder: string } {
    const stream = uniqueStreamName(`EXAMPLE_${name.toUpperCase()}`);
    scratch.streams.push(stream);
    const folder = join(scratch.directory, name);
    const out = join(folder, "out");
    return { env: { NATS_URL: scratch.natsUrl, CLICKPIPE_STREAM: stream, CLICKPIPE_OUT: out }, stream, out, folder };
  }

  it("shop.yaml: the README's CDNOW recipe gives the daily customer_features DuckDB computes from the transactions", async () => {
    const { env, stream, out, folder } = exampleEnv("shop");
    await mkdir(folder, { recursive: true });
    // The header and the first 300 transactions: 77 customers (the file is sorted by customer), 1997-01-01 … 1998-06-25.
    const input = join(folder, "CDNOW_head.txt");
    await writeFile(input, await linesOf(CDNOW, 1, 301));
    const publish = await runCli(
      ["publish", input, "--pipeline", "pipelines/shop.yaml", "--format", "csv", "--delimiter", "whitespace",
        "--map", "type=purchase,user_id=$1,ts=$2:yyyymmdd,qty=$3,revenue=$4", "--sort-by-time"],
      env,
    );
    expect(publish.stdout, publish.stderr).toBe(`read 300, published 300, rejected 0, filtered 0 → ${stream}\n`);
    const run = await runCli(["run", "pipelines/shop.yaml", "--drain"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^shop: 300 events, 0 invalid, 0 dead letters, 0 late \(late_events\)/m);

    // Lifetimes' summary per customer and day from the first purchase day on: frequency = repeat purchase days,
    // recency and T in days, monetary value = the mean revenue of a repeat day; orders and revenue over every row.
    const transactions = `(SELECT f[1] AS customer_id, strptime(f[2], '%Y%m%d')::DATE AS day, f[4]::DOUBLE AS revenue
                           FROM (SELECT string_split_regex(trim(line), '\\s+') AS f FROM ${fileLines(input)} WHERE n > 1))`;
    const expected = `(WITH days AS (
                         SELECT customer_id, day, sum(revenue) AS revenue, count(*) AS orders FROM ${transactions} GROUP BY ALL
                       ), snapshots AS (
                         SELECT unnest(generate_series(min(day), max(day), INTERVAL 1 DAY))::DATE AS snapshot_date FROM days
                       )
                       SELECT customer_id, snapshot_date, (count(*) - 1)::BIGINT AS frequency,
                              (max(day) - min(day))::BIGINT AS recency_days, (snapshot_date - min(day))::BIGINT AS t_days,
                              round(CASE WHEN count(*) > 1 THEN (sum(revenue) - arg_min(revenue, day)) / (count(*) - 1) ELSE 0 END, 6) AS monetary_value,
                              sum(orders)::BIGINT AS orders_total, round(sum(revenue), 6) AS revenue_total,
                              (snapshot_date - max(day))::BIGINT AS days_since_last_purchase
                       FROM snapshots JOIN days ON day <= snapshot_date GROUP BY customer_id, snapshot_date)`;
    const actual = `(SELECT customer_id, snapshot_date, frequency, recency_days, t_days, round(monetary_value, 6) AS monetary_value,
                            orders_total, round(revenue_total, 6) AS revenue_total, days_since_last_purchase
                     FROM read_parquet('${out}/customer_features/**/*.parquet', hive_partitioning = true))`;
    expect(await difference(db, expected, actual)).toEqual({ missing: [], unexpected: [] });
    // 77 customers, 541 daily snapshots (1997-01-01 … 1998-06-25, the last purchase), each customer from its first purchase on.
    expect(await count(db, `(SELECT DISTINCT customer_id FROM ${actual})`)).toBe(77);
    expect(await count(db, `(SELECT DISTINCT snapshot_date FROM ${actual})`)).toBe(541);
    expect(await count(db, actual)).toBe(await count(db, expected));
    // basket mines the items of purchases, which CDNOW's rows have none of: from CDNOW shop.yaml writes customer_features alone.
    expect((await readdir(out)).filter((name) => !name.startsWith("_"))).toEqual(["customer_features"]);
  });

  it("shop.yaml: the README's order-line recipe gives the basket_rules and cross_sell DuckDB mines from the invoices", async () => {
    const { env, stream, out } = exampleEnv("shop_order_lines");
    const map = "type=purchase,order_id=$InvoiceNo,ts=$InvoiceDate:iso,user_id=$CustomerID,items.sku=$StockCode,items.qty=$Quantity,items.price=$UnitPrice";
    const publishArgs = ["publish", ORDER_LINES, "--pipeline", "pipelines/shop.yaml", "--format", "csv", "--map", map];
    // On the parse thread, then again on this one: the same orders in the same batches, so JetStream stores nothing twice.
    const publish = await runCli(publishArgs, { ...env, CLICKPIPE_PUBLISH_WORKER_MIN_BYTES: "1" });
    expect(publish.stdout, publish.stderr).toBe(`read 1580 rows (401 orders), published 400, rejected 5, filtered 0 → ${stream}\n`);
    expect(publish.stderr).toMatch(/^5 rejected, e\.g\. bad_field: line 1577: items\.qty \(items\.qty=\$Quantity\) is -3: a quantity is a number > 0/);
    const again = await runCli(publishArgs, { ...env, CLICKPIPE_PUBLISH_WORKER: "never" });
    expect(again.stdout).toBe(`read 1580 rows (401 orders), published 400, rejected 5, filtered 0 → ${stream} (all already in the stream: JetStream stored nothing again)\n`);
    const run = await runCli(["run", "pipelines/shop.yaml", "--drain"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^shop: 400 events, 0 invalid, 5 dead letters, 0 late \(late_events\)/m);

    // The invoices as baskets: each invoice's distinct stock codes in the UTC day of its time (basket's 1d window),
    // without the cancellation (negative quantities: no purchase).
    const lines = `(SELECT * FROM read_csv('${ORDER_LINES}', header = true, all_varchar = true))`;
    const baskets = `(SELECT DISTINCT epoch_ms(date_trunc('day', strptime(InvoiceDate, '%Y-%m-%dT%H:%M:%SZ'))) AS w, InvoiceNo AS invoice, StockCode AS sku
                      FROM ${lines} WHERE InvoiceNo NOT IN (SELECT InvoiceNo FROM ${lines} WHERE Quantity::INTEGER <= 0))`;
    // Every itemset of 1 to 4 codes (basket's maxLength) with support ≥ 1% of the window's orders, and every rule
    // A ⇒ {c} of one of them with confidence ≥ 0.5 (shop.yaml), lift = confidence / support(c).
    const rules = `(WITH b AS ${baskets},
                      n AS (SELECT w, count(DISTINCT invoice) AS orders FROM b GROUP BY w),
                      sets AS (
                        SELECT w, [sku] AS items, count(*) AS c FROM b GROUP BY ALL
                        UNION ALL SELECT b1.w, [b1.sku, b2.sku], count(*) FROM b b1 JOIN b b2 ON b2.invoice = b1.invoice AND b1.sku < b2.sku GROUP BY ALL
                        UNION ALL SELECT b1.w, [b1.sku, b2.sku, b3.sku], count(*) FROM b b1 JOIN b b2 ON b2.invoice = b1.invoice AND b1.sku < b2.sku
                          JOIN b b3 ON b3.invoice = b1.invoice AND b2.sku < b3.sku GROUP BY ALL
                        UNION ALL SELECT b1.w, [b1.sku, b2.sku, b3.sku, b4.sku], count(*) FROM b b1 JOIN b b2 ON b2.invoice = b1.invoice AND b1.sku < b2.sku
                          JOIN b b3 ON b3.invoice = b1.invoice AND b2.sku < b3.sku JOIN b b4 ON b4.invoice = b1.invoice AND b3.sku < b4.sku GROUP BY ALL
                      ),
                      frequent AS (SELECT sets.*, orders FROM sets JOIN n USING (w) WHERE c / orders >= 0.01),
                      splits AS (SELECT w, items, c, orders, items[i] AS consequent, items[:i - 1] || items[i + 1:] AS antecedent
                                 FROM (SELECT *, unnest(generate_series(1, len(items))) AS i FROM frequent WHERE len(items) >= 2))
                    SELECT s.w, array_to_string(s.antecedent, ' & ') AS antecedent, len(s.antecedent) AS size, s.consequent,
                           s.c / s.orders AS support, s.c / a.c AS confidence, (s.c / a.c) / (k.c / s.orders) AS lift, s.c AS orders
                    FROM splits s JOIN frequent a ON a.w = s.w AND a.items = s.antecedent JOIN frequent k ON k.w = s.w AND k.items = [s.consequent]
                    WHERE s.c / a.c >= 0.5)`;
    const rounded = (relation: string) =>
      `(SELECT w, antecedent, consequent, round(support, 9) AS support, round(confidence, 9) AS confidence, round(lift, 9) AS lift, orders FROM ${relation})`;
    const written = `(SELECT epoch_ms(window_start) AS w, antecedent, consequent, support, confidence, lift, orders
                      FROM read_parquet('${out}/basket_rules/**/*.parquet', hive_partitioning = true))`;
    expect(await difference(db, rounded(rules), rounded(written))).toEqual({ missing: [], unexpected: [] });
    // Two windows (2011-12-01 and -02, 200 orders each), with rules of every size.
    expect(await count(db, `(SELECT DISTINCT w FROM ${written})`)).toBe(2);
    expect(await count(db, written)).toBe(await count(db, rules));
    expect(await count(db, `(FROM ${rules} WHERE size = 1)`)).toBeGreaterThan(100);
    expect(await count(db, `(FROM ${rules} WHERE size = 3)`)).toBeGreaterThan(100);

    // cross_sell: per product, the 5 strongest one-code rules {product} ⇒ {recommended} by lift, confidence, support.
    const crossSell = `(SELECT w, antecedent AS product, rank, consequent AS recommended, round(lift, 9) AS lift, round(confidence, 9) AS confidence, round(support, 9) AS support
                        FROM (SELECT *, row_number() OVER (PARTITION BY w, antecedent ORDER BY lift DESC, confidence DESC, support DESC, consequent) AS rank
                              FROM ${rules} WHERE size = 1) WHERE rank <= 5)`;
    const writtenCrossSell = `(SELECT epoch_ms(window_start) AS w, product, rank, recommended, round(lift, 9) AS lift, round(confidence, 9) AS confidence, round(support, 9) AS support
                               FROM read_parquet('${out}/cross_sell/**/*.parquet', hive_partitioning = true))`;
    expect(await difference(db, crossSell, writtenCrossSell)).toEqual({ missing: [], unexpected: [] });
    expect(await count(db, writtenCrossSell)).toBe(await count(db, crossSell));

    // Each order's revenue is the sum of quantity × unit price over its rows: customer_features' totals on the last day.
    const revenue = `(SELECT CustomerID AS customer_id, count(DISTINCT InvoiceNo)::BIGINT AS orders_total, round(sum(Quantity::INTEGER * UnitPrice::DOUBLE), 6) AS revenue_total
                      FROM ${lines} WHERE NOT starts_with(InvoiceNo, 'C') GROUP BY ALL)`;
    const features = `(SELECT customer_id, orders_total, round(revenue_total, 6) AS revenue_total
                       FROM read_parquet('${out}/customer_features/**/*.parquet', hive_partitioning = true) WHERE snapshot_date = DATE '2011-12-02')`;
    expect(await difference(db, revenue, features)).toEqual({ missing: [], unexpected: [] });
    expect(await count(db, features)).toBe(97);

    // The cancellation's five rows, each with its reason.
    const invalid = (await db.runAndReadAll(`SELECT reason FROM read_parquet('${out}/invalid_events/**/*.parquet') ORDER BY reason`)).getRowObjectsJson();
    expect(invalid.map((row) => String(row.reason).replace(/ is -\d:.*/, ""))).toEqual(
      [1577, 1578, 1579, 1580, 1581].map((line) => `bad_field: line ${line}: items.qty (items.qty=$Quantity)`),
    );
  });

  it("access-logs.yaml: the README's publish of an access log gives the page-view sessions DuckDB sessionizes from the log", async () => {
    const { env, stream, out, folder } = exampleEnv("access_logs");
    await mkdir(folder, { recursive: true });
    // 19 May 22:00 to 20 May 12:05, with line 8899, whose user agent lacks its closing quote. The file holds minute :05
    // of every hour, so its visits' gaps are under a minute or about an hour, and none crosses a midnight: the
    // oracle's gap and day split agree with the pipeline's, but this slice cannot tell a 30m gap from a 50m one.
    const input = join(folder, "access.log");
    const malformed = (await linesOf(SEMICOMPLETE, 8899, 8899)).trimEnd();
    await writeFile(input, await linesOf(SEMICOMPLETE, 7180, 8900));
    const publish = await runCli(["publish", input, "--pipeline", "pipelines/access-logs.yaml", "--format", "combined"], env);
    expect(publish.code, publish.stderr).toBe(0);
    const pages = accessLogPageViews(input);
    const pageCount = await count(db, pages);
    expect(publish.stdout).toBe(`read 1721, published ${pageCount}, rejected 1, filtered ${1721 - 1 - pageCount} → ${stream}\n`);
    const run = await runCli(["run", "pipelines/access-logs.yaml", "--drain"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^access-logs: ${pageCount} events, 0 invalid, 1 dead letters, 0 late \\(late_events\\)`, "m"));

    const expected = gapSessions(pages, 30 * 60_000, true);
    // The oracle splits by gap and day alone: sessionize's maxDuration (12h) and maxEvents (2500) must not apply.
    const longest = (await db.runAndReadAll(`SELECT max(end_ms - start_ms)::DOUBLE AS span, max(events) AS events FROM ${expected}`)).getRowObjectsJson()[0];
    expect(Number(longest.span)).toBeLessThan(12 * 3_600_000);
    expect(Number(longest.events)).toBeLessThan(2500);
    expect(await difference(db, expected, lakeSessions(out))).toEqual({ missing: [], unexpected: [] });
    expect(await count(db, expected)).toBeGreaterThan(300);

    const invalid = (await db.runAndReadAll(`SELECT reason, raw FROM read_parquet('${out}/invalid_events/**/*.parquet')`)).getRowObjectsJson();
    // Stored after the privacy rules, as events are: the IP's last octet zeroed (ingest.privacy.anonymizeIp, on by default).
    expect(invalid).toEqual([{ reason: expect.stringMatching(/^unparseable_line/), raw: malformed.replace(/^(\d+\.\d+\.\d+)\.\d+ /, "$1.0 ") }]);
    // sequencePatterns (1-day windows of page_path, minSupport 0.01): its single pages are the sessions table's.
    const patterns = `(SELECT epoch_ms(window_start) // 86400000 AS day, pattern AS page, support FROM read_parquet('${out}/patterns/**/*.parquet')
                       WHERE kind = 'subsequence' AND length = 1)`;
    expect(await difference(db, singlePagePatterns(out), patterns)).toEqual({ missing: [], unexpected: [] });
    expect(await count(db, patterns)).toBeGreaterThan(10);
  });

  it("web.yaml: the README's curl requests, real clicks posted to its collector and a tailed log give the sessions DuckDB computes", async () => {
    const { env: streamEnv, stream, out, folder } = exampleEnv("web");
    await mkdir(folder, { recursive: true });
    const [port, metricsPort] = [await freePort(), await freePort()];
    const logFile = join(folder, "access.log");
    await writeFile(logFile, "");
    const env = {
      ...streamEnv,
      CLICKPIPE_PSEUDONYM_KEY: "9c1f2e3d4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0",
      CLICKPIPE_HTTP_PORT: String(port),
      CLICKPIPE_METRICS_PORT: String(metricsPort),
      CLICKPIPE_ACCESS_LOG: logFile,
    };
    // YOOCHOOSE's first 400 clicks (118 sessions over 2014-04-01 … 04-06) as page views, in time order as a collector gets them.
    const clicksFile = join(folder, "clicks.ndjson");
    await db.run(`COPY (SELECT 'page_view' AS type, round(Time * 1000)::BIGINT AS ts, 'yc' || SessionId AS anon_id,
                              '/p/' || ItemId AS url, 'yc-' || n AS event_id
                       FROM (SELECT *, row_number() OVER () AS n FROM read_csv('${YOOCHOOSE}', delim = '\t', header = true)) WHERE n <= 400
                       ORDER BY ts, n) TO '${clicksFile}' (FORMAT json)`);
    const clicks = (await readFile(clicksFile, "utf8")).trim().split("\n");
    const logLines = await linesOf(SEMICOMPLETE, 1, 300);

    const worker = spawnCli(["run", "pipelines/web.yaml"], env);
    running.push(worker);
    expect(await printedWithin(worker, /starting web at/, 30_000), worker.output()).toBe(true);
    expect(worker.output()).toContain(`http collector listening on http://0.0.0.0:${port}`);
    const collector = `http://127.0.0.1:${port}`;
    const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    for (let start = 0; start < clicks.length; start += 100) {
      const response = await fetch(`${collector}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson", "x-write-key": "web-example-write-key", "user-agent": browser },
        body: clicks.slice(start, start + 100).join("\n"),
      });
      expect(await response.json()).toEqual({ accepted: Math.min(100, clicks.length - start), rejected: 0, errors: [] });
    }
    // A request from an origin the file does not allow is refused.
    const foreign = await fetch(`${collector}/v1/events`, {
      method: "POST",
      headers: { "x-write-key": "web-example-write-key", origin: "https://attacker.example" },
      body: clicks[0],
    });
    expect(foreign.status).toBe(403);
    // 2015's log lines after 2014's clicks, and the README's requests (2026) last, so that no event comes late.
    await appendFile(logFile, logLines);
    const logPages = accessLogPageViews(logFile);
    const logPageCount = await count(db, logPages);
    const stored = async () => [...(await countStreamContent(scratch.natsUrl, stream, () => "event")).values()].reduce((sum, n) => sum + n, 0);
    await waitFor("the tailer to store the log's page views", async () => (await stored()) === clicks.length + logPageCount, 20_000, 250);
    // README.md: the two curl requests, verbatim.
    const post = await fetch(`${collector}/v1/events`, {
      method: "POST",
      headers: { "X-Write-Key": "web-example-write-key", "content-type": "application/x-www-form-urlencoded" },
      body: '{"type":"page_view","ts":"2026-12-05T10:00:00Z","anon_id":"v1","url":"/"}',
    });
    expect(await post.text()).toBe('{"accepted":1,"rejected":0,"errors":[]}');
    const pixel = await fetch(`${collector}/v1/pixel.gif?writeKey=web-example-write-key&type=page_view&anon_id=v1&url=%2Fsearch&ts=1796464860000`);
    expect([pixel.status, pixel.headers.get("content-type")]).toEqual([200, "image/gif"]);
    await waitFor("the README's two events in the stream", async () => (await stored()) === clicks.length + logPageCount + 2, 10_000, 250);
    worker.child.kill("SIGINT");
    const stopped = await worker.exited;
    expect(stopped.code, stopped.output).toBe(0);

    const drain = await runCli(["run", "pipelines/web.yaml", "--drain"], env);
    expect(drain.code, drain.stderr).toBe(0);
    const pageViews = `(SELECT anon_id AS visitor, ts AS t, url FROM read_json('${clicksFile}', format = 'newline_delimited')
                        UNION ALL FROM ${logPages}
                        UNION ALL VALUES ('v1', epoch_ms(TIMESTAMPTZ '2026-12-05 10:00:00Z'), '/'), ('v1', 1796464860000, '/search'))`;
    const expected = gapSessions(pageViews, 30 * 60_000, false);
    // No session reaches web.yaml's maxDuration (12h), which the oracle does not apply.
    expect(Number((await db.runAndReadAll(`SELECT max(end_ms - start_ms)::DOUBLE AS span FROM ${expected}`)).getRowObjectsJson()[0].span)).toBeLessThan(12 * 3_600_000);
    expect(await difference(db, expected, lakeSessions(out))).toEqual({ missing: [], unexpected: [] });
    expect(await count(db, expected)).toBeGreaterThan(150);
    // The README's session: the curl page view and the pixel's, one visitor a minute apart.
    expect(await count(db, `(FROM ${lakeSessions(out)} WHERE landing_url = '/' AND events = 2)`)).toBe(1);
  });
});
