// Session boundaries over time-ordered events: the gap rule and the hard splits, applied greedily left to right.
import { EVENT_SLOTS, TS } from "./sessionize-visitor.ts";

/** Why a session began; `gap` also names a visitor's first session. */
export const SPLIT_REASONS = ["gap", "max_duration", "max_events", "midnight", "campaign"] as const;
export const REASON_GAP = 0;
export const REASON_MAX_DURATION = 1;
export const REASON_MAX_EVENTS = 2;
export const REASON_MIDNIGHT = 3;
export const REASON_CAMPAIGN = 4;
export const NO_SPLIT = -1;

export interface SplitRules {
  gap: number;
  maxDuration: number;
  maxEvents: number;
  /** Local calendar day of an instant (splitAtMidnight), or null when off. */
  dayOf: ((ts: number) => number) | null;
  /**
   * Campaign key of event `index` ("" for none), null when the event has no url (splitOnCampaignChange); the rule is
   * null when off.
   */
  campaignOf: ((events: number[], index: number) => string | null) | null;
}

export interface Segment {
  count: number;
  reason: number;
}

/**
 * The campaign of the session's events [sessionStart, end): that of its first event with a url, the reference for
 * splitOnCampaignChange (its utm fields come from the same event). null while none has a url, or when the rule is off:
 * an identify or a server-side purchase says nothing about where the visit came from, so it neither causes nor
 * prevents a split (as GA4 and Snowplow sessions).
 */
export function sessionCampaign(events: number[], sessionStart: number, end: number, rules: SplitRules): string | null {
  const campaignOf = rules.campaignOf;
  if (campaignOf === null) return null;
  for (let index = sessionStart; index < end; index++) {
    const campaign = campaignOf(events, index);
    if (campaign !== null) return campaign;
  }
  return null;
}

/**
 * Why event `index` begins a new session instead of joining the one that starts at `sessionStart` and ends at
 * `index - 1`, or NO_SPLIT. Touching windows merge (Flink, Kafka Streams): a difference of exactly `gap` joins.
 * `campaign` is that session's sessionCampaign, or undefined to have it found only when event `index` carries a
 * campaign to compare (an append then scans nothing for the common event without one).
 */
export function splitReason(events: number[], sessionStart: number, index: number, rules: SplitRules, campaign: string | null | undefined): number {
  const ts = events[index * EVENT_SLOTS + TS];
  const previousTs = events[(index - 1) * EVENT_SLOTS + TS];
  if (ts - previousTs > rules.gap) return REASON_GAP;
  if (ts - events[sessionStart * EVENT_SLOTS + TS] >= rules.maxDuration) return REASON_MAX_DURATION;
  if (index - sessionStart >= rules.maxEvents) return REASON_MAX_EVENTS;
  if (rules.dayOf !== null && rules.dayOf(ts) !== rules.dayOf(previousTs)) return REASON_MIDNIGHT;
  if (rules.campaignOf !== null) {
    const key = rules.campaignOf(events, index);
    if (key !== null && key !== "") {
      const reference = campaign === undefined ? sessionCampaign(events, sessionStart, index, rules) : campaign;
      // A session without a url yet has no campaign to leave: this event's becomes the session's.
      if (reference !== null && key !== reference) return REASON_CAMPAIGN;
    }
  }
  return NO_SPLIT;
}

/**
 * Sessions of events [from, to), the first beginning for `firstReason`. Greedy left to right, so the sessions
 * before any event depend only on earlier events: re-segmenting from the session an inserted event lands in is exact.
 */
export function segment(events: number[], from: number, to: number, firstReason: number, rules: SplitRules): Segment[] {
  const segments: Segment[] = [];
  if (from >= to) return segments;
  let start = from;
  let reason = firstReason;
  let campaign = sessionCampaign(events, start, start + 1, rules);
  for (let index = from + 1; index < to; index++) {
    const split = splitReason(events, start, index, rules, campaign);
    if (split === NO_SPLIT) {
      // The session's first event with a url sets its campaign.
      if (campaign === null) campaign = sessionCampaign(events, index, index + 1, rules);
      continue;
    }
    segments.push({ count: index - start, reason });
    start = index;
    reason = split;
    campaign = sessionCampaign(events, start, start + 1, rules);
  }
  segments.push({ count: to - start, reason });
  return segments;
}
