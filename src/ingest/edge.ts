// Edge processing shared by the collector, `clickpipe publish` and the log tailer: page filter, visitor ids, bots, URL rules, privacy.
import { createHmac, hash } from "node:crypto";
import type { IngestConfig, PageExclusion } from "../config/ingest.ts";
import type { ClickEvent } from "../events/event.ts";
import { fileLineId } from "../events/event-id.ts";
import type { AccessHead, AccessLine, AccessRecord } from "./access-log.ts";
import { BotDetector, ownCopy, type BotObservation, type BotReason } from "./bots.ts";
import { PrivacyFilter, PSEUDONYM_KEY_ENV } from "./privacy.ts";
import { compileUrlRules, pathOfUrl, type PageItemOf } from "./url-rules.ts";

export const VISITOR_KEY_ENV = "CLICKPIPE_VISITOR_KEY";
const MAX_REMEMBERED_VISITOR_IDS = 50_000;

export type EdgeResult =
  | { kind: "event"; event: ClickEvent }
  | FilteredResult
  /** A bot in `bots: drop` mode: the caller routes it to the `bots` table. */
  | { kind: "bot"; event: ClickEvent };

/** Left out by the page filter; `why` is the exclusion that applied (a bounded label). */
export type FilteredResult = { readonly kind: "filtered"; readonly why: string };

/**
 * An access line after the part of edge processing that needs no per-visitor state (prepareAccessLine), which any
 * thread may do; the bot rules then complete it in the lines' order (completePageView, completeRobotsTxt).
 */
export type PreparedAccessLine = FilteredResult | PreparedPageView | PreparedRobotsTxt;

/** A page view without its bot fields: its JSON up to them, and what the bot rules need to complete it. */
export interface PreparedPageView {
  readonly kind: "page_view";
  /** The serialized event without its bot fields and closing brace. */
  readonly json: string;
  /** The bot detector's visitor: the anon_id before any pseudonymization. */
  readonly visitor: string;
  readonly ts: number;
  readonly robotsTxt: boolean;
  readonly userAgentReason: BotReason | undefined;
  /** The anon_id as published: the partition key. */
  readonly anonId: string | undefined;
}

/** A /robots.txt request the page filter leaves out: not an event, but it still marks its visitor a bot. */
export interface PreparedRobotsTxt {
  readonly kind: "robots_txt";
  readonly filtered: FilteredResult;
  readonly visitor: string;
  readonly ts: number;
}

const ROBOTS_TXT = "/robots.txt";
const NO_REQUEST_PATH: FilteredResult = Object.freeze({ kind: "filtered", why: "no_request_path" });

export interface EdgeKeys {
  /** Secret of the keyed IP + user-agent visitor hash (access logs). */
  visitorKey: string;
  /** Secret of the HMAC pseudonyms; required when privacy.pseudonymize is not empty. */
  pseudonymKey?: string;
}

/** Where an access-log record came from: its raw line and its 1-based line number (or byte offset) in the file. */
export interface AccessLineOrigin {
  line: string;
  lineNumber: number;
}

/** The request an HTTP event arrived with: whether it had a User-Agent header. */
export interface RequestInfo {
  hasUserAgent: boolean;
}

export class EdgeProcessor {
  private readonly pageItemOf: PageItemOf;
  private readonly bots: BotDetector;
  private readonly privacy: PrivacyFilter;
  private readonly exclusions: readonly PageExclusion[];
  /** One shared (frozen) result per exclusion: a filtered line allocates nothing. */
  private readonly exclusionResults: readonly FilteredResult[];
  private readonly staticExtensions: ReadonlySet<string>;
  private readonly dropBots: boolean;
  /** The JSON that ends a prepared page view: its bot fields (as privacy leaves them) and the closing brace. */
  private readonly botFieldsJson: ReadonlyMap<BotReason | undefined, string>;
  private readonly botFieldsBytes: ReadonlyMap<BotReason | undefined, Uint8Array>;
  /**
   * An HMAC costs microseconds and a visitor sends many requests: remember recent user agent → IP → anon_id. By user
   * agent first: a line's user agent is then hashed once for both this and the bot detector's cache (V8 keeps a
   * string's hash), where an "ip + user agent" key was a new string to build and hash for every line.
   */
  private readonly visitorIds = new Map<string, Map<string, string>>();
  private rememberedVisitorIds = 0;

  /** Throws UrlRuleError for a bad rule, PseudonymKeyMissingError when pseudonymize has no key. */
  constructor(
    config: IngestConfig,
    private readonly keys: EdgeKeys,
  ) {
    this.pageItemOf = compileUrlRules(config.urlRules);
    this.bots = new BotDetector({ rate: config.botRate });
    this.privacy = new PrivacyFilter(config.privacy, keys.pseudonymKey);
    this.exclusions = config.pages === "all" ? [] : config.pages.exclude;
    this.exclusionResults = this.exclusions.map((why) => Object.freeze({ kind: "filtered", why }));
    this.staticExtensions = new Set(config.staticExtensions.map((extension) => extension.replace(/^\./, "").toLowerCase()));
    this.dropBots = config.bots === "drop";
    const reasons: (BotReason | undefined)[] = [undefined, "user_agent", "empty_user_agent", "robots_txt", "rate"];
    this.botFieldsJson = new Map(reasons.map((reason) => [reason, this.botFieldsJsonOf(reason)]));
    this.botFieldsBytes = new Map([...this.botFieldsJson].map(([reason, json]) => [reason, Buffer.from(json)]));
  }

  /** Keys from the config and the environment: visitorKey ← config, CLICKPIPE_VISITOR_KEY, else the pipeline name. */
  static fromConfig(config: IngestConfig, context: { pipelineName: string; env?: NodeJS.ProcessEnv }): EdgeProcessor {
    const env = context.env ?? process.env;
    const visitorKey = config.visitorKey ?? nonEmpty(env[VISITOR_KEY_ENV]) ?? context.pipelineName;
    return new EdgeProcessor(config, { visitorKey, pseudonymKey: nonEmpty(env[PSEUDONYM_KEY_ENV]) });
  }

  /** A parsed access-log line → a page_view, or why it is not one. */
  fromAccessRecord(record: AccessRecord, receivedAt: number, origin?: AccessLineOrigin): EdgeResult {
    return this.fromAccessLine({ ...record, ok: true, record: () => record }, receivedAt, origin);
  }

  /** fromAccessRecord for a line read by an AccessLineReader: a line the page filter leaves out builds no record. */
  fromAccessLine(line: AccessLine, receivedAt: number, origin?: AccessLineOrigin): EdgeResult {
    const path = line.path === null ? undefined : pathOfUrl(line.path);
    const filteredBy = this.filteredBy(line, path);
    if (filteredBy !== undefined) {
      if (path === ROBOTS_TXT) this.bots.observeRequest(this.accessObservation(line.record(), path));
      return filteredBy;
    }
    return this.pageView(line.record(), path, receivedAt, origin);
  }

  /**
   * fromAccessLine without the per-visitor bot rules, serialized: a page view's JSON up to its bot fields, or why the
   * line is not one. The caller completes the results in the lines' order, possibly in another thread.
   */
  prepareAccessLine(line: AccessLine, receivedAt: number, origin?: AccessLineOrigin): PreparedAccessLine {
    const path = line.path === null ? undefined : pathOfUrl(line.path);
    const filteredBy = this.filteredBy(line, path);
    if (filteredBy !== undefined) {
      if (path !== ROBOTS_TXT) return filteredBy;
      const record = line.record();
      return { kind: "robots_txt", filtered: filteredBy, visitor: this.visitorOf(record), ts: record.ts };
    }
    const record = line.record();
    const event = this.pageViewEvent(record, path, receivedAt, origin);
    const visitor = event.anon_id as string;
    const userAgentReason = this.bots.userAgentReason(record.userAgent, record.userAgent !== undefined);
    const cleaned = this.privacy.apply(event);
    // The bot fields come last in fromAccessLine's events too, so the two JSON texts are the same.
    const json = JSON.stringify(cleaned).slice(0, -1);
    return { kind: "page_view", json, visitor, ts: record.ts, robotsTxt: path === ROBOTS_TXT, userAgentReason, anonId: cleaned.anon_id };
  }

  /** The rest of a prepared page view's JSON; page views and robots.txt requests must come in the lines' order. */
  completePageView(visitor: string, ts: number, robotsTxt: boolean, userAgentReason: BotReason | undefined): string {
    return this.botFieldsJson.get(this.bots.classifyVisit(visitor, ts, robotsTxt, userAgentReason)) as string;
  }

  /** completePageView as UTF-8 bytes (one shared array per answer: not to be written to). */
  completePageViewBytes(visitor: string, ts: number, robotsTxt: boolean, userAgentReason: BotReason | undefined): Uint8Array {
    return this.botFieldsBytes.get(this.bots.classifyVisit(visitor, ts, robotsTxt, userAgentReason)) as Uint8Array;
  }

  /** Completes a prepared robots.txt request: its visitor is a bot from now on. */
  completeRobotsTxt(visitor: string, ts: number): void {
    this.bots.observeRobotsTxt(visitor, ts);
  }

  /** A decoded JSON event (collector, `publish --format ndjson`); the input is not changed. */
  process(input: ClickEvent, request?: RequestInfo): EdgeResult {
    const event: ClickEvent = { ...input };
    const path = event.type === "page_view" && typeof event.url === "string" ? pathOfUrl(event.url) : undefined;
    if (path !== undefined) event.page_item = this.pageItemOf(path);
    // A JSON event without a `ua` field says nothing about its user agent; an HTTP request always has the slot.
    const carriesUserAgent = request !== undefined || "ua" in input;
    const userAgent = request !== undefined && !request.hasUserAgent ? null : (event.ua as string | undefined);
    const reason = this.bots.classify({
      visitor: `${event.site_id ?? ""}\u0000${event.anon_id ?? event.user_id ?? ""}`,
      ts: event.ts,
      path,
      userAgent,
      carriesUserAgent,
    });
    return this.finish(event, reason);
  }

  /** `,"is_bot":…}` as privacy leaves the bot fields (a dropped field is left out). */
  private botFieldsJsonOf(reason: BotReason | undefined): string {
    const fields = reason === undefined ? { is_bot: false } : { is_bot: true, bot_reason: reason };
    const json = JSON.stringify(this.privacy.apply(fields as unknown as ClickEvent));
    return json === "{}" ? "}" : `,${json.slice(1)}`;
  }

  private finish(event: ClickEvent, reason: BotReason | undefined): EdgeResult {
    event.is_bot = reason !== undefined;
    if (reason !== undefined) event.bot_reason = reason;
    const cleaned = this.privacy.apply(event);
    if (reason !== undefined && this.dropBots) return { kind: "bot", event: cleaned };
    return { kind: "event", event: cleaned };
  }

  /** The filtered result of a request the page filter leaves out (or that has no path), else undefined. */
  private filteredBy(head: AccessHead, path: string | undefined): FilteredResult | undefined {
    for (let index = 0; index < this.exclusions.length; index++) {
      if (isExcluded(this.exclusions[index], head, path, this.staticExtensions)) return this.exclusionResults[index];
    }
    return head.path === null ? NO_REQUEST_PATH : undefined;
  }

  /** The page_view of a record the page filter keeps (so its path is not null). */
  private pageView(record: AccessRecord, path: string | undefined, receivedAt: number, origin: AccessLineOrigin | undefined): EdgeResult {
    const event = this.pageViewEvent(record, path, receivedAt, origin);
    const reason = this.bots.classify({
      visitor: event.anon_id as string,
      ts: record.ts,
      path,
      userAgent: record.userAgent,
      carriesUserAgent: record.userAgent !== undefined,
    });
    return this.finish(event, reason);
  }

  /** The page_view event of a kept record, before the bot fields and privacy. */
  private pageViewEvent(record: AccessRecord, path: string | undefined, receivedAt: number, origin: AccessLineOrigin | undefined): ClickEvent {
    const url = record.path as string;
    const event: ClickEvent = {
      type: "page_view",
      ts: record.ts,
      event_id: origin === undefined ? accessRecordEventId(record) : accessLineEventId(origin),
      anon_id: this.visitorOf(record),
      received_at: receivedAt,
      ip: record.ip,
      url,
      page_item: this.pageItemOf(path ?? url),
    };
    if (record.referrer !== undefined && record.referrer !== null) event.referrer = record.referrer;
    if (record.userAgent !== undefined) event.ua = record.userAgent ?? "";
    return event;
  }

  private visitorOf(record: AccessRecord): string {
    const userAgent = record.userAgent ?? "";
    let byIp = this.visitorIds.get(userAgent);
    let id = byIp?.get(record.ip);
    if (id !== undefined) return id;
    if (this.rememberedVisitorIds >= MAX_REMEMBERED_VISITOR_IDS) {
      this.visitorIds.clear();
      this.rememberedVisitorIds = 0;
      byIp = undefined;
    }
    id = visitorIdOf(record.ip, userAgent, this.keys.visitorKey);
    if (byIp === undefined) {
      byIp = new Map();
      this.visitorIds.set(ownCopy(userAgent), byIp);
    }
    byIp.set(ownCopy(record.ip), id);
    this.rememberedVisitorIds++;
    return id;
  }

  private accessObservation(record: AccessRecord, path: string): BotObservation {
    return {
      visitor: this.visitorOf(record),
      ts: record.ts,
      path,
      userAgent: record.userAgent,
      carriesUserAgent: record.userAgent !== undefined,
    };
  }
}

function isExcluded(exclusion: PageExclusion, head: AccessHead, path: string | undefined, staticExtensions: ReadonlySet<string>): boolean {
  switch (exclusion) {
    case "static":
      return path !== undefined && isStaticPath(path, staticExtensions);
    case "non2xx":
      return head.status < 200 || head.status > 299;
    case "nonGet":
      return head.method !== "GET";
    default:
      return Math.floor(head.status / 100) === Number(exclusion[0]);
  }
}

/** Whether the path's extension is one of `staticExtensions` (lowercase), in any case: most are lowercase already. */
function isStaticPath(path: string, staticExtensions: ReadonlySet<string>): boolean {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  if (dot <= slash + 1) return staticExtensions.has("");
  const extension = path.slice(dot + 1);
  return staticExtensions.has(extension) || (/[A-Z]/.test(extension) && staticExtensions.has(extension.toLowerCase()));
}

/** The access-log visitor: HMAC-SHA256(visitorKey, ip + "\n" + user agent), base64url, 22 characters (128 bits). */
export function visitorIdOf(ip: string, userAgent: string, visitorKey: string): string {
  return createHmac("sha256", visitorKey).update(`${ip}\n${userAgent}`).digest("base64url").slice(0, 22);
}

/** Line number + raw line: a re-published file gives the same ids, two identical lines stay two requests. */
export function accessLineEventId(origin: AccessLineOrigin): string {
  return fileLineId(origin.lineNumber, origin.line);
}

/** Without the raw line, the record's content (identical requests in the same second collapse into one). */
function accessRecordEventId(record: AccessRecord): string {
  const content = [record.ip, record.ts, record.method, record.path, record.status, record.bytes, record.referrer, record.userAgent];
  return hash("sha256", JSON.stringify(content), "base64url").slice(0, 22);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
