// Bot rules: crawler user agents, /robots.txt fetchers, empty user agents (only where the record carries one), rate.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BotDetector, type BotObservation } from "../../src/ingest/bots.ts";

const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

function observation(overrides: Partial<BotObservation> = {}): BotObservation {
  return { visitor: "v1", ts: 0, path: "/", userAgent: CHROME, carriesUserAgent: true, ...overrides };
}

function detector(maxEvents = 100, perSeconds = 100): BotDetector {
  return new BotDetector({ rate: { maxEvents, perSeconds } });
}

describe("bots - user agents", () => {
  it("flags crawler user agents (isbot) and not browsers", () => {
    const bots = detector();
    expect(bots.classify(observation({ visitor: "g", userAgent: GOOGLEBOT }))).toBe("user_agent");
    expect(bots.classify(observation({ visitor: "b", userAgent: CHROME }))).toBeUndefined();
  });

  it("flags an empty or '-' user agent on a request that carries one", () => {
    const bots = detector();
    expect(bots.classify(observation({ visitor: "a", userAgent: "" }))).toBe("empty_user_agent");
    expect(bots.classify(observation({ visitor: "b", userAgent: null }))).toBe("empty_user_agent");
    expect(bots.classify(observation({ visitor: "c", userAgent: "-" }))).toBe("empty_user_agent");
  });

  it("does not flag a record without a user-agent slot (a JSON event without ua)", () => {
    expect(detector().classify(observation({ userAgent: undefined, carriesUserAgent: false }))).toBeUndefined();
  });
});

describe("bots - robots.txt", () => {
  it("marks the visitor who fetched /robots.txt, for its later events too", () => {
    const bots = detector();
    bots.observeRequest(observation({ path: "/robots.txt", ts: 1_000 }));
    expect(bots.classify(observation({ path: "/index.html", ts: 2_000 }))).toBe("robots_txt");
    expect(bots.classify(observation({ visitor: "other", path: "/index.html", ts: 2_000 }))).toBeUndefined();
  });

  it("forgets the mark once the visitor has been idle longer than idleMs (event time)", () => {
    const bots = new BotDetector({ rate: { maxEvents: 100, perSeconds: 1 }, idleMs: 60_000 });
    bots.observeRequest(observation({ path: "/robots.txt", ts: 0 }));
    // Enough other traffic later in event time to trigger a sweep.
    for (let index = 0; index < 2_000; index++) bots.classify(observation({ visitor: `x${index}`, ts: 120_000 }));
    expect(bots.classify(observation({ ts: 121_000 }))).toBeUndefined();
  });
});

describe("bots - rate (more than maxEvents in perSeconds, event time)", () => {
  it("100 events within 100 s are not a bot; the 101st within the same span is", () => {
    const bots = detector(100, 100);
    const results = [];
    // 990 ms apart: events 1..101 span 99 s.
    for (let index = 0; index < 101; index++) results.push(bots.classify(observation({ ts: index * 990 })));
    expect(results.slice(0, 100).every((result) => result === undefined)).toBe(true);
    expect(results[100]).toBe("rate");
    expect(bots.classify(observation({ ts: 500_000 }))).toBe("rate");
  });

  it("101 events spread over exactly 100 s (one per second, inclusive ends) are not a bot: windows are half-open", () => {
    const bots = detector(100, 100);
    for (let index = 0; index <= 100; index++) expect(bots.classify(observation({ ts: index * 1000 }))).toBeUndefined();
  });

  it("counts out-of-order events by their event time", () => {
    const bots = detector(3, 10);
    expect(bots.classify(observation({ ts: 9_000 }))).toBeUndefined();
    expect(bots.classify(observation({ ts: 1_000 }))).toBeUndefined();
    expect(bots.classify(observation({ ts: 5_000 }))).toBeUndefined();
    expect(bots.classify(observation({ ts: 3_000 }))).toBe("rate");
  });

  it("keeps visitors apart", () => {
    const bots = detector(2, 10);
    for (let index = 0; index < 6; index++) {
      expect(bots.classify(observation({ visitor: `v${index % 3}`, ts: index }))).toBeUndefined();
    }
  });
});

describe("bots - bounded memory", () => {
  it("never remembers more than maxVisitors visitors", () => {
    const bots = new BotDetector({ rate: { maxEvents: 100, perSeconds: 100 }, maxVisitors: 500 });
    // Every visitor fetches /robots.txt, so one still remembered is a bot and one forgotten starts over.
    for (let index = 0; index < 5_000; index++) {
      bots.classify(observation({ visitor: `v${index}`, ts: index, path: "/robots.txt" }));
      // Nobody is idle (5 s of event time, idleMs 30 min): the cap alone bounds them, and holds them at exactly 500.
      expect(bots.visitorCount).toBe(Math.min(index + 1, 500));
    }
    // The 500 kept are the last 500 seen, v4500..v4999 (asking about them forgets nobody).
    for (const visitor of ["v4999", "v4750", "v4500"]) expect(bots.classify(observation({ visitor, ts: 5_000 })), visitor).toBe("robots_txt");
    expect(bots.classify(observation({ visitor: "v4499", ts: 5_000 }))).toBeUndefined();
    expect(bots.visitorCount).toBe(500);
  });

  it("evicts the least recently seen visitor first, also when one visitor sends several events in a row", () => {
    // Hand-computed with maxVisitors 2: each fetches /robots.txt, so a visitor still remembered is still a bot.
    const bots = new BotDetector({ rate: { maxEvents: 100, perSeconds: 100 }, maxVisitors: 2 });
    const robots = (visitor: string, ts: number) => bots.observeRequest(observation({ visitor, ts, path: "/robots.txt" }));
    const reasonOf = (visitor: string, ts: number) => bots.classify(observation({ visitor, ts }));
    robots("a", 0);
    robots("b", 1);
    expect(reasonOf("a", 2)).toBe("robots_txt"); // order b, a
    expect(reasonOf("a", 3)).toBe("robots_txt"); // a again: still b, a
    robots("c", 4); // b is the least recently seen: forgotten
    expect(bots.visitorCount).toBe(2);
    expect(reasonOf("a", 5)).toBe("robots_txt"); // order c, a
    expect(reasonOf("b", 6)).toBeUndefined(); // forgotten, so new; c goes
    expect(reasonOf("a", 7)).toBe("robots_txt");
    expect(reasonOf("c", 8)).toBeUndefined();
  });

  it("evicts visitors idle for idleMs behind the newest event time", () => {
    const bots = new BotDetector({ rate: { maxEvents: 100, perSeconds: 1 }, idleMs: 1_000 });
    for (let index = 0; index < 3_000; index++) bots.classify(observation({ visitor: `v${index}`, ts: index * 10 }));
    // A sweep every 1,024 requests forgets visitors last seen more than idleMs (1,000 ms) behind the newest event time.
    // The second sweep, at request 2,048 (v2047, ts 20,470), keeps lastTs ≥ 19,470: v1947..v2047, 101 visitors (the
    // first, at v1023, kept v923..v1023, all swept since). v2048..v2999 came after it: 952. In all 101 + 952 = 1,053.
    expect(bots.visitorCount).toBe(1_053);
  });
});

describe("bots - which visitors are remembered, against a list model of the rules", () => {
  // The model: visitors in the order last seen; every 1,024th request (or past maxVisitors) forgets, least recently seen
  // first, those idle for idleMs behind the newest event time and any past the cap, stopping at the first it keeps. A
  // remembered visitor that fetched /robots.txt is a bot; a forgotten one starts over.
  interface Remembered {
    visitor: string;
    lastTs: number;
    robots: boolean;
  }

  function modelAnswers(requests: Array<{ visitor: string; ts: number; robots: boolean }>, idleMs: number, maxVisitors: number): Array<string | undefined> {
    let order: Remembered[] = [];
    let newestTs = Number.NEGATIVE_INFINITY;
    let sinceSweep = 0;
    return requests.map(({ visitor, ts, robots }) => {
      let state = order.find((entry) => entry.visitor === visitor);
      if (state === undefined) state = { visitor, lastTs: ts, robots: false };
      else state.lastTs = Math.max(state.lastTs, ts);
      order = [...order.filter((entry) => entry !== state), state];
      newestTs = Math.max(newestTs, ts);
      if (++sinceSweep >= 1024 || order.length > maxVisitors) {
        sinceSweep = 0;
        while (order.length > 0 && (order.length > maxVisitors || order[0].lastTs < newestTs - idleMs)) order.shift();
      }
      if (robots) state.robots = true;
      return robots ? undefined : state.robots ? "robots_txt" : undefined;
    });
  }

  it("property: the same answers as the model for any requests, with or without sweeps", () => {
    const request = fc.record({ visitor: fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), gap: fc.integer({ min: 0, max: 400 }), robots: fc.boolean() });
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 2_500, size: "max" }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 60, max: 5_000 }), (steps, maxVisitors, idleMs) => {
        let ts = 0;
        const requests = steps.map(({ visitor, gap, robots }) => ({ visitor, ts: (ts += gap), robots }));
        const bots = new BotDetector({ rate: { maxEvents: 100_000, perSeconds: 1 }, idleMs, maxVisitors });
        const answers = requests.map(({ visitor, ts: at, robots }) => {
          if (robots) {
            bots.observeRobotsTxt(visitor, at);
            return undefined;
          }
          return bots.classify(observation({ visitor, ts: at }));
        });
        expect(answers).toEqual(modelAnswers(requests, Math.max(idleMs, 1_000), maxVisitors));
      }),
      { numRuns: 200 },
    );
  });
});
