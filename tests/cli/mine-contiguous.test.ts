// `clickpipe mine patterns --kind contiguous|both`: hand-computed runs over a sessions table's current truth, a DuckDB
// SQL oracle, and equality with the streaming sequencePatterns operator's contiguous rows for one window.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SequencePatternsOperator, sequencePatternsConfig } from "../../src/operators/sequence-patterns.ts";
import { compareItemLists } from "../../src/operators/mining/itemset-sequence.ts";
import type { SessionRecord } from "../../src/runtime/operator.ts";
import {
  contiguousRunsOracleSql,
  mine,
  minedRuns,
  queryJson,
  scratchDirectoriesRemovedAfterAll,
  writeSessionsTable,
} from "../helpers/mine-command.ts";
import { seededRandom } from "../helpers/seeded-random.ts";
import { recordingContext } from "../operators/mining/recording-context.ts";
import { sessionRecord } from "../operators/mining/session-records.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2024, 2, 1, 10); // a window start: 2024-03-01T10:00Z

const scratchDirectory = scratchDirectoriesRemovedAfterAll();

/**
 * A sessions table holding these session versions, newest rows first: the file's row order must not stand in for the
 * version order.
 */
function writeNewestFirst(directory: string, records: readonly SessionRecord[]): Promise<string> {
  return writeSessionsTable(directory, [...records].reverse(), 1000);
}

const version = (record: SessionRecord, changes: Partial<SessionRecord>): SessionRecord => ({ ...record, ...changes });

describe("clickpipe mine patterns --kind contiguous", () => {
  // a: v2 repeats home > product; c: its only customer version is retracted by v2; d: a crawler; e: home then cart.
  const a1 = sessionRecord("a", T0 + 5 * MINUTE, ["home", "product", "cart"]);
  const records: SessionRecord[] = [
    a1,
    version(a1, { version: 2, page_items: ["home", "product", "home", "product", "cart"] }),
    sessionRecord("b", T0 + 6 * MINUTE, ["home", "product", "cart"]),
    sessionRecord("c", T0 + 7 * MINUTE, ["home", "product"]),
    sessionRecord("c", T0 + 7 * MINUTE, ["home", "product"], { version: 2, retracted: true }),
    { ...sessionRecord("d", T0 + 8 * MINUTE, ["home", "product", "cart"]), is_bot: true },
    sessionRecord("e", T0 + 9 * MINUTE, ["home", "cart"]),
  ];

  it("counts each run once per session of the current truth (repeats once; retracted and crawler versions not at all), CSV and Parquet", async () => {
    const directory = scratchDirectory("mine-contiguous-");
    const table = await writeNewestFirst(directory, records);
    const out = join(directory, "out");
    const { code, stderr } = await mine(["patterns", "--sessions", table, "--kind", "contiguous", "--min-support", "2", "--max-length", "3", "--out", out]);
    expect(code, stderr).toBe(0);
    // By hand over a = home product home product cart, b = home product cart, e = home cart (3 sessions):
    // home 3, cart 3, product 2, home > product 2 (a holds it twice: once), product > cart 2, home > product > cart 2;
    // product > home, home > cart and the rest 1. Counted, c (retracted) and d (is_bot) lifted home > product to 4.
    const expected = [
      { kind: "contiguous", pattern: "cart", items: ["cart"], length: 1, support: 3, support_ratio: 1 },
      { kind: "contiguous", pattern: "home", items: ["home"], length: 1, support: 3, support_ratio: 1 },
      { kind: "contiguous", pattern: "home > product", items: ["home", "product"], length: 2, support: 2, support_ratio: 2 / 3 },
      { kind: "contiguous", pattern: "home > product > cart", items: ["home", "product", "cart"], length: 3, support: 2, support_ratio: 2 / 3 },
      { kind: "contiguous", pattern: "product", items: ["product"], length: 1, support: 2, support_ratio: 2 / 3 },
      { kind: "contiguous", pattern: "product > cart", items: ["product", "cart"], length: 2, support: 2, support_ratio: 2 / 3 },
    ];
    const columns = "kind, pattern, items, length::INTEGER AS length, support::INTEGER AS support, support_ratio";
    expect(await queryJson(`SELECT ${columns} FROM '${out}/patterns/*.parquet'`)).toEqual(expected);
    expect(await queryJson(`SELECT kind, pattern, items::JSON::VARCHAR[] AS items, length::INTEGER AS length, support::INTEGER AS support, support_ratio
                            FROM read_csv('${out}/patterns.csv')`)).toEqual(expected);
    expect(await queryJson(`SELECT column_name FROM (DESCRIBE SELECT * FROM '${out}/patterns/*.parquet')`)).toEqual(
      ["kind", "pattern", "length", "support", "support_ratio", "items"].map((column_name) => ({ column_name })),
    );
  });

  it("--kind both writes the subsequence rows (as without --kind), then the contiguous ones; the default is unchanged", async () => {
    const directory = scratchDirectory("mine-both-");
    const table = await writeNewestFirst(directory, records);
    const args = ["patterns", "--sessions", table, "--min-support", "3", "--max-length", "2"];
    const both = await mine([...args, "--kind", "both"]);
    const subsequence = await mine(args);
    expect(both.code, both.stderr).toBe(0);
    // By hand at support 3 of 3: subsequences cart, home, home > cart (a, b and e, with gaps); runs cart and home only.
    expect(subsequence.stdout.trimEnd().split("\n")).toEqual([
      "kind,pattern,length,support,support_ratio,items",
      `subsequence,cart,1,3,1,"[""cart""]"`,
      `subsequence,home,1,3,1,"[""home""]"`,
      `subsequence,home > cart,2,3,1,"[""home"",""cart""]"`,
    ]);
    expect(both.stdout).toBe(`${subsequence.stdout}contiguous,cart,1,3,1,"[""cart""]"\ncontiguous,home,1,3,1,"[""home""]"\n`);
    expect(subsequence.stderr).toBe("mined 3 patterns from 3 sequences (min support 3 sequences)\n");
    expect(both.stderr).toBe("mined 5 patterns (3 subsequence, 2 contiguous) from 3 sequences (min support 3 sequences)\n");
  });

  it("counts a multi-item SPMF step as one step of a run, as the operator with itemsetSeparator", async () => {
    const directory = scratchDirectory("mine-contiguous-spmf-");
    const input = join(directory, "sequences.txt");
    // <(1 2) 3 (1 2) 3>, <(1 2) 3>, <1 2 3>: run "1 2 > 3" in the first two (the first twice), not in the third.
    writeFileSync(input, "1 2 -1 3 -1 1 2 -1 3 -1 -2\n1 2 -1 3 -1 -2\n1 -1 2 -1 3 -1 -2\n");
    const { code, stdout } = await mine(["patterns", "--sessions", input, "--kind", "contiguous", "--min-support", "2"]);
    expect(code).toBe(0);
    expect(stdout.trimEnd().split("\n")).toEqual([
      "kind,pattern,length,support,support_ratio,items",
      "contiguous,3,1,3,1,\"[\"\"3\"\"]\"",
      `contiguous,1 2,1,2,${2 / 3},"[""1 2""]"`,
      `contiguous,1 2 > 3,2,2,${2 / 3},"[""1 2"",""3""]"`,
    ]);
  });

  describe("support pruning (a run counted only where its prefix and suffix are frequent) keeps every frequent run", () => {
    // s1 A A A; s2 A A B; s3 A B A B; s4 B A A A A. Each session's distinct runs, by hand:
    // A 4 (all), B 3 (s2 s3 s4), A > A 3 (s1 s2 s4), A > B 2 (s2 s3), B > A 2 (s3 s4), A > A > A 2 (s1 s4: s4 holds it
    // twice, counted once); the rest once: A > A > B, A > B > A, B > A > B, B > A > A, A > B > A > B, A > A > A > A (s4
    // twice), B > A > A > A, B > A > A > A > A. A > B > A and B > A > A have a frequent prefix and suffix but support 1.
    const pages = [["A", "A", "A"], ["A", "A", "B"], ["A", "B", "A", "B"], ["B", "A", "A", "A", "A"]];
    const repeats = pages.map((visited, index) => sessionRecord(`s${index + 1}`, T0 + index * MINUTE, visited));
    const atLeastTwo = [
      { items: ["A"], length: 1, support: 4 },
      { items: ["A", "A"], length: 2, support: 3 },
      { items: ["B"], length: 1, support: 3 },
      { items: ["A", "A", "A"], length: 3, support: 2 },
      { items: ["A", "B"], length: 2, support: 2 },
      { items: ["B", "A"], length: 2, support: 2 },
    ];
    const cases: { name: string; minSupport: string; maxLength?: number; expected: typeof atLeastTwo }[] = [
      { name: "unbounded, support 2 of 4: the runs at exactly 2 kept, the ones at 1 not", minSupport: "0.5", expected: atLeastTwo },
      { name: "unbounded, support 3 of 4: A > B and B > A (2) just below", minSupport: "0.75", expected: atLeastTwo.filter((run) => run.support >= 3) },
      { name: "--max-length 2: A > A > A left out though frequent", minSupport: "0.5", maxLength: 2, expected: atLeastTwo.filter((run) => run.length <= 2) },
      { name: "--max-length 1: pages alone", minSupport: "0.5", maxLength: 1, expected: atLeastTwo.filter((run) => run.length === 1) },
      { name: "--max-length 5 (the longest session) as unbounded", minSupport: "0.5", maxLength: 5, expected: atLeastTwo },
      {
        name: "support 1 (a count): all 14 distinct runs",
        minSupport: "1",
        expected: [
          ...atLeastTwo,
          ...[["A", "A", "A", "A"], ["A", "A", "B"], ["A", "B", "A"], ["A", "B", "A", "B"], ["B", "A", "A"], ["B", "A", "A", "A"], ["B", "A", "A", "A", "A"], ["B", "A", "B"]].map(
            (items) => ({ items, length: items.length, support: 1 }),
          ),
        ],
      },
    ];
    for (const { name, minSupport, maxLength, expected } of cases) {
      it(name, async () => {
        const table = await writeNewestFirst(scratchDirectory("mine-contiguous-repeats-"), repeats);
        const lengthFlag = maxLength === undefined ? [] : ["--max-length", String(maxLength)];
        const { code, stdout, stderr } = await mine(["patterns", "--sessions", table, "--kind", "contiguous", "--min-support", minSupport, ...lengthFlag]);
        expect(code, stderr).toBe(0);
        const mined = minedRuns(stdout);
        expect(mined).toEqual(expected);
        expect(mined).toEqual(await queryJson(contiguousRunsOracleSql(table, maxLength, minSupport === "1" ? 0.25 : Number(minSupport))));
      });
    }
  });

  it("exits 2 with the usage for an unknown --kind", async () => {
    const { code, stderr } = await mine(["patterns", "--sessions", "x.txt", "--min-support", "2", "--kind", "ngram"]);
    expect(code).toBe(2);
    expect(stderr).toContain('--kind expects subsequence, contiguous or both, got "ngram"');
    expect(stderr).toContain("usage:");
  });
});

/**
 * 400 sessions ending in one hour window, over 5 pages (repeats likely), with later versions that change the pages,
 * retract the session, restore it, or flag it a crawler: every version in version order, as sessionize emits them.
 * Seeded: the same sessions on every run.
 */
function sessionVersions(seed: number, pageCount = 5): SessionRecord[] {
  const next = seededRandom(seed);
  const pages = ["/", "/a", "/b", "/c", "/d", ...Array.from({ length: Math.max(0, pageCount - 5) }, (_, page) => `/p${page}`)];
  // Skewed (page k with probability falling as k grows) so that long runs over many pages are frequent too.
  const path = () => Array.from({ length: Math.floor(next() * 9) }, () => pages[Math.floor(next() ** 3 * pages.length)]);
  const records: SessionRecord[] = [];
  for (let s = 0; s < 400; s++) {
    let record = sessionRecord(`s${s}`, T0 + Math.floor(next() * 50) * MINUTE, path());
    records.push(record);
    const versions = Math.floor(next() * 3);
    for (let v = 2; v <= versions + 1; v++) {
      const roll = next();
      const change: Partial<SessionRecord> =
        roll < 0.2 ? { retracted: true } : roll < 0.3 ? { is_bot: true } : { retracted: false, page_items: [...record.page_items, ...path()] };
      record = { ...record, ...change, version: v };
      records.push(record);
    }
  }
  return records;
}

describe("batch contiguous runs against independent counts", () => {
  const records = sessionVersions(20240301);
  const MIN_SUPPORT = 0.02;

  it("equal DuckDB SQL's runs (list slices) over the same Parquet's current truth (highest version, not retracted, not is_bot)", async () => {
    const directory = scratchDirectory("mine-contiguous-duckdb-");
    const table = await writeNewestFirst(directory, records);
    const { code, stdout, stderr } = await mine(["patterns", "--sessions", table, "--kind", "contiguous", "--min-support", String(MIN_SUPPORT), "--max-length", "3"]);
    expect(code, stderr).toBe(0);
    const mined = minedRuns(stdout);
    const oracle = await queryJson(contiguousRunsOracleSql(table, 3, MIN_SUPPORT));
    // The oracle's tie order (chr(1) between items) is the command's: support desc, then items item by item.
    expect(mined).toEqual(oracle);
    expect(mined.some((row) => row.length === 3)).toBe(true);
  });

  it("over 150 pages (too many for the operator's dense counters) the streaming operator's runs equal DuckDB SQL's", async () => {
    const manyPages = sessionVersions(20240302, 150);
    const config = sequencePatternsConfig.parse({ type: "sequencePatterns", window: "1h", minSupport: MIN_SUPPORT, maxLength: 4 });
    const operator = new SequencePatternsOperator(config, { pipelineName: "test", session: { gap: 30 * MINUTE, allowedLateness: HOUR } });
    const ctx = recordingContext();
    for (const record of manyPages) operator.onSession(record, ctx);
    operator.onEnd(ctx);
    const streamed = ctx
      .rowsOf("patterns")
      .filter((row) => row.kind === "contiguous")
      .map(({ items, length, support }) => ({ items: items as string[], length: length as number, support: support as number }))
      .sort((x, y) => y.support - x.support || compareItemLists(x.items, y.items));
    const table = await writeNewestFirst(scratchDirectory("mine-contiguous-sparse-"), manyPages);
    const oracle = await queryJson(contiguousRunsOracleSql(table, 4, MIN_SUPPORT));
    expect(streamed).toEqual(oracle);
    expect(new Set(oracle.map((row) => (row.items as string[]).join())).size).toBeGreaterThan(20);
    expect(oracle.some((row) => row.length === 3)).toBe(true);
    expect(new Set(manyPages.flatMap((record) => record.page_items)).size).toBeGreaterThan(100);
  });

  it("equal the streaming sequencePatterns operator's contiguous rows when every session ends in its one window", async () => {
    const config = sequencePatternsConfig.parse({ type: "sequencePatterns", window: "1h", minSupport: MIN_SUPPORT, maxLength: 3 });
    const operator = new SequencePatternsOperator(config, {
      pipelineName: "test",
      session: { gap: 30 * MINUTE, allowedLateness: HOUR },
    });
    const ctx = recordingContext();
    for (const record of records) operator.onSession(record, ctx);
    operator.onEnd(ctx);
    const streamed = ctx
      .rowsOf("patterns")
      .filter((row) => row.kind === "contiguous" && row.window_start === T0)
      .map(({ pattern, items, length, support, support_ratio }) => ({ pattern, items, length, support, support_ratio }));
    expect(ctx.rowsOf("patterns").every((row) => row.window_start === T0)).toBe(true);

    const directory = scratchDirectory("mine-contiguous-streaming-");
    const table = await writeNewestFirst(directory, records);
    const out = join(directory, "out");
    const { code, stderr } = await mine(["patterns", "--sessions", table, "--kind", "contiguous", "--min-support", String(MIN_SUPPORT), "--max-length", "3", "--out", out]);
    expect(code, stderr).toBe(0);
    const batch = await queryJson(
      `SELECT pattern, items, length::INTEGER AS length, support::INTEGER AS support, support_ratio FROM '${out}/patterns/*.parquet'`,
    );
    const byPattern = (rows: Record<string, unknown>[]) => [...rows].sort((x, y) => (String(x.pattern) < String(y.pattern) ? -1 : 1));
    expect(streamed.length).toBeGreaterThan(20);
    expect(byPattern(batch)).toEqual(byPattern(streamed));
  });
});
