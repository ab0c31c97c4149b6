// `clickpipe mine patterns|rules`: exact batch mining (PrefixSpan and contiguous runs, FP-Growth) over SPMF/CSV files and Parquet tables.
import { extname } from "node:path";
import { parseCommandLine } from "./parse-command-line.ts";
import type { Row, TableSpec } from "../sinks/table.ts";
import { associationRules, formatAntecedent } from "../operators/mining/association-rules.ts";
import { readBasketDatabase, readSequenceDatabase, toCsv, writeAtomically, writeTableDirectory } from "../operators/mining/batch-io.ts";
import { fpGrowth } from "../operators/mining/fp-growth.ts";
import {
  compareItemLists,
  DEFAULT_ITEM_JOIN,
  formatPattern,
  patternItemCount,
  patternSteps,
  type ItemsetSequence,
} from "../operators/mining/itemset-sequence.ts";
import { sequenceMinSupportCount } from "../operators/mining/min-support.ts";
import { exactContiguousCounts, PATTERN_KINDS, type PatternKind } from "../operators/mining/pattern-counting.ts";
import { prefixSpan } from "../operators/mining/prefixspan.ts";
import { MiningInputError } from "../operators/mining/spmf-format.ts";
import { basketRulesTable } from "../operators/basket.ts";
import { patternsTable } from "../operators/sequence-patterns.ts";
import { asksForHelp } from "./asks-for-help.ts";

export const mineUsage = `usage:
  clickpipe mine patterns --sessions <dir|file> --min-support <s> [--kind subsequence|contiguous|both] [--max-length <n>] [--item page_items|page_path] [--out <file.csv|dir>]
      Exact. Input: SPMF sequences (items, -1 ends an itemset, -2 a sequence), CSV (one sequence per line,
      comma-separated), or a sessions Parquet table/file (its current truth: per session_id the highest version,
      left out when retracted or is_bot, as the sequencePatterns operator). --kind: subsequence (default; PrefixSpan,
      gaps allowed), contiguous (runs of consecutive steps: A directly followed by B, the operator's run counting) or
      both. Support: sequences holding the pattern at least once. --min-support: ≥ 1 a count of sequences, in (0,1) a
      ratio (ceil(ratio × sequences), as SPMF). --max-length: most items per subsequence, steps per run (default:
      unbounded, as SPMF; contiguous counts a run only where its prefix and suffix are frequent, so long sessions need none).
  clickpipe mine rules --orders <dir|file> --min-support <s> [--min-confidence <c>] [--max-length <n>] [--item <column>] [--out <file.csv|dir>]
      FP-Growth + one-consequent rules, exact. Input: one basket per line CSV (comma-separated), SPMF transactions
      (space-separated), or a Parquet table (list column items, or order_id + item/sku/category rows; a sessions
      table with --item page_items|page_path: one basket per session of its current truth, as mine patterns reads it).
      --min-support in (0,1]: count / orders ≥ s. Defaults as arules: --min-confidence 0.8, --max-length 10 (items per rule).
  --out file.csv writes CSV; --out <dir> writes <dir>/<table>.csv and a Parquet table <dir>/<table>/; no --out: CSV on stdout.`;

export interface MineIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const processIo: MineIo = { stdout: process.stdout, stderr: process.stderr };

class UsageError extends Error {
  override name = "UsageError";
}

const withoutWindow = (table: TableSpec): TableSpec["columns"] =>
  table.columns.filter((column) => column.name !== "window_start" && column.name !== "window_end" && column.name !== "error_bound");

/** Batch `patterns` output: the streaming table's columns without the window (exact, so no error bound). */
export const minedPatternsTable: TableSpec = {
  name: "patterns",
  columns: withoutWindow(patternsTable),
  partitionKey: "",
  partitionOf: () => "",
};

/** Batch `basket_rules` output: the streaming table's columns without the window (orders = arules' count). */
export const minedRulesTable: TableSpec = {
  name: "basket_rules",
  columns: withoutWindow(basketRulesTable),
  partitionKey: "",
  partitionOf: () => "",
};

/** Exit code 0 on success, 1 when an input cannot be read, 2 for a usage error. */
export async function runMine(argv: string[], io: MineIo = processIo): Promise<number> {
  if (asksForHelp(argv)) {
    io.stdout.write(`${mineUsage}\n`);
    return 0;
  }
  const [what, ...rest] = argv;
  try {
    if (what === "patterns") return await minePatterns(rest, io);
    if (what === "rules") return await mineRules(rest, io);
    throw new UsageError(what === undefined ? "name what to mine: patterns or rules" : `unknown mine target "${what}" (patterns or rules)`);
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr.write(`clickpipe mine: ${(error as Error).message}\n${mineUsage}\n`);
      return 2;
    }
    if (error instanceof MiningInputError || (error as NodeJS.ErrnoException).code !== undefined) {
      io.stderr.write(`clickpipe mine: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}

async function minePatterns(argv: string[], io: MineIo): Promise<number> {
  const { values } = parseFlags(argv, {
    sessions: { type: "string" },
    "min-support": { type: "string" },
    "max-length": { type: "string" },
    kind: { type: "string" },
    item: { type: "string" },
    out: { type: "string" },
  });
  const input = required(values.sessions, "--sessions");
  const minSupport = positiveNumber(required(values["min-support"], "--min-support"), "--min-support");
  const maxLength = values["max-length"] === undefined ? undefined : positiveInteger(values["max-length"], "--max-length");
  const kinds = kindFlag(values.kind);
  const item = itemFlag(values.item);
  const database = await readSequenceDatabase(input, item);
  const minSupportCount = sequenceMinSupportCount(minSupport, database.length);
  const rows: Row[] = [];
  if (kinds.includes("subsequence")) rows.push(...subsequenceRows(database, minSupportCount, maxLength));
  if (kinds.includes("contiguous")) rows.push(...contiguousRows(database, minSupportCount, maxLength));
  await writeResult(values.out, minedPatternsTable, rows, io);
  const perKind = kinds.length > 1 ? ` (${kinds.map((kind) => `${rows.filter((row) => row.kind === kind).length} ${kind}`).join(", ")})` : "";
  io.stderr.write(`mined ${rows.length} patterns${perKind} from ${database.length} sequences (min support ${minSupportCount} sequences)\n`);
  return 0;
}

/** PrefixSpan's patterns (gaps allowed), by support (desc) then pattern; `length` counts items, as SPMF. */
function subsequenceRows(database: readonly ItemsetSequence[], minSupportCount: number, maxLength: number | undefined): Row[] {
  return prefixSpan(database, { minSupportCount, maxLength }).map(({ pattern, support }) => ({
    kind: "subsequence",
    pattern: formatPattern(pattern),
    length: patternItemCount(pattern),
    support,
    support_ratio: support / database.length,
    items: patternSteps(pattern),
  }));
}

/**
 * Runs of consecutive steps, counted by the sequencePatterns operator's exact run counting (exactContiguousCounts; over
 * a small alphabet the operator takes its dense counters, tested equal); by support (desc) then items, as the subsequence rows.
 */
function contiguousRows(database: readonly ItemsetSequence[], minSupportCount: number, maxLength: number | undefined): Row[] {
  const counted = exactContiguousCounts(database, maxLength ?? Number.POSITIVE_INFINITY, DEFAULT_ITEM_JOIN, minSupportCount);
  counted.sort((a, b) => b.support - a.support || compareItemLists(a.items, b.items));
  return counted.map(({ kind, pattern, length, support, items }) => ({ kind, pattern, length, support, support_ratio: support / database.length, items }));
}

async function mineRules(argv: string[], io: MineIo): Promise<number> {
  const { values } = parseFlags(argv, {
    orders: { type: "string" },
    "min-support": { type: "string" },
    "min-confidence": { type: "string" },
    "max-length": { type: "string" },
    item: { type: "string" },
    out: { type: "string" },
  });
  const input = required(values.orders, "--orders");
  const minSupport = positiveNumber(required(values["min-support"], "--min-support"), "--min-support");
  if (minSupport > 1) throw new UsageError(`--min-support for rules is a ratio in (0, 1], got ${minSupport}`);
  const minConfidence = values["min-confidence"] === undefined ? 0.8 : ratio(values["min-confidence"], "--min-confidence");
  const maxLength = values["max-length"] === undefined ? 10 : positiveInteger(values["max-length"], "--max-length");
  if (maxLength < 2) throw new UsageError("--max-length for rules counts antecedent + consequent items: at least 2");
  const baskets = await readBasketDatabase(input, values.item);
  const { itemsets, transactionCount, minCount } = fpGrowth(baskets, { minSupport, maxLength });
  const rules = associationRules(itemsets, transactionCount, minConfidence);
  const rows: Row[] = rules.map((rule) => ({
    antecedent: formatAntecedent(rule.antecedent),
    consequent: rule.consequent,
    support: rule.support,
    confidence: rule.confidence,
    lift: rule.lift,
    orders: rule.count,
    antecedent_items: rule.antecedent,
  }));
  await writeResult(values.out, minedRulesTable, rows, io);
  io.stderr.write(
    `mined ${rows.length} rules from ${itemsets.length} frequent itemsets of ${transactionCount} orders (min support ${minCount} orders)\n`,
  );
  return 0;
}

async function writeResult(out: string | undefined, spec: TableSpec, rows: Row[], io: MineIo): Promise<void> {
  const columns = spec.columns.map((column) => column.name);
  if (out === undefined) io.stdout.write(toCsv(columns, rows));
  else if (extname(out).toLowerCase() === ".csv") await writeAtomically(out, toCsv(columns, rows));
  else for (const path of await writeTableDirectory(out, spec, rows)) io.stderr.write(`wrote ${path}\n`);
}

type FlagSpec = Record<string, { type: "string" }>;

function parseFlags<Spec extends FlagSpec>(argv: string[], options: Spec) {
  const parsed = parseCommandLine({ args: argv, options, strict: true, allowPositionals: true });
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  return parsed;
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`);
  return value;
}

function positiveNumber(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${flag} expects a positive number, got "${text}"`);
  return value;
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${flag} expects a whole number ≥ 1, got "${text}"`);
  return value;
}

function ratio(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new UsageError(`${flag} expects a number in [0, 1], got "${text}"`);
  return value;
}

const KIND_FLAGS: Record<string, readonly PatternKind[]> = {
  subsequence: ["subsequence"],
  contiguous: ["contiguous"],
  both: PATTERN_KINDS,
};

/** The kinds `--kind` asks for, in the streaming table's order (subsequence rows first). Default: subsequence. */
function kindFlag(text: string | undefined): readonly PatternKind[] {
  if (text === undefined) return KIND_FLAGS.subsequence;
  const kinds = Object.hasOwn(KIND_FLAGS, text) ? KIND_FLAGS[text] : undefined;
  if (kinds === undefined) throw new UsageError(`--kind expects subsequence, contiguous or both, got "${text}"`);
  return kinds;
}

function itemFlag(text: string | undefined): "page_items" | "page_path" {
  if (text === undefined || text === "page_items" || text === "page_item") return "page_items";
  if (text === "page_path") return "page_path";
  throw new UsageError(`--item expects page_items or page_path, got "${text}"`);
}
