// Access-log parser against the real logs' published facts (SOURCE.md), hand-written tricky lines and a property.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileAccessLineReader, compileLogFormat, LogFormatError, type AccessRecord, type LogLineParser } from "../../src/ingest/access-log.ts";

const FIXTURES = new URL("../fixtures/access-logs/", import.meta.url);

function readLines(name: string): string[] {
  const lines = readFileSync(new URL(name, FIXTURES), "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function countBy<T>(values: T[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

function parseAll(parser: LogLineParser, lines: string[]) {
  const records: AccessRecord[] = [];
  const rejected: Array<{ lineNumber: number; reason: string }> = [];
  lines.forEach((line, index) => {
    const result = parser(line);
    if (result.ok) records.push(result.record);
    else rejected.push({ lineNumber: index + 1, reason: result.reason });
  });
  return { records, rejected };
}

function parseOk(parser: LogLineParser, line: string): AccessRecord {
  const result = parser(line);
  if (!result.ok) throw new Error(`expected ${line} to parse: ${result.reason}`);
  return result.record;
}

describe("access-log - semicomplete combined log (elastic/examples, SOURCE.md facts)", () => {
  const lines = readLines("semicomplete_apache_combined_2015.log");
  const { records, rejected } = parseAll(compileLogFormat("combined"), lines);

  it("parses 9,999 of the 10,000 lines and rejects line 8899 (truncated user agent) with a reason", () => {
    expect(lines).toHaveLength(10_000);
    expect(records).toHaveLength(9_999);
    expect(rejected).toHaveLength(1);
    expect(rejected[0].lineNumber).toBe(8899);
    expect(rejected[0].reason).toMatch(/\$http_user_agent/);
  });

  it("counts statuses exactly as SOURCE.md states", () => {
    expect(countBy(records.map((record) => record.status))).toEqual({
      200: 9125, 304: 445, 404: 213, 301: 164, 206: 45, 500: 3, 403: 2, 416: 2,
    });
  });

  it("finds 1,753 distinct client hosts", () => {
    expect(new Set(records.map((record) => record.ip)).size).toBe(1_753);
  });

  it("reads the first line field by field", () => {
    expect(records[0]).toEqual({
      ip: "83.149.9.216",
      ident: null,
      user: null,
      ts: Date.UTC(2015, 4, 17, 10, 5, 3),
      method: "GET",
      path: "/presentations/logstash-monitorama-2013/images/kibana-search.png",
      protocol: "HTTP/1.1",
      status: 200,
      bytes: 203023,
      referrer: "http://semicomplete.com/presentations/logstash-monitorama-2013/",
      userAgent:
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36",
    });
  });

  it("spans exactly the stated 17/May/2015:10:05:00 – 20/May/2015:21:05:59 +0000, with 4,915 steps back in time", () => {
    const times = records.map((record) => record.ts);
    // The first and last requests are the span's ends (a parser that lost seconds or an offset moves one of them).
    expect(Math.min(...times)).toBe(Date.UTC(2015, 4, 17, 10, 5, 0));
    expect(Math.max(...times)).toBe(Date.UTC(2015, 4, 20, 21, 5, 59));
    expect(times.slice(1).filter((ts, index) => ts < times[index]).length).toBe(4_915);
  });

  it("gives identical records with the equivalent nginx log_format and Apache LogFormat strings", () => {
    const nginx = compileLogFormat(
      '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
    );
    const apache = compileLogFormat(String.raw`%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"`);
    const viaNginx = parseAll(nginx, lines);
    const viaApache = parseAll(apache, lines);
    expect(viaNginx.records).toEqual(records);
    expect(viaApache.records).toEqual(records);
    expect(viaNginx.rejected.map((reject) => reject.lineNumber)).toEqual([8899]);
    expect(viaApache.rejected.map((reject) => reject.lineNumber)).toEqual([8899]);
  });
});

describe("access-log - damaged NASA excerpt in common format", () => {
  const lines = readLines("nasa_kennedy_aug95_head1929.log");
  const { records, rejected } = parseAll(compileLogFormat("common"), lines);
  // Independent oracle: the NCSA common layout as a plain regex.
  const complete = /^\S+ \S+ \S+ \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "[^"]*" \d{3} (\d+|-)$/;

  it("parses exactly the 1,841 complete lines and rejects all 88 fragments with a reason", () => {
    const completeLines = lines.flatMap((line, index) => (complete.test(line) ? [index + 1] : []));
    expect(completeLines).toHaveLength(1_841);
    expect(records).toHaveLength(1_841);
    expect(rejected).toHaveLength(88);
    const rejectedNumbers = new Set(rejected.map((reject) => reject.lineNumber));
    for (const lineNumber of completeLines) expect(rejectedNumbers.has(lineNumber)).toBe(false);
    for (const reject of rejected) expect(reject.reason.length).toBeGreaterThan(5);
  });

  it("counts statuses and hosts as SOURCE.md states", () => {
    expect(countBy(records.map((record) => record.status))).toEqual({ 200: 1680, 304: 129, 302: 27, 404: 4, 403: 1 });
    expect(new Set(records.map((record) => record.ip)).size).toBe(185);
  });

  it("reads -0400 times: non-decreasing from 01/Aug/1995:00:00:01 to 01:12:24", () => {
    const times = records.map((record) => record.ts);
    expect(times[0]).toBe(Date.UTC(1995, 7, 1, 4, 0, 1));
    expect(times[times.length - 1]).toBe(Date.UTC(1995, 7, 1, 5, 12, 24));
    for (let index = 1; index < times.length; index++) expect(times[index]).toBeGreaterThanOrEqual(times[index - 1]);
  });

  it("has no referrer or user agent in common format, and reads `404 -` as 0 bytes", () => {
    expect(records[0].referrer).toBeUndefined();
    expect(records[0].userAgent).toBeUndefined();
    // Line 330: js002.cc.utsunomiya-u.ac.jp … "GET /shuttle/resources/orbiters/discovery.gif HTTP/1.0" 404 -
    const dash = records.find((record) => record.path === "/shuttle/resources/orbiters/discovery.gif");
    expect(dash).toMatchObject({ ip: "js002.cc.utsunomiya-u.ac.jp", status: 404, bytes: 0 });
  });
});

describe("access-log - tricky lines", () => {
  const combined = compileLogFormat("combined");

  it("decodes escaped quotes inside the request and the user agent", () => {
    const record = parseOk(
      combined,
      String.raw`10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET /search?q=\"x\" HTTP/1.1" 200 12 "-" "Agent \"quoted\" \\ end"`,
    );
    expect(record.path).toBe('/search?q="x"');
    expect(record.userAgent).toBe('Agent "quoted" \\ end');
    expect(record.referrer).toBeNull();
  });

  it("decodes escaped bytes that are not UTF-8 (raw Latin-1) one character per byte, as publish reads such a line", () => {
    const record = parseOk(combined, String.raw`10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 caf\xE9"`);
    expect(record.userAgent).toBe("Mozilla/5.0 café");
  });

  it("decodes nginx \\x escapes, UTF-8 sequences included", () => {
    const record = parseOk(combined, String.raw`10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "a\x22b \xC3\xA9"`);
    expect(record.userAgent).toBe('a"b é');
  });

  it("accepts IPv6 client addresses", () => {
    const record = parseOk(combined, '2001:db8::ff00:42:8329 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"');
    expect(record.ip).toBe("2001:db8::ff00:42:8329");
  });

  it('reads "-" bytes as 0 and a user name', () => {
    const record = parseOk(combined, '1.2.3.4 - frank [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.0" 304 - "-" "-"');
    expect(record).toMatchObject({ user: "frank", bytes: 0, status: 304, userAgent: null, referrer: null });
  });

  it("keeps a 400 with a request of - as a record with method and path null", () => {
    const record = parseOk(combined, '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "-" 400 0 "-" "-"');
    expect(record).toMatchObject({ status: 400, method: null, path: null, protocol: null });
  });

  it("keeps a 400 with TLS bytes as the request (binary junk) as a record with method null", () => {
    const record = parseOk(combined, String.raw`1.2.3.4 - - [17/May/2015:10:05:03 +0000] "\x16\x03\x01\x00\xa5\x01\x00" 400 226 "-" "-"`);
    expect(record).toMatchObject({ status: 400, method: null, path: null });
  });

  it("converts time zone offsets: 10:05:03 -0400 is 14:05:03 UTC, +0530 is 04:35:03 UTC", () => {
    const minus = parseOk(combined, '1.2.3.4 - - [17/May/2015:10:05:03 -0400] "GET / HTTP/1.1" 200 1 "-" "x"');
    const plus = parseOk(combined, '1.2.3.4 - - [17/May/2015:10:05:03 +0530] "GET / HTTP/1.1" 200 1 "-" "x"');
    expect(minus.ts).toBe(Date.UTC(2015, 4, 17, 14, 5, 3));
    expect(plus.ts).toBe(Date.UTC(2015, 4, 17, 4, 35, 3));
  });

  it("reads an HTTP/0.9 request without protocol and tolerates a CRLF ending", () => {
    const record = parseOk(combined, '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /old" 200 1 "-" "x"\r');
    expect(record).toMatchObject({ method: "GET", path: "/old", protocol: null, userAgent: "x" });
  });

  it("rejects impossible dates and unknown months with a reason", () => {
    const february = combined('1.2.3.4 - - [30/Feb/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "x"');
    const month = combined('1.2.3.4 - - [17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "x"');
    expect(february).toEqual({ ok: false, reason: "the time is not a valid date" });
    expect(month).toEqual({ ok: false, reason: "the time is not a valid date" });
  });

  it("names the field that does not match: a status that is not 3 digits", () => {
    const result = combined('1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 2000 1 "-" "x"');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/\$status/);
  });

  it("reads nginx $request_uri, $msec and $time_iso8601 formats", () => {
    const msec = compileLogFormat("$remote_addr $msec $request_method $request_uri $status");
    expect(parseOk(msec, "::1 1431857103.123 POST /a?b=1 201")).toMatchObject({
      ip: "::1", ts: 1431857103123, method: "POST", path: "/a?b=1", status: 201, bytes: 0,
    });
    const iso = compileLogFormat("'$remote_addr [$time_iso8601] ' '\"$request\" $status'");
    expect(parseOk(iso, '1.2.3.4 [2015-05-17T12:05:03+02:00] "GET /x HTTP/2.0" 200').ts).toBe(Date.UTC(2015, 4, 17, 10, 5, 3));
  });

  it("reads nginx upstream lists: one value per upstream tried (\", \") or per internal redirect (\" : \")", () => {
    const format =
      '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $request_time $upstream_response_time';
    const parser = compileLogFormat(format);
    const head = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1" 200 10 "-" "Mozilla/5.0" "-" 0.010';
    for (const upstream of ["0.004", "0.004, 0.006", "0.004 : 0.006", "0.004, 0.005 : 0.006"]) {
      expect(parseOk(parser, `${head} ${upstream}`), upstream).toMatchObject({ path: "/x", status: 200 });
    }
    const reader = compileAccessLineReader(format);
    expect(reader(`${head} 0.004, 0.006`).ok).toBe(true);
  });

  it("calls a line over the 32 KiB event limit too_large before parsing it", () => {
    const reader = compileAccessLineReader("combined");
    const long = `1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /${"x".repeat(40_000)} HTTP/1.1" 200 10 "-" "Mozilla/5.0"`;
    expect(reader(long)).toEqual({ ok: false, code: "too_large", reason: `line is ${long.length} bytes, over the 32768-byte limit per event` });
  });

  it("joins Apache %U and %q into the path with its query", () => {
    const parser = compileLogFormat("%h %t %m %U%q %>s %B");
    expect(parseOk(parser, "1.2.3.4 [17/May/2015:10:05:03 +0000] GET /p?x=1 200 10").path).toBe("/p?x=1");
    expect(parseOk(parser, "1.2.3.4 [17/May/2015:10:05:03 +0000] GET /p 200 10").path).toBe("/p");
  });
});

describe("access-log - format errors", () => {
  it("refuses a format without a time, naming what is missing", () => {
    expect(() => compileLogFormat("$remote_addr $status")).toThrow(LogFormatError);
    expect(() => compileLogFormat("$remote_addr $status")).toThrow(/\$time_local/);
  });

  it("refuses an unsupported Apache strftime time and an empty format", () => {
    expect(() => compileLogFormat("%h %{%Y-%m-%d}t %>s")).toThrow(/unsupported time format/);
    expect(() => compileLogFormat("  ")).toThrow(/empty/);
  });
});

describe("access-log - property: every line is parsed or rejected with a reason, none throws", () => {
  const sample = readLines("semicomplete_apache_combined_2015.log").slice(0, 50);
  const formats = [
    compileLogFormat("combined"),
    compileLogFormat("common"),
    compileLogFormat("'$remote_addr:$remote_user [$time_local] \"$request\" $status $body_bytes_sent $request_time'"),
    compileLogFormat("%h %l %u %t \"%r\" %>s %b %D"),
  ];
  const line = fc.oneof(
    fc.string({ unit: "binary", maxLength: 300 }),
    // Mutations of real lines: a slice cut out and arbitrary text put in its place.
    fc.tuple(fc.constantFrom(...sample), fc.nat(400), fc.nat(40), fc.string({ unit: "binary", maxLength: 8 })).map(
      ([base, at, cut, insert]) => base.slice(0, at) + insert + base.slice(at + cut),
    ),
  );

  it("never throws and always names a reason", () => {
    fc.assert(
      fc.property(line, (text) => {
        for (const parser of formats) {
          const result = parser(text);
          if (result.ok) {
            expect(Number.isFinite(result.record.ts)).toBe(true);
            expect(result.record.status).toBeGreaterThanOrEqual(0);
          } else {
            expect(result.reason.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("access-log - times of consecutive lines", () => {
  it("gives each line the epoch time of its own text while the day and offset stay cached", () => {
    // The day cache: lines crossing midnight, changing offset and an invalid clock on a cached day.
    const parse = compileLogFormat("common");
    const at = (time: string) => parseOk(parse, `h - - [${time}] "GET / HTTP/1.0" 200 1`).ts;
    expect(at("31/Dec/1999:23:59:59 +0000")).toBe(Date.UTC(1999, 11, 31, 23, 59, 59));
    expect(at("31/Dec/1999:23:59:60 +0000")).toBe(Date.UTC(2000, 0, 1, 0, 0, 0));
    expect(at("01/Jan/2000:00:00:01 +0000")).toBe(Date.UTC(2000, 0, 1, 0, 0, 1));
    expect(at("01/Jan/2000:00:00:01 -0130")).toBe(Date.UTC(2000, 0, 1, 1, 30, 1));
    expect(at("01/Jan/2000:13:14:15 -0130")).toBe(Date.UTC(2000, 0, 1, 14, 44, 15));
    expect(parse(`h - - [01/Jan/2000:24:00:00 -0130] "GET / HTTP/1.0" 200 1`)).toEqual({ ok: false, reason: "the time is not a valid date" });
    expect(at("01/Jan/2000:00:00:00 -0130")).toBe(Date.UTC(2000, 0, 1, 1, 30, 0));
  });

  it("property: any sequence of times reads as Date.UTC of its fields less the offset, or is rejected", () => {
    const MONTHS = ["Jan", "Feb", "Mar"];
    const time = fc.record({
      day: fc.integer({ min: 27, max: 31 }),
      month: fc.integer({ min: 0, max: 2 }),
      year: fc.constantFrom(2000, 2015, 2100),
      hour: fc.integer({ min: 22, max: 25 }),
      minute: fc.constantFrom(0, 59, 60),
      second: fc.constantFrom(0, 59, 60, 61),
      offset: fc.constantFrom("+0000", "-0400", "+0530"),
    });
    const two = (value: number) => String(value).padStart(2, "0");
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 30 }), (times) => {
        const parse = compileLogFormat("common");
        for (const t of times) {
          const text = `${two(t.day)}/${MONTHS[t.month]}/${t.year}:${two(t.hour)}:${two(t.minute)}:${two(t.second)} ${t.offset}`;
          const daysInMonth = new Date(Date.UTC(t.year, t.month + 1, 0)).getUTCDate();
          const valid = t.day <= daysInMonth && t.hour <= 23 && t.minute <= 59 && t.second <= 60;
          const sign = t.offset[0] === "-" ? -1 : 1;
          const offsetMs = sign * (Number(t.offset.slice(1, 3)) * 60 + Number(t.offset.slice(3))) * 60_000;
          const result = parse(`h - - [${text}] "GET / HTTP/1.0" 200 1`);
          if (valid) expect(result, text).toMatchObject({ ok: true, record: { ts: Date.UTC(t.year, t.month, t.day, t.hour, t.minute, t.second) - offsetMs } });
          else expect(result, text).toEqual({ ok: false, reason: "the time is not a valid date" });
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("access-log - the line reader: head first, record on demand", () => {
  it("reads a later field of the same kind over an earlier one, and a request line only when it is valid", () => {
    // Hand-computed: $request sets method/path/protocol, then $request_method overrides the method; a "-" request
    // leaves them to the other fields. The last address and the last time count.
    const read = compileAccessLineReader('$remote_addr $realip_remote_addr [$time_local] "$request" $request_method $status $msec');
    const line = read('10.0.0.1 1.2.3.4 [17/May/2015:10:05:03 +0000] "GET /a?b=1 HTTP/1.1" POST 200 1431857103.123');
    if (!line.ok) throw new Error(line.reason);
    expect({ ts: line.ts, method: line.method, path: line.path, protocol: line.protocol, status: line.status }).toEqual({
      ts: 1431857103123, method: "POST", path: "/a?b=1", protocol: "HTTP/1.1", status: 200,
    });
    expect(line.record()).toEqual({
      ip: "1.2.3.4", ident: null, user: null, ts: 1431857103123, method: "POST", path: "/a?b=1", protocol: "HTTP/1.1",
      status: 200, bytes: 0, referrer: undefined, userAgent: undefined,
    });
    const dashRequest = read('10.0.0.1 1.2.3.4 [17/May/2015:10:05:03 +0000] "-" HEAD 400 1431857103');
    if (!dashRequest.ok) throw new Error(dashRequest.reason);
    expect({ method: dashRequest.method, path: dashRequest.path, protocol: dashRequest.protocol, ts: dashRequest.ts }).toEqual({
      method: "HEAD", path: null, protocol: null, ts: 1431857103000,
    });
    // The first address is not "-", the one that counts is.
    expect(read('10.0.0.1 - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" GET 200 1')).toEqual({ ok: false, reason: "the client address is -" });
  });

  it("decodes a quoted address before checking it for -", () => {
    const read = compileAccessLineReader('"$remote_addr" [$time_local] "$request" $status');
    expect(read(String.raw`"\x2d" [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200`)).toEqual({ ok: false, reason: "the client address is -" });
    const line = read(String.raw`"a\"b" [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200`);
    expect(line.ok && line.record().ip).toBe('a"b');
  });

  it("gives each line its own head: nothing of the line read before shows through", () => {
    const read = compileAccessLineReader("combined");
    const first = read('1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 5 "http://r/" "agent"');
    expect(first.ok && first.path).toBe("/a");
    const second = read('5.6.7.8 - bob [18/May/2015:11:00:00 +0000] "-" 400 - "-" "-"');
    if (!second.ok) throw new Error(second.reason);
    expect({ method: second.method, path: second.path, protocol: second.protocol, status: second.status, ts: second.ts }).toEqual({
      method: null, path: null, protocol: null, status: 400, ts: Date.UTC(2015, 4, 18, 11),
    });
    expect(second.record()).toEqual({
      ip: "5.6.7.8", ident: null, user: "bob", ts: Date.UTC(2015, 4, 18, 11), method: null, path: null, protocol: null,
      status: 400, bytes: 0, referrer: null, userAgent: null,
    });
  });

  it("property: the head is the record's, and reading lines one after another gives what each gives alone", () => {
    const sample = readLines("semicomplete_apache_combined_2015.log").slice(0, 50);
    const line = fc.oneof(
      fc.constantFrom(...sample),
      fc.tuple(fc.constantFrom(...sample), fc.nat(300), fc.nat(30), fc.string({ unit: "binary", maxLength: 6 })).map(
        ([base, at, cut, insert]) => base.slice(0, at) + insert + base.slice(at + cut),
      ),
    );
    const formats = ["combined", "common", '$remote_addr [$time_local] "$request" $request_method $request_uri $status "$http_user_agent"'];
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 20 }), (lines) => {
        for (const format of formats) {
          const read = compileAccessLineReader(format);
          for (const text of lines) {
            // A fresh parser per line: nothing carried over from the line before.
            const alone = compileLogFormat(format)(text);
            const result = read(text);
            if (!result.ok) {
              expect(alone).toEqual(result);
              continue;
            }
            const record = result.record();
            expect(alone).toEqual({ ok: true, record });
            expect({ ts: result.ts, method: result.method, path: result.path, protocol: result.protocol, status: result.status }).toEqual({
              ts: record.ts, method: record.method, path: record.path, protocol: record.protocol, status: record.status,
            });
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
