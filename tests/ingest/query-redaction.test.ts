// URL redaction (query, fragment, nested parameters, path): each expected URL is written out by hand; the rest of a
// URL must stay byte for byte.
import { describe, expect, it } from "vitest";
import { ingestConfig } from "../../src/config/ingest.ts";
import type { ClickEvent } from "../../src/events/event.ts";
import { PrivacyFilter } from "../../src/ingest/privacy.ts";
import { compileQueryRedaction, decodeQueryComponent, redactPathAddresses, redactQueryPairsInText, redactUrl } from "../../src/ingest/query-redaction.ts";

const defaults = ingestConfig.parse({}).privacy;
const byDefault = compileQueryRedaction(defaults.redactQueryParams, defaults.redactEmails);
const namesOnly = compileQueryRedaction(defaults.redactQueryParams, false);

describe("redactUrl - named parameters", () => {
  const cases: Array<[string, string]> = [
    // Listed names, whatever their case; utm_* and the rest unchanged.
    [
      "https://shop.example/p/42?utm_source=news&token=abc123&utm_medium=mail&Password=hunter2",
      "https://shop.example/p/42?utm_source=news&token=(redacted)&utm_medium=mail&Password=(redacted)",
    ],
    // Names compared percent-decoded: write%4Bey is writeKey, api%5Fkey is api_key.
    ["/v1/pixel.gif?write%4Bey=wk_live_1&type=page_view&WRITEKEY=wk_live_2", "/v1/pixel.gif?write%4Bey=(redacted)&type=page_view&WRITEKEY=(redacted)"],
    ["/p?api%5Fkey=k1&apikey=keep", "/p?api%5Fkey=(redacted)&apikey=keep"],
    // Repeated parameters: every one; an empty value stays empty.
    ["/p?token=a&x=1&token=b&token=", "/p?token=(redacted)&x=1&token=(redacted)&token="],
    // A fragment ends the value; a hash router's query after it is read too.
    ["/p?token=abc#section-2", "/p?token=(redacted)#section-2"],
    ["/app?lang=de#/reset?token=abc&step=2", "/app?lang=de#/reset?token=(redacted)&step=2"],
    // Without "=" there is no value to redact.
    ["/p?token&debug&x=1", "/p?token&debug&x=1"],
    // A value with "=" in it (base64 padding) is one value; ";" separates pairs as older servers read them.
    ["/p?token=YWJj==&x=1", "/p?token=(redacted)&x=1"],
    ["/p?a=1;secret=s3;b=2", "/p?a=1;secret=(redacted);b=2"],
    // Non-ASCII values, raw or escaped, and names that only contain a listed one are left.
    ["/suche?q=Bücher&token=ü€&ort=Zürich&my_token=keep", "/suche?q=Bücher&token=(redacted)&ort=Zürich&my_token=keep"],
    ["/p?token=%E2%82%AC%20x&q=%E2%82%AC", "/p?token=(redacted)&q=%E2%82%AC"],
    // A URL without a query, even one with a listed name in its path.
    ["/token=abc/email", "/token=abc/email"],
    ["https://shop.example/", "https://shop.example/"],
  ];
  it.each(cases)("%s", (url, expected) => {
    expect(redactUrl(url, namesOnly)).toBe(expected);
  });

  it("always redacts writeKey, even when the list leaves it out or is empty", () => {
    expect(redactUrl("/p?writeKey=wk&token=t", compileQueryRedaction([], false))).toBe("/p?writeKey=(redacted)&token=t");
    expect(redactUrl("/p?writeKey=wk&sid=1", compileQueryRedaction(["sid"], false))).toBe("/p?writeKey=(redacted)&sid=(redacted)");
  });

  it("matches configured names with spaces (+) and non-ASCII letters in any case", () => {
    const redaction = compileQueryRedaction(["my token", "Schlüssel"], false);
    expect(redactUrl("/p?my+token=1&my%20token=2&my_token=3", redaction)).toBe("/p?my+token=(redacted)&my%20token=(redacted)&my_token=3");
    expect(redactUrl("/p?SCHL%C3%9CSSEL=x&schlüssel=y", redaction)).toBe("/p?SCHL%C3%9CSSEL=(redacted)&schlüssel=(redacted)");
  });

  it("is idempotent: a redacted URL stays as it is", () => {
    const once = redactUrl("/p?token=a&email=jane%40x.com&q=1", byDefault);
    expect(once).toBe("/p?token=(redacted)&email=(redacted)&q=1");
    expect(redactUrl(once, byDefault)).toBe(once);
  });
});

describe("redactUrl - email addresses", () => {
  const cases: Array<[string, string]> = [
    // In any parameter's value: plain, %40-encoded (either case), with + for spaces around it.
    ["/p?q=jane@x.com&utm_source=news", "/p?q=(redacted)&utm_source=news"],
    ["/p?to=jane%40x.com&cc=joe%40Mail.Example.org", "/p?to=(redacted)&cc=(redacted)"],
    ["/p?msg=write+to+sales%40shop.example+today&sort=new+first", "/p?msg=(redacted)&sort=new+first"],
    // Non-ASCII addresses (IDN domains), raw and escaped.
    ["/p?kontakt=j%C3%BCrgen%40b%C3%BCcher.de&x=%C3%BC", "/p?kontakt=(redacted)&x=%C3%BC"],
    ["/p?kontakt=jürgen@bücher.de", "/p?kontakt=(redacted)"],
    // A stray escape that is not UTF-8 does not hide the %40 next to it.
    ["/p?q=jane%FF%40x.com", "/p?q=(redacted)"],
    // A pair without "=" that is an address.
    ["/unsubscribe?jane%40x.com&list=7", "/unsubscribe?(redacted)&list=7"],
    // In the fragment after the query.
    ["/p?x=1#to=jane@x.com", "/p?x=1#to=(redacted)"],
    // Not addresses: no dot in the domain, a handle, a version, a high-density image's scale.
    ["/p?u=a@b&h=@jane&v=1.2@3&img=logo@2x.png", "/p?u=a@b&h=@jane&v=1.2@3&img=logo@2x.png"],
    // Both: the path's segment and the query's value.
    ["/u/jane@x.com/profile?tab=1&cc=joe%40y.org", "/u/(redacted)/profile?tab=1&cc=(redacted)"],
  ];
  it.each(cases)("%s", (url, expected) => {
    expect(redactUrl(url, byDefault)).toBe(expected);
  });

  it("leaves addresses in values of unlisted parameters when redactEmails is off", () => {
    expect(redactUrl("/p?q=jane%40x.com&email=jane%40x.com", namesOnly)).toBe("/p?q=jane%40x.com&email=(redacted)");
  });
});

describe("decodeQueryComponent", () => {
  it("reads + as a space and decodes UTF-8 escapes, keeping escapes that are not UTF-8", () => {
    expect(decodeQueryComponent("a+b%20c%C3%BC")).toBe("a b cü");
    expect(decodeQueryComponent("%FF%41%zz")).toBe("%FFA%zz");
  });
});

describe("redactQueryPairsInText - dead letters", () => {
  it("redacts the query pairs of a broken log line's request and referrer, and of a pixel's query", () => {
    const line =
      '10.0.0.1 - - [oops] "GET /v1/pixel.gif?writeKey=wk_live_1&type=page_view&url=%2Fp HTTP/1.1" 200 43 "https://r.example/?email=jane%40x.com&utm_source=a" "UA"';
    expect(redactQueryPairsInText(line, byDefault)).toBe(
      '10.0.0.1 - - [oops] "GET /v1/pixel.gif?writeKey=(redacted)&type=page_view&url=%2Fp HTTP/1.1" 200 43 "https://r.example/?email=(redacted)&utm_source=a" "UA"',
    );
    expect(redactQueryPairsInText("writeKey=wk&ts=x&q=a%40b.example", byDefault)).toBe("writeKey=(redacted)&ts=x&q=(redacted)");
  });

  it("redacts a url inside JSON and leaves values already redacted by the collector", () => {
    expect(redactQueryPairsInText('{"url":"/p?token=abc&x=1","ts":"bad"}', byDefault)).toBe('{"url":"/p?token=(redacted)&x=1","ts":"bad"}');
    expect(redactQueryPairsInText("writeKey=[redacted]&type=x", byDefault)).toBe("writeKey=[redacted]&type=x");
  });
});

describe("PrivacyFilter - url and referrer", () => {
  it("redacts both URL fields of an event and nothing else", () => {
    const filter = new PrivacyFilter({ ...defaults, anonymizeIp: false }, undefined);
    const event = filter.apply({
      type: "page_view",
      ts: 1,
      event_id: "e1",
      anon_id: "a1",
      url: "https://shop.example/welcome?email=jane%40x.com&utm_source=newsletter&utm_campaign=spring%20sale",
      referrer: "https://mail.example/read?token=t0k&folder=inbox",
      title: "Welcome ?email=jane@x.com",
      page_item: "/welcome",
    });
    expect(event).toEqual({
      type: "page_view",
      ts: 1,
      event_id: "e1",
      anon_id: "a1",
      url: "https://shop.example/welcome?email=(redacted)&utm_source=newsletter&utm_campaign=spring%20sale",
      referrer: "https://mail.example/read?token=(redacted)&folder=inbox",
      title: "Welcome ?email=jane@x.com",
      page_item: "/welcome",
    });
  });

  it("redacts a click's target_url (the browser tracker's link target) as it redacts url", () => {
    const filter = new PrivacyFilter({ ...defaults, anonymizeIp: false }, undefined);
    const event = filter.apply({
      type: "click",
      ts: 1,
      event_id: "e1",
      anon_id: "a1",
      url: "https://shop.example/help",
      target_url: "https://partner.example/u/jane%40x.com/signup?token=t0k&ref=shop",
      click_kind: "outbound",
    });
    expect(event).toEqual({
      type: "click",
      ts: 1,
      event_id: "e1",
      anon_id: "a1",
      url: "https://shop.example/help",
      target_url: "https://partner.example/u/(redacted)/signup?token=(redacted)&ref=shop",
      click_kind: "outbound",
    });
  });
});

describe("redactUrl and dead letters - the userinfo of a URL's authority", () => {
  // `//user:password@host` is a credential whatever the list says: all of the userinfo goes (up to the last "@", as
  // browsers read it), the host, path and query stay.
  const cases: Array<[string, string]> = [
    ["https://user:s3cret@host.example/x?a=1", "https://(redacted)@host.example/x?a=1"],
    ["ftp://anonymous@ftp.example/pub/", "ftp://(redacted)@ftp.example/pub/"],
    ["//user:pw@cdn.example/a.js", "//(redacted)@cdn.example/a.js"],
    ["https://a@b:c@host.example", "https://(redacted)@host.example"],
    ["https://user:pw@host.example#frag", "https://(redacted)@host.example#frag"],
    ["https://user:pw@host.example/p?token=t#x", "https://(redacted)@host.example/p?token=(redacted)#x"],
    // No userinfo: an "@" in the path, query or fragment is not one; an empty userinfo and other schemes stay.
    ["https://host.example/@jane", "https://host.example/@jane"],
    ["https://host.example/p?to=a@b#c", "https://host.example/p?to=a@b#c"],
    ["https://@host.example/", "https://@host.example/"],
    ["mailto:jane@x.com", "mailto:jane@x.com"],
    ["/relative/path?x=1", "/relative/path?x=1"],
  ];
  it.each(cases)("%s", (url, expected) => {
    expect(redactUrl(url, namesOnly)).toBe(expected);
  });

  it("redacts every URL's userinfo in a dead letter's text, and leaves a redacted one and free text's addresses to the other rules", () => {
    const line = '{"url":"https://u:p@shop.example/a","referrer":"http://admin:hunter2@intranet/","note":"ask jane@x.com"}';
    expect(redactQueryPairsInText(line, namesOnly)).toBe('{"url":"https://(redacted)@shop.example/a","referrer":"http://(redacted)@intranet/","note":"ask jane@x.com"}');
    expect(redactQueryPairsInText("GET https://(redacted)@h.example/ HTTP/1.1", namesOnly)).toBe("GET https://(redacted)@h.example/ HTTP/1.1");
  });

  it("redacts the userinfo of a URL whose slashes the record's JSON escapes (PHP's json_encode writes \\/ by default)", () => {
    const line = String.raw`{"url":"https:\/\/jane:hunter2@shop.example\/cart","referrer":"https:\/\/(redacted)@h.example\/"}`;
    expect(redactQueryPairsInText(line, namesOnly)).toBe(String.raw`{"url":"https:\/\/(redacted)@shop.example\/cart","referrer":"https:\/\/(redacted)@h.example\/"}`);
  });
});

describe("redactUrl and dead letters - the userinfo of a URL nested in a query value", () => {
  // A login's return URL carries the nested URL's userinfo as written: percent-encoded once, twice, or raw. It goes
  // whatever redactEmails says (with it on, the email rule takes the whole value), the rest stays as written.
  const cases: Array<[string, string]> = [
    ["https://a.example/login?next=https%3A%2F%2Fjane%3Ahunter2%40shop.example%2F", "https://a.example/login?next=https%3A%2F%2F(redacted)%40shop.example%2F"],
    ["/r?next=https%253A%252F%252Fjane%253Ahunter2%2540shop.example%252Fcart&x=1", "/r?next=https%253A%252F%252F(redacted)%2540shop.example%252Fcart&x=1"],
    ["/r?next=https://jane:hunter2@shop.example/p&x=1", "/r?next=https://(redacted)@shop.example/p&x=1"],
    ["/r?https%3A%2F%2Fjane%3Ahunter2%40shop.example%2F", "/r?https%3A%2F%2F(redacted)%40shop.example%2F"],
    // Up to the last "@" encoded as often (an "@" encoded more often is a character of the userinfo).
    ["/r?next=https%3A%2F%2Fjane%2540x.com%3Apw%40shop.example%2Fcb%3Ftoken%3Dt", "/r?next=https%3A%2F%2F(redacted)%40shop.example%2Fcb%3Ftoken%3D(redacted)"],
    // An "@" encoded less often than the slashes is an "@" once the nested URL is decoded (twice here): it ends the userinfo.
    ["/r?next=https%253A%252F%252Fjane%253Ahunter2%40shop.example%252F", "/r?next=https%253A%252F%252F(redacted)%40shop.example%252F"],
    ["/r?next=https%253A%252F%252Fjane%253Ahunter2@shop.example%252F", "/r?next=https%253A%252F%252F(redacted)@shop.example%252F"],
    // A nested query of its own, a nested URL without userinfo, an "@" after the authority: kept.
    ["/r?next=%2Fcb%3Fa%3D1%26b%3D2", "/r?next=%2Fcb%3Fa%3D1%26b%3D2"],
    ["/r?next=https%3A%2F%2Fshop.example%2F%40jane", "/r?next=https%3A%2F%2Fshop.example%2F%40jane"],
    ["/r?next=https%3A%2F%2Fshop.example%2Fp%3Fto%3Da%40b", "/r?next=https%3A%2F%2Fshop.example%2Fp%3Fto%3Da%40b"],
    ["/r?next=https%3A%2F%2F(redacted)%40shop.example%2F", "/r?next=https%3A%2F%2F(redacted)%40shop.example%2F"],
    ["/r?to=jane@x.com", "/r?to=jane@x.com"],
  ];
  it.each(cases)("%s", (url, expected) => {
    expect(redactUrl(url, namesOnly)).toBe(expected);
  });

  it("takes the whole value with redactEmails on, and redacts a nested URL's userinfo in a dead letter's text", () => {
    expect(redactUrl("/r?next=https%3A%2F%2Fjane%3Ahunter2%40shop.example%2F", byDefault)).toBe("/r?next=(redacted)");
    const line = '"GET /login?next=https%253A%252F%252Fjane%253Ahunter2%2540shop.example%252F HTTP/1.1" 302 0';
    expect(redactQueryPairsInText(line, namesOnly)).toBe('"GET /login?next=https%253A%252F%252F(redacted)%2540shop.example%252F HTTP/1.1" 302 0');
  });
});

describe("PrivacyFilter - pre-signed download links by default", () => {
  // Whoever holds a pre-signed link can fetch its file until it expires: the signature (and a temporary credential)
  // goes, what names the file and the expiry stays. Examples in the shapes the providers document.
  const cases: Array<[string, string]> = [
    [
      "https://files.s3.amazonaws.com/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Security-Token=IQoJb3JpZ2lu&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
      "https://files.s3.amazonaws.com/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=(redacted)&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Security-Token=(redacted)&X-Amz-Signature=(redacted)",
    ],
    [
      "https://storage.googleapis.com/bucket/file.zip?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=svc%40proj.iam.gserviceaccount.com%2F20190301%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Expires=900&X-Goog-Signature=5b1d1a2c",
      "https://storage.googleapis.com/bucket/file.zip?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=(redacted)&X-Goog-Expires=900&X-Goog-Signature=(redacted)",
    ],
    [
      "https://d111111abcdef8.cloudfront.net/video.mp4?Expires=1357034400&Signature=nitfHRCrtziwO2HwPfWw~yYDhUF5EwRunQA-j19DzZrvDh6hQ73lDx~-ar3UocvvRQVw6EkC~GdpGQyyOSKQim-TxAnW7d8F5Kkai9HVx0FIu-5jcQb0UEmatEXAMPLE3ReXySpLSMj0yCd3ZAB4UcBCAqEijkytL6f3fVYNGQI6&Key-Pair-Id=APKA9ONS7QCOWEXAMPLE",
      "https://d111111abcdef8.cloudfront.net/video.mp4?Expires=1357034400&Signature=(redacted)&Key-Pair-Id=APKA9ONS7QCOWEXAMPLE",
    ],
    [
      "https://acct.blob.core.windows.net/docs/a.docx?sp=r&st=2024-01-01T00:00:00Z&se=2024-01-02T00:00:00Z&spr=https&sv=2022-11-02&sr=b&sig=aBcD%2B1234%3D",
      "https://acct.blob.core.windows.net/docs/a.docx?sp=r&st=2024-01-01T00:00:00Z&se=2024-01-02T00:00:00Z&spr=https&sv=2022-11-02&sr=b&sig=(redacted)",
    ],
  ];
  it.each(cases)("%s", (url, expected) => {
    const filter = new PrivacyFilter(ingestConfig.parse({}).privacy, undefined);
    const event = filter.apply({ type: "click", ts: 1, event_id: "e1", anon_id: "a1", url: "https://shop.example/downloads", target_url: url } as ClickEvent);
    expect((event as unknown as { target_url: string }).target_url).toBe(expected);
    expect(filter.apply({ type: "page_view", ts: 1, event_id: "e2", anon_id: "a1", url: "https://shop.example/thanks", referrer: url }).referrer).toBe(expected);
  });
});

describe("PrivacyFilter - addresses in paths and page items", () => {
  const event = (): ClickEvent => ({
    type: "page_view",
    ts: 1,
    event_id: "e1",
    anon_id: "a1",
    url: "https://shop.example/unsubscribe/jane.doe@example.com?list=7&next=%2Fcb%3Ftoken%3Dt0k",
    referrer: "https://mail.example/u/joe%40y.org/inbox",
    page_item: "/unsubscribe/jane.doe@example.com",
  });

  it("redacts the path's address in url, referrer and the page item taken from it", () => {
    const filter = new PrivacyFilter({ ...defaults, anonymizeIp: false }, undefined);
    expect(filter.apply(event())).toMatchObject({
      url: "https://shop.example/unsubscribe/(redacted)?list=7&next=%2Fcb%3Ftoken%3D(redacted)",
      referrer: "https://mail.example/u/(redacted)/inbox",
      page_item: "/unsubscribe/(redacted)",
    });
  });

  it("keeps them with redactEmails off, the nested token still goes", () => {
    const filter = new PrivacyFilter({ ...defaults, anonymizeIp: false, redactEmails: false }, undefined);
    expect(filter.apply(event())).toMatchObject({
      url: "https://shop.example/unsubscribe/jane.doe@example.com?list=7&next=%2Fcb%3Ftoken%3D(redacted)",
      referrer: "https://mail.example/u/joe%40y.org/inbox",
      page_item: "/unsubscribe/jane.doe@example.com",
    });
  });
});

describe("email check - time on hostile input", () => {
  // Each input holds an "@" but no address, so the whole text is searched: a pattern that tries every start position
  // against every end was quadratic (≈ 8 s for 100 KB on this VM, ≈ 0.8 s for a 32 KiB record); a linear one takes
  // milliseconds. Speed is not asserted (benchmarks measure it): a quadratic search would run into the test timeout.
  const n = 400_000; // quadratic: ≈ 2 min, 4× past the unit tests' 30 s timeout
  const hostile: Array<[string, string]> = [
    ["a long local part before an @ with a dotless domain", "a".repeat(n / 2) + "@" + "b".repeat(n / 2)],
    ["a long run of domain labels without a top-level label", "a@" + "b.".repeat(n / 2) + "1"],
    ["dots before an @ and a long domain", ".".repeat(n / 2) + "@" + "a-".repeat(n / 4)],
  ];
  it.each(hostile)("%s: no address, nothing redacted", (_, value) => {
    expect(redactUrl(`/p?q=${value}`, byDefault)).toBe(`/p?q=${value}`);
    expect(redactQueryPairsInText(`GET /p?q=${value} HTTP/1.1`, byDefault)).toBe(`GET /p?q=${value} HTTP/1.1`);
  });

  it("still finds an address after such a run", () => {
    const value = "a".repeat(n / 2) + "@" + "b".repeat(n / 2) + "&to=jane@x.com";
    expect(redactUrl(`/p?q=${value}`, byDefault)).toBe(`/p?q=${"a".repeat(n / 2)}@${"b".repeat(n / 2)}&to=(redacted)`);
  });
});

describe("redactUrl - a listed parameter's value with ? in it", () => {
  // A "?" inside a query is a literal character of a value (RFC 3986; URLSearchParams and servers read it so): the
  // whole value must go, not the part before the "?". A "?" still starts a pair for other parameters' values, so a
  // nested URL left unescaped keeps its own parameters redacted.
  const cases: Array<[string, string]> = [
    ["https://x.example/p?token=abc?def&x=1", "https://x.example/p?token=(redacted)&x=1"],
    ["https://x.example/p?token=?abc&x=1", "https://x.example/p?token=(redacted)&x=1"],
    ["https://x.example/p?password=pa?ss?word#top", "https://x.example/p?password=(redacted)#top"],
    ["https://x.example/p?next=/q?token=abc&x=1", "https://x.example/p?next=/q?token=(redacted)&x=1"],
    ["https://x.example/app#/reset?token=abc?def&step=2", "https://x.example/app#/reset?token=(redacted)&step=2"],
  ];
  it.each(cases)("%s", (url, expected) => {
    const redacted = redactUrl(url, namesOnly);
    expect(redacted).toBe(expected);
    expect(redactUrl(redacted, namesOnly)).toBe(redacted);
    // As a server reads the query: every listed parameter's value is the marker.
    const params = new URL(redacted).searchParams;
    for (const name of ["token", "password"]) for (const value of params.getAll(name)) expect(value).toBe("(redacted)");
  });

  it("in a dead letter's text too", () => {
    expect(redactQueryPairsInText('"GET /p?token=abc?def&x=1 HTTP/1.1" 200', namesOnly)).toBe('"GET /p?token=(redacted)&x=1 HTTP/1.1" 200');
    expect(redactQueryPairsInText("writeKey=?wk&type=x", namesOnly)).toBe("writeKey=(redacted)&type=x");
    expect(redactQueryPairsInText("/p?next=/q?token=abc&x=1", namesOnly)).toBe("/p?next=/q?token=(redacted)&x=1");
  });
});

describe("redactUrl - parameters in a fragment", () => {
  // Browsers' location.href holds the fragment, and beacons send it: OAuth 2.0's implicit flow and OpenID Connect
  // return their tokens as `#access_token=…` / `#id_token=…`, magic links carry theirs so, with no "?" in the URL.
  const cases: Array<[string, string]> = [
    // The OAuth 2.0 implicit grant's redirect (RFC 6749 §4.2.2): the token goes, token_type, expires_in and state stay.
    [
      "https://app.example/cb#access_token=2YotnFZFEjr1zCsicMWpAA&token_type=bearer&expires_in=3600&state=xyz",
      "https://app.example/cb#access_token=(redacted)&token_type=bearer&expires_in=3600&state=xyz",
    ],
    // OpenID Connect's implicit flow: an id_token (a JWT with the user's claims) and an access token.
    [
      "https://rp.example/cb#id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIyNDgyODk3NjEwMDEifQ.c2ln&access_token=SlAV32hkKG&state=af0ifjsldkj",
      "https://rp.example/cb#id_token=(redacted)&access_token=(redacted)&state=af0ifjsldkj",
    ],
    // A magic link: token and a named email; refresh_token is on the default list too.
    ["https://app.example/login#token=mL_5f2&email=jane%40x.com", "https://app.example/login#token=(redacted)&email=(redacted)"],
    ["https://app.example/#refresh_token=tGzv3JOkF0XG5Qx2TlKWIA", "https://app.example/#refresh_token=(redacted)"],
    // An address in an unlisted fragment pair, and a fragment pair that is one.
    ["https://app.example/invite#to=jane@x.com&ref=mail", "https://app.example/invite#to=(redacted)&ref=mail"],
    ["https://app.example/contact#jane%40x.com", "https://app.example/contact#(redacted)"],
    // After a query: the query's pairs and the fragment's.
    ["https://app.example/cb?lang=de#access_token=abc&state=s", "https://app.example/cb?lang=de#access_token=(redacted)&state=s"],
    // A "?" later in the fragment: the pairs before it are read too, and a listed value keeps its "?" characters.
    ["https://app.example/cb#access_token=abc&next=/p?x=1", "https://app.example/cb#access_token=(redacted)&next=/p?x=1"],
    ["https://app.example/cb#token=a?b&x=1", "https://app.example/cb#token=(redacted)&x=1"],
    // Fragments without pairs stay as they are: an anchor, a hash router's route, a text fragment, a hashbang.
    ["https://docs.example/guide#section-2", "https://docs.example/guide#section-2"],
    ["https://app.example/#/route", "https://app.example/#/route"],
    ["https://app.example/#/orders/42/items", "https://app.example/#/orders/42/items"],
    ["https://docs.example/guide#:~:text=token", "https://docs.example/guide#:~:text=token"],
    ["https://app.example/#!/cart", "https://app.example/#!/cart"],
    // A route holding an address is a pair that is one, as it was after a query already: the route goes with it.
    ["https://app.example/#/users/jane@x.com", "https://app.example/#(redacted)"],
    ["https://app.example/?x=1#/users/jane@x.com", "https://app.example/?x=1#(redacted)"],
    // Unlisted pairs and listed names in a path stay.
    ["https://app.example/p#tab=reviews&page=2", "https://app.example/p#tab=reviews&page=2"],
    ["https://app.example/token=abc/p#top", "https://app.example/token=abc/p#top"],
  ];
  it.each(cases)("%s", (url, expected) => {
    const redacted = redactUrl(url, byDefault);
    expect(redacted).toBe(expected);
    expect(redactUrl(redacted, byDefault)).toBe(redacted);
  });

  it("leaves addresses in unlisted fragment pairs when redactEmails is off, listed names still go", () => {
    expect(redactUrl("https://app.example/invite#to=jane@x.com&token=t", namesOnly)).toBe("https://app.example/invite#to=jane@x.com&token=(redacted)");
  });

  it("returns the URL itself when nothing changes", () => {
    const anchor = "https://docs.example/guide#section-2";
    expect(redactUrl(anchor, byDefault)).toBe(anchor);
  });

  it("in an event's url and referrer", () => {
    const filter = new PrivacyFilter({ ...defaults, anonymizeIp: false }, undefined);
    const event = filter.apply({
      type: "page_view",
      ts: 1,
      event_id: "e1",
      anon_id: "a1",
      url: "https://app.example/cb#access_token=2YotnFZFEjr1zCsicMWpAA&token_type=bearer&state=xyz",
      referrer: "https://idp.example/authorize#id_token=eyJ0.eyJ1.c2ln",
      page_item: "/cb",
    });
    expect(event).toMatchObject({
      url: "https://app.example/cb#access_token=(redacted)&token_type=bearer&state=xyz",
      referrer: "https://idp.example/authorize#id_token=(redacted)",
      page_item: "/cb",
    });
  });

  it("in a dead letter's text: a JSON url with a fragment's token", () => {
    expect(redactQueryPairsInText('{"url":"https://app.example/cb#access_token=abc&state=s","ts":"bad"}', byDefault)).toBe(
      '{"url":"https://app.example/cb#access_token=(redacted)&state=s","ts":"bad"}',
    );
    expect(redactQueryPairsInText('{"url":"https://rp.example/cb#id_token=eyJ0.eyJ1.c2ln"', byDefault)).toBe('{"url":"https://rp.example/cb#id_token=(redacted)"');
  });
});

describe("redactUrl - addresses in the path", () => {
  // A segment that is or holds an address (decoded once: %40 is "@") becomes (redacted) whole, as a query value does.
  const redacted: Array<[string, string]> = [
    ["/unsubscribe/jane.doe@example.com", "/unsubscribe/(redacted)"],
    ["/users/jane%40example.com/orders", "/users/(redacted)/orders"],
    ["https://shop.example/users/JANE%40Example.COM/orders?tab=1&token=t", "https://shop.example/users/(redacted)/orders?tab=1&token=(redacted)"],
    // Holding one: the whole segment goes, not the address alone (where its local part starts is a guess).
    ["https://shop.example/u/profile-jane+news@mail.example.org.html", "https://shop.example/u/(redacted)"],
    ["https://shop.example/list;email=jane@x.com/items", "https://shop.example/(redacted)/items"],
    // Each segment on its own; the fragment and the query after the path stay.
    ["https://shop.example/a/jane@x.com/b/joe%40y.org/c#top", "https://shop.example/a/(redacted)/b/(redacted)/c#top"],
    // IDN addresses, escaped; a relative path's first segment; a mailto: URL's path.
    ["/kontakt/j%C3%BCrgen%40b%C3%BCcher.de", "/kontakt/(redacted)"],
    ["jane@x.com/inbox", "(redacted)/inbox"],
    ["mailto:jane@x.com", "mailto:(redacted)"],
    // A domain that starts like a scale suffix but goes on is a domain.
    ["https://shop.example/u/jane@2x.example.com", "https://shop.example/u/(redacted)"],
    // A scale-like domain with a top-level label that is no image extension is an address's.
    ["https://shop.example/u/jane@2x.com", "https://shop.example/u/(redacted)"],
    ["/p?to=jane%403x.io&x=1", "/p?to=(redacted)&x=1"],
    // An address after a handle's "@" in a segment that holds more is still one.
    ["/share/@jane@x.com+news", "/share/(redacted)"],
  ];
  it.each(redacted)("%s", (url, expected) => {
    expect(redactUrl(url, byDefault)).toBe(expected);
    expect(redactUrl(expected, byDefault)).toBe(expected);
  });

  it("keeps an absolute URL valid, its path as the marker where the address was", () => {
    const url = new URL(redactUrl("https://shop.example/users/jane%40example.com/orders?tab=1", byDefault));
    expect(url.pathname).toBe("/users/(redacted)/orders");
    expect(url.searchParams.get("tab")).toBe("1");
  });

  const kept = [
    // "@" without an address: handles, npm scopes, versions, image scales, a one-letter top-level label.
    "/@user",
    "https://www.npmjs.com/package/@scope/name",
    "/v@2",
    "https://cdn.example/npm/vue@3.2.0/dist/vue.js",
    "/img/logo@2x.png",
    "/img/icon@1.5x.webp",
    "/u/a@b.c",
    "/tags/@jane.doe",
    // Image scales in any case, with more labels before the extension (a bundler's content hash, .min) or a suffix.
    "https://cdn.example/img/hero@2X.jpg",
    "https://cdn.example/img/hero@2x.min.jpg",
    "https://cdn.example/assets/logo@2x.3f9a1c2b.png",
    "https://cdn.example/assets/logo@3x-dark.webp?v=2",
    "https://cdn.example/img/sprite@2x.SVG#icon-cart",
    // Package versions with a pre-release of letters (semver's 1.0.0-alpha.beta), as CDNs serve them.
    "https://cdn.jsdelivr.net/npm/@scope/pkg@1.0.0-beta.rc/",
    "https://cdn.jsdelivr.net/npm/pkg@1.0.0-alpha.beta/dist/x.js",
    "https://deno.land/x/oak@v12.6.1-rc.beta/mod.ts",
    // A fediverse handle (Mastodon's remote profile), public as /@user is.
    "https://mastodon.social/@user@instance.social",
    "https://fosstodon.org/@Jane_Doe@fosstodon.org/109876543",
    // The authority's userinfo is not in the path (it goes as a credential, whatever redactEmails says: see
    // "the userinfo of a URL's authority").
    // Encoded twice in a path: decoded once it is "%40", no address (a path segment is decoded once, as servers do).
    "/u/jane%2540x.com",
    "/c/books/p/42",
  ];
  it.each(kept)("keeps %s", (url) => {
    expect(redactUrl(url, byDefault)).toBe(url);
  });

  it("keeps addresses in the path when redactEmails is off", () => {
    expect(redactUrl("/unsubscribe/jane@x.com?token=t", namesOnly)).toBe("/unsubscribe/jane@x.com?token=(redacted)");
  });

  it("redacts a page item's segments as the path's", () => {
    expect(redactPathAddresses("/unsubscribe/jane.doe@example.com")).toBe("/unsubscribe/(redacted)");
    expect(redactPathAddresses("jane%40example.com")).toBe("(redacted)");
    expect(redactPathAddresses("/packages/@scope/name")).toBe("/packages/@scope/name");
    expect(redactPathAddresses("/@user@instance.social/109876543")).toBe("/@user@instance.social/109876543");
    expect(redactPathAddresses("/npm/@scope/pkg@1.0.0-beta.rc/img/logo@2X.png")).toBe("/npm/@scope/pkg@1.0.0-beta.rc/img/logo@2X.png");
  });
});

describe("redactUrl - parameters nested in an encoded value", () => {
  // A value read as a query: its separators and "=" percent-encoded once (%3D), twice (%253D) or three times; only
  // the listed values and addresses inside become (redacted), every other byte of the outer encoding stays.
  const cases: Array<[string, string]> = [
    ["/login?next=%2Faccount%3Ftoken%3Dabc%26x%3D1", "/login?next=%2Faccount%3Ftoken%3D(redacted)%26x%3D1"],
    [
      "https://shop.example/login?redirect=https%3A%2F%2Fa.example%2Fcb%3Faccess_token%3Dsecret&lang=de",
      "https://shop.example/login?redirect=https%3A%2F%2Fa.example%2Fcb%3Faccess_token%3D(redacted)&lang=de",
    ],
    // Lowercase hex, a nested fragment, ";" and a raw "=" after an encoded "?".
    ["https://x.example/p?next=%2fcb%3faccess_token%3dsecret%26state%3ds", "https://x.example/p?next=%2fcb%3faccess_token%3d(redacted)%26state%3ds"],
    ["https://x.example/p?next=%2Fcb%23id_token%3Dey.J0%26state%3Dx", "https://x.example/p?next=%2Fcb%23id_token%3D(redacted)%26state%3Dx"],
    ["https://x.example/cb?state=token%3Dabc%3Bsid%3D1", "https://x.example/cb?state=token%3D(redacted)%3Bsid%3D1"],
    ["https://x.example/p?next=/p%3Ftoken=abc&x=1", "https://x.example/p?next=/p%3Ftoken=(redacted)&x=1"],
    // A nested name decoded as the nested URL's server reads it: access%255Ftoken is access_token there.
    ["https://x.example/p?next=%2Fcb%3Faccess%255Ftoken%3Dabc", "https://x.example/p?next=%2Fcb%3Faccess%255Ftoken%3D(redacted)"],
    // Addresses in nested values: only that value goes (%2540 is an "@" in the nested URL).
    [
      "https://x.example/p?next=%2Fshare%3Fto%3Djane%40x.com%26step%3D2",
      "https://x.example/p?next=%2Fshare%3Fto%3D(redacted)%26step%3D2",
    ],
    [
      "https://x.example/p?next=%2Fcheckout%3Fcontact%3Djane%2540x.com%26step%3D2",
      "https://x.example/p?next=%2Fcheckout%3Fcontact%3D(redacted)%26step%3D2",
    ],
    // A URL in a URL in the URL (a chain of redirects): the token encoded twice goes, lang and scope stay.
    [
      "https://app.example/login?next=https%3A%2F%2Fidp.example%2Fauthorize%3Fredirect_uri%3Dhttps%253A%252F%252Fapp.example%252Fcb%253Ftoken%253Dabc%2526lang%253Dde%26scope%3Dopenid",
      "https://app.example/login?next=https%3A%2F%2Fidp.example%2Fauthorize%3Fredirect_uri%3Dhttps%253A%252F%252Fapp.example%252Fcb%253Ftoken%253D(redacted)%2526lang%253Dde%26scope%3Dopenid",
    ],
    // A listed value encoded once ends at the next "&" encoded once; its own "?" and "&" encoded twice are in it.
    ["https://x.example/p?next=%2Fcb%3Ftoken%3Dabc%253Fdef%2526ghi%26x%3D1", "https://x.example/p?next=%2Fcb%3Ftoken%3D(redacted)%26x%3D1"],
    // Three times encoded is read too.
    ["https://x.example/p?a=%25253Ftoken%25253Dabc", "https://x.example/p?a=%25253Ftoken%25253D(redacted)"],
    // A parameter without "=" is read as a query too: a redirector's ?<encoded URL>, a pair after ";".
    ["https://x.example/out?https%3A%2F%2Fa.example%2Fcb%3Ftoken%3Dabc%26lang%3Dde", "https://x.example/out?https%3A%2F%2Fa.example%2Fcb%3Ftoken%3D(redacted)%26lang%3Dde"],
    ["https://x.example/p?next=%2Fa%3Fx%3D1;token%3Dabc&y=2", "https://x.example/p?next=%2Fa%3Fx%3D1;token%3D(redacted)&y=2"],
    ["/out?%2Fu%2Fjane%40x.com%26step%3D2", "/out?(redacted)%26step%3D2"],
  ];
  it.each(cases)("%s", (url, expected) => {
    const redacted = redactUrl(url, byDefault);
    expect(redacted).toBe(expected);
    expect(redactUrl(redacted, byDefault)).toBe(redacted);
  });

  it("gives the nested URL a server reads the marker for its token and every other parameter as it was", () => {
    const url = "https://shop.example/login?redirect=https%3A%2F%2Fa.example%2Fcb%3Faccess_token%3Dsecret%26state%3Dxyz%26to%3Djane%2540x.com&lang=de";
    const nested = (href: string) => new URL(new URL(href).searchParams.get("redirect") as string);
    const before = nested(url);
    const after = nested(redactUrl(url, byDefault));
    expect(after.origin + after.pathname).toBe(before.origin + before.pathname);
    expect([...after.searchParams]).toEqual([
      ["access_token", "(redacted)"],
      ["state", "xyz"],
      ["to", "(redacted)"],
    ]);
    expect(new URL(redactUrl(url, byDefault)).searchParams.get("lang")).toBe("de");
  });

  const kept = [
    // Escapes that make no nested pair; unlisted nested names; a listed name in a nested path.
    "https://x.example/p?q=spring%20sale&next=%2Fcart&k=%C3%BC",
    "https://x.example/p?next=%2Faccount%3Fmy_token%3Dabc%26tokens%3D2",
    "https://x.example/p?next=%2Ftoken%2Fabc",
    "https://x.example/p?q=100%25&r=%25%3F",
    // Encoded four times: deeper than read.
    "https://x.example/p?a=%2525253Ftoken%2525253Dabc",
  ];
  it.each(kept)("keeps %s", (url) => {
    expect(redactUrl(url, byDefault)).toBe(url);
  });

  it("redacts a listed parameter's encoded value whole, and nested addresses only with redactEmails", () => {
    expect(redactUrl("/p?token=%2Fa%3Fx%3D1", byDefault)).toBe("/p?token=(redacted)");
    expect(redactUrl("/p?next=%2Fs%3Fto%3Djane%40x.com%26token%3Dt", namesOnly)).toBe("/p?next=%2Fs%3Fto%3Djane%40x.com%26token%3D(redacted)");
  });

  it("in a dead letter's text: a parameter without = read as a query", () => {
    expect(redactQueryPairsInText('"GET /out?https%3A%2F%2Fa.example%2Fcb%3Ftoken%3Dabc%26lang%3Dde HTTP/1.1" 200 5 "-"', byDefault)).toBe(
      '"GET /out?https%3A%2F%2Fa.example%2Fcb%3Ftoken%3D(redacted)%26lang%3Dde HTTP/1.1" 200 5 "-"',
    );
    expect(redactQueryPairsInText("next=%2Fa%3Fx%3D1;token%3Dabc&y=2", byDefault)).toBe("next=%2Fa%3Fx%3D1;token%3D(redacted)&y=2");
  });

  it("in a dead letter's text: a JSON url's path and nested parameters", () => {
    expect(redactQueryPairsInText('{"url":"/users/jane%40example.com/orders?next=%2Fa%3Ftoken%3Dabc%26x%3D1","ts":"bad"}', byDefault)).toBe(
      '{"url":"/users/(redacted)/orders?next=%2Fa%3Ftoken%3D(redacted)%26x%3D1","ts":"bad"}',
    );
  });
});

describe("redactQueryPairsInText - addresses in paths", () => {
  it("redacts a segment after a / that holds an address, up to /, ?, #, &, white space or a quote", () => {
    expect(redactQueryPairsInText('10.0.0.1 - - [oops] "GET /unsubscribe/jane.doe@example.com HTTP/1.1" 200', byDefault)).toBe(
      '10.0.0.1 - - [oops] "GET /unsubscribe/(redacted) HTTP/1.1" 200',
    );
    expect(redactQueryPairsInText('"GET /u/jane%40x.com/orders?tab=1 HTTP/1.1" "https://r.example/in/joe@y.org"', byDefault)).toBe(
      '"GET /u/(redacted)/orders?tab=1 HTTP/1.1" "https://r.example/in/(redacted)"',
    );
  });

  it("keeps non-addresses and a user agent's tokens, redacts the authority's userinfo as a credential only, and keeps paths when redactEmails is off", () => {
    const line = '"GET /packages/@scope/name HTTP/1.1" 200 5 "https://jane@shop.example/p" "Mozilla/5.0 (compatible; bot@2x.png)"';
    const cdn = '"GET /npm/@scope/pkg@1.0.0-beta.rc/dist/logo@2X.a1b2.png HTTP/1.1" 200 5 "https://mastodon.social/@user@instance.social"';
    expect(redactQueryPairsInText(cdn, byDefault)).toBe(cdn);
    expect(redactQueryPairsInText(line, byDefault)).toBe(line.replace("jane@", "(redacted)@"));
    expect(redactQueryPairsInText('"GET /unsubscribe/jane@x.com HTTP/1.1"', namesOnly)).toBe('"GET /unsubscribe/jane@x.com HTTP/1.1"');
  });
});

describe("URL redaction - a 200 KB adversarial URL", () => {
  // Many "@", "%40", "%3D", "%253D" and long runs of "%25": each is read a bounded number of times, so the whole is
  // linear. Speed is not asserted (benchmarks measure it): a quadratic pass would run into the test timeout.
  const k = 200_000;
  const cases: Array<[string, string, string]> = [
    ["many @ in one segment, no address", "/" + "a@".repeat(k / 2), "/" + "a@".repeat(k / 2)],
    ["many segments, each an address", "/a@b.cd".repeat(k / 7), "/(redacted)".repeat(k / 7)],
    ["many %40 with dots, no address", "/" + "%40a.".repeat(k / 5), "/" + "%40a.".repeat(k / 5)],
    ["many encoded =", "/p?q=" + "a%3D".repeat(k / 4), "/p?q=" + "a%3D".repeat(k / 4)],
    ["many twice-encoded =", "/p?q=" + "%253D".repeat(k / 5), "/p?q=" + "%253D".repeat(k / 5)],
    ["a run of %25 too deep", "/p?q=a" + "%25".repeat(k / 3) + "3Dx", "/p?q=a" + "%25".repeat(k / 3) + "3Dx"],
    ["many nested listed pairs", "/p?q=" + "%26token%3Dx".repeat(k / 12), "/p?q=" + "%26token%3D(redacted)".repeat(k / 12)],
    ["a long nested listed value", "/p?q=token%3D" + "%3F%253F%2526".repeat(k / 13) + "%26x%3D1", "/p?q=token%3D(redacted)%26x%3D1"],
    ["a long escaped nested name", "/p?q=" + "%41".repeat(k / 3) + "%3Dx", "/p?q=" + "%41".repeat(k / 3) + "%3Dx"],
    [
      "many nested @ encoded twice, one address at the end",
      "/p?q=" + "to%3Da%2540b%26".repeat(k / 15) + "to%3Djane%2540x.com",
      "/p?q=" + "to%3Da%2540b%26".repeat(k / 15) + "to%3D(redacted)",
    ],
    [
      "all of them, path and query",
      "/" + "a@b.c/%40x%3D%253F".repeat(k / 18) + "?q=" + "%2540%3D%25253D@".repeat(k / 16) + "&to=jane@x.com",
      "/" + "a@b.c/%40x%3D%253F".repeat(k / 18) + "?q=" + "%2540%3D%25253D@".repeat(k / 16) + "&to=(redacted)",
    ],
  ];
  it.each(cases)("%s", (_, url, expected) => {
    expect(url.length).toBeGreaterThan(190_000);
    expect(redactUrl(url, byDefault)).toBe(expected);
    expect(redactQueryPairsInText(`"GET ${url} HTTP/1.1"`, byDefault)).toBe(`"GET ${expected} HTTP/1.1"`);
  });

  it("in a page item", () => {
    const item = "/" + "a@".repeat(k / 2) + "/jane@x.com";
    expect(redactPathAddresses(item)).toBe("/" + "a@".repeat(k / 2) + "/(redacted)");
  });
});
