// Plain-text mining inputs and outputs: SPMF sequence/transaction/pattern formats and one-basket-per-line CSV.
import { normalizeItemset, type Itemset } from "./itemset-sequence.ts";

export class MiningInputError extends Error {
  override name = "MiningInputError";
}

/** SPMF lines that carry no data: blank, comments (#, %) and metadata (@CONVERTED_FROM…, @ITEM=…). */
function isDataLine(line: string): boolean {
  const trimmed = line.trim();
  return trimmed !== "" && !trimmed.startsWith("#") && !trimmed.startsWith("%") && !trimmed.startsWith("@");
}

/**
 * SPMF sequence database: items separated by spaces, `-1` ends an itemset, `-2` ends a sequence (one per line).
 * Timestamps written as `<t>` (SPADE/CM-SPADE inputs) are ignored.
 */
export function parseSpmfSequences(text: string): Itemset[][] {
  const sequences: Itemset[][] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (!isDataLine(line)) return;
    const sequence: Itemset[] = [];
    let itemset: string[] = [];
    let ended = false;
    for (const token of line.trim().split(/\s+/)) {
      if (token.startsWith("<")) continue;
      if (token === "-1") {
        if (itemset.length > 0) sequence.push(normalizeItemset(itemset));
        itemset = [];
      } else if (token === "-2") {
        ended = true;
        break;
      } else {
        itemset.push(token);
      }
    }
    if (!ended) throw new MiningInputError(`line ${index + 1}: an SPMF sequence ends with -2`);
    if (itemset.length > 0) sequence.push(normalizeItemset(itemset));
    sequences.push(sequence);
  });
  return sequences;
}

export interface SpmfPattern {
  pattern: Itemset[];
  support: number;
}

/** SPMF sequential-pattern output: `1 2 -1 3 -1 #SUP: 2` (a trailing `#SID: …` is ignored). */
export function parseSpmfPatterns(text: string): SpmfPattern[] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.includes("#SUP:"))
    .map((line) => {
      const [body, rest] = line.split("#SUP:");
      const support = Number.parseInt(rest.trim().split(/\s+/)[0], 10);
      const pattern = body
        .trim()
        .split(/\s*-1\s*/)
        .filter((step) => step !== "")
        .map((step) => normalizeItemset(step.split(/\s+/)));
      return { pattern, support };
    });
}

/** SPMF transaction database: one transaction per line, items separated by spaces. */
export function parseSpmfTransactions(text: string): string[][] {
  return text
    .split(/\r?\n/)
    .filter(isDataLine)
    .map((line) => line.trim().split(/\s+/));
}

/**
 * One basket per line, items separated by commas (the arules `read.transactions(format = "basket")` layout).
 * Items are kept verbatim, spaces included ("cream cheese " is its own item, as in arules' Groceries labels).
 */
export function parseBasketCsv(text: string): string[][] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((line) => (line === "" ? [] : line.split(",")));
}
