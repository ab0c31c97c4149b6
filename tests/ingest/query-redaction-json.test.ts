// URL redaction of JSON in query values and of npm dist-tags that look like addresses: each expected URL is written
// out by hand; only the redacted values change, every other byte of the URL stays as written.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ingestConfig } from "../../src/config/ingest.ts";
import { createTraffic } from "../../src/ingest/generate.ts";
import { compileQueryRedaction, MAX_JSON_VALUE_LENGTH, redactPathAddresses, redactQueryPairsInText, redactUrl } from "../../src/ingest/query-redaction.ts";

const defaults = ingestConfig.parse({}).privacy;
const byDefault = compileQueryRedaction(defaults.redactQueryParams, defaults.redactEmails);
const namesOnly = compileQueryRedaction(defaults.redactQueryParams, false);

describe("redactUrl - JSON in a query value", () => {
  const cases: Array<[string, string]> = [
    // Percent-encoded JSON, as a beacon sends it: the token's string contents go, its quotes and the rest stay.
    ["/b?data=%7B%22token%22%3A%22abc%22%2C%22page%22%3A1%7D&x=1", "/b?data=%7B%22token%22%3A%22(redacted)%22%2C%22page%22%3A1%7D&x=1"],
    // Raw JSON, as a redirect writes it; names in any case, as query names.
    ['/cb?state={"access_token":"x","n":2}&code=c', '/cb?state={"access_token":"(redacted)","n":2}&code=c'],
    ['/cb?state={"Access_Token":"x","TOKEN":"y"}', '/cb?state={"Access_Token":"(redacted)","TOKEN":"(redacted)"}'],
    // Nested arrays: an address in a string of an array in an array, a listed key in an object three arrays deep.
    ['/cb?s=[["jane@example.com",{"to":"x"}],[[{"token":"t1","page":"jane"}]]]', '/cb?s=[["(redacted)",{"to":"x"}],[[{"token":"(redacted)","page":"jane"}]]]'],
    // A listed key at depth 3, encoded.
    [
      "/b?d=%7B%22a%22%3A%7B%22b%22%3A%7B%22token%22%3A%22deep%22%2C%22k%22%3A%22v%22%7D%7D%7D",
      "/b?d=%7B%22a%22%3A%7B%22b%22%3A%7B%22token%22%3A%22(redacted)%22%2C%22k%22%3A%22v%22%7D%7D%7D",
    ],
    // An address in a JSON string: that string's contents only, not the whole value (as for text with %40 in it).
    ["/b?d=%7B%22to%22%3A%22jane%40example.com%22%2C%22list%22%3A7%7D", "/b?d=%7B%22to%22%3A%22(redacted)%22%2C%22list%22%3A7%7D"],
    // A key that is an address goes, as a query name that is one does.
    ["/b?d=%7B%22jane%40x.com%22%3Atrue%7D", "/b?d=%7B%22(redacted)%22%3Atrue%7D"],
    // A listed key's value that is no string becomes the marker as a string, quoted as the key is; null and "" stay.
    [
      '/cb?s={"Secret":12.5e3,"token":null,"email":true,"password":{"a":[1,"jane@x.com"]},"api_key":""}',
      '/cb?s={"Secret":"(redacted)","token":null,"email":"(redacted)","password":"(redacted)","api_key":""}',
    ],
    ["/b?d=%7B%22token%22%3A123456%7D", "/b?d=%7B%22token%22%3A%22(redacted)%22%7D"],
    // Quoted as the key is, whatever the strings inside the value are written as.
    ["/b?d=%7B%22token%22:[%22x%22,\"y\"]%7D", "/b?d=%7B%22token%22:%22(redacted)%22%7D"],
    // Encoded twice (a JSON value in a value): quotes and separators stay encoded twice.
    ["/b?d=%257B%2522token%2522%253A%2522abc%2522%257D", "/b?d=%257B%2522token%2522%253A%2522(redacted)%2522%257D"],
    // Lowercase hex, "+" and %20 as white space, a JSON escape in a name.
    ["/b?d=%7b+%22token%22+%3a%20%22abc%22+%7d", "/b?d=%7b+%22token%22+%3a%20%22(redacted)%22+%7d"],
    ['/cb?s={"tok\\u0065n":"abc"}', '/cb?s={"tok\\u0065n":"(redacted)"}'],
    // A string value that is a URL: its nested token goes as a query value's does.
    ["/b?d=%7B%22next%22%3A%22%2Fp%3Ftoken%3Dabc%26x%3D1%22%7D", "/b?d=%7B%22next%22%3A%22%2Fp%3Ftoken%3D(redacted)%26x%3D1%22%7D"],
    // In a fragment's pairs too.
    ["/cb#state=%7B%22id_token%22%3A%22ey.J0%22%7D", "/cb#state=%7B%22id_token%22%3A%22(redacted)%22%7D"],
    // JSON in a JSON string (stringified with \" escapes, or percent-encoded once more): the whole string goes.
    ['/cb?s={"payload":"{\\"token\\":\\"abc\\"}","n":1}', '/cb?s={"payload":"(redacted)","n":1}'],
    ["/b?d=%7B%22payload%22%3A%22%7B%5C%22token%5C%22%3A%5C%22abc%5C%22%7D%22%7D", "/b?d=%7B%22payload%22%3A%22(redacted)%22%7D"],
    ["/b?d=%7B%22state%22%3A%22%257B%2522token%2522%253A%2522abc%2522%257D%22%7D", "/b?d=%7B%22state%22%3A%22(redacted)%22%7D"],
    // A stringified JSON with nothing to redact stays.
    ['/cb?s={"payload":"{\\"page\\":1}"}', '/cb?s={"payload":"{\\"page\\":1}"}'],
    // A key that is a URL loses its nested listed value, as the text rules took it before JSON was read.
    ["/b?d=%7B%22%2Fp%3Ftoken%3Dabc%22%3A1%7D", "/b?d=%7B%22%2Fp%3Ftoken%3D(redacted)%22%3A1%7D"],
    // JSON as a nested URL's value, encoded twice or as often as its "=".
    ["/b?next=%2Fcb%3Fstate%3D%257B%2522token%2522%253A%2522abc%2522%257D", "/b?next=%2Fcb%3Fstate%3D%257B%2522token%2522%253A%2522(redacted)%2522%257D"],
    ["/b?next=%2Fcb%3Fstate%3D%7B%22token%22%3A%22abc%22%7D&x=1", "/b?next=%2Fcb%3Fstate%3D%7B%22token%22%3A%22(redacted)%22%7D&x=1"],
    // Raw JSON with a "?", ";", "&" or "#" in a string, where the pairs were cut: read on to where the JSON ends.
    ['/cb?state={"token":"abc","next":"/cart?step=2"}&code=c', '/cb?state={"token":"(redacted)","next":"/cart?step=2"}&code=c'],
    ['/cb?state={"token":"ab;c&d#e"}', '/cb?state={"token":"(redacted)"}'],
    ['/cb#state={"n":"a?b","id_token":"ey.J0"}', '/cb#state={"n":"a?b","id_token":"(redacted)"}'],
    // Nothing listed and no address: the URL itself.
    ['/cb?s={"page":1,"tags":["a","b"]}&d=%5B1%2C2%5D', '/cb?s={"page":1,"tags":["a","b"]}&d=%5B1%2C2%5D'],
  ];
  it.each(cases)("%s", (url, expected) => {
    const redacted = redactUrl(url, byDefault);
    expect(redacted).toBe(expected);
    expect(redactUrl(redacted, byDefault)).toBe(redacted);
  });

  it("gives JSON that parses, with the marker where the values were", () => {
    const url = new URL(redactUrl("https://shop.example/b?data=%7B%22token%22%3A%22abc%22%2C%22page%22%3A1%2C%22to%22%3A%22jane%40x.com%22%7D", byDefault));
    expect(JSON.parse(url.searchParams.get("data") as string)).toEqual({ token: "(redacted)", page: 1, to: "(redacted)" });
  });

  it("keeps addresses in JSON strings when redactEmails is off, listed keys still go", () => {
    expect(redactUrl('/cb?s={"to":"jane@x.com","token":"t"}', namesOnly)).toBe('/cb?s={"to":"jane@x.com","token":"(redacted)"}');
  });

  it("leaves a value that is no JSON to the rules for text", () => {
    // Cut short: nothing for those rules (a JSON value is redacted only when it is one).
    expect(redactUrl('/cb?state={"token":"abc"', byDefault)).toBe('/cb?state={"token":"abc"');
    expect(redactUrl("/cb?state=%7B%22token%22%3A%22abc%22", byDefault)).toBe("/cb?state=%7B%22token%22%3A%22abc%22");
    // Cut short with an address in it: the whole value goes, as a value with an address does.
    expect(redactUrl("/b?d=%7B%22to%22%3A%22jane%40x.com%22&x=1", byDefault)).toBe("/b?d=(redacted)&x=1");
    // No JSON but a nested query: its token goes.
    expect(redactUrl("/b?d=%7B%2Fp%3Ftoken%3Dabc", byDefault)).toBe("/b?d=%7B%2Fp%3Ftoken%3D(redacted)");
    // Trailing text, a single quote, a bare word: no JSON.
    expect(redactUrl('/cb?s={"token":"a"}x', byDefault)).toBe('/cb?s={"token":"a"}x');
    expect(redactUrl("/cb?s={'token':'a'}", byDefault)).toBe("/cb?s={'token':'a'}");
    expect(redactUrl("/cb?s=[token]", byDefault)).toBe("/cb?s=[token]");
    // JSON after the value's first character, or encoded four times: not read as JSON.
    expect(redactUrl('/cb?s=a{"token":"a"}', byDefault)).toBe('/cb?s=a{"token":"a"}');
    expect(redactUrl("/b?d=%2525257B%25252522token%25252522%2525253A1%2525257D", byDefault)).toBe(
      "/b?d=%2525257B%25252522token%25252522%2525253A1%2525257D",
    );
  });

  it("reads JSON up to MAX_JSON_VALUE_LENGTH raw characters; a longer value is left to the rules for text", () => {
    const prefix = '{"token":"abc","pad":"';
    const atCap = `${prefix}${"x".repeat(MAX_JSON_VALUE_LENGTH - prefix.length - 2)}"}`;
    expect(atCap.length).toBe(MAX_JSON_VALUE_LENGTH);
    expect(redactUrl(`/cb?s=${atCap}&y=1`, byDefault)).toBe(`/cb?s=${atCap.replace('"abc"', '"(redacted)"')}&y=1`);
    const overCap = `${prefix}${"x".repeat(MAX_JSON_VALUE_LENGTH - prefix.length - 1)}"}`;
    expect(redactUrl(`/cb?s=${overCap}&y=1`, byDefault)).toBe(`/cb?s=${overCap}&y=1`);
    // Over the cap with an address: the rules for text take the whole value.
    const withAddress = `%7B%22to%22%3A%22jane%40x.com%22%2C%22pad%22%3A%22${"x".repeat(MAX_JSON_VALUE_LENGTH)}%22%7D`;
    expect(redactUrl(`/b?d=${withAddress}&y=1`, byDefault)).toBe("/b?d=(redacted)&y=1");
  });

  it("leaves JSON nested deeper than 32 arrays and objects to the rules for text", () => {
    const deep = (levels: number) => `${"[".repeat(levels)}{"token":"t"}${"]".repeat(levels)}`;
    expect(redactUrl(`/cb?s=${deep(31)}`, byDefault)).toBe(`/cb?s=${deep(31).replace('"t"', '"(redacted)"')}`);
    expect(redactUrl(`/cb?s=${deep(32)}`, byDefault)).toBe(`/cb?s=${deep(32)}`);
  });

  it("reads JSON after leading white space (raw, \"+\" or percent-encoded), as JSON.parse does, keeping it as written", () => {
    expect(redactUrl('/cb?s=+{"token":"a"}&x=1', byDefault)).toBe('/cb?s=+{"token":"(redacted)"}&x=1');
    expect(redactUrl("/b?s=%20%7B%22token%22%3A%22a%22%7D", byDefault)).toBe("/b?s=%20%7B%22token%22%3A%22(redacted)%22%7D");
    expect(redactUrl('/cb?s=%0A[{"id_token":"a"}]', byDefault)).toBe('/cb?s=%0A[{"id_token":"(redacted)"}]');
    expect(redactUrl('/cb?s=%09%0D+%20{"secret":1}+', byDefault)).toBe('/cb?s=%09%0D+%20{"secret":"(redacted)"}+');
    // Encoded twice, its space too; and in a nested URL's value.
    expect(redactUrl("/b?s=%2520%257B%2522token%2522%253A%2522a%2522%257D", byDefault)).toBe("/b?s=%2520%257B%2522token%2522%253A%2522(redacted)%2522%257D");
    expect(redactUrl("/p?next=%2Fcb%3Fs%3D%2520%257B%2522token%2522%253A%2522a%2522%257D", byDefault)).toBe(
      "/p?next=%2Fcb%3Fs%3D%2520%257B%2522token%2522%253A%2522(redacted)%2522%257D",
    );
    // Read on past a "?" in a string, as JSON without the space is.
    expect(redactUrl('/cb?s=+{"token":"a","next":"/c?d=1"}&x=1', byDefault)).toBe('/cb?s=+{"token":"(redacted)","next":"/c?d=1"}&x=1');
    // In a dead letter's text.
    expect(redactQueryPairsInText('{"url":"/p?s=%20%7B%22token%22%3A%22a%22%7D"}', byDefault)).toBe('{"url":"/p?s=%20%7B%22token%22%3A%22(redacted)%22%7D"}');
    // A space encoded more often than the JSON after it is "%20" once decoded, no white space: no JSON, as for a server.
    expect(redactUrl("/b?s=%2520%7B%22token%22%3A%22a%22%7D", byDefault)).toBe("/b?s=%2520%7B%22token%22%3A%22a%22%7D");
    // White space only, or before a bare word: nothing to read.
    expect(redactUrl("/b?s=+%20+&t=%20x", byDefault)).toBe("/b?s=+%20+&t=%20x");
  });

  it("reads a pair that is JSON as a whole (no name, or an \"=\" in a string) as JSON", () => {
    // A hash router's state, an app's `?{…}`: whoever parses it reads its keys.
    expect(redactUrl("/app#%7B%22access_token%22%3A%22abc%22%7D", byDefault)).toBe("/app#%7B%22access_token%22%3A%22(redacted)%22%7D");
    expect(redactUrl('/p?x=1&{"token":"a","n":2}', byDefault)).toBe('/p?x=1&{"token":"(redacted)","n":2}');
    // An "=" in a string does not make its start a name; a "?" or "&" in one is read past, as in a value.
    expect(redactUrl("/cb?x=1&%7B%22a%22%3A%22b%3Dc%22%2C%22token%22%3A%22x%22%7D", byDefault)).toBe(
      "/cb?x=1&%7B%22a%22%3A%22b%3Dc%22%2C%22token%22%3A%22(redacted)%22%7D",
    );
    expect(redactUrl('/cb#{"a":"b=c&d","token":"x"}&y=1', byDefault)).toBe('/cb#{"a":"b=c&d","token":"(redacted)"}&y=1');
    expect(redactUrl('/cb#{"next":"/a?b=1","id_token":"x"}', byDefault)).toBe('/cb#{"next":"/a?b=1","id_token":"(redacted)"}');
    // In a dead letter's text, encoded (a raw one there ends at its first quote).
    expect(redactQueryPairsInText('"GET /p?%7B%22token%22%3A%22a%22%7D HTTP/1.1"', byDefault)).toBe('"GET /p?%7B%22token%22%3A%22(redacted)%22%7D HTTP/1.1"');
    // No JSON: pairs as before.
    expect(redactUrl("/p?[token]=abc&{%22a%22:1}&token=x", byDefault)).toBe("/p?[token]=abc&{%22a%22:1}&token=(redacted)");
    expect(redactUrl("/p?%7B%2Fp%3Ftoken%3Dabc", byDefault)).toBe("/p?%7B%2Fp%3Ftoken%3D(redacted)");
  });

  it("in a dead letter's text: an encoded JSON value of a request's query", () => {
    expect(redactQueryPairsInText('"GET /b?data=%7B%22token%22%3A%22abc%22%2C%22page%22%3A1%7D&x=1 HTTP/1.1" 200', byDefault)).toBe(
      '"GET /b?data=%7B%22token%22%3A%22(redacted)%22%2C%22page%22%3A1%7D&x=1 HTTP/1.1" 200',
    );
  });

  it("reads a 200 KB query of unclosed JSON strings cut at pair ends without reading on from each", () => {
    // Speed is not asserted: reading 8192 characters on from each of the 40,000 pairs would run into the test timeout.
    const url = "/b?" + 'a={"&'.repeat(40_000);
    expect(redactUrl(url, byDefault)).toBe(url);
  });

  it("reads a 200 KB query of small JSON values and one of an unclosed bracket run in linear time", () => {
    // Speed is not asserted: a quadratic pass would run into the test timeout.
    const many = "/b?" + "d=%7B%22token%22%3A1%7D&".repeat(8_000);
    expect(many.length).toBeGreaterThan(190_000);
    expect(redactUrl(many, byDefault)).toBe("/b?" + "d=%7B%22token%22%3A%22(redacted)%22%7D&".repeat(8_000));
    const brackets = "/b?d=" + "%5B".repeat(70_000);
    expect(redactUrl(brackets, byDefault)).toBe(brackets);
  });
});

describe("redactUrl - a JSON string holding JSON as a query value", () => {
  it("redacts the inner listed value where it is written, raw or percent-encoded once or twice, keeping every other byte", () => {
    expect(redactUrl('/p?s="{\\"token\\":\\"abc\\"}"', byDefault)).toBe('/p?s="{\\"token\\":\\"(redacted)\\"}"');
    expect(redactUrl("/p?s=%22%7B%5C%22token%5C%22%3A%5C%22abc%5C%22%7D%22&x=1", byDefault)).toBe("/p?s=%22%7B%5C%22token%5C%22%3A%5C%22(redacted)%5C%22%7D%22&x=1");
    expect(redactUrl("/p?s=%2522%257B%255C%2522token%255C%2522%253A%255C%2522abc%255C%2522%257D%2522", byDefault)).toBe(
      "/p?s=%2522%257B%255C%2522token%255C%2522%253A%255C%2522(redacted)%255C%2522%257D%2522",
    );
  });

  it("redacts non-string values quoted as their key is, addresses, nested escapes, and a pair that is the string whole", () => {
    expect(redactUrl('/p?s="{\\"token\\":12,\\"n\\":{\\"password\\":[1]},\\"m\\":\\"jane@x.com\\",\\"q\\":\\"a\\\\\\"b\\"}"', byDefault)).toBe(
      '/p?s="{\\"token\\":\\"(redacted)\\",\\"n\\":{\\"password\\":\\"(redacted)\\"},\\"m\\":\\"(redacted)\\",\\"q\\":\\"a\\\\\\"b\\"}"',
    );
    expect(redactUrl('/p?"{\\"token\\":\\"abc\\"}"', byDefault)).toBe('/p?"{\\"token\\":\\"(redacted)\\"}"');
    // Read on past a "?" or "&" in one of its strings, as JSON in a value is.
    expect(redactUrl('/p?s="{\\"next\\":\\"/x?a=1&b=2\\",\\"token\\":\\"t\\"}"&z=1', byDefault)).toBe(
      '/p?s="{\\"next\\":\\"/x?a=1&b=2\\",\\"token\\":\\"(redacted)\\"}"&z=1',
    );
  });

  it("leaves a quoted value that holds no JSON object or array, or broken JSON, to the other rules", () => {
    expect(redactUrl('/p?s="hello"&n="42"', byDefault)).toBe('/p?s="hello"&n="42"');
    expect(redactUrl('/p?s="{broken"&token=x', byDefault)).toBe('/p?s="{broken"&token=(redacted)');
  });
});

describe("redactUrl - npm dist-tags are no addresses", () => {
  // A domain is an address's when a label after its first is a top-level domain (Public Suffix List, ICANN section)
  // or a reserved one (RFC 2606: example, test, invalid, localhost).
  const kept = [
    "https://cdn.jsdelivr.net/npm/pkg@next.canary/index.js",
    "/npm/@scope/pkg@next.canary/dist/x.js",
    "https://unpkg.com/react@latest/umd/react.production.min.js",
    "/npm/vue@beta/dist/vue.js",
    "/npm/pkg@canary.nightly/index.js",
    "/p?dep=pkg@next.canary&x=1",
    "/p?dep=name%40next.canary&tag=name@latest",
    "/p?next=%2Finstall%3Fpkg%3Dreact%2540next.canary%26x%3D1",
  ];
  it.each(kept)("keeps %s", (url) => {
    expect(redactUrl(url, byDefault)).toBe(url);
  });

  const redacted: Array<[string, string]> = [
    ["/p?to=jane@example.com&c=jane@mail.co.uk&d=jane@2x.com&e=jane@shop.example", "/p?to=(redacted)&c=(redacted)&d=(redacted)&e=(redacted)"],
    ["/u/jane@next.canary.com/x", "/u/(redacted)/x"],
    // A dist-tag before an address in the same segment or value: the address is found after it.
    ["/u/pkg@next.canary+jane@example.org", "/u/(redacted)"],
    ["/p?q=pkg@next.canary+jane%40example.org", "/p?q=(redacted)"],
    // A dist-tag whose label is a top-level domain (.next, .dev, .app are) cannot be told from an address: the safe side.
    ["/npm/pkg@rc.next/index.js", "/npm/(redacted)/index.js"],
    // Non-ASCII top-level domains are in the list.
    ["/p?kontakt=jürgen@bücher.рф", "/p?kontakt=(redacted)"],
    // Corporate mail at a private top-level domain is personal data all the same: only dist-tag words are kept.
    ["/p?to=jane@acme.corp&b=jane%40mail.internal&c=jane@host.local&d=JANE@X.LAN", "/p?to=(redacted)&b=(redacted)&c=(redacted)&d=(redacted)"],
    ["/u/jane@acme.corp/x", "/u/(redacted)/x"],
    ["mailto:jane@acme.corp", "mailto:(redacted)"],
    // A punycode top-level domain, which EMAIL's letters-only last label matches only up to "xn".
    ["/p?to=jane@mail.xn--p1ai", "/p?to=(redacted)"],
  ];
  it.each(redacted)("%s", (url, expected) => {
    expect(redactUrl(url, byDefault)).toBe(expected);
  });

  it("in page items and dead letters", () => {
    expect(redactPathAddresses("/npm/pkg@next.canary/index.js")).toBe("/npm/pkg@next.canary/index.js");
    expect(redactQueryPairsInText('"GET /npm/pkg@next.canary/index.js?to=jane%40x.com HTTP/1.1"', byDefault)).toBe(
      '"GET /npm/pkg@next.canary/index.js?to=(redacted) HTTP/1.1"',
    );
  });

  it("reads a 200 KB dist-tag domain without a top-level label in linear time", () => {
    const url = "/u/a@" + "canary.".repeat(30_000) + "nightly";
    expect(redactUrl(url, byDefault)).toBe(url);
    expect(redactUrl(`${url}/jane@x.com`, byDefault)).toBe(`${url}/(redacted)`);
  });
});

describe("URL redaction - the generator's traffic and the access-log fixtures", () => {
  it("changes no url or referrer in them (they hold no secret and no address)", () => {
    const urls: string[] = [];
    for (const event of createTraffic({ visitors: 600, days: 7, seed: 42 }).events()) {
      if (typeof event.url === "string") urls.push(event.url);
      if (typeof event.referrer === "string") urls.push(event.referrer);
    }
    const fixtures = ["access-logs/semicomplete_apache_combined_2015.log", "access-logs/nasa_kennedy_aug95_head1929.log"];
    for (const fixture of fixtures) {
      const text = readFileSync(new URL(`../fixtures/${fixture}`, import.meta.url), "utf8");
      for (const match of text.matchAll(/"[A-Z]+ (\S+)[^"]*"(?: \S+ \S+ "([^"]*)")?/g)) urls.push(...match.slice(1).filter((url) => url !== undefined));
    }
    expect(urls.length).toBeGreaterThan(50_000);
    expect(urls.filter((url) => redactUrl(url, byDefault) !== url)).toEqual([]);
  });
});
