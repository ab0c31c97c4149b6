// Operator `sequencePatterns`: frequent page paths (subsequence and contiguous) per event-time window of sessions.
import { z } from "zod";
import { duration } from "../config/duration.ts";
import type { Operator } from "../runtime/operator.ts";
import type { OperatorEnvironment } from "./environment.ts";

export const sequencePatternsConfig = z
  .strictObject({
    type: z.literal("sequencePatterns"),
    window: duration("1h").describe("Tumbling window size, aligned to the UTC epoch; a session belongs to the window holding its end."),
    every: duration().optional().describe("Hop size for hopping windows; omitted means tumbling."),
    item: z.enum(["page_item", "page_path"]).default("page_item").describe("page_item (after urlRules) or page_path (raw path)."),
    maxLength: z.number().int().min(1).max(10).default(3).describe("Longest pattern counted."),
    minSupport: z.number().positive().default(0.01).describe("In (0,1): a ratio of the window's sessions (ceil); ≥ 1: a count."),
    topK: z.number().int().positive().optional().describe("Bounded-memory mode: Space-Saving with this many counters per length."),
    allowedLateness: duration().optional().describe("Defaults to the sessionize operator's allowedLateness."),
  })
  .describe("Counts frequent page sequences per window of sessions; writes the `patterns` table.");

export type SequencePatternsConfig = z.output<typeof sequencePatternsConfig>;

export const sequencePatternsExample = { type: "sequencePatterns", window: "1h", item: "page_item", maxLength: 3, minSupport: 0.01 };

export function createSequencePatterns(_config: SequencePatternsConfig, _environment: OperatorEnvironment): Operator {
  throw new Error("sequencePatterns: not implemented yet");
}
