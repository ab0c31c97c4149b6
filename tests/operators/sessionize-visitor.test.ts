import { describe, expect, it } from "vitest";
import { idHashOf, kindFlagsOf, NO_REF, packIdKind, packPage, referrerOf, urlOf } from "../../src/operators/sessionize-visitor.ts";

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
