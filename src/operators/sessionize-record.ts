// Builds a `sessions` row (SessionRecord) from a run of a visitor's retained events.
import type { SessionRecord } from "../runtime/operator.ts";
import { sessionIdOf } from "./sessionize-hash.ts";
import { SPLIT_REASONS } from "./sessionize-segment.ts";
import type { StringPool } from "./sessionize-strings.ts";
import {
  BOT_FLAG,
  EVENT_SLOTS,
  ID_KIND,
  ITEM_OR_REVENUE,
  KIND_ADD_TO_CART,
  KIND_PAGE_VIEW,
  KIND_PURCHASE,
  NO_REF,
  PAGE,
  TS,
  USER,
  type VisitorState,
  idHashOf,
  kindFlagsOf,
  referrerOf,
  urlOf,
} from "./sessionize-visitor.ts";

/** page_path and page_items keep at most this many page views (ARCHITECTURE.md). */
export const PAGE_PATH_CAP = 200;
/** is_engaged: a session of at least this duration, or ≥ 2 page views, or a purchase. */
const ENGAGED_DURATION_MS = 10_000;

/** A run of events [from, to) of a visitor, without the event at `skip` (-1: none); used to rebuild a retracted run. */
export interface EventRun {
  from: number;
  to: number;
  skip: number;
}

function firstIndex(run: EventRun): number {
  return run.from === run.skip ? run.from + 1 : run.from;
}

function lastIndex(run: EventRun): number {
  return run.to - 1 === run.skip ? run.to - 2 : run.to - 1;
}

export function runCount(run: EventRun): number {
  return run.to - run.from - (run.skip >= run.from && run.skip < run.to ? 1 : 0);
}

export function runSessionId(visitor: VisitorState, run: EventRun): string {
  const first = firstIndex(run);
  return sessionIdOf(visitor.siteId, visitor.anonId, visitor.ts(first), visitor.idHash(first));
}

export function runLastIdHash(visitor: VisitorState, run: EventRun): number {
  return visitor.idHash(lastIndex(run));
}

/**
 * user_id of a run: the last non-null user_id of its events by event time; else the visitor's last known user_id
 * before the run (earlier retained events, then evicted ones), so logging in stitches later sessions to the customer.
 */
export function runUser(visitor: VisitorState, pool: StringPool, run: EventRun): string | null {
  return latestUser(visitor, pool, run.to, run.skip);
}

/** The last non-null user_id of the visitor's events before index `end`, without the event at `skip`; see runUser. */
export function latestUser(visitor: VisitorState, pool: StringPool, end: number, skip: number): string | null {
  const user = latestUserId(visitor, end, skip);
  return user === NO_REF ? visitor.carriedUser : pool.get(user);
}

/** Pool id of the last non-null user_id of the visitor's retained events before index `end`, without the event at `skip`; NO_REF: none. */
export function latestUserId(visitor: VisitorState, end: number, skip: number): number {
  const events = visitor.events;
  for (let index = end - 1; index >= 0; index--) {
    if (index === skip) continue;
    const user = events[index * EVENT_SLOTS + USER];
    if (user !== NO_REF) return user;
  }
  return NO_REF;
}

export function buildSessionRecord(
  visitor: VisitorState,
  pool: StringPool,
  run: EventRun,
  version: number,
  retracted: boolean,
  reason: number,
): SessionRecord {
  const events = visitor.events;
  let pageviewCount = 0;
  let landing = NO_REF;
  let exit = NO_REF;
  let converted = false;
  let revenue = 0;
  let sales = 0;
  let refunds = 0;
  let isBot = false;
  let cartAdds = 0;
  const pagePath: string[] = [];
  const pageItems: string[] = [];
  // The session's arrival (utm, referrer) is its first event that has a url: an identify or a server-side purchase
  // before the first page view says nothing about where the visit came from.
  let arrival = -1;
  for (let index = run.from; index < run.to; index++) {
    if (index === run.skip) continue;
    const base = index * EVENT_SLOTS;
    if (arrival === -1 && urlOf(events[base + PAGE]) !== NO_REF) arrival = index;
    const kindFlags = kindFlagsOf(events[base + ID_KIND]);
    if ((kindFlags & BOT_FLAG) !== 0) isBot = true;
    const kind = kindFlags & (BOT_FLAG - 1);
    if (kind === KIND_PAGE_VIEW) {
      pageviewCount++;
      const url = urlOf(events[base + PAGE]);
      if (url === NO_REF) continue;
      if (landing === NO_REF) landing = url;
      exit = url;
      if (pagePath.length < PAGE_PATH_CAP) {
        const path = pool.urlParts(url).path;
        const item = events[base + ITEM_OR_REVENUE];
        pagePath.push(path);
        pageItems.push(item === NO_REF ? path : pool.get(item));
      }
    } else if (kind === KIND_PURCHASE) {
      // A refund (negative revenue, src/events/refund.ts) is netted into revenue but is no conversion: a visit that
      // only returned goods made no sale, and counting it lifted the conversion rate with every return. Its amount is
      // kept apart too: a counter of net revenue could not go down, so the metrics count sales and refunds separately.
      // Sales are summed on their own: revenue + refunds is off by a rounding (19.99 − 1234.56 + 1234.56 ≠ 19.99).
      const amount = events[base + ITEM_OR_REVENUE];
      if (amount >= 0) {
        converted = true;
        sales += amount;
      } else refunds -= amount;
      revenue += amount;
    } else if (kind === KIND_ADD_TO_CART) {
      cartAdds++;
    }
  }
  const first = firstIndex(run);
  const firstBase = first * EVENT_SLOTS;
  const startTs = events[firstBase + TS];
  const endTs = events[lastIndex(run) * EVENT_SLOTS + TS];
  const arrivalPage = events[(arrival === -1 ? first : arrival) * EVENT_SLOTS + PAGE];
  const firstUrl = urlOf(arrivalPage);
  const firstReferrer = referrerOf(arrivalPage);
  const campaign = firstUrl === NO_REF ? undefined : pool.urlParts(firstUrl);
  const durationMs = endTs - startTs;
  const isEngaged = durationMs >= ENGAGED_DURATION_MS || pageviewCount >= 2 || converted;
  return {
    session_id: sessionIdOf(visitor.siteId, visitor.anonId, startTs, idHashOf(events[firstBase + ID_KIND])),
    version,
    retracted,
    site_id: visitor.siteId ?? null,
    visitor_id: visitor.anonId,
    user_id: runUser(visitor, pool, run),
    start_ts: startTs,
    end_ts: endTs,
    duration_ms: durationMs,
    event_count: runCount(run),
    pageview_count: pageviewCount,
    landing_url: landing === NO_REF ? null : pool.get(landing),
    exit_url: exit === NO_REF ? null : pool.get(exit),
    referrer: firstReferrer === NO_REF ? null : pool.get(firstReferrer),
    utm_source: campaign?.utmSource ?? null,
    utm_medium: campaign?.utmMedium ?? null,
    utm_campaign: campaign?.utmCampaign ?? null,
    is_engaged: isEngaged,
    is_bounce: !isEngaged,
    converted,
    revenue,
    is_bot: isBot,
    split_reason: SPLIT_REASONS[reason],
    page_path: pagePath,
    page_items: pageItems,
    cart_adds: cartAdds,
    sales,
    refunds,
  };
}
