import { describe, expect, it } from "vitest";
import {
  emittedReasonOf,
  idHashOf,
  isLive,
  kindFlagsOf,
  NO_REF,
  packIdKind,
  packPage,
  packStatus,
  reasonOf,
  referrerOf,
  urlOf,
  versionOf,
  VisitorState,
  withReason,
} from "../../src/operators/sessionize-visitor.ts";
import { SeededRandom } from "../../src/training/random.ts";

describe("an event's packed slots", () => {
  it("unpack to what was packed: pool ids up to 2^26 - 2 or none, id fingerprints up to 2^48 - 1, every kind flag", () => {
    const ids = [NO_REF, 0, 1, 2, 1_000, 65_535, 2 ** 20 + 3, 2 ** 26 - 2];
    for (const url of ids) {
      for (const referrer of ids) {
        const page = packPage(url, referrer);
        expect([urlOf(page), referrerOf(page)]).toEqual([url, referrer]);
      }
    }
    const hashes = [0, 1, 15, 16, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 123_456_789_012, 2 ** 48 - 1];
    for (const hash of hashes) {
      for (let flags = 0; flags < 16; flags++) {
        const idKind = packIdKind(hash, flags);
        expect([idHashOf(idKind), kindFlagsOf(idKind)]).toEqual([hash, flags]);
      }
    }
  });
});

describe("a session's packed status", () => {
  it("unpacks to what was packed: versions up to 2^40, live or not, every pair of split reasons", () => {
    for (const version of [0, 1, 2, 7, 1_000, 2 ** 31, 2 ** 40]) {
      for (const live of [false, true]) {
        for (let reason = 0; reason < 5; reason++) {
          for (let emittedReason = 0; emittedReason < 5; emittedReason++) {
            const status = packStatus(version, live, reason, emittedReason);
            expect([versionOf(status), isLive(status), reasonOf(status), emittedReasonOf(status)]).toEqual([version, live, reason, emittedReason]);
            const other = (reason + 3) % 5;
            expect(withReason(status, other)).toBe(packStatus(version, live, other, emittedReason));
          }
        }
      }
    }
    // Hand-computed: (3 × 2 + 1) × 64 + 2 × 8 + 4.
    expect(packStatus(3, true, 4, 2)).toBe(468);
  });
});

describe("VisitorState.hasEvent", () => {
  it("answers as a scan of the retained events would, through inserts anywhere, removed prefixes, the id Set and back", () => {
    // A third of the ids share their low 6 bits, a third their bit of the id filter (low 16 bits ≡ 7 mod 60: every
    // lookup of one of them passes the filter once any is retained), the rest are random 48-bit fingerprints.
    const seeded = new SeededRandom(2024);
    const random = (n: number) => seeded.int(n);
    const hashes = Array.from({ length: 300 }, (_, k) =>
      k % 3 === 0 ? k * 64 + 5 : k % 3 === 1 ? random(2 ** 32) * 2 ** 16 + k * 60 + 7 : random(2 ** 16) * 2 ** 32 + random(2 ** 32),
    );
    let visitor = new VisitorState("site", "anon");
    const retained: number[] = [];
    // Phases of 400 steps that grow past the 32 events from which an id Set answers, then shrink below it again.
    let crossings = 0;
    for (let step = 0; step < 6000; step++) {
      const growing = Math.floor(step / 400) % 2 === 0;
      const action = random(10);
      const wasLarge = retained.length > 32;
      if (action < (growing ? 7 : 3) || retained.length === 0) {
        // sessionize inserts only ids it does not hold (a duplicate is dropped after hasEvent).
        const hash = hashes[random(hashes.length)];
        if (retained.includes(hash)) continue;
        const index = random(retained.length + 1);
        visitor.insert(index, step, packIdKind(hash, 0), packPage(NO_REF, NO_REF), NO_REF, NO_REF);
        retained.splice(index, 0, hash);
      } else if (action < (growing ? 8 : 6)) {
        const count = 1 + random(Math.min(retained.length, 8));
        visitor.removePrefix(count);
        retained.splice(0, count);
      } else {
        const hash = hashes[random(hashes.length)];
        expect(visitor.hasEvent(hash)).toBe(retained.includes(hash));
      }
      if (wasLarge !== retained.length > 32) crossings++;
      if (step % 500 === 0) {
        // A restore builds the visitor anew from its events.
        const restored = new VisitorState("site", "anon");
        restored.events = visitor.events.slice();
        restored.reindex();
        visitor = restored;
        for (const hash of hashes) expect(visitor.hasEvent(hash)).toBe(retained.includes(hash));
      }
    }
    expect(crossings).toBeGreaterThan(6);
    for (const hash of hashes) expect(visitor.hasEvent(hash)).toBe(retained.includes(hash));
  });
});
