// Privacy: exact anonymized addresses, HMAC pseudonyms equal to node:crypto's, PII fields removed at any depth.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ClickEvent } from "../../src/events/event.ts";
import { anonymizeIp, formatIpv6, PrivacyFilter, PseudonymKeyMissingError, pseudonymize, withoutFields } from "../../src/ingest/privacy.ts";

describe("privacy - IP anonymization", () => {
  it("zeroes the last IPv4 octet", () => {
    expect(anonymizeIp("192.168.17.123")).toBe("192.168.17.0");
    expect(anonymizeIp("83.149.9.216")).toBe("83.149.9.0");
  });

  it("zeroes the last 80 bits of IPv6 by default (keeps the /48)", () => {
    expect(anonymizeIp("2001:db8:85a3:8d3:1319:8a2e:370:7348")).toBe("2001:db8:85a3::");
  });

  it("zeroes other bit counts, cutting inside a group", () => {
    expect(anonymizeIp("2001:db8:85a3:8d3:1319:8a2e:370:7348", 64)).toBe("2001:db8:85a3:8d3::");
    // 72 bits: group 3 (0x08d3) keeps its high 8 bits → 0x0800.
    expect(anonymizeIp("2001:db8:85a3:8d3:1319:8a2e:370:7348", 72)).toBe("2001:db8:85a3:800::");
    expect(anonymizeIp("2001:db8:85a3:8d3:1319:8a2e:370:7348", 128)).toBe("::");
  });

  it("prints RFC 5952 form: lowercase, no leading zeros, first longest zero run compressed", () => {
    expect(anonymizeIp("2001:0DB8:0000:0000:0001:0000:0000:0001", 0)).toBe("2001:db8::1:0:0:1");
    expect(anonymizeIp("2001:db8:0:1:1:1:1:1", 0)).toBe("2001:db8:0:1:1:1:1:1");
    expect(formatIpv6([0, 0, 0, 0, 0, 0, 0, 1])).toBe("::1");
  });

  it("treats IPv4-mapped IPv6 as IPv4 and drops zone ids", () => {
    expect(anonymizeIp("::ffff:10.1.2.3")).toBe("::ffff:10.1.2.0");
    expect(anonymizeIp("fe80::1234:5678:9abc:def0%eth0")).toBe("fe80::");
  });

  it("returns undefined for host names (old NCSA logs), which identify a client too", () => {
    expect(anonymizeIp("in24.inetnebr.com")).toBeUndefined();
  });
});

describe("privacy - pseudonymization and dropped fields", () => {
  const key = "test-secret";

  it("computes HMAC-SHA256 hex under the key, as node:crypto does", () => {
    expect(pseudonymize("customer-17", key)).toBe(createHmac("sha256", key).update("customer-17").digest("hex"));
  });

  it("fails with a clear error when pseudonymize is configured without a key", () => {
    const config = { anonymizeIp: true, ipv6Bits: 80, pseudonymize: ["user_id" as const], dropFields: [], redactQueryParams: [], redactEmails: false };
    expect(() => new PrivacyFilter(config, undefined)).toThrow(PseudonymKeyMissingError);
    expect(() => new PrivacyFilter(config, "")).toThrow(/CLICKPIPE_PSEUDONYM_KEY is not set/);
  });

  it("applies every step: ip anonymized, ids pseudonymized, PII gone at the top and inside items", () => {
    const filter = new PrivacyFilter(
      {
        anonymizeIp: true,
        ipv6Bits: 80,
        pseudonymize: ["user_id", "anon_id"],
        dropFields: ["email", "name", "phone", "address"],
        redactQueryParams: [],
        redactEmails: false,
      },
      key,
    );
    const event: ClickEvent = {
      type: "purchase",
      ts: 1,
      event_id: "e1",
      user_id: "alice@example.com",
      anon_id: "device-9",
      ip: "203.0.113.77",
      email: "alice@example.com",
      name: "Alice",
      order_id: "o1",
      revenue: 10,
      items: [{ sku: "a", address: "1 Main St", qty: 1 }],
      profile: { phone: "555-0100", tier: "gold" },
    };
    const cleaned = filter.apply({ ...event });
    expect(cleaned).toEqual({
      type: "purchase",
      ts: 1,
      event_id: "e1",
      user_id: createHmac("sha256", key).update("alice@example.com").digest("hex"),
      anon_id: createHmac("sha256", key).update("device-9").digest("hex"),
      ip: "203.0.113.0",
      order_id: "o1",
      revenue: 10,
      items: [{ sku: "a", qty: 1 }],
      profile: { tier: "gold" },
    });
    const json = JSON.stringify(cleaned);
    for (const raw of ["alice@example.com", "device-9", "203.0.113.77", "Alice", "555-0100", "1 Main St"]) {
      expect(json).not.toContain(raw);
    }
    // The nested objects of the input are not changed.
    expect(event.items?.[0].address).toBe("1 Main St");
  });

  it("returns objects without the fields untouched (same reference)", () => {
    const value = { a: 1, nested: { b: [1, { c: 2 }] } };
    expect(withoutFields(value, new Set(["email"]))).toBe(value);
  });
});
