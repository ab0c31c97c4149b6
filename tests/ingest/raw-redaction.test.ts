// redactRawRecord: dead letters keep no raw IP, host name, pseudonymized id or dropped field value.
import { describe, expect, it } from "vitest";
import { pseudonymize } from "../../src/ingest/privacy.ts";
import { redactRawRecord } from "../../src/ingest/raw-redaction.ts";

const privacy = { anonymizeIp: true, ipv6Bits: 80, pseudonymize: ["user_id" as const], dropFields: ["email"] };

describe("redactRawRecord", () => {
  it("anonymizes the client address of a broken access-log line as events do (last IPv4 octet zeroed)", () => {
    const line = '46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1';
    expect(redactRawRecord(line, privacy, "k")).toBe(
      '46.118.127.0 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1',
    );
  });

  it("zeroes the last 80 bits of IPv6 addresses and replaces a leading host name by -", () => {
    expect(redactRawRecord("2001:db8:85a3:8d3:1319:8a2e:370:7348 - - [oops", privacy, undefined)).toBe("2001:db8:85a3:: - - [oops");
    expect(redactRawRecord("in24.inetnebr.com - - [01/Aug/1995:00:00:01 -0400] \"GET /", privacy, undefined)).toBe('- - - [01/Aug/1995:00:00:01 -0400] "GET /');
  });

  it("leaves version numbers and dates that are not addresses alone", () => {
    const text = '"GET /download/1.2.3.4567 HTTP/1.1" at 2015-05-17 10:05:00 from "-" Chrome/41.0.2272.101';
    expect(redactRawRecord(text, privacy, undefined)).toBe(text);
  });

  it("replaces pseudonymized fields' values by their pseudonyms, also in JSON too broken to parse", () => {
    const raw = '{"type":"purchase","user_id":"alice@example","revenue":"12,50","ip":"192.168.7.9"';
    expect(redactRawRecord(raw, privacy, "secret")).toBe(
      `{"type":"purchase","user_id":"${pseudonymize("alice@example", "secret")}","revenue":"12,50","ip":"192.168.7.0"`,
    );
  });

  it("blanks the values of dropped fields", () => {
    expect(redactRawRecord('{"email": "a@b.example", "type": "x"}', privacy, undefined)).toBe('{"email": null, "type": "x"}');
  });

  it("handles values of every type: numbers and literals are pseudonymized as their text, dropped fields of any type become null", () => {
    const withDrops = { ...privacy, dropFields: ["email", "phone", "address"] };
    const raw = '{"user_id": 4242, "phone":5551234,"address":{"street":"1 Main St","n":[1,2]},"email":"b@x.example","url":"/"}';
    expect(redactRawRecord(raw, withDrops, "secret")).toBe(
      `{"user_id": "${pseudonymize("4242", "secret")}", "phone":null,"address":null,"email":null,"url":"/"}`,
    );
    expect(redactRawRecord('{"user_id":{"id":"alice"},"x":1}', privacy, "secret")).toBe('{"user_id":null,"x":1}');
  });

  it("pseudonymizes a string cut off by the end of a broken record, and values with escaped quotes whole", () => {
    expect(redactRawRecord('{"type":"page_view","user_id":"alice@exa', privacy, "secret")).toBe(`{"type":"page_view","user_id":"${pseudonymize("alice@exa", "secret")}"`);
    expect(redactRawRecord('{"user_id":"a\\"b","email":"x\\"y"}', privacy, "secret")).toBe(`{"user_id":"${pseudonymize('a"b', "secret")}","email":null}`);
  });

  it("redacts a pixel's query string: pseudonyms URL-encoded, dropped fields emptied, other pairs untouched", () => {
    const query = "writeKey=[redacted]&type=page_view&anon_id=p&url=/x&user_id=alice+px%40corp&email=alice%40example.com&ip=198.51.100.23";
    expect(redactRawRecord(query, privacy, "secret")).toBe(
      `writeKey=[redacted]&type=page_view&anon_id=p&url=/x&user_id=${encodeURIComponent(pseudonymize("alice px@corp", "secret"))}&email=&ip=198.51.100.0`,
    );
    expect(redactRawRecord("type=x&user_id=&my_user_id=keep", privacy, "secret")).toBe("type=x&user_id=&my_user_id=keep");
  });

  it("changes nothing when anonymizeIp is off and nothing is pseudonymized or dropped", () => {
    const raw = '10.1.2.3 {"user_id":"bob"}';
    expect(redactRawRecord(raw, { anonymizeIp: false, ipv6Bits: 80, pseudonymize: [], dropFields: [] }, "k")).toBe(raw);
  });
});
