// @ts-check
// clickpipe's first-party browser tracker, served by the HTTP collector as GET /v1/clickpipe.js: page views (SPA
// navigations too), track / identify / purchase calls and, opted into, clicks on outbound links, downloads and tagged
// elements, batched to POST /v1/events in the event schema of
// docs/ARCHITECTURE.md "Events". ES2017 without dependencies, so it runs as served in every browser sites support.
(function () {
  "use strict";

  /** Queued events wait this long for others, so a burst of calls goes in one request. */
  const FLUSH_DELAY_MS = 1000;
  /** Bytes per request body: browsers allow sendBeacon and keepalive fetches 64 KiB in flight (the collector 512 KiB). */
  const MAX_BODY_BYTES = 60 * 1024;
  /** The collector's default limit per event (maxEventBytes): a larger event would only be dead-lettered. */
  const MAX_EVENT_BYTES = 32 * 1024;
  /** Tries per batch (the first included); each retry resends the same event_ids, so the pipeline dedupes them. */
  const MAX_ATTEMPTS = 5;
  const FIRST_RETRY_MS = 1000;
  /** The longest Retry-After honoured: a longer one (a misconfigured date, days) is taken as this. */
  const MAX_WAIT_MS = 60 * 60 * 1000;
  const ANON_ID_KEY = "clickpipe_anon_id";
  const USER_ID_KEY = "clickpipe_user_id";
  /** Events a failed request did not deliver, kept for this page's retries and the site's next page loads. */
  const OUTBOX_KEY = "clickpipe_outbox";
  /** The outbox's bounds, the oldest events dropped first: a small part of the 5 MB or so an origin's localStorage has. */
  const OUTBOX_MAX_EVENTS = 200;
  const OUTBOX_MAX_CHARS = 256 * 1024;
  /** Older events are dropped from the outbox: the pipeline's sessions would take them as late by then. */
  const OUTBOX_MAX_AGE_MS = 24 * 60 * 60 * 1000;
  /** How long past its next try a tab's failed batch is left to it, so another tab does not send it too meanwhile. */
  const LEASE_MS = 30 * 1000;
  /** The event types of the contract: another would be dead-lettered by the collector. */
  const EVENT_TYPES = ["page_view", "click", "add_to_cart", "purchase", "identify"];
  /** Fields the tracker sets: a call's properties cannot replace them. */
  const RESERVED = ["type", "ts", "event_id", "anon_id", "user_id", "site_id", "writeKey"];
  /** The kinds of click data-auto-clicks may list, each sent as a click's click_kind ("downloads" as "download"). */
  const CLICK_KINDS = ["outbound", "downloads", "tagged"];
  /** Link extensions that are file downloads (GA4's enhanced measurement list and a few more) unless data-download-extensions lists others. */
  const DOWNLOAD_EXTENSIONS = "pdf doc docx xls xlsx ppt pptx pps odt ods odp rtf txt csv key epub 7z zip rar gz tgz bz2 xz dmg pkg exe msi apk mp3 wav wma mid midi avi mov mp4 mpg mpeg wmv";

  /**
   * The page's `clickpipe` function: the snippet's stub queues calls in `q` (as [time, arguments]) until this loads.
   * @typedef {{ (...args: unknown[]): void, q?: unknown[], loaded?: boolean }} Clickpipe
   */
  /** @typedef {Record<string, unknown>} TrackerEvent */
  /**
   * An event's JSON (also its identity in the outbox), its UTF-8 length (counted once), its time (epoch ms), and whether
   * it may be in the outbox.
   * @typedef {{ line: string, bytes: number, at: number, kept?: boolean }} QueuedLine
   */
  /**
   * One request's events; notBefore is when the collector's Retry-After allows the next try (epoch ms, 0: any time).
   * @typedef {{ lines: QueuedLine[], attempt: number, notBefore: number, timer?: ReturnType<typeof setTimeout> }} Batch
   */
  /**
   * Not to be sent before (epoch ms), the event's time (epoch ms), its JSON, and the site it is for (siteKey).
   * @typedef {[number, number, string, number]} OutboxEntry
   */

  const page = /** @type {Window & { clickpipe?: Clickpipe }} */ (window);
  const stub = page.clickpipe;
  if (stub && stub.loaded) return; // included twice: the first copy serves the page

  /** @param {string} message */
  function warn(message) {
    if (typeof console !== "undefined") console.warn("clickpipe: " + message);
  }

  const script = /** @type {HTMLScriptElement | null} */ (
    document.currentScript || document.querySelector('script[src*="/clickpipe.js"][data-write-key]')
  );
  const data = script ? script.dataset : {};
  const writeKey = data.writeKey || "";
  const siteId = data.siteId || "";
  // The collector that served this script, unless told otherwise: no second URL to keep in step.
  const endpoint = data.endpoint || new URL(script && script.src ? script.src : location.href, location.href).origin + "/v1/events";
  const keepsIds = data.storage !== "none";
  // GPC is the visitor's legally recognised "do not sell or share" (CCPA/CPRA, Colorado): honoured unless the site opts out.
  const gpc = /** @type {{ globalPrivacyControl?: boolean }} */ (/** @type {unknown} */ (navigator)).globalPrivacyControl === true;
  const silent = gpc && data.respectGpc !== "false";

  if (silent || writeKey === "") {
    if (!silent) warn("no data-write-key on the script tag: nothing is sent");
    // Calls still work (and do nothing), so the page never meets a missing function; the stub's queue is dropped.
    const inert = /** @type {Clickpipe} */ (function () {});
    inert.loaded = true;
    page.clickpipe = inert;
    return;
  }

  /** @param {string} key */
  function stored(key) {
    if (!keepsIds) return null;
    try {
      return localStorage.getItem(key);
    } catch (_error) {
      return null; // storage disabled (a browser setting, a sandboxed frame): an id per page load, as data-storage="none"
    }
  }

  /** @param {string} key @param {string | undefined} value */
  function store(key, value) {
    if (!keepsIds) return;
    try {
      if (value === undefined) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (_error) {
      // As in stored(): nothing kept.
    }
  }

  /** A random v4 UUID; randomUUID exists only in secure contexts (https, localhost), getRandomValues everywhere. */
  function uuid() {
    const crypto = window.crypto;
    if (crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    if (crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex = "";
    for (let i = 0; i < 16; i++) hex += (bytes[i] + 0x100).toString(16).slice(1) + (i === 3 || i === 5 || i === 7 || i === 9 ? "-" : "");
    return hex;
  }

  if (!keepsIds) {
    // Consent withdrawn after ids were kept: "nothing stored on the device" includes what an earlier page stored.
    try {
      localStorage.removeItem(ANON_ID_KEY);
      localStorage.removeItem(USER_ID_KEY);
      localStorage.removeItem(OUTBOX_KEY);
    } catch (_error) {
      // Storage disabled: nothing there to remove.
    }
  }
  let anonId = stored(ANON_ID_KEY) || uuid();
  store(ANON_ID_KEY, anonId);
  let userId = stored(USER_ID_KEY) || undefined;
  /** The last page view's url: SPA navigations to the same url send none, and the next one's referrer is it. */
  let lastPageUrl = /** @type {string | undefined} */ (undefined);
  /** Event lines (JSON) awaiting the flush timer. */
  let queue = /** @type {QueuedLine[]} */ ([]);
  let flushTimer = /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined);
  /** Batches waiting to be retried, and those posted but not answered yet. */
  const waiting = /** @type {Batch[]} */ ([]);
  const posted = /** @type {Batch[]} */ ([]);
  const encoder = new TextEncoder();
  /** The write key as each body's first field (the event's own "{" follows), and its UTF-8 length. */
  const keyField = '{"writeKey":' + JSON.stringify(writeKey) + ",";
  const keyBytes = encoder.encode(keyField).length;
  /**
   * Which collector and write key the outbox's events are for (FNV-1a of both, a 32-bit number): sites of one origin
   * share its localStorage, and an event is only ever sent where and with the key it was made for.
   */
  let siteKey = 2166136261;
  for (const char of endpoint + " " + writeKey) siteKey = Math.imul(siteKey ^ char.charCodeAt(0), 16777619) >>> 0;

  /** A URL without its fragment: fragments never reach servers and may hold tokens (OAuth's #access_token). @param {string} href */
  function withoutFragment(href) {
    const hash = href.indexOf("#");
    return hash === -1 ? href : href.slice(0, hash);
  }

  function pageUrl() {
    return withoutFragment(location.href);
  }

  /** @param {string} type @param {number} at epoch ms @returns {TrackerEvent} */
  function newEvent(type, at) {
    /** @type {TrackerEvent} */
    const event = { type: type, ts: new Date(at).toISOString(), event_id: uuid(), anon_id: anonId };
    if (userId !== undefined) event.user_id = userId;
    if (siteId !== "") event.site_id = siteId;
    return event;
  }

  /** @param {number} at @param {string} referrer */
  function pageView(at, referrer) {
    const event = newEvent("page_view", at);
    lastPageUrl = pageUrl();
    event.url = lastPageUrl;
    event.referrer = referrer;
    event.title = document.title;
    enqueue(event);
  }

  /** A page view unless the url is the last one's (replaceState of the same url, a fragment link). */
  function navigated() {
    try {
      if (pageUrl() !== lastPageUrl) pageView(Date.now(), lastPageUrl || document.referrer);
    } catch (error) {
      warn(String(error));
    }
  }

  /** @param {unknown} type @param {unknown} properties @param {number} at */
  function track(type, properties, at) {
    if (typeof type !== "string" || EVENT_TYPES.indexOf(type) === -1) {
      warn("unknown event type " + JSON.stringify(type) + ": use one of " + EVENT_TYPES.join(", "));
      return;
    }
    // user_id is a field the tracker sets: dropped from the properties, an identify would carry none (the collector
    // refuses it) or the previous user's. The given one is identified instead, as clickpipe("identify", id) does.
    if (type === "identify") {
      const given = properties !== null && typeof properties === "object" ? /** @type {Record<string, unknown>} */ (properties).user_id : undefined;
      return identify(given, at);
    }
    /** @type {TrackerEvent} */
    const event = { url: pageUrl() };
    if (properties !== null && typeof properties === "object") {
      const given = /** @type {Record<string, unknown>} */ (properties);
      for (const name of Object.keys(given)) if (RESERVED.indexOf(name) === -1) event[name] = given[name];
    }
    enqueue(Object.assign(event, newEvent(type, at)));
  }

  /** @param {unknown} id @param {number} at */
  function identify(id, at) {
    if ((typeof id !== "string" && typeof id !== "number") || String(id) === "") {
      warn("identify needs a user id (a non-empty string)");
      return;
    }
    userId = String(id);
    store(USER_ID_KEY, userId);
    enqueue(newEvent("identify", at));
  }

  /**
   * Logout: forget the user id and start a new anonymous id, so the next visitor on this device is not linked. The
   * outbox stays: its events are the previous visitor's, carry that visitor's ids, and are still to be counted.
   */
  function reset() {
    userId = undefined;
    store(USER_ID_KEY, undefined);
    anonId = uuid();
    store(ANON_ID_KEY, anonId);
  }

  /** @param {unknown[]} args @param {number} at */
  function run(args, at) {
    switch (args[0]) {
      case "page":
        return pageView(at, lastPageUrl || document.referrer);
      case "track":
        return track(args[1], args[2], at);
      case "purchase":
        return track("purchase", args[1], at);
      case "identify":
        return identify(args[1], at);
      case "reset":
        return reset();
      default:
        warn("unknown command " + JSON.stringify(args[0]) + ": use page, track, purchase, identify or reset");
    }
  }

  /**
   * The click events data-auto-clicks asks for, from one capturing listener on the document (clicks on elements
   * added later count too, and a page's stopPropagation does not hide them). It never prevents or delays the click's
   * default: a link that leaves the page leaves at once, and its event goes with the queue by sendBeacon on pagehide.
   * @param {string[]} kinds @param {string[]} extensions
   */
  function trackClicks(kinds, extensions) {
    // Middle clicks (a new tab) come as auxclick where browsers have it, and then their click is the primary button's only.
    const middleClick = "onauxclick" in document ? "auxclick" : "click";
    /**
     * The element counted last, until the task that counted it ends: a click on a label makes the browser click its
     * control too, in the same task, and a page's handler may click() an element inside the one clicked; both are one click.
     * @type {Element | null}
     */
    let counted = null;
    /** @param {Event} event */
    function clicked(event) {
      try {
        const button = /** @type {MouseEvent} */ (event).button;
        // The primary button (with ctrl, shift or meta too; the keyboard's Enter) and the middle one, once each.
        const middle = event.type === middleClick && button === 1;
        if (!((event.type === "click" && button === 0) || middle)) return;
        const found = clickedElements(event, kinds.indexOf("tagged") !== -1);
        const tagged = found.tagged;
        const link = found.link;
        // Web links only: a mailto: or tel: link's address is the visitor's business, a javascript: link no target.
        const href = link ? linkUrl(link) : undefined;
        const web = href && /^https?:$/.test(href.protocol) ? href : undefined;
        // A middle click opens a web link in a new tab; on anything else (a tagged button) it does nothing.
        if (middle && !web) return;
        const extension = web ? /\.([^./]+)$/.exec(web.pathname) : null;
        const kind = tagged
          ? "tagged"
          : !web
            ? ""
            : kinds.indexOf("downloads") !== -1 && extension && extensions.indexOf(extension[1].toLowerCase()) !== -1
              ? "download"
              : kinds.indexOf("outbound") !== -1 && web.host !== location.host
                ? "outbound"
                : "";
        if (!kind) return;
        const element = /** @type {Element} */ (tagged || link);
        if (element === counted) return;
        counted = element;
        setTimeout(function () {
          counted = null;
        }, 0);
        /** @type {TrackerEvent} */
        const click = { url: pageUrl(), click_kind: kind, element: element.tagName.toLowerCase() };
        if (tagged) click.click_name = tagged.getAttribute("data-clickpipe-click");
        if (web) {
          // A link's user name and password (https://user:pass@host/) are credentials, never the visitor's to send.
          web.username = "";
          web.password = "";
          // The collector redacts target_url's listed query parameters and addresses as it does url's.
          click.target_url = withoutFragment(web.href);
        }
        enqueue(Object.assign(click, newEvent("click", Date.now())));
      } catch (error) {
        warn(String(error));
      }
    }
    document.addEventListener("click", clicked, true);
    if (middleClick === "auxclick") document.addEventListener("auxclick", clicked, true);
  }

  /**
   * The innermost tagged element and link (HTML <a href>, <area href>, SVG <a href> or <a xlink:href>) the click went
   * through, inside open shadow roots too: the document sees a web component's click as its host element's.
   * @param {Event} event @param {boolean} wantsTagged
   * @returns {{ tagged: Element | null, link: Element | null }}
   */
  function clickedElements(event, wantsTagged) {
    const path = typeof event.composedPath === "function" ? event.composedPath() : [event.target];
    let tagged = /** @type {Element | null} */ (null);
    let link = /** @type {Element | null} */ (null);
    for (const node of path) {
      // Elements only: the document, a shadow root, the window and text nodes have no attributes.
      if (!node || /** @type {Node} */ (node).nodeType !== 1) continue;
      const element = /** @type {Element} */ (node);
      if (wantsTagged && !tagged && element.hasAttribute("data-clickpipe-click")) tagged = element;
      if (!link && linkHref(element) !== null) link = element;
    }
    return { tagged: tagged, link: link };
  }

  /** The href of a link element (SVG 1.1's xlink:href too), null for any other element. @param {Element} element */
  function linkHref(element) {
    const name = element.localName;
    if (name !== "a" && name !== "area") return null;
    const href = element.getAttribute("href");
    return href !== null ? href : element.getAttributeNS("http://www.w3.org/1999/xlink", "href");
  }

  /** A link's absolute URL, undefined when it is none. @param {Element} link */
  function linkUrl(link) {
    try {
      return new URL(/** @type {string} */ (linkHref(link)), document.baseURI);
    } catch (_error) {
      return undefined;
    }
  }

  /** @param {TrackerEvent} event */
  function enqueue(event) {
    const line = JSON.stringify(event);
    const bytes = encoder.encode(line).length;
    if (bytes > MAX_EVENT_BYTES) {
      warn(event.type + " event over " + MAX_EVENT_BYTES + " bytes dropped (the collector would refuse it)");
      return;
    }
    queue.push({ line: line, bytes: bytes, at: Date.parse(/** @type {string} */ (event.ts)) });
    if (flushTimer === undefined) flushTimer = setTimeout(flush, FLUSH_DELAY_MS);
  }

  /**
   * The outbox's entries (none when absent, unreadable or not kept), by event time, less those over OUTBOX_MAX_AGE_MS
   * old and the oldest past OUTBOX_MAX_EVENTS or OUTBOX_MAX_CHARS (what localStorage quotas count).
   * @returns {OutboxEntry[]}
   */
  function readOutbox() {
    try {
      return bounded(JSON.parse(stored(OUTBOX_KEY) || "[]"));
    } catch (_error) {
      return [];
    }
  }

  /** @param {unknown} entries @returns {OutboxEntry[]} */
  function bounded(entries) {
    const now = Date.now();
    const valid = (Array.isArray(entries) ? entries : [])
      .filter(function (entry) {
        return Array.isArray(entry) && typeof entry[2] === "string" && now - entry[1] < OUTBOX_MAX_AGE_MS;
      })
      .sort(function (a, b) {
        return a[1] - b[1];
      });
    let first = valid.length;
    let chars = 0;
    while (first > 0 && valid.length - first < OUTBOX_MAX_EVENTS && (chars += valid[first - 1][2].length) <= OUTBOX_MAX_CHARS) first--;
    return valid.slice(first);
  }

  /**
   * Rewrites the outbox with what `change` makes of its entries, within its bounds. localStorage has no transactions:
   * two tabs writing in the same instant can lose one's change.
   * @param {(entries: OutboxEntry[]) => OutboxEntry[]} change
   */
  function updateOutbox(change) {
    if (!keepsIds) return;
    const entries = bounded(change(readOutbox()));
    store(OUTBOX_KEY, entries.length > 0 ? JSON.stringify(entries) : undefined);
  }

  /** @param {QueuedLine[]} lines @returns {(entry: OutboxEntry) => boolean} whether an entry is none of the lines */
  function notAmong(lines) {
    return function (entry) {
      return !lines.some(function (queued) {
        return queued.line === entry[2];
      });
    };
  }

  /** Puts lines in the outbox, or moves them there, not to be sent before `sendAfter`. @param {QueuedLine[]} lines @param {number} sendAfter */
  function keep(lines, sendAfter) {
    if (lines.length === 0) return;
    updateOutbox(function (entries) {
      return entries.filter(notAmong(lines)).concat(
        lines.map(function (queued) {
          queued.kept = true;
          return /** @type {OutboxEntry} */ ([sendAfter, queued.at, queued.line, siteKey]);
        }),
      );
    });
  }

  /** Delivered or refused for good: out of the outbox. @param {QueuedLine[]} lines */
  function release(lines) {
    if (lines.some((queued) => queued.kept)) updateOutbox((entries) => entries.filter(notAmong(lines)));
  }

  /**
   * At a page load (a back/forward cache restore too): this site's events in the outbox that are due go with the next
   * flush, their entries leased meanwhile, so that another tab loading now leaves them alone. Their event_ids are
   * unchanged, so an event that an earlier page's beacon did deliver after all is dropped by the pipeline's dedupe.
   * An entry that is no event of this tracker's (another script's, a tampered one) is dropped: as a body's first line it
   * would lose the write key, and with it the whole request.
   */
  function sendOutbox() {
    const now = Date.now();
    updateOutbox(function (entries) {
      const due = [];
      for (const entry of entries) {
        if (entry[3] !== siteKey || entry[0] > now) {
          due.push(entry);
          continue;
        }
        const bytes = encoder.encode(entry[2]).length;
        if (bytes > MAX_EVENT_BYTES || !isEventLine(entry[2])) continue;
        queue.push({ line: entry[2], bytes: bytes, at: entry[1], kept: true });
        due.push(/** @type {OutboxEntry} */ ([now + LEASE_MS, entry[1], entry[2], siteKey]));
      }
      return due;
    });
    if (queue.length > 0 && flushTimer === undefined) flushTimer = setTimeout(flush, FLUSH_DELAY_MS);
  }

  /** @param {string} line */
  function isEventLine(line) {
    try {
      const event = JSON.parse(line);
      return event !== null && typeof event === "object" && !Array.isArray(event) && typeof event.event_id === "string";
    } catch (_error) {
      return false;
    }
  }

  /** The queued lines as batches whose bodies have at most MAX_BODY_BYTES, the write key's UTF-8 bytes included. @returns {Batch[]} */
  function takeBatches() {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    const batches = [];
    let lines = /** @type {QueuedLine[]} */ ([]);
    let bytes = keyBytes;
    for (const queued of queue) {
      // One more byte per line, for the "\n" before it: the first line's "{", which the key field replaces, is counted too.
      if (lines.length > 0 && bytes + queued.bytes + 1 > MAX_BODY_BYTES) {
        batches.push({ lines: lines, attempt: 1, notBefore: 0 });
        lines = [];
        bytes = keyBytes;
      }
      lines.push(queued);
      bytes += queued.bytes + 1;
    }
    if (lines.length > 0) batches.push({ lines: lines, attempt: 1, notBefore: 0 });
    queue = [];
    return batches;
  }

  /**
   * A batch as NDJSON. The write key rides in its first event (the collector reads it there and removes it): a header
   * would make the browser send a preflight first, a text body does not, and sendBeacon cannot set headers at all.
   * @param {Batch} batch
   */
  function body(batch) {
    return keyField + batch.lines.map((queued) => queued.line).join("\n").slice(1);
  }

  function flush() {
    try {
      for (const batch of takeBatches()) post(batch);
    } catch (error) {
      warn(String(error));
    }
  }

  /**
   * One try of a batch. text/plain keeps it a simple request (no preflight); keepalive lets it outlive the page;
   * credentials are omitted since the collector needs none and a listed origin's cookies are not its business.
   * @param {Batch} batch
   */
  function post(batch) {
    posted.push(batch);
    fetch(endpoint, {
      method: "POST",
      body: body(batch),
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      keepalive: true,
      credentials: "omit",
      mode: "cors",
    }).then(
      function (response) {
        answered(batch);
        if (response.status === 429 || response.status >= 500) return retry(batch, retryAfterMs(response.headers.get("Retry-After")));
        release(batch.lines);
        if (response.ok) return reportRejects(response);
        warn("the collector refused " + batch.lines.length + " events: HTTP " + response.status);
      },
      // A network failure, or an answer without CORS headers for this origin (the collector's allowedOrigins).
      function () {
        answered(batch);
        retry(batch, undefined);
      },
    ).catch(function (error) {
      warn(String(error));
    });
  }

  /** @param {Batch} batch */
  function answered(batch) {
    posted.splice(posted.indexOf(batch), 1);
  }

  /** @param {Response} response */
  function reportRejects(response) {
    return response.json().then(function (/** @type {{ rejected?: number, errors?: { reason: string }[] }} */ answer) {
      if (answer.rejected) warn(answer.rejected + " events rejected: " + (answer.errors || []).map((error) => error.reason).join("; "));
    });
  }

  /** Retry-After in seconds or as an HTTP date (RFC 9110), in ms; undefined when absent or unreadable. @param {string | null} header */
  function retryAfterMs(header) {
    if (header === null) return undefined;
    const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - Date.now();
    return isNaN(ms) ? undefined : Math.max(0, ms);
  }

  /**
   * Later, as the collector asked (up to MAX_WAIT_MS) or with exponential backoff, a bounded number of times by this
   * page; meanwhile and after, the batch is in the outbox, for the site's next page load once this page stops trying.
   * @param {Batch} batch @param {number | undefined} delayMs
   */
  function retry(batch, delayMs) {
    const wait = Math.min(delayMs === undefined ? FIRST_RETRY_MS * Math.pow(2, batch.attempt - 1) : delayMs, MAX_WAIT_MS);
    batch.notBefore = delayMs === undefined ? 0 : Date.now() + wait;
    if (batch.attempt >= MAX_ATTEMPTS) {
      keep(batch.lines, batch.notBefore);
      warn(batch.lines.length + " events undelivered after " + MAX_ATTEMPTS + " tries" + (keepsIds ? ": kept for the next page" : ""));
      return;
    }
    keep(batch.lines, Date.now() + wait + LEASE_MS);
    batch.attempt++;
    waiting.push(batch);
    batch.timer = setTimeout(function () {
      waiting.splice(waiting.indexOf(batch), 1);
      post(batch);
    }, wait);
  }

  /**
   * The page is hidden and may never run again (tab closed, app switched, navigation): everything pending goes now by
   * sendBeacon, which the browser delivers after the page is gone, batches waiting for a retry included (a last try).
   * Whether a beacon was delivered is never known, so the outbox's events (those of batches that failed, or that an
   * earlier page left) stay there, due from now on (after any Retry-After): the next page load sends them again.
   * sendBeacon refuses past its quota (64 KiB in flight, shared with keepalive fetches, so a keepalive fetch fails
   * too): then the batch goes through post() with the tries it has left, whose retries deliver it once the beacons
   * are out if the page lives on (a tab switched away from, a page kept in the back/forward cache).
   */
  function flushOnHide() {
    try {
      const batches = takeBatches();
      for (const batch of waiting.splice(0)) {
        clearTimeout(batch.timer);
        batches.push(batch);
      }
      for (const batch of batches) {
        keep(
          batch.lines.filter((queued) => queued.kept),
          batch.notBefore,
        );
        // A string body is sent as text/plain;charset=UTF-8: CORS-safelisted, so no preflight.
        if (!navigator.sendBeacon || !navigator.sendBeacon(endpoint, body(batch))) post(batch);
      }
      // A page that is gone never reads the answers still to come (those posted just now, past the beacon quota, too):
      // any page of the site may send these again.
      for (const batch of posted) keep(batch.lines, batch.notBefore);
    } catch (error) {
      warn(String(error));
    }
  }

  /** @param {History["pushState"]} original @returns {History["pushState"]} */
  function afterHistoryChange(original) {
    return function (data, unused, url) {
      original.call(history, data, unused, url);
      // After the router's own work in this task, so that document.title is more likely the new page's.
      setTimeout(navigated, 0);
    };
  }

  const autoPageViews = data.autoPageviews !== "false";
  if (autoPageViews) {
    // Dated when the navigation started, before any call the stub queued meanwhile.
    const started = window.performance && performance.timeOrigin ? Math.round(performance.timeOrigin) : Date.now();
    pageView(started, document.referrer);
    history.pushState = afterHistoryChange(history.pushState);
    history.replaceState = afterHistoryChange(history.replaceState);
    addEventListener("popstate", navigated);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flushOnHide();
  });
  addEventListener("pagehide", flushOnHide);
  // A page restored from the back/forward cache runs no script again: a view of it all the same (as GA4 and Plausible
  // count it), and a page load that sends the outbox. One pageshow per restore, so one page view.
  addEventListener("pageshow", function (event) {
    try {
      if (!event.persisted) return;
      if (autoPageViews) pageView(Date.now(), document.referrer);
      sendOutbox();
    } catch (error) {
      warn(String(error));
    }
  });
  sendOutbox();
  // Off unless asked for: data-auto-clicks="outbound downloads tagged" (any of them).
  const clickKinds = (data.autoClicks || "").split(/\s+/).filter(Boolean);
  for (const kind of clickKinds) if (CLICK_KINDS.indexOf(kind) === -1) warn("unknown data-auto-clicks " + JSON.stringify(kind) + ": use " + CLICK_KINDS.join(", "));
  if (clickKinds.length > 0) trackClicks(clickKinds, (data.downloadExtensions || DOWNLOAD_EXTENSIONS).toLowerCase().split(/[\s,.]+/));

  const clickpipe = /** @type {Clickpipe} */ (
    function () {
      try {
        run(Array.prototype.slice.call(arguments), Date.now());
      } catch (error) {
        warn(String(error));
      }
    }
  );
  clickpipe.loaded = true;
  // The calls made before this loaded, in order, each dated when it was made.
  const queued = (stub && stub.q) || [];
  page.clickpipe = clickpipe;
  for (const entry of queued) {
    try {
      const timed = Array.isArray(entry) && typeof entry[0] === "number";
      const args = Array.prototype.slice.call(timed ? entry[1] : entry);
      run(args, timed ? entry[0] : Date.now());
    } catch (error) {
      warn(String(error));
    }
  }
})();
