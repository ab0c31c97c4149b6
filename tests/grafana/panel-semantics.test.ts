// What the dashboards' panels compute, not only that they parse: each query evaluated by the real promtool over series
// shaped as the deployments README.md describes (one serving worker, partitioned workers with a `task` label each).
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { allPanels, loadDashboards, substituteGrafanaVariables, variableOptionsExpr, variableRegexPick, type DashboardPanel, type SelectedValues } from "./dashboards.ts";

const dashboards = loadDashboards();

function panel(uid: string, title: string): DashboardPanel {
  const found = dashboards.find(({ dashboard }) => dashboard.uid === uid)!.dashboard;
  const panels = allPanels(found).filter((candidate) => candidate.title === title);
  expect(panels, `${uid} / ${title}`).toHaveLength(1);
  return panels[0];
}

function query(uid: string, title: string, refId = "A", selected?: SelectedValues): string {
  const target = panel(uid, title).targets?.find((candidate) => candidate.refId === refId);
  expect(target?.expr, `${title} ${refId}`).toBeDefined();
  // Input series below are sampled every 15 s, Prometheus's scrape interval here being 5 s: 1m holds 4 samples, as
  // Grafana's $__rate_interval (4 scrape intervals at least) does.
  return substituteGrafanaVariables(target!.expr!, "1m", selected);
}

interface Case {
  expr: string;
  series: { series: string; values: string }[];
  /** Minutes after the first sample. */
  at: number;
  /** The expected samples (promtool compares them to 1e-6 relative); [] for no result at all. */
  expect: { labels: string; value: number }[];
}

/** promtool's verdict on the cases: "" if each evaluates as expected, else its report. */
async function evaluate(cases: Case[]): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "clickpipe-panel-semantics-"));
  try {
    await writeFile(join(directory, "none.yml"), JSON.stringify({ groups: [] }));
    const tests = cases.map((c) => ({
      interval: "15s",
      input_series: c.series,
      promql_expr_test: [{ expr: c.expr, eval_time: `${c.at}m`, exp_samples: c.expect.map((sample) => ({ labels: sample.labels, value: sample.value })) }],
    }));
    await writeFile(join(directory, "test.yml"), JSON.stringify({ rule_files: ["none.yml"], evaluation_interval: "15s", tests }));
    const result = spawnSync("promtool", ["test", "rules", "test.yml"], { cwd: directory, encoding: "utf8" });
    if (result.error) throw result.error;
    const output = `${result.stdout}${result.stderr}`;
    return result.status === 0 && output.includes("SUCCESS") ? "" : output;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

const HEALTH = "clickpipe-pipeline-health";
const CUSTOMERS = "clickpipe-customers-live";

describe("pipeline health panels over several workers and tasks", () => {
  it("Checkpoint age is a worker's oldest task's: one stuck task shows beside another that commits", async () => {
    // At 20m (t = 1200 s): w1's events-0 renews its timestamp each interval, its events-1 is stuck since t = 600 s;
    // w2 is an unpartitioned worker (no task label) that commits; w3 has not recovered yet (the gauge's 0 at start).
    const expr = query(HEALTH, "Checkpoint age");
    expect(
      await evaluate([
        {
          expr,
          series: [
            { series: 'clickpipe_last_checkpoint_timestamp_seconds{job="clickpipe",instance="w1",task="events-0"}', values: "0+15x80" },
            { series: 'clickpipe_last_checkpoint_timestamp_seconds{job="clickpipe",instance="w1",task="events-1"}', values: "0+15x40 600+0x40" },
            { series: 'clickpipe_last_checkpoint_timestamp_seconds{job="clickpipe",instance="w2"}', values: "0+15x80" },
            { series: 'clickpipe_last_checkpoint_timestamp_seconds{job="clickpipe",instance="w3"}', values: "0+0x80" },
          ],
          at: 20,
          expect: [
            { labels: '{instance="w1"}', value: 600 },
            { labels: '{instance="w2"}', value: 0 },
          ],
        },
      ]),
    ).toBe("");
  });

  it("Watermark lag is a worker's worst task's, pending messages and open sessions add up over tasks and workers", async () => {
    expect(
      await evaluate([
        {
          expr: query(HEALTH, "Watermark lag"),
          series: [
            { series: 'clickpipe_watermark_lag_seconds{job="clickpipe",instance="w1",task="events-0"}', values: "5+0x80" },
            { series: 'clickpipe_watermark_lag_seconds{job="clickpipe",instance="w1",task="customers-0"}', values: "1800+0x80" },
            { series: 'clickpipe_watermark_lag_seconds{job="clickpipe",instance="w2",task="events-1"}', values: "7+0x80" },
          ],
          at: 20,
          expect: [
            { labels: '{instance="w1"}', value: 1800 },
            { labels: '{instance="w2"}', value: 7 },
          ],
        },
        {
          expr: query(HEALTH, "Consumer pending messages"),
          series: [
            { series: 'clickpipe_consumer_pending_messages{job="clickpipe",instance="w1",task="events-0"}', values: "100+0x80" },
            { series: 'clickpipe_consumer_pending_messages{job="clickpipe",instance="w1",task="dlq"}', values: "3+0x80" },
          ],
          at: 20,
          expect: [{ labels: '{instance="w1"}', value: 103 }],
        },
        {
          expr: query(CUSTOMERS, "Open sessions"),
          series: [
            { series: 'clickpipe_open_sessions{job="clickpipe",instance="w1",task="events-0"}', values: "40+0x80" },
            { series: 'clickpipe_open_sessions{job="clickpipe",instance="w2",task="events-1"}', values: "60+0x80" },
          ],
          at: 20,
          expect: [{ labels: "{}", value: 100 }],
        },
      ]),
    ).toBe("");
  });
});

describe("the pipeline and worker variables", () => {
  // Two pipelines scraped by one Prometheus, each under its own job: shop (workers w1, w2) and blog (worker b1).
  const twoPipelines = [
    { series: 'clickpipe_sessions_final_total{job="shop",instance="w1"}', values: "0+15x80" },
    { series: 'clickpipe_sessions_final_total{job="shop",instance="w2"}', values: "0+30x80" },
    { series: 'clickpipe_sessions_final_total{job="blog",instance="b1"}', values: "0+150x80" },
    { series: 'clickpipe_consumer_pending_messages{job="shop",instance="w1",task="events-0"}', values: "100+0x80" },
    { series: 'clickpipe_consumer_pending_messages{job="shop",instance="w2",task="events-1"}', values: "20+0x80" },
    { series: 'clickpipe_consumer_pending_messages{job="blog",instance="b1"}', values: "5000+0x80" },
    { series: 'up{job="shop",instance="w1"}', values: "1+0x80" },
    { series: 'up{job="shop",instance="w2"}', values: "1+0x80" },
    { series: 'up{job="blog",instance="b1"}', values: "1+0x80" },
  ];

  it("shows the selected pipeline's figures only, not those of every job Prometheus scrapes", async () => {
    const shop = { job: "shop", instance: ".*" };
    const customers = dashboards.find(({ dashboard }) => dashboard.uid === CUSTOMERS)!.dashboard;
    // The stat and the graph of that title.
    const sessionsPerMinute = allPanels(customers).filter((p) => p.title === "Sessions per minute");
    expect(sessionsPerMinute).toHaveLength(2);
    const cases: Case[] = [
      ...sessionsPerMinute.map((found) => ({
        expr: substituteGrafanaVariables(found.targets![0].expr!, "1m", shop),
        series: twoPipelines,
        at: 15,
        expect: [{ labels: "{}", value: 180 }],
      })),
      { expr: query(HEALTH, "Workers serving metrics", "A", shop), series: twoPipelines, at: 15, expect: [{ labels: "{}", value: 2 }] },
      {
        expr: query(HEALTH, "Consumer pending messages", "A", shop),
        series: twoPipelines,
        at: 15,
        expect: [
          { labels: '{instance="w1"}', value: 100 },
          { labels: '{instance="w2"}', value: 20 },
        ],
      },
    ];
    expect(await evaluate(cases)).toBe("");
  });

  it("shows the chosen workers of the pipeline (Grafana's multi-value regex w1|w2)", async () => {
    const cases: Case[] = [
      {
        expr: query(HEALTH, "Consumer pending messages", "A", { job: "shop", instance: "w2" }),
        series: twoPipelines,
        at: 15,
        expect: [{ labels: '{instance="w2"}', value: 20 }],
      },
      { expr: query(HEALTH, "Workers serving metrics", "A", { job: "shop", instance: "(w1|w2)" }), series: twoPipelines, at: 15, expect: [{ labels: "{}", value: 2 }] },
    ];
    expect(await evaluate(cases)).toBe("");
  });
});

describe("the pipeline variable's options", () => {
  // The dashboards' default time range (now-1h), as Grafana sets $__range for a variable refreshed on time range change.
  function jobOptions(uid: string): string {
    const job = dashboards.find(({ dashboard }) => dashboard.uid === uid)!.dashboard.templating.list.find((v) => v.name === "job");
    return variableOptionsExpr(job!.query!, "job", "1h");
  }

  it("lists the shipped job clickpipe before any of its workers answered, so Workers serving metrics reads 0, not no data", async () => {
    // A fresh Prometheus (npm run monitor, docker compose up while the demo installs) or a worker that fails at start:
    // Prometheus has the target, down, and no clickpipe_* series at all. An empty variable would be Grafana's None ("").
    const nothingAnswered = [{ series: 'up{job="clickpipe",instance="localhost:9464"}', values: "0+0x80" }];
    const cases: Case[] = [HEALTH, CUSTOMERS].map((uid) => ({ expr: jobOptions(uid), series: nothingAnswered, at: 15, expect: [{ labels: '{job="clickpipe"}', value: 1 }] }));
    cases.push({ expr: query(HEALTH, "Workers serving metrics", "A", { job: "clickpipe", instance: ".*" }), series: nothingAnswered, at: 15, expect: [{ labels: "{}", value: 0 }] });
    expect(await evaluate(cases)).toBe("");
  });

  it("lists each pipeline that reported in the time range, one stopped since too, and no other job Prometheus scrapes", async () => {
    const series = [
      { series: 'clickpipe_events_received_total{job="shop",instance="w1",source="nats"}', values: "0+15x160" },
      { series: 'up{job="shop",instance="w1"}', values: "1+0x160" },
      // blog's only worker stopped at 10 min: its series end there, its target is down since.
      { series: 'clickpipe_events_received_total{job="blog",instance="b1",source="nats"}', values: "0+15x40" },
      { series: 'up{job="blog",instance="b1"}', values: "1+0x40 0+0x120" },
      { series: 'up{job="node",instance="n1"}', values: "1+0x160" },
    ];
    expect(
      await evaluate([
        {
          expr: jobOptions(HEALTH),
          series,
          at: 40,
          expect: [
            { labels: '{job="blog"}', value: 1 },
            { labels: '{job="shop"}', value: 1 },
          ],
        },
      ]),
    ).toBe("");
  });

  it("takes the job from each query_result line with the variable's regex", () => {
    for (const { dashboard } of dashboards) {
      const job = dashboard.templating.list.find((v) => v.name === "job")!;
      // Grafana's text of a query_result sample: labels, value, timestamp in ms.
      expect(variableRegexPick(job.regex ?? "", '{job="shop-eu.2"} 3 1700000000000'), dashboard.uid).toBe("shop-eu.2");
    }
  });
});

describe("collector panels", () => {
  // Two workers with a collector each: w1 stores 10 requests a second and answers 2 a second with 503 (NATS down) and
  // 1 with 429; w2 stores 5 a second on the pixel route. Probes (readyz 503) and the tracker script are no events.
  const requests = [
    { series: 'clickpipe_http_request_duration_seconds_count{job="clickpipe",instance="w1",route="events",code="200"}', values: "0+150x80" },
    { series: 'clickpipe_http_request_duration_seconds_count{job="clickpipe",instance="w1",route="events",code="503"}', values: "0+30x80" },
    { series: 'clickpipe_http_request_duration_seconds_count{job="clickpipe",instance="w1",route="events",code="429"}', values: "0+15x80" },
    { series: 'clickpipe_http_request_duration_seconds_count{job="clickpipe",instance="w2",route="pixel",code="200"}', values: "0+75x80" },
    { series: 'clickpipe_http_request_duration_seconds_count{job="clickpipe",instance="w2",route="readyz",code="503"}', values: "0+15x80" },
    { series: 'clickpipe_http_request_duration_seconds_count{job="clickpipe",instance="w2",route="tracker",code="200"}', values: "0+150x80" },
  ];

  it("counts the event routes' answers per second by status code, over every worker", async () => {
    expect(
      await evaluate([
        {
          expr: query(HEALTH, "Collector answers by status"),
          series: requests,
          at: 15,
          expect: [
            { labels: '{code="200"}', value: 15 },
            { labels: '{code="429"}', value: 1 },
            { labels: '{code="503"}', value: 2 },
          ],
        },
      ]),
    ).toBe("");
  });

  it("takes request duration quantiles from the buckets of every worker, le kept", async () => {
    // w1: 60 requests a minute under 10 ms; w2: 60 a minute between 0.25 s and 0.5 s. The median is at the 0.01 bound;
    // the 99th percentile 98% of the way through w2's (0.25, 0.5] bucket.
    const bucket = (instance: string, le: string, perScrape: number) => ({
      series: `clickpipe_http_request_duration_seconds_bucket{job="clickpipe",instance="${instance}",route="events",code="200",le="${le}"}`,
      values: `0+${perScrape}x80`,
    });
    const series = [
      ...["0.005", "0.01", "0.25", "0.5", "+Inf"].map((le) => bucket("w1", le, le === "0.005" ? 0 : 15)),
      ...["0.005", "0.01", "0.25"].map((le) => bucket("w2", le, 0)),
      ...["0.5", "+Inf"].map((le) => bucket("w2", le, 15)),
    ];
    expect(
      await evaluate([
        { expr: query(HEALTH, "Collector request duration", "A"), series, at: 15, expect: [{ labels: "{}", value: 0.01 }] },
        { expr: query(HEALTH, "Collector request duration", "B"), series, at: 15, expect: [{ labels: "{}", value: 0.25 + 0.25 * 0.98 }] },
      ]),
    ).toBe("");
  });
});

describe("customers live panels", () => {
  // Two events tasks on two workers: w1 closes 1 session a second, 1 in 2 bounced, 1 in 4 converted; w2 closes 2 a
  // second, 1 in 4 bounced, none converted. Bounce rate (0.5 + 0.5) / 3, conversion rate 0.25 / 3: a ratio of the sums of
  // rates, not an average of each worker's ratio. Sales 10 a second on w1; refunds 2 a second on w1 and 1 on w2 (a
  // refund in a session of its own, whose order another worker's session holds): net revenue (10 − 3) × 60 a minute.
  const sessions = [
    { series: 'clickpipe_sessions_final_total{job="clickpipe",instance="w1",task="events-0"}', values: "0+15x80" },
    { series: 'clickpipe_sessions_bounced_total{job="clickpipe",instance="w1",task="events-0"}', values: "0+7.5x80" },
    { series: 'clickpipe_sessions_converted_total{job="clickpipe",instance="w1",task="events-0"}', values: "0+3.75x80" },
    { series: 'clickpipe_revenue_total{job="clickpipe",instance="w1",task="events-0"}', values: "0+150x80" },
    { series: 'clickpipe_sessions_final_total{job="clickpipe",instance="w2",task="events-1"}', values: "0+30x80" },
    { series: 'clickpipe_sessions_bounced_total{job="clickpipe",instance="w2",task="events-1"}', values: "0+7.5x80" },
    { series: 'clickpipe_sessions_converted_total{job="clickpipe",instance="w2",task="events-1"}', values: "0+0x80" },
    { series: 'clickpipe_revenue_total{job="clickpipe",instance="w2",task="events-1"}', values: "0+0x80" },
    { series: 'clickpipe_refunds_total{job="clickpipe",instance="w1",task="events-0"}', values: "0+30x80" },
    { series: 'clickpipe_refunds_total{job="clickpipe",instance="w2",task="events-1"}', values: "0+15x80" },
  ];
  // A quiet night: the counters stand still.
  const quiet = sessions.map(({ series }) => ({ series, values: "500+0x80" }));

  it("gives sessions and revenue per minute, and bounce and conversion rates as ratios of rates", async () => {
    const cases: Case[] = [
      { expr: query(CUSTOMERS, "Bounce rate"), series: sessions, at: 15, expect: [{ labels: "{}", value: 1 / 3 }] },
      { expr: query(CUSTOMERS, "Conversion rate"), series: sessions, at: 15, expect: [{ labels: "{}", value: 0.25 / 3 }] },
      { expr: query(CUSTOMERS, "Bounce and conversion rates", "A"), series: sessions, at: 15, expect: [{ labels: "{}", value: 1 / 3 }] },
      { expr: query(CUSTOMERS, "Bounce and conversion rates", "B"), series: sessions, at: 15, expect: [{ labels: "{}", value: 0.25 / 3 }] },
    ];
    for (const found of allPanels(dashboards.find(({ dashboard }) => dashboard.uid === CUSTOMERS)!.dashboard).filter((p) => p.title === "Sessions per minute")) {
      const expr = substituteGrafanaVariables(found.targets![0].expr!, "1m");
      cases.push({ expr, series: sessions, at: 15, expect: [{ labels: "{}", value: 180 }] });
    }
    cases.push(
      { expr: query(CUSTOMERS, "Net revenue per minute"), series: sessions, at: 15, expect: [{ labels: "{}", value: 420 }] },
      { expr: query(CUSTOMERS, "Net revenue and refunds per minute", "A"), series: sessions, at: 15, expect: [{ labels: "{}", value: 420 }] },
      { expr: query(CUSTOMERS, "Net revenue and refunds per minute", "B"), series: sessions, at: 15, expect: [{ labels: "{}", value: 180 }] },
    );
    expect(cases).toHaveLength(9);
    expect(await evaluate(cases)).toBe("");
  });

  it("shows net revenue below 0 when refunds outweigh sales, and sales alone where no refund counter was scraped yet", async () => {
    const refundsOnly = [
      { series: 'clickpipe_revenue_total{job="clickpipe",instance="w1",task="events-0"}', values: "0+15x80" },
      { series: 'clickpipe_refunds_total{job="clickpipe",instance="w1",task="events-0"}', values: "0+45x80" },
    ];
    // Prometheus's history from workers of a version without clickpipe_refunds_total.
    const beforeRefunds = [{ series: 'clickpipe_revenue_total{job="clickpipe",instance="w1"}', values: "0+150x80" }];
    const cases: Case[] = [];
    for (const [title, refId] of [["Net revenue per minute", "A"], ["Net revenue and refunds per minute", "A"]]) {
      cases.push(
        { expr: query(CUSTOMERS, title, refId), series: refundsOnly, at: 15, expect: [{ labels: "{}", value: (1 - 3) * 60 }] },
        { expr: query(CUSTOMERS, title, refId), series: beforeRefunds, at: 15, expect: [{ labels: "{}", value: 600 }] },
      );
    }
    expect(await evaluate(cases)).toBe("");
  });

  it("shows no bounce or conversion rate while no session closes, rather than NaN (0/0)", async () => {
    const cases: Case[] = [
      { expr: query(CUSTOMERS, "Bounce rate"), series: quiet, at: 15, expect: [] },
      { expr: query(CUSTOMERS, "Conversion rate"), series: quiet, at: 15, expect: [] },
      { expr: query(CUSTOMERS, "Bounce and conversion rates", "A"), series: quiet, at: 15, expect: [] },
      { expr: query(CUSTOMERS, "Bounce and conversion rates", "B"), series: quiet, at: 15, expect: [] },
    ];
    expect(await evaluate(cases)).toBe("");
  });

  it("counts each session in one cell of the duration heatmap: increase over the cell's own interval, a minute at least", () => {
    const heatmap = panel(CUSTOMERS, "Session duration distribution") as DashboardPanel & { interval?: string };
    const expr = heatmap.targets![0].expr!;
    // increase() over $__rate_interval (four scrape intervals at least) with one cell per $__interval counted each
    // session in several cells: 4 times over at a 5 s step.
    expect(expr).toContain("[$__interval]");
    expect(expr).not.toContain("$__rate_interval");
    // A cell of one scrape interval would hold one sample: increase() needs two.
    expect(heatmap.interval).toBe("1m");
  });
});
