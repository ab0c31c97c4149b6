// `clickpipe fit bgnbd` on CDNOW: the published BG/NBD fit from the summary CSV and from churnFeatures snapshots.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFit } from "../../src/cli/fit.ts";
import { writeCdnowSnapshots } from "../training/cdnow-snapshots.ts";
import { CapturedIo } from "../training/capture-io.ts";

const SUMMARY = "tests/fixtures/cdnow/cdnow_customers_summary.csv";

/** Temporary folders of this file's tests, removed when they are done. */
const scratch: string[] = [];
function scratchDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), "clickpipe-fit-"));
  scratch.push(directory);
  return directory;
}
afterAll(() => {
  for (const directory of scratch) rmSync(directory, { recursive: true, force: true });
});

async function fit(args: string[]): Promise<{ code: number; io: CapturedIo }> {
  const io = new CapturedIo();
  return { code: await runFit(args, io), io };
}

function expectPublished(output: string): void {
  const fitted = JSON.parse(output) as Record<string, number>;
  expect(Object.keys(fitted)).toEqual(["r", "alpha", "a", "b", "loglik"]);
  // Fader, Hardie & Lee (2005): r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4.
  expect(fitted.r).toBeCloseTo(0.243, 2);
  expect(fitted.alpha).toBeCloseTo(4.414, 2);
  expect(fitted.a).toBeCloseTo(0.793, 2);
  expect(fitted.b).toBeCloseTo(2.426, 2);
  expect(fitted.loglik).toBeCloseTo(-9582.4, 1);
}

describe("clickpipe fit bgnbd", () => {
  let features: string;

  beforeAll(async () => {
    features = await writeCdnowSnapshots(scratchDirectory(), ["1997-09-30"]);
  }, 60_000);

  it("warns on stderr when the data has no maximum and the parameters ran to the search's bounds", async () => {
    const summary = join(scratchDirectory(), "nobody-repeats.csv");
    writeFileSync(summary, "frequency,recency,T\n0,0,10\n0,0,20\n0,0,30\n");
    const { code, io } = await fit(["bgnbd", "--summary", summary]);
    expect(code).toBe(0);
    expect(Object.keys(JSON.parse(io.out) as object)).toEqual(["r", "alpha", "a", "b", "loglik"]);
    expect(io.err).toMatch(/^clickpipe fit: warning: the BG\/NBD likelihood has no maximum on these 3 customers \(.+ ran to the search's bound/);
  });

  it("exits 1 naming the problem when every customer has T = 0 (any parameters fit), printing no parameters", async () => {
    const summary = join(scratchDirectory(), "all-new.csv");
    writeFileSync(summary, "frequency,recency,T\n0,0,0\n0,0,0\n");
    const { code, io } = await fit(["bgnbd", "--summary", summary]);
    expect(code).toBe(1);
    expect(io.out).toBe("");
    expect(io.err).toMatch(/^clickpipe fit: all 2 customers have T = 0 .* nothing to fit; use a later snapshot or a longer period\n$/);
  });

  it("--summary cdnow_customers_summary.csv prints the published parameters and log-likelihood", async () => {
    const { code, io } = await fit(["bgnbd", "--summary", SUMMARY]);
    expect(code).toBe(0);
    expectPublished(io.out);
  });

  it("--features on the 1997-09-30 snapshot built from CDNOW_sample.txt, in weeks, gives the same fit", async () => {
    const { code, io } = await fit(["bgnbd", "--features", features, "--snapshot", "1997-09-30", "--time-unit", "week"]);
    expect(code).toBe(0);
    expectPublished(io.out);
  });

  it("in days the same data gives the same r, a, b and loglik shifted by the Jacobian (α scales by 7)", async () => {
    const days = JSON.parse((await fit(["bgnbd", "--features", features, "--snapshot", "1997-09-30"])).io.out) as Record<string, number>;
    const weeks = JSON.parse((await fit(["bgnbd", "--features", features, "--snapshot", "1997-09-30", "--time-unit", "week"])).io.out) as Record<string, number>;
    expect(days.r).toBeCloseTo(weeks.r, 3);
    expect(days.alpha / 7).toBeCloseTo(weeks.alpha, 2);
    // Rescaling time by 7 multiplies each purchase's density by 1/7: LL_days = LL_weeks − Σx·ln 7 (Σx = 2,457).
    expect(days.loglik).toBeCloseTo(weeks.loglik - 2457 * Math.log(7), 1);
  });

  it("usage errors exit 2 and say what to give; a missing file exits 1", async () => {
    const none = await fit(["bgnbd"]);
    expect(none.code).toBe(2);
    expect(none.io.err).toMatch(/give --summary <csv>, or --features <dir> with --snapshot <date>/);
    expect((await fit(["paretonbd"])).code).toBe(2);
    const missing = await fit(["bgnbd", "--summary", "no/such.csv"]);
    expect(missing.code).toBe(1);
    expect(missing.io.err).toBe("clickpipe fit: no/such.csv: no such file\n");
    const folder = await fit(["bgnbd", "--summary", "tests/fixtures/cdnow"]);
    expect(folder.code).toBe(1);
    expect(folder.io.err).toBe("clickpipe fit: tests/fixtures/cdnow: is a directory, not a file: name a file in it\n");
  });

  it("a snapshot that is not there exits 1 naming it", async () => {
    const { code, io } = await fit(["bgnbd", "--features", features, "--snapshot", "1997-10-01"]);
    expect(code).toBe(1);
    expect(io.err).toMatch(/snapshot 1997-10-01 is missing or incomplete/);
  });

  it("a features folder that is not there exits 1 saying which pipeline writes it", async () => {
    const { code, io } = await fit(["bgnbd", "--features", "no/such/customer_features", "--snapshot", "1997-09-30"]);
    expect(code).toBe(1);
    expect(io.err.split("\n")[0]).toBe(
      "clickpipe fit: no features folder no/such/customer_features: a pipeline with a churnFeatures operator writes it (customer_features " +
        "under its parquet sink's path) when it runs. To make the example's, publish the CDNOW transactions and drain pipelines/shop.yaml " +
        '(README.md, "Customers: churn features, training and scores"):',
    );
    expect(io.err.split("\n")[3]).toBe("  npx clickpipe run pipelines/shop.yaml --drain");
  });
});
