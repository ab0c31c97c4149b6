// Synthetic shop traffic, deterministic by seed: visitors with return visits, carts, orders, churners and bots.
import type { EventType } from "../events/event.ts";
import { formatIsoUtc } from "../events/time.ts";

export const DEFAULT_START = Date.UTC(2026, 0, 5); // 2026-01-05T00:00:00Z, a Monday
export const DEFAULT_SEED = 1;
export const SITE_ID = "demo-shop";
export const SITE_ORIGIN = "https://demo-shop.example";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Pauses inside a session stay under this, so a 30-minute sessionizer sees each generated session whole. */
export const MAX_GAP_INSIDE_SESSION = 25 * MINUTE;
/** Visits of one device start at least this long after its previous visit ended (sessionize gap 30m + margin). */
export const MIN_GAP_BETWEEN_SESSIONS = 31 * MINUTE;

export interface GenerateOptions {
  /** Distinct visitors (people and crawlers); some people add a second device (another anon_id). */
  visitors: number;
  /** Length of the period in days; every event time lies in [start, start + days). */
  days: number;
  /** Same seed, same traffic, byte for byte. Default 1. */
  seed?: number;
  /** Epoch ms of the first instant. Default 2026-01-05T00:00:00Z. */
  start?: number;
}

/** An event as the generator emits it: a valid ClickEvent record with `ts` in epoch ms. */
export interface GeneratedEvent {
  type: EventType;
  ts: number;
  event_id: string;
  site_id: string;
  anon_id: string;
  user_id?: string;
  [field: string]: unknown;
}

export interface CustomerTruth {
  /** The customer's devices (anon_ids), first device first. */
  anonIds: string[];
  /** Epoch ms of the start of the churn day (start + k days): the customer has no event at or after it. */
  churnedAt?: number;
}

/** What the generator knows and the pipeline must discover. */
export interface GroundTruth {
  start: number;
  end: number;
  /** Logged-in people by user_id. */
  customers: ReadonlyMap<string, CustomerTruth>;
  /** user_id → churn instant, for the customers who stop coming back. */
  churnedCustomers: ReadonlyMap<string, number>;
  /** anon_ids of the crawlers. */
  bots: ReadonlySet<string>;
}

export interface TrafficCounts {
  /** Sessions (visits of one device) with at least one event, counted as they are generated. */
  sessions: number;
  events: number;
  purchases: number;
}

export interface Traffic {
  readonly truth: GroundTruth;
  /** Filled while events() runs; final once it is exhausted. */
  readonly counts: TrafficCounts;
  /** The events in event-time order (ties broken by device), generated lazily with bounded memory. */
  events(): Generator<GeneratedEvent>;
}

// ---- seeded randomness -------------------------------------------------------------------------------------

/** sfc32 (Chris Doty-Humphrey's small fast counting PRNG): 128-bit state, passes PractRand, four int ops a draw. */
class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number, substream: number) {
    this.a = mix32(seed ^ 0x9e3779b9);
    this.b = mix32(stream ^ 0x85ebca6b);
    this.c = mix32(substream ^ 0xc2b2ae35);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.next() * values.length)];
  }

  /** An index in [0, size) skewed towards 0 (a few popular products, a long tail). */
  skewed(size: number): number {
    const u = this.next();
    return Math.floor(size * u * u * u);
  }

  hex(length: number): string {
    let out = "";
    while (out.length < length) out += this.nextUint32().toString(16).padStart(8, "0");
    return out.slice(0, length);
  }
}

/** murmur3's 32-bit finalizer: spreads seeds that differ in one bit over all 32. */
function mix32(value: number): number {
  let h = value | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---- the shop ----------------------------------------------------------------------------------------------

interface Product {
  id: number;
  sku: string;
  category: string;
  categoryIndex: number;
  price: number;
  url: string;
  title: string;
}

/** Categories in popularity order, each with search terms and the category whose products go with it. */
const CATEGORIES = [
  { name: "shoes", terms: ["sneakers", "running shoes", "boots"], companion: "socks" },
  { name: "phones", terms: ["smartphone", "android phone"], companion: "phone-cases" },
  { name: "dresses", terms: ["summer dress", "evening dress"], companion: "bags" },
  { name: "laptops", terms: ["laptop", "notebook 14 inch"], companion: "laptop-bags" },
  { name: "coffee", terms: ["espresso beans", "coffee"], companion: "mugs" },
  { name: "books", terms: ["novel", "cookbook"], companion: "bookmarks" },
  { name: "bags", terms: ["backpack", "handbag"], companion: "dresses" },
  { name: "socks", terms: ["socks", "wool socks"], companion: "shoes" },
  { name: "phone-cases", terms: ["phone case"], companion: "phones" },
  { name: "laptop-bags", terms: ["laptop sleeve"], companion: "laptops" },
  { name: "mugs", terms: ["mug", "travel mug"], companion: "coffee" },
  { name: "bookmarks", terms: ["bookmark"], companion: "books" },
] as const;
const PRODUCTS_PER_CATEGORY = 40;
const BASE_PRICES = [79, 499, 59, 899, 12, 15, 45, 9, 19, 29, 11, 4];

const CATALOG: readonly (readonly Product[])[] = CATEGORIES.map((category, c) =>
  Array.from({ length: PRODUCTS_PER_CATEGORY }, (_, j) => {
    const id = 1000 + c * 100 + j;
    // Prices spread from 0.6× to 1.6× the category's base, ending in .99 like shop prices do.
    const price = Math.max(1, Math.round(BASE_PRICES[c] * (0.6 + ((j * 37) % 100) / 100))) - 0.01;
    return {
      id,
      sku: `SKU-${id}`,
      category: category.name,
      categoryIndex: c,
      price,
      url: `/c/${category.name}/p/${id}`,
      title: `${category.name} ${id} | Demo Shop`,
    };
  }),
);
const COMPANION_INDEX = CATEGORIES.map((category) => CATEGORIES.findIndex((other) => other.name === category.companion));
const SEARCH_URLS = CATEGORIES.map((category) => category.terms.map((term) => `/search?q=${encodeURIComponent(term).replace(/%20/g, "+")}`));

const CAMPAIGNS = [
  { source: "newsletter", medium: "email", campaign: "winter_sale", referrer: "" },
  { source: "facebook", medium: "cpc", campaign: "retargeting", referrer: "https://l.facebook.com/" },
  { source: "google", medium: "cpc", campaign: "brand", referrer: "https://www.google.com/" },
  { source: "instagram", medium: "social", campaign: "influencer_jan", referrer: "https://l.instagram.com/" },
] as const;
const SEARCH_ENGINES = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"];
const REFERRING_SITES = ["https://www.reddit.com/r/deals/", "https://blog.example.org/gift-guide", "https://news.ycombinator.com/"];
const CLICK_TARGETS = ["nav-menu", "product-image", "size-selector", "reviews-tab", "filter", "banner", "newsletter-signup"];

const DESKTOP_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
];
const MOBILE_AGENTS = [
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
];
const CRAWLER_AGENTS = [
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
  "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
  "python-requests/2.32.3",
];
/** Documentation address ranges (RFC 5737): realistic-looking, never a real person's. */
const IP_PREFIXES = ["192.0.2.", "198.51.100.", "203.0.113."];

/** Relative traffic by UTC hour: quiet nights, an evening peak. */
const HOURLY_WEIGHT = [
  0.15, 0.1, 0.08, 0.08, 0.1, 0.15, 0.25, 0.4, 0.55, 0.65, 0.7, 0.75, 0.8, 0.75, 0.7, 0.7, 0.75, 0.8, 0.9, 1, 1, 0.9, 0.6,
  0.3,
];

// ---- visitors and their devices ----------------------------------------------------------------------------

/** Share of people with an account who log in and buy; everyone else browses anonymously and never orders. */
const CUSTOMER_SHARE = 0.3;
const SECOND_DEVICE_SHARE = 0.15;
const CHURN_SHARE = 0.25;
/** Visitors who never come back after their first visit. */
const ONE_TIME_SHARE = 0.4;
const VISITORS_PER_BOT = 2000;

/** One device's event stream: a cursor into its current visit, and what it needs to plan the next one. */
interface Device {
  readonly index: number;
  readonly random: Random;
  readonly anonId: string;
  readonly customerId: string | undefined;
  readonly isBot: boolean;
  readonly ua: string;
  readonly ip: string;
  /** Visits per day after the first; 0 for one-time visitors. */
  readonly returnRate: number;
  /** No event at or after this instant (the period's end, or the churn instant). */
  readonly until: number;
  identified: boolean;
  eventCount: number;
  /** Orders so far, shared by the customer's devices so order ids stay unique per customer. */
  readonly orders: { count: number };
  /** The current visit's events; empty while the next visit is only planned (at `key`). */
  visit: GeneratedEvent[];
  cursor: number;
  /** The heap key: the next event's time, or the planned start of the next visit. */
  key: number;
}

/** What a device is, decided when the traffic is planned; the rest of Device is its running state. */
type DeviceProfile = Pick<Device, "customerId" | "orders" | "isBot" | "ua" | "ip" | "returnRate" | "until">;

interface Plan {
  truth: GroundTruth;
  devices: Device[];
}

function validateOptions(options: GenerateOptions): { visitors: number; days: number; seed: number; start: number } {
  const { visitors, days, seed = DEFAULT_SEED, start = DEFAULT_START } = options;
  if (!Number.isInteger(visitors) || visitors < 1) throw new RangeError(`visitors: expected a positive integer, got ${visitors}`);
  if (!Number.isInteger(days) || days < 1) throw new RangeError(`days: expected a positive integer, got ${days}`);
  if (!Number.isInteger(seed)) throw new RangeError(`seed: expected an integer, got ${seed}`);
  if (!Number.isFinite(start) || start < 0) throw new RangeError(`start: expected epoch milliseconds ≥ 0, got ${start}`);
  return { visitors, days, seed, start };
}

function planTraffic(options: GenerateOptions): Plan {
  const { visitors, days, seed, start } = validateOptions(options);
  const end = start + days * DAY;
  const botCount = visitors >= 50 ? Math.max(1, Math.round(visitors / VISITORS_PER_BOT)) : 0;
  const customers = new Map<string, CustomerTruth>();
  const churnedCustomers = new Map<string, number>();
  const bots = new Set<string>();
  const devices: Device[] = [];
  let customerCount = 0;

  const addDevice = (random: Random, profile: DeviceProfile): Device => {
    const device: Device = {
      index: devices.length,
      random,
      anonId: random.hex(16),
      identified: false,
      eventCount: 0,
      visit: [],
      cursor: 0,
      key: 0,
      ...profile,
    };
    device.key = plannedStart(random, start, device.until);
    devices.push(device);
    return device;
  };

  for (let visitor = 0; visitor < visitors; visitor++) {
    const random = new Random(seed, visitor, 0);
    if (visitor < botCount) {
      const bot = addDevice(random, {
        customerId: undefined,
        orders: { count: 0 },
        isBot: true,
        ua: random.pick(CRAWLER_AGENTS),
        ip: random.pick(IP_PREFIXES) + random.int(1, 254),
        returnRate: 1,
        until: end,
      });
      bots.add(bot.anonId);
      continue;
    }
    const isCustomer = random.chance(CUSTOMER_SHARE);
    const customerId = isCustomer ? `u${String(++customerCount).padStart(6, "0")}` : undefined;
    const churnedAt = isCustomer && days >= 2 && random.chance(CHURN_SHARE) ? start + churnDay(random, days) * DAY : undefined;
    const returnRate = isCustomer ? random.exponential(churnedAt === undefined ? 1.5 : 2.2) : random.chance(ONE_TIME_SHARE) ? 0 : random.exponential(1);
    const mobile = random.chance(0.45);
    const orders = { count: 0 };
    const first = addDevice(random, {
      customerId,
      orders,
      isBot: false,
      ua: random.pick(mobile ? MOBILE_AGENTS : DESKTOP_AGENTS),
      ip: random.pick(IP_PREFIXES) + random.int(1, 254),
      returnRate,
      until: churnedAt ?? end,
    });
    if (customerId === undefined) continue;
    const anonIds = [first.anonId];
    if (random.chance(SECOND_DEVICE_SHARE)) {
      const secondRandom = new Random(seed, visitor, 1);
      const second = addDevice(secondRandom, {
        customerId,
        orders,
        isBot: false,
        ua: secondRandom.pick(mobile ? DESKTOP_AGENTS : MOBILE_AGENTS),
        ip: secondRandom.pick(IP_PREFIXES) + secondRandom.int(1, 254),
        returnRate: returnRate * 0.5,
        until: churnedAt ?? end,
      });
      anonIds.push(second.anonId);
    }
    customers.set(customerId, churnedAt === undefined ? { anonIds } : { anonIds, churnedAt });
    if (churnedAt !== undefined) churnedCustomers.set(customerId, churnedAt);
  }
  return { truth: { start, end, customers, churnedCustomers, bots }, devices };
}

/** A churner stays for at least the first ~30% of the period, then stops on a day boundary before the end. */
function churnDay(random: Random, days: number): number {
  const earliest = Math.max(1, Math.ceil(days * 0.3));
  return random.int(earliest, days - 1);
}

/** The first visit: any time in [start, until), more likely at busy hours. */
function plannedStart(random: Random, start: number, until: number): number {
  for (let attempt = 0; attempt < 20; attempt++) {
    const candidate = start + Math.floor(random.next() * (until - start));
    if (random.chance(HOURLY_WEIGHT[new Date(candidate).getUTCHours()])) return candidate;
  }
  return start + Math.floor(random.next() * (until - start));
}

/** The next visit after one that ended at `lastEventTs`, or Infinity when the device does not come back. */
function plannedReturn(device: Device, lastEventTs: number): number {
  const random = device.random;
  if (device.isBot) return lastEventTs + 20 * HOUR + Math.floor(random.next() * 8 * HOUR);
  if (device.returnRate === 0) return Infinity;
  let candidate = lastEventTs + MIN_GAP_BETWEEN_SESSIONS;
  for (let attempt = 0; attempt < 20; attempt++) {
    candidate += Math.floor(random.exponential(DAY / device.returnRate / 2));
    if (random.chance(HOURLY_WEIGHT[new Date(candidate).getUTCHours()])) break;
  }
  return candidate;
}

// ---- one visit -----------------------------------------------------------------------------------------------

type Page = { kind: "home" } | { kind: "category"; category: number } | { kind: "product"; product: Product } | { kind: "search"; category: number } | { kind: "cart" } | { kind: "checkout" };

interface CartLine {
  product: Product;
  qty: number;
}

/** Builds the events of one visit starting at `startTs`, dropping anything at or after the device's `until`. */
class VisitBuilder {
  private ts: number;
  private readonly events: GeneratedEvent[] = [];
  private readonly cart: CartLine[] = [];
  private previousUrl = "";

  constructor(
    private readonly device: Device,
    startTs: number,
  ) {
    this.ts = startTs;
  }

  build(): GeneratedEvent[] {
    if (this.device.isBot) this.crawl();
    else this.browse();
    return this.events;
  }

  private get random(): Random {
    return this.device.random;
  }

  private crawl(): void {
    const random = this.random;
    const pages = random.int(120, 300);
    let category = random.int(0, CATEGORIES.length - 1);
    let product = 0;
    for (let i = 0; i < pages && this.ts < this.device.until; i++) {
      const item = CATALOG[category][product];
      this.pageView(item.url, "", item.title);
      if (++product === PRODUCTS_PER_CATEGORY) {
        product = 0;
        category = (category + 1) % CATEGORIES.length;
      }
      this.ts += random.int(150, 900);
    }
  }

  private browse(): void {
    const random = this.random;
    let page = this.landing();
    if (this.device.customerId !== undefined && !this.device.identified && random.chance(0.3)) {
      this.after(random.int(3, 20) * SECOND);
      this.identify();
    }
    for (let step = 0; step < 40 && this.ts < this.device.until; step++) {
      const next = this.actOn(page, step);
      if (next === undefined) return;
      page = next;
      this.after(this.dwell());
      this.show(page);
    }
  }

  /** The first page view, by acquisition channel: direct, search engine, campaign or referring site. */
  private landing(): Page {
    const random = this.random;
    const channel = random.next();
    let page: Page;
    let query = "";
    let referrer = "";
    if (channel < 0.35) {
      page = random.chance(0.7) ? { kind: "home" } : { kind: "category", category: random.skewed(CATEGORIES.length) };
    } else if (channel < 0.65) {
      referrer = random.pick(SEARCH_ENGINES);
      page = random.chance(0.5) ? this.someProduct(random.skewed(CATEGORIES.length)) : { kind: "category", category: random.skewed(CATEGORIES.length) };
    } else if (channel < 0.85) {
      const campaign = random.pick(CAMPAIGNS);
      referrer = campaign.referrer;
      query = `?utm_source=${campaign.source}&utm_medium=${campaign.medium}&utm_campaign=${campaign.campaign}`;
      page = random.chance(0.6) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : this.someProduct(random.skewed(CATEGORIES.length));
    } else {
      referrer = random.pick(REFERRING_SITES);
      page = this.someProduct(random.skewed(CATEGORIES.length));
    }
    const [url, title] = describePage(page);
    this.pageView(url + query, referrer, title);
    this.previousUrl = url + query;
    return page;
  }

  /** Clicks and cart actions on the current page, then where the visitor goes next (undefined: they leave). */
  private actOn(page: Page, step: number): Page | undefined {
    const random = this.random;
    if (random.chance(0.3)) {
      this.after(random.int(1, 20) * SECOND);
      this.click(random.pick(CLICK_TARGETS));
    }
    switch (page.kind) {
      case "home":
        if (this.leaves(step)) return undefined;
        return random.chance(0.65) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : { kind: "search", category: random.skewed(CATEGORIES.length) };
      case "category":
      case "search":
        if (this.leaves(step)) return undefined;
        if (random.chance(0.75)) return this.someProduct(page.category);
        return random.chance(0.5) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : { kind: "home" };
      case "product": {
        let added = false;
        if (random.chance(0.2)) {
          this.after(random.int(5, 60) * SECOND);
          this.addToCart(page.product);
          added = true;
        }
        if (this.leaves(step)) return undefined;
        if (added && random.chance(0.35)) return this.companionOf(page.product);
        if (this.cart.length > 0 && random.chance(added ? 0.35 : 0.12)) return { kind: "cart" };
        if (random.chance(0.45)) return this.someProduct(page.product.categoryIndex);
        return random.chance(0.6) ? { kind: "category", category: random.skewed(CATEGORIES.length) } : { kind: "search", category: random.skewed(CATEGORIES.length) };
      }
      case "cart":
        if (this.cart.length > 0 && random.chance(0.6)) return { kind: "checkout" };
        if (this.leaves(step)) return undefined;
        return { kind: "category", category: random.skewed(CATEGORIES.length) };
      case "checkout":
        if (this.device.customerId === undefined) {
          // Without an account nobody completes an order: they abandon the cart or browse on.
          return random.chance(0.7) ? undefined : { kind: "home" };
        }
        if (random.chance(0.15)) return undefined;
        if (!this.device.identified) {
          this.after(random.int(10, 60) * SECOND);
          this.identify();
        }
        this.after(random.int(20, 120) * SECOND);
        this.purchase();
        return random.chance(0.6) ? undefined : { kind: "home" };
    }
  }

  /** Exit probability: a higher one on the landing page makes bounces. */
  private leaves(step: number): boolean {
    return this.random.chance(step === 0 ? 0.3 : 0.13);
  }

  /** Time on a page: seconds to minutes, now and then a long pause, always under MAX_GAP_INSIDE_SESSION. */
  private dwell(): number {
    const random = this.random;
    if (random.chance(0.03)) return random.int(10 * MINUTE, MAX_GAP_INSIDE_SESSION);
    return Math.min(3 * SECOND + Math.floor(random.exponential(40 * SECOND)), 8 * MINUTE);
  }

  private someProduct(category: number): Page {
    return { kind: "product", product: CATALOG[category][this.random.skewed(PRODUCTS_PER_CATEGORY)] };
  }

  /** Products that go together (phone and case) make basket rules worth finding. */
  private companionOf(product: Product): Page {
    const category = COMPANION_INDEX[product.categoryIndex];
    return { kind: "product", product: CATALOG[category][(product.id % 100) % 8] };
  }

  private show(page: Page): void {
    const [url, title] = describePage(page);
    const searchUrl = page.kind === "search" ? this.random.pick(SEARCH_URLS[page.category]) : url;
    this.pageView(searchUrl, SITE_ORIGIN + this.previousUrl, title);
    this.previousUrl = searchUrl;
  }

  private after(milliseconds: number): void {
    this.ts += milliseconds;
  }

  private base(type: EventType): GeneratedEvent | undefined {
    if (this.ts >= this.device.until) return undefined;
    const device = this.device;
    const event: GeneratedEvent = {
      type,
      ts: this.ts,
      event_id: `${device.anonId}-${(device.eventCount++).toString(36)}`,
      site_id: SITE_ID,
      anon_id: device.anonId,
    };
    if (device.identified) event.user_id = device.customerId;
    this.events.push(event);
    return event;
  }

  private withClient(event: GeneratedEvent): void {
    event.ua = this.device.ua;
    event.ip = this.device.ip;
  }

  private pageView(url: string, referrer: string, title: string): void {
    const event = this.base("page_view");
    if (event === undefined) return;
    event.url = url;
    event.referrer = referrer;
    event.title = title;
    this.withClient(event);
  }

  private click(target: string): void {
    const event = this.base("click");
    if (event === undefined) return;
    event.url = this.previousUrl;
    event.element = target;
    this.withClient(event);
  }

  private identify(): void {
    this.device.identified = true;
    const event = this.base("identify");
    if (event === undefined) return;
    event.user_id = this.device.customerId;
    this.withClient(event);
  }

  private addToCart(product: Product): void {
    const random = this.random;
    const qty = random.chance(0.85) ? 1 : random.chance(0.8) ? 2 : 3;
    const event = this.base("add_to_cart");
    if (event === undefined) return;
    this.cart.push({ product, qty });
    event.sku = product.sku;
    event.price = product.price;
    event.qty = qty;
    event.url = product.url;
    this.withClient(event);
  }

  private purchase(): void {
    const event = this.base("purchase");
    if (event === undefined) return;
    const device = this.device;
    let cents = 0;
    const items = this.cart.map(({ product, qty }) => {
      cents += Math.round(product.price * 100) * qty;
      return { sku: product.sku, category: product.category, price: product.price, qty };
    });
    event.order_id = `o-${device.customerId}-${++device.orders.count}`;
    event.revenue = cents / 100;
    event.currency = "EUR";
    event.items = items;
    event.url = "/checkout";
    this.withClient(event);
    this.cart.length = 0;
  }
}

function describePage(page: Page): [url: string, title: string] {
  switch (page.kind) {
    case "home":
      return ["/", "Demo Shop"];
    case "category":
      return [`/c/${CATEGORIES[page.category].name}`, `${CATEGORIES[page.category].name} | Demo Shop`];
    case "product":
      return [page.product.url, page.product.title];
    case "search":
      return [SEARCH_URLS[page.category][0], "Search | Demo Shop"];
    case "cart":
      return ["/cart", "Cart | Demo Shop"];
    case "checkout":
      return ["/checkout", "Checkout | Demo Shop"];
  }
}

// ---- merging the devices' streams in event-time order ------------------------------------------------------

/** A binary min-heap of devices by (key, index): deterministic order for equal times. */
class DeviceHeap {
  private readonly items: Device[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Device {
    return this.items[0];
  }

  push(device: Device): void {
    const items = this.items;
    items.push(device);
    let at = items.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(device, items[parent])) break;
      items[at] = items[parent];
      at = parent;
    }
    items[at] = device;
  }

  removeTop(): void {
    const last = this.items.pop() as Device;
    if (this.items.length > 0) this.siftDown(last);
  }

  /** Re-positions the top after its key grew. */
  updateTop(): void {
    this.siftDown(this.items[0]);
  }

  /** Places `device` starting from the root slot, moving smaller children up. */
  private siftDown(device: Device): void {
    const items = this.items;
    const length = items.length;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && before(items[right], items[left]) ? right : left;
      if (!before(items[child], device)) break;
      items[at] = items[child];
      at = child;
    }
    items[at] = device;
  }
}

function before(a: Device, b: Device): boolean {
  return a.key < b.key || (a.key === b.key && a.index < b.index);
}

/** Plans the traffic and exposes its ground truth; events() replays the same traffic every time it is called. */
export function createTraffic(options: GenerateOptions): Traffic {
  const truth = planTraffic(options).truth;
  const counts: TrafficCounts = { sessions: 0, events: 0, purchases: 0 };
  return {
    truth,
    counts,
    *events() {
      counts.sessions = counts.events = counts.purchases = 0;
      const heap = new DeviceHeap();
      for (const device of planTraffic(options).devices) heap.push(device);
      while (heap.size > 0) {
        const device = heap.peek();
        if (device.cursor === device.visit.length) {
          device.visit = new VisitBuilder(device, device.key).build();
          device.cursor = 0;
          counts.sessions++;
        }
        const event = device.visit[device.cursor++];
        counts.events++;
        if (event.type === "purchase") counts.purchases++;
        let nextKey: number;
        if (device.cursor < device.visit.length) {
          nextKey = device.visit[device.cursor].ts;
        } else {
          device.visit = [];
          device.cursor = 0;
          nextKey = plannedReturn(device, event.ts);
        }
        device.key = nextKey;
        if (nextKey < device.until) heap.updateTop();
        else heap.removeTop();
        yield event;
      }
    },
  };
}

/** The events of `createTraffic(options)`, in event-time order. */
export function generateTraffic(options: GenerateOptions): Generator<GeneratedEvent> {
  return createTraffic(options).events();
}

/** NDJSON lines (without newline) with `ts` as an ISO 8601 UTC string, in event-time order. */
export function* generateLines(options: GenerateOptions): Generator<string> {
  for (const event of generateTraffic(options)) yield toNdjsonLine(event);
}

/** `{"type":…,"ts":<epoch ms>,…}` with ts rewritten as ISO: one stringify, no copy of the event. */
export function toNdjsonLine(event: GeneratedEvent): string {
  const json = JSON.stringify(event);
  const tsStart = json.indexOf('"ts":') + 5;
  const tsEnd = json.indexOf(",", tsStart);
  return `${json.slice(0, tsStart)}"${formatIsoUtc(event.ts)}"${json.slice(tsEnd)}`;
}
