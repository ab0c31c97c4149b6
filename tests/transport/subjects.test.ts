import { describe, expect, it } from "vitest";
import { dlqSubject, eventsSubject, eventsWildcard, parseSubject } from "../../src/transport/subjects.ts";

describe("subjects", () => {
  it("names event partitions <stream>.events.<p> and dead letters <stream>.dlq", () => {
    expect(eventsSubject("CLICKPIPE_EVENTS", 0)).toBe("CLICKPIPE_EVENTS.events.0");
    expect(eventsSubject("S", 17)).toBe("S.events.17");
    expect(dlqSubject("S")).toBe("S.dlq");
    expect(eventsWildcard("S")).toBe("S.events.*");
  });

  it("parses its own subjects back", () => {
    expect(parseSubject("S", "S.events.0")).toEqual({ kind: "events", partition: 0 });
    expect(parseSubject("S", "S.events.1023")).toEqual({ kind: "events", partition: 1023 });
    expect(parseSubject("S", "S.dlq")).toEqual({ kind: "dlq" });
  });

  it("rejects subjects of other streams and malformed partitions", () => {
    expect(parseSubject("S", "T.dlq")).toBeUndefined();
    expect(parseSubject("S", "SS.dlq")).toBeUndefined();
    expect(parseSubject("S", "S.events.")).toBeUndefined();
    expect(parseSubject("S", "S.events.01")).toBeUndefined();
    expect(parseSubject("S", "S.events.x")).toBeUndefined();
    expect(parseSubject("S", "S.events.1.2")).toBeUndefined();
    expect(parseSubject("S", "S.other")).toBeUndefined();
    expect(parseSubject("S", "S")).toBeUndefined();
  });
});
