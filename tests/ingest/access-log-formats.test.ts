// The W3C and JSON-lines readers line by line: columns from #Fields, each vendor's escaping, JSON log_format templates.
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { compileAccessLineReader, compileLogFormat, LogFormatError } from "../../src/ingest/access-log.ts";
import { lastFieldsDirective, lastFieldsDirectiveInGzip } from "../../src/ingest/tailer-directive.ts";

describe("access log formats - w3c", () => {
  it("reads each line under the last #Fields, so a restart with other columns switches them", () => {
    const parse = compileLogFormat("w3c");
    expect(parse("#Fields: date time c-ip cs-method cs-uri-stem sc-status")).toEqual({ ok: false, code: "skipped", reason: "a W3C directive" });
    const first = parse("2024-03-04 10:00:00 192.0.2.1 GET /a 200");
    expect(parse("#Fields: c-ip sc-status time date cs-uri-stem cs-uri-query cs-method").ok).toBe(false);
    const second = parse("192.0.2.2 404 23:59:59.250 2024-02-29 /b x=1 HEAD");
    expect(first).toMatchObject({ ok: true, record: { ip: "192.0.2.1", ts: Date.UTC(2024, 2, 4, 10), method: "GET", path: "/a", status: 200, bytes: 0 } });
    expect(second).toMatchObject({ ok: true, record: { ip: "192.0.2.2", ts: Date.UTC(2024, 1, 29, 23, 59, 59, 250), method: "HEAD", path: "/b?x=1", status: 404 } });
    // No user agent or referrer column: undefined, as for a format without them.
    expect(second.ok && second.record.userAgent).toBeUndefined();
  });

  it("rejects a line before any #Fields and a line whose value count differs, saying why", () => {
    const parse = compileLogFormat("w3c");
    expect(parse("2024-03-04 10:00:00 192.0.2.1 GET /a 200")).toEqual({ ok: false, reason: expect.stringMatching(/^no #Fields directive before this line/) });
    parse("#Fields: date time c-ip cs-method cs-uri-stem sc-status");
    expect(parse("2024-03-04 10:00:00 192.0.2.1 GET /a")).toEqual({ ok: false, reason: "expected 6 space-separated values (as #Fields names), found 5" });
    expect(parse("2023-02-29 10:00:00 192.0.2.1 GET /a 200")).toMatchObject({ ok: false, reason: expect.stringMatching(/not a valid yyyy-mm-dd hh:mm:ss/) });
    expect(parse("#Fields: date time cs-method cs-uri-stem")).toMatchObject({ code: "skipped" });
    expect(parse("2024-03-04 10:00:00 GET /a")).toEqual({ ok: false, reason: "the #Fields directive lacks c-ip, sc-status" });
  });

  it("reads IIS's + as a space in the user agent and CloudFront's %20 as one, and keeps referrers as written", () => {
    const parse = compileLogFormat("w3c");
    parse("#Fields: date time c-ip cs-uri-stem sc-status cs(User-Agent) cs(Referer)");
    expect(parse("2024-03-04 10:00:00 192.0.2.1 / 200 Mozilla/5.0+(Windows+NT+10.0) https://a.example/?q=a+b")).toMatchObject({
      record: { userAgent: "Mozilla/5.0 (Windows NT 10.0)", referrer: "https://a.example/?q=a+b" },
    });
    expect(parse("2024-03-04\t10:00:00\t192.0.2.1\t/\t200\tSlackbot%201.0%20(+https://api.slack.com/robots)\t-")).toMatchObject({
      record: { userAgent: "Slackbot 1.0 (+https://api.slack.com/robots)", referrer: null },
    });
  });

  it("finds the last #Fields line before an offset across read blocks, and none before the first", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-directive-"));
    try {
      const path = join(directory, "u_ex.log");
      const text = "#Version: 1.0\n#Fields: date time c-ip\n2024-03-04 10:00:00 192.0.2.1\n#Date: x\n#Fields: date time c-ip sc-status\r\n2024-03-04 10:00:01 192.0.2.1 200\n";
      await writeFile(path, text);
      const handle = await open(path);
      try {
        const secondLine = text.indexOf("2024-03-04 10:00:01");
        for (const block of [4, 7, 64]) {
          expect(await lastFieldsDirective(handle, secondLine, block)).toBe("#Fields: date time c-ip sc-status");
          expect(await lastFieldsDirective(handle, text.indexOf("#Date"), block)).toBe("#Fields: date time c-ip");
          expect(await lastFieldsDirective(handle, text.indexOf("#Fields"), block)).toBeUndefined();
        }
      } finally {
        await handle.close();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("finds the last #Fields line before a decompressed offset of a gzip, across its inflated pieces, and keeps the handle open", async () => {
    const directory = await mkdtemp(join(tmpdir(), "clickpipe-directive-gz-"));
    try {
      const path = join(directory, "u_ex.log.1.gz");
      // About 200 KB of entries between the directives: the inflated stream comes in many pieces (16 KiB each), and the
      // second directive (13.5 KB, under the 16 KiB kept of one) likely spans two of them.
      const entries = (from: number) => Array.from({ length: 5000 }, (_, n) => `2024-03-04 10:00:00 192.0.2.${(from + n) % 250}\n`).join("");
      const first = "#Fields: date time c-ip\n";
      const second = `#Fields: date time c-ip ${"x-custom ".repeat(1500).trim()}\r\n`;
      const text = `#Version: 1.0\n${first}${entries(0)}#Date: x\n${second}${entries(1)}`;
      await writeFile(path, gzipSync(text));
      const handle = await open(path);
      try {
        const afterSecond = text.indexOf(second) + second.length + 100 * 37;
        const atLine = text.lastIndexOf("\n", afterSecond) + 1;
        expect(await lastFieldsDirectiveInGzip(handle, atLine)).toBe(second.trimEnd());
        expect(await lastFieldsDirectiveInGzip(handle, text.indexOf("#Date"))).toBe(first.trimEnd());
        expect(await lastFieldsDirectiveInGzip(handle, text.indexOf("#Fields"))).toBeUndefined();
        // The handle is still open for the reads after the offset.
        expect((await handle.stat()).size).toBeGreaterThan(0);
      } finally {
        await handle.close();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("reads a file's first #Fields after a UTF-8 byte order mark, and a JSON line after one", () => {
    const parse = compileLogFormat("w3c");
    expect(parse("\uFEFF#Fields: date time c-ip cs-uri-stem sc-status")).toMatchObject({ ok: false, code: "skipped" });
    expect(parse("2024-03-04 10:00:00 192.0.2.1 /a 200")).toMatchObject({ ok: true, record: { path: "/a", status: 200 } });
    const caddy = compileLogFormat("caddy");
    expect(caddy('\uFEFF{"ts":1700000000,"request":{"remote_ip":"192.0.2.1","uri":"/"},"status":200}')).toMatchObject({ ok: true, record: { ts: 1_700_000_000_000 } });
  });

  it("says it needs a directive until it has read one", () => {
    const read = compileAccessLineReader("w3c");
    expect(read.needsDirective?.()).toBe(true);
    read("#Fields: date time c-ip sc-status cs-uri-stem");
    expect(read.needsDirective?.()).toBe(false);
  });
});

describe("access log formats - json", () => {
  it("maps an nginx escape=json log_format's keys by their $variables, quoted or bare, nested or not", () => {
    const parse = compileLogFormat(`'{"t":"$msec","c":{"ip":"$remote_addr"},'\n'"r":"$request","s":$status,"b":$body_bytes_sent,"ua":"$http_user_agent","x":"$request_time s"}'`);
    expect(parse('{"t":"1700000000.125","c":{"ip":"192.0.2.9"},"r":"GET /p?q=1 HTTP/1.1","s":200,"b":512,"ua":"","x":"0.1 s"}')).toMatchObject({
      ok: true,
      record: { ip: "192.0.2.9", ts: 1_700_000_000_125, method: "GET", path: "/p?q=1", protocol: "HTTP/1.1", status: 200, bytes: 512, userAgent: null },
    });
    expect(parse('{"t":"1700000000.125","c":{"ip":"192.0.2.9"},"r":"GET / HTTP/1.1","s":"20"}')).toEqual({ ok: false, reason: 'status "20" is not a 3-digit status' });
  });

  it("reads $time_iso8601 with its offset and refuses a day that does not exist, as the Caddy reader does", () => {
    const parse = compileLogFormat('{"t":"$time_iso8601","ip":"$remote_addr","r":"$request","s":"$status"}');
    const line = (time: string) => `{"t":"${time}","ip":"192.0.2.9","r":"GET / HTTP/1.1","s":"200"}`;
    // 2024-02-29T00:00:00+01:00 is 2024-02-28T23:00:00Z (hand-computed: 1,709,161,200,000 ms).
    expect(parse(line("2024-02-29T00:00:00+01:00"))).toMatchObject({ ok: true, record: { ts: 1_709_161_200_000 } });
    // Date.parse reads 02-30 as 03-01; the line is refused instead of dated a day off.
    expect(parse(line("2024-02-30T00:00:00+01:00")).ok).toBe(false);
  });

  it("refuses a JSON log_format without a status, or that is not JSON, naming what is missing", () => {
    expect(() => compileLogFormat('{"ip":"$remote_addr","t":"$time_iso8601"}')).toThrow(LogFormatError);
    expect(() => compileLogFormat('{"ip":"$remote_addr","t":"$time_iso8601"}')).toThrow(/lacks a status/);
    expect(() => compileLogFormat('{"ip":"$remote_addr",}')).toThrow(/not a JSON object/);
  });

  it("prefers Caddy's client_ip to remote_ip and takes a header list's first value", () => {
    const parse = compileLogFormat("caddy");
    const line = {
      ts: 1_700_000_000.5,
      request: { remote_ip: "10.0.0.1", client_ip: "203.0.113.5", method: "GET", uri: "/x", proto: "HTTP/1.1", headers: { "User-Agent": ["ua one", "ua two"] } },
      status: 301,
      size: 0,
    };
    expect(parse(JSON.stringify(line))).toMatchObject({ ok: true, record: { ip: "203.0.113.5", ts: 1_700_000_000_500, userAgent: "ua one", referrer: null, status: 301 } });
    expect(parse("[1,2]")).toEqual({ ok: false, reason: "not a JSON object" });
  });

  it("reads Caddy's ts in each of its time_formats: epoch seconds, milliseconds or nanoseconds by size, ISO 8601, common_log, wall as UTC", () => {
    const parse = compileLogFormat("caddy");
    /** `ts` as JSON text, as Caddy writes it (unix_nano's integers are beyond a double's exact range). */
    const at = (tsJson: string) => {
      const line = { logger: "http.log.access.log0", request: { remote_ip: "192.0.2.1", method: "GET", uri: "/" }, status: 200, size: 0 };
      const result = parse(`{"ts":${tsJson},${JSON.stringify(line).slice(1)}`);
      return result.ok ? result.record.ts : result.reason;
    };
    // 2022-03-09 21:30:01.524 UTC, hand-computed: Date.UTC(2022, 2, 9, 21, 30, 1, 524).
    const instant = 1_646_861_401_524;
    expect(at("1646861401.524")).toBe(instant); // unix_seconds_float (the default)
    expect(at("1646861401524.1024")).toBe(instant); // unix_milli_float
    expect(at("1646861401524102400")).toBe(instant); // unix_nano, a JSON number
    expect(at('"1646861401.524"')).toBe(instant); // a JSON string
    expect(at('"2022-03-09T21:30:01.524Z"')).toBe(instant); // iso8601
    expect(at('"2022-03-09T22:30:01.524+0100"')).toBe(instant); // iso8601 at another offset
    expect(at('"2022-03-09T21:30:01.524102400Z"')).toBe(instant); // rfc3339_nano
    expect(at('"2022-03-09T21:30:01Z"')).toBe(instant - 524); // rfc3339
    expect(at('"09/Mar/2022:22:30:01 +0100"')).toBe(instant - 524); // common_log
    expect(at('"2022/03/09 21:30:01.524"')).toBe(instant); // wall_milli, UTC unless time_local
    expect(at('"2022/03/09 21:30:01"')).toBe(instant - 524); // wall
    expect(at('"2022/02/30 21:30:01"')).toBe("no valid time at ts");
    expect(at('"last tuesday"')).toBe("no valid time at ts");
  });

  it("reads Caddy's wall times (time_local) in the given time zone: summer and winter, the spring gap, the autumn overlap", () => {
    /** The instant of a Caddy line whose ts is written as `wall`/`wall_milli` text, read with this time zone. */
    const at = (wall: string, timeZone?: string) => {
      const parse = compileLogFormat("caddy", { timeZone });
      const line = { ts: wall, logger: "http.log.access", request: { remote_ip: "192.0.2.1", method: "GET", uri: "/" }, status: 200, size: 0 };
      const result = parse(JSON.stringify(line));
      return result.ok ? result.record.ts : result.reason;
    };
    // By hand: the wall time minus the zone's offset then (CEST +2, CET +1, EDT −4, EST −5).
    expect(at("2024/07/15 14:30:05", "Europe/Berlin")).toBe(Date.UTC(2024, 6, 15, 12, 30, 5)); // 1_721_046_605_000
    expect(at("2024/01/15 09:00:00.250", "Europe/Berlin")).toBe(Date.UTC(2024, 0, 15, 8, 0, 0, 250)); // 1_705_305_600_250
    expect(at("2024/07/15 14:30:05", "America/New_York")).toBe(Date.UTC(2024, 6, 15, 18, 30, 5)); // 1_721_068_205_000
    expect(at("2024/01/15 09:00:00", "America/New_York")).toBe(Date.UTC(2024, 0, 15, 14, 0, 0)); // 1_705_327_200_000
    // 02:30 does not exist on 2024-03-31 in Berlin (02:00 CET became 03:00 CEST): moved forward by the gap, 03:30 CEST.
    expect(at("2024/03/31 02:30:00", "Europe/Berlin")).toBe(Date.UTC(2024, 2, 31, 1, 30)); // 1_711_848_600_000
    // Nor 02:30 on 2024-03-10 in New York: 03:30 EDT.
    expect(at("2024/03/10 02:30:00", "America/New_York")).toBe(Date.UTC(2024, 2, 10, 7, 30)); // 1_710_055_800_000
    // 02:30 happens twice on 2024-10-27 in Berlin: the earlier, still CEST.
    expect(at("2024/10/27 02:30:00", "Europe/Berlin")).toBe(Date.UTC(2024, 9, 27, 0, 30)); // 1_729_989_000_000
    // The default is UTC, what Caddy writes without time_local; a zone changes no time that has an offset of its own.
    expect(at("2024/07/15 14:30:05")).toBe(Date.UTC(2024, 6, 15, 14, 30, 5));
    expect(at("2024-07-15T14:30:05+02:00", "America/New_York")).toBe(Date.UTC(2024, 6, 15, 12, 30, 5));
    expect(at("2024/02/30 14:30:05", "Europe/Berlin")).toBe("no valid time at ts");
    expect(() => compileLogFormat("caddy", { timeZone: "Europe/Berln" })).toThrow('"Europe/Berln" is not a time zone (did you mean "Europe/Berlin"?)');
  });

  it("skips Caddy entries of other loggers (an http.log.error with its request and status, TLS): no record, no dead letter", () => {
    const parse = compileLogFormat("caddy");
    const request = { remote_ip: "192.0.2.1", method: "GET", uri: "/api", headers: { "User-Agent": ["curl/8.0"] } };
    const error = { level: "error", ts: 1_646_861_401.5, logger: "http.log.error", msg: "dial tcp: connection refused", request, duration: 0.01, status: 502 };
    expect(parse(JSON.stringify(error))).toEqual({ ok: false, code: "skipped", reason: "a http.log.error entry, not an access log entry" });
    expect(parse(JSON.stringify({ level: "info", ts: 1_646_861_401.5, logger: "tls.cache.maintenance", msg: "started" }))).toMatchObject({ ok: false, code: "skipped" });
    const access = { ...error, level: "info", logger: "http.log.access.log0", msg: "handled request" };
    expect(parse(JSON.stringify(access))).toMatchObject({ ok: true, record: { ip: "192.0.2.1", path: "/api", status: 502 } });
    // Without a logger key (an encoder without it) a line is read as an access entry.
    const { logger: _logger, ...anonymous } = access;
    expect(parse(JSON.stringify(anonymous))).toMatchObject({ ok: true, record: { status: 502 } });
  });
});
