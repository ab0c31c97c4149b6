// Bot detection before sessionizing: crawler user agents (isbot), /robots.txt fetchers, empty user agents, request rate.
import { isbot } from "isbot";

export interface BotRate {
  maxEvents: number;
  perSeconds: number;
}

export interface BotDetectorOptions {
  rate: BotRate;
  /** A visitor unseen for this long (event time) is forgotten, /robots.txt mark included. Default 30 min. */
  idleMs?: number;
  /** Hard bound on remembered visitors; the least recently seen go first. Default 1,000,000. */
  maxVisitors?: number;
}

export type BotReason = "user_agent" | "empty_user_agent" | "robots_txt" | "rate";

/** What the detector needs of one request or event. */
export interface BotObservation {
  /** The visitor: site + anon_id (or user_id). */
  visitor: string;
  ts: number;
  /** The request path (no query); "/robots.txt" marks the visitor. */
  path: string | undefined;
  /** The user agent; undefined when the record has no user-agent slot at all. */
  userAgent: string | null | undefined;
  /** True when the record comes from a request that carries a user agent (HTTP, combined logs). */
  carriesUserAgent: boolean;
}

interface VisitorState {
  visitor: string;
  lastTs: number;
  botReason: BotReason | undefined;
  /** Event times in the current rate window, ascending; dropped once the visitor is known to be a bot. */
  times: number[];
  /** Neighbours in the list of visitors from least to most recently seen. */
  older: VisitorState | undefined;
  newer: VisitorState | undefined;
}

const ROBOTS_TXT = "/robots.txt";
const DEFAULT_IDLE_MS = 30 * 60_000;
const DEFAULT_MAX_VISITORS = 1_000_000;
const MAX_REMEMBERED_USER_AGENTS = 10_000;

/**
 * The string with storage of its own. A user agent parsed from a log line is a slice of the whole chunk of the file
 * that held it (V8 keeps substrings as views), so keeping it as a cache key would keep that chunk alive, megabytes
 * per remembered user agent. Concatenation then slicing flattens it into a new string once, on a cache miss only.
 */
export function ownCopy(text: string): string {
  return ` ${text}`.slice(1);
}

/** Whether a user agent is missing or blank ("-" is how logs write an absent header). */
export function isEmptyUserAgent(userAgent: string | null | undefined): boolean {
  return userAgent === undefined || userAgent === null || userAgent.trim() === "" || userAgent === "-";
}

/**
 * Per-visitor state in event time with bounded memory: a Map in least-recently-seen order, swept of visitors idle
 * longer than `idleMs` behind the newest event time, and capped at `maxVisitors`. Once a visitor is a bot it stays
 * one until forgotten; the events before the rule fired keep is_bot false (classification is not retroactive).
 */
export class BotDetector {
  private readonly visitors = new Map<string, VisitorState>();
  /**
   * The visitors from least to most recently seen, as a list through their states: seeing a visitor again moves it
   * to the end with a few pointer writes, where deleting and re-adding it to the map cost two more hash lookups and
   * made the map rehash as deleted entries piled up.
   */
  private leastRecent: VisitorState | undefined;
  private mostRecent: VisitorState | undefined;
  private readonly windowMs: number;
  private readonly maxEvents: number;
  private readonly idleMs: number;
  private readonly maxVisitors: number;
  /** isbot's pattern costs microseconds per call and user agents repeat: remember recent answers. */
  private readonly crawlerAnswers = new Map<string, boolean>();
  private newestTs = Number.NEGATIVE_INFINITY;
  private sinceSweep = 0;

  constructor(options: BotDetectorOptions) {
    this.windowMs = options.rate.perSeconds * 1000;
    this.maxEvents = options.rate.maxEvents;
    this.idleMs = Math.max(options.idleMs ?? DEFAULT_IDLE_MS, this.windowMs);
    this.maxVisitors = options.maxVisitors ?? DEFAULT_MAX_VISITORS;
  }

  get visitorCount(): number {
    return this.visitors.size;
  }

  /** Notes a request that will not become an event (e.g. a filtered static file): only /robots.txt matters. */
  observeRequest(observation: BotObservation): void {
    if (observation.path === ROBOTS_TXT) this.observeRobotsTxt(observation.visitor, observation.ts);
  }

  /** Notes a /robots.txt request that will not become an event: its visitor is a bot from now on. */
  observeRobotsTxt(visitor: string, ts: number): void {
    this.touch(visitor, ts).botReason ??= "robots_txt";
  }

  /** Classifies one event and counts it towards its visitor's rate; undefined when it is not a bot. */
  classify(observation: BotObservation): BotReason | undefined {
    const userAgentReason = this.userAgentReason(observation.userAgent, observation.carriesUserAgent);
    return this.classifyVisit(observation.visitor, observation.ts, observation.path === ROBOTS_TXT, userAgentReason);
  }

  /**
   * What the user agent alone says (an empty one where the record carries one, or a crawler's): no visitor state, so
   * another thread may ask it ahead of classifyVisit, which must then see the visitors in the records' order.
   */
  userAgentReason(userAgent: string | null | undefined, carriesUserAgent: boolean): BotReason | undefined {
    if (carriesUserAgent && isEmptyUserAgent(userAgent)) return "empty_user_agent";
    if (typeof userAgent === "string" && this.isCrawler(userAgent)) return "user_agent";
    return undefined;
  }

  /** classify, given userAgentReason's answer: the visitor's sticky reason (robots.txt, rate) first, then the user agent's. */
  classifyVisit(visitor: string, ts: number, robotsTxt: boolean, userAgentReason: BotReason | undefined): BotReason | undefined {
    const state = this.touch(visitor, ts);
    if (state.botReason === undefined) state.botReason = this.stickyReason(robotsTxt, state, ts);
    return state.botReason ?? userAgentReason;
  }

  private isCrawler(userAgent: string): boolean {
    let answer = this.crawlerAnswers.get(userAgent);
    if (answer === undefined) {
      if (this.crawlerAnswers.size >= MAX_REMEMBERED_USER_AGENTS) this.crawlerAnswers.clear();
      answer = isbot(userAgent);
      this.crawlerAnswers.set(ownCopy(userAgent), answer);
    }
    return answer;
  }

  private stickyReason(robotsTxt: boolean, state: VisitorState, ts: number): BotReason | undefined {
    if (robotsTxt) return "robots_txt";
    if (this.exceedsRate(state.times, ts)) {
      state.times = [];
      return "rate";
    }
    return undefined;
  }

  /**
   * Adds `ts` to the visitor's window and says whether some span shorter than perSeconds now holds more than
   * maxEvents events. Events older than the window behind the visitor's newest event are not counted.
   */
  private exceedsRate(times: number[], ts: number): boolean {
    const newest = times.length > 0 ? times[times.length - 1] : ts;
    if (ts <= newest - this.windowMs) return false;
    let at = times.length;
    while (at > 0 && times[at - 1] > ts) at--;
    times.splice(at, 0, ts);
    const horizon = Math.max(newest, ts) - this.windowMs;
    let expired = 0;
    while (expired < times.length && times[expired] <= horizon) expired++;
    if (expired > 0) times.splice(0, expired);
    // Any window that holds the new event: [times[i], times[i + maxEvents]] spanning less than the window.
    for (let first = 0; first + this.maxEvents < times.length; first++) {
      if (times[first + this.maxEvents] - times[first] < this.windowMs) return true;
    }
    return false;
  }

  private touch(visitor: string, ts: number): VisitorState {
    let state = this.visitors.get(visitor);
    if (state === undefined) {
      state = { visitor, lastTs: ts, botReason: undefined, times: [], older: undefined, newer: undefined };
      this.visitors.set(visitor, state);
      this.append(state);
    } else {
      if (ts > state.lastTs) state.lastTs = ts;
      if (state !== this.mostRecent) {
        this.unlink(state);
        this.append(state);
      }
    }
    if (ts > this.newestTs) this.newestTs = ts;
    if (++this.sinceSweep >= 1024 || this.visitors.size > this.maxVisitors) this.sweep();
    return state;
  }

  /** Forgets visitors idle for idleMs behind the newest event time, least recently seen first, and enforces the cap. */
  private sweep(): void {
    this.sinceSweep = 0;
    const idleBefore = this.newestTs - this.idleMs;
    for (let state = this.leastRecent; state !== undefined; state = this.leastRecent) {
      if (this.visitors.size <= this.maxVisitors && state.lastTs >= idleBefore) break;
      this.visitors.delete(state.visitor);
      this.unlink(state);
    }
  }

  private append(state: VisitorState): void {
    state.older = this.mostRecent;
    state.newer = undefined;
    if (this.mostRecent === undefined) this.leastRecent = state;
    else this.mostRecent.newer = state;
    this.mostRecent = state;
  }

  private unlink(state: VisitorState): void {
    if (state.older === undefined) this.leastRecent = state.newer;
    else state.older.newer = state.newer;
    if (state.newer === undefined) this.mostRecent = state.older;
    else state.newer.older = state.older;
    state.older = undefined;
    state.newer = undefined;
  }
}
