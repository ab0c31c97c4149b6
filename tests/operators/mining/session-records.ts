// Builds SessionRecord values for session-consuming operator tests.
import type { SessionRecord } from "../../../src/runtime/operator.ts";

export function sessionRecord(
  id: string,
  endTs: number,
  pages: string[],
  options: { version?: number; retracted?: boolean; paths?: string[] } = {},
): SessionRecord {
  return {
    session_id: id,
    version: options.version ?? 1,
    retracted: options.retracted ?? false,
    site_id: null,
    visitor_id: `visitor-${id}`,
    user_id: null,
    start_ts: endTs - 60_000,
    end_ts: endTs,
    duration_ms: 60_000,
    event_count: pages.length,
    pageview_count: pages.length,
    landing_url: null,
    exit_url: null,
    referrer: null,
    utm_source: null,
    utm_medium: null,
    utm_campaign: null,
    is_engaged: pages.length > 1,
    is_bounce: pages.length === 1,
    converted: false,
    revenue: 0,
    is_bot: false,
    split_reason: "gap",
    page_path: options.paths ?? pages,
    page_items: pages,
  };
}
