// Sizes in pipeline files: binary and decimal units, plain bytes, and back to text.
import { describe, expect, it } from "vitest";
import { formatSize, parseSize } from "../../src/config/size.ts";

describe("size - parse and format", () => {
  it("reads binary units as 1024s and decimal ones as 1000s, any case, with a fraction or a space", () => {
    expect(parseSize("10GiB")).toBe(10 * 1024 ** 3);
    expect(parseSize("512mib")).toBe(512 * 1024 ** 2);
    expect(parseSize("1.5 KiB")).toBe(1536);
    expect(parseSize("2GB")).toBe(2_000_000_000);
    expect(parseSize("1TB")).toBe(1e12);
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize("100B")).toBe(100);
  });

  it("refuses other text", () => {
    for (const text of ["", "GiB", "10 gigs", "-1GiB", "1e9", "10GiB extra"]) expect(parseSize(text)).toBeUndefined();
  });

  it("formats in the largest binary unit that divides the size", () => {
    expect(formatSize(10 * 1024 ** 3)).toBe("10GiB");
    expect(formatSize(1024 ** 2)).toBe("1MiB");
    expect(formatSize(1536)).toBe("1536B");
    expect(formatSize(2 * 1024 ** 4)).toBe("2TiB");
  });
});
