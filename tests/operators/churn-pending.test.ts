import { describe, expect, it } from "vitest";
import { compareStrings, PendingEvents, type PendingSession } from "../../src/operators/churn-pending.ts";

const DAY = 86_400_000;

function session(sessionId: string, version: number, endTs: number, overrides: Partial<PendingSession> = {}): PendingSession {
  return {
    sessionId,
    version,
    retracted: false,
    userId: "u",
    visitorId: "v",
    endTs,
    pageviews: version,
    durationMs: 1_000 * version,
    cartAdds: 0,
    converted: false,
    isBot: false,
    ...overrides,
  };
}

/** The oracle: every session's highest version by id, taken when it ends before the fold (what a plain map gives). */
class ReferencePending {
  readonly byId = new Map<string, PendingSession>();

  put(next: PendingSession): void {
    const current = this.byId.get(next.sessionId);
    if (current === undefined || next.version >= current.version) this.byId.set(next.sessionId, next);
  }

  takeBefore(endTs: number): PendingSession[] {
    const taken: PendingSession[] = [];
    for (const [id, pending] of this.byId) {
      if (pending.endTs >= endTs) continue;
      this.byId.delete(id);
      if (!pending.retracted) taken.push(pending);
    }
    return taken.sort((a, b) => a.endTs - b.endTs || compareStrings(a.sessionId, b.sessionId));
  }
}

describe("PendingEvents sessions", () => {
  it("folds the highest version of each session, an update replacing its first version even across days", () => {
    const pending = new PendingEvents();
    pending.putSession(session("a", 1, 1_000));
    pending.putSession(session("b", 1, DAY + 5));
    pending.putSession(session("c", 1, 2_000));
    // b's update ends on the first day after all: it folds there, and its first version never does.
    pending.putSession(session("b", 2, 1_500));
    // c is retracted: neither version folds.
    pending.putSession(session("c", 2, 2_000, { retracted: true }));
    pending.putSession(session("d", 1, DAY + 10));
    expect(pending.takeBefore(DAY).sessions.map((s) => [s.sessionId, s.version])).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
    expect(pending.takeBefore(2 * DAY).sessions.map((s) => [s.sessionId, s.version])).toEqual([["d", 1]]);
    expect(pending.takeBefore(3 * DAY).sessions).toEqual([]);
  });

  it("counts a repeated first version once", () => {
    const pending = new PendingEvents();
    pending.putSession(session("a", 1, 1_000));
    pending.putSession(session("a", 1, 1_000));
    pending.putSession(session("b", 1, 500));
    expect(pending.takeBefore(DAY).sessions.map((s) => s.sessionId)).toEqual(["b", "a"]);
  });

  it("gives what a map of the highest version by id gives, for random versions, retractions and folds", () => {
    let seed = 20_261_204;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let run = 0; run < 40; run++) {
      const pending = new PendingEvents();
      const reference = new ReferencePending();
      const versions = new Map<string, number>();
      let foldedUntil = 0;
      for (let step = 0; step < 400; step++) {
        if (random() < 0.04) {
          foldedUntil += DAY;
          expect(pending.takeBefore(foldedUntil).sessions).toEqual(reference.takeBefore(foldedUntil));
          continue;
        }
        // Mostly new sessions (version 1), some later versions of earlier ids, a few of them retractions.
        const id = random() < 0.8 || versions.size === 0 ? `s${versions.size}` : `s${Math.floor(random() * versions.size)}`;
        const version = (versions.get(id) ?? 0) + 1;
        versions.set(id, version);
        const endTs = foldedUntil + Math.floor(random() * 3 * DAY);
        const next = session(id, version, endTs, { retracted: version > 1 && random() < 0.2 });
        pending.putSession(next);
        reference.put(next);
        if (random() < 0.02) {
          // A restore from the snapshot's JSON goes on exactly as before.
          const restored = PendingEvents.fromJSON(JSON.parse(JSON.stringify(pending.toJSON())));
          expect(restored.toJSON()).toEqual(pending.toJSON());
          expect(pending.toJSON().sessions).toEqual([...reference.byId.values()]);
        }
      }
      expect(pending.takeBefore(Infinity).sessions).toEqual(reference.takeBefore(Infinity));
    }
  });
});
