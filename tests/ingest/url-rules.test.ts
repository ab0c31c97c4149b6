// URL rules: templates with :params and *, first match wins, query ignored, clear errors for bad rules.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileUrlRules, pathOfUrl, UrlRuleError } from "../../src/ingest/url-rules.ts";

describe("url-rules - page items", () => {
  const pageItemOf = compileUrlRules([
    { match: "/c/:category/p/:id", item: ":category" },
    { match: "/p/:id", item: "product/:id" },
    { match: "/blog/*", item: "blog" },
    { match: "/c/:category", item: "category/:category" },
    { match: "/c/books", item: "never: an earlier rule matches first" },
  ]);

  it("maps a product page to its category", () => {
    expect(pageItemOf("/c/books/p/123")).toBe("books");
  });

  it("builds items with literal text around params", () => {
    expect(pageItemOf("/p/42")).toBe("product/42");
  });

  it("ignores the query string and fragment when matching", () => {
    expect(pageItemOf("/c/music/p/9?utm_source=x#top")).toBe("music");
  });

  it("matches full URLs by their path", () => {
    expect(pageItemOf("https://shop.example.com/c/toys/p/7?x=1")).toBe("toys");
  });

  it("lets * span several segments", () => {
    expect(pageItemOf("/blog/2015/05/post.html")).toBe("blog");
  });

  it("uses the first matching rule", () => {
    expect(pageItemOf("/c/books")).toBe("category/books");
  });

  it("accepts a trailing slash", () => {
    expect(pageItemOf("/p/42/")).toBe("product/42");
  });

  it("does not let :param span a slash", () => {
    expect(pageItemOf("/p/42/reviews")).toBe("/p/42/reviews");
  });

  it("returns the path itself (without query) when no rule matches", () => {
    expect(pageItemOf("/about?x=1")).toBe("/about");
    expect(compileUrlRules([])("/c/books/p/1")).toBe("/c/books/p/1");
  });

  it("treats regex characters in templates literally", () => {
    expect(compileUrlRules([{ match: "/a.b/(x)", item: "dots" }])("/aXb/(x)")).toBe("/aXb/(x)");
    expect(compileUrlRules([{ match: "/a.b/(x)", item: "dots" }])("/a.b/(x)")).toBe("dots");
  });
});

describe("url-rules - errors", () => {
  it("names the rule and the param an item uses but the match does not define", () => {
    expect(() => compileUrlRules([{ match: "/p/:id", item: ":sku" }])).toThrow(UrlRuleError);
    expect(() => compileUrlRules([{ match: "/p/:id", item: ":sku" }])).toThrow("urlRules[0].item uses :sku, which urlRules[0].match does not define (it has :id)");
  });

  it("refuses a match that is not a path and a param used twice", () => {
    expect(() => compileUrlRules([{ match: "p/:id", item: "x" }])).toThrow(/must start with \//);
    expect(() => compileUrlRules([{ match: "/:a/:a", item: ":a" }])).toThrow(/twice/);
  });
});

describe("url-rules - pathOfUrl", () => {
  it("strips scheme, host, query and fragment", () => {
    expect(pathOfUrl("http://a.example:8080/x/y?q#f")).toBe("/x/y");
    expect(pathOfUrl("https://a.example")).toBe("/");
    expect(pathOfUrl("/x#frag?notquery")).toBe("/x");
    expect(pathOfUrl("")).toBe("/");
  });
});

describe("url-rules - property: any path yields a string, never throws", () => {
  const pageItemOf = compileUrlRules([
    { match: "/c/:category/p/:id", item: ":category" },
    { match: "/*/x/*", item: "*" },
  ]);

  it("returns a string for arbitrary input, and the rule's param for generated product paths", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 120 }), (path) => {
        expect(typeof pageItemOf(path)).toBe("string");
      }),
    );
    const segment = fc.stringMatching(/^[^/?#]+$/);
    fc.assert(
      fc.property(segment, segment, (category, id) => {
        expect(pageItemOf(`/c/${category}/p/${id}`)).toBe(category);
      }),
    );
  });
});
