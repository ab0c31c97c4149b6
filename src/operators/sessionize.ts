// Operator `sessionize`: event-time sessions per (site_id, anon_id) with gap, splits, watermarks and late data.
import { z } from "zod";
import { duration } from "../config/duration.ts";
import type { Operator } from "../runtime/operator.ts";
import type { OperatorEnvironment } from "./environment.ts";

export const sessionizeConfig = z
  .strictObject({
    type: z.literal("sessionize"),
    gap: duration("30m").describe("Inactivity gap: an event within `gap` of a session joins it (touching windows merge)."),
    maxDuration: duration("12h").describe("A session never spans this long; the event at start + maxDuration begins a new one."),
    maxEvents: z.number().int().positive().default(2500).describe("A session holds at most this many events."),
    splitAtMidnight: z
      .string()
      .optional()
      .describe("IANA time zone; when set, sessions split at local midnight (e.g. \"UTC\", \"Europe/Berlin\")."),
    splitOnCampaignChange: z
      .boolean()
      .default(false)
      .describe("Split when utm_*, gclid or an external referrer changes."),
    outOfOrderness: duration("1m").describe("Watermark = max event time per partition minus this."),
    allowedLateness: duration("1h").describe("Sessions stay retained (and updatable) until watermark ≥ end + gap + this."),
    idleTimeout: duration("1m").describe("A partition silent this long (processing time) stops holding the watermark back."),
    maxFutureSkew: duration("5m").describe("An event cannot push the watermark past its received_at + this."),
  })
  .describe("Sessionizes clickstreams per visitor in event time; writes the `sessions` table.");

export type SessionizeConfig = z.output<typeof sessionizeConfig>;

export const sessionizeExample = { type: "sessionize", gap: "30m", maxDuration: "12h", outOfOrderness: "1m", allowedLateness: "1h" };

export function createSessionize(_config: SessionizeConfig, _environment: OperatorEnvironment): Operator {
  throw new Error("sessionize: not implemented yet");
}
