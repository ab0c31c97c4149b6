// Email addresses in text: what EMAIL matches, unless its domain is an npm dist-tag's rather than a mail domain.
import { parse } from "tldts";
import { decodeQueryComponent } from "./query-encoding.ts";

// Text that looks like an address: a local part, "@", a domain with a dot and a top-level label of letters (IDNs too).
// The local part is one character looked behind (a longer one matches exactly when its last character does): as
// `[…]+@`, an unanchored search tried every start in a run of local-part characters against the whole run, quadratic
// in a value with an "@" and no address (8 s for 100 KB). The domain's classes exclude "@", so each "@" is tried
// against the text up to the next one: linear in all. Two lookaheads, which also read no further than the next "@",
// keep what CDNs serve: a high-density image's scale suffix (`logo@2x.png`, `icon@1.5X.webp`, `logo@2x.3f9a1c.png`,
// `logo@3x-dark.png`: a scale, then labels ending in an image's extension, so `jane@2x.com` is an address), and a
// package's semver pre-release (`pkg@1.0.0-beta.rc`: three numbers and "-"). A match is no address when its domain's
// labels after the first are dist-tag words and no top-level domain (isAddressDomain): `pkg@next.canary`, an npm
// dist-tag, is none.
const EMAIL =
  /(?<=[\p{L}\p{N}._%+!#$&'*/=?^`{|}~-])@(?!\d+(?:\.\d+)?x[\p{L}\p{N}.-]*\.(?:a?png|jpe?g|gif|webp|avif|svg|ico|bmp|tiff?|heic|heif|jxl)(?![\p{L}\p{N}.-])|v?\d+\.\d+\.\d+-)[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/giu;

/** Whether `text` holds an email address: a match of EMAIL whose domain is no dist-tag's. */
export function holdsAddress(text: string): boolean {
  EMAIL.lastIndex = 0;
  // The search goes on from a match's end: its domain holds no "@", so no other address starts inside it.
  for (let match = EMAIL.exec(text); match !== null; match = EMAIL.exec(text)) {
    if (isAddressDomain(match[0].slice(1))) return true;
  }
  return false;
}

/**
 * Top-level labels that name no delegated domain but are written in addresses all the same: RFC 2606's reserved names,
 * which documentation and tests use (`jane@shop.example`).
 */
const RESERVED_TOP_LEVEL_LABELS: ReadonlySet<string> = new Set(["example", "test", "invalid", "localhost"]);

/**
 * Words of npm dist-tags and pre-release channels (`pkg@next.canary`, `pkg@canary.nightly`): a domain whose labels
 * after the first are all such words, and none a top-level domain, is a dist-tag's. Any other domain is an address's,
 * whatever its top-level label: corporate mail uses private ones (`jane@acme.corp`, `@mail.internal`, `@host.local`),
 * and a punycode TLD (`@mail.xn--p1ai`) is matched by EMAIL only up to its `xn`. Listing the dist-tag words, rather than
 * the top-level domains, keeps the mistake on the redacting side.
 */
const DIST_TAG_LABELS: ReadonlySet<string> = new Set([
  "alpha", "beta", "canary", "nightly", "next", "rc", "latest", "dev", "experimental", "insiders", "insider", "preview",
  "stable", "unstable", "edge", "pre", "prerelease", "snapshot", "legacy", "lts", "release",
]);

/**
 * Whether a domain, as EMAIL matched it (labels joined by "."), is an address's: a label after the first is a
 * top-level domain of the Public Suffix List's ICANN section (tldts) or a reserved one (any label, not the last only:
 * the match may run on past the address, `jane@mail.example.org.html` in a path segment), or a label after the first
 * is no dist-tag word. `next.canary`, `canary.nightly` (npm dist-tags) are not; a dist-tag with a top-level domain in
 * it (`pkg@canary.dev`) is read as an address, the safe side.
 */
function isAddressDomain(domain: string): boolean {
  let distTag = true;
  for (let dot = domain.lastIndexOf("."); dot > 0; dot = domain.lastIndexOf(".", dot - 1)) {
    const next = domain.indexOf(".", dot + 1);
    const label = domain.slice(dot + 1, next === -1 ? domain.length : next).toLowerCase();
    if (isTopLevelLabel(label)) return true;
    distTag &&= DIST_TAG_LABELS.has(label);
  }
  return !distTag;
}

const TOP_LEVEL_OPTIONS = { allowPrivateDomains: false, extractHostname: false, detectIp: false, validateHostname: false } as const;

/** A lookup costs about 75 ns, and is made only for text that matched EMAIL. */
function isTopLevelLabel(label: string): boolean {
  if (label.length < 2) return false;
  return RESERVED_TOP_LEVEL_LABELS.has(label) || parse(label, TOP_LEVEL_OPTIONS).isIcann === true;
}

/** Whether a raw query component holds an email address, written plainly or percent-encoded (`%40`). */
export function holdsEmail(raw: string): boolean {
  if (!raw.includes("@") && !/%40/i.test(raw)) return false;
  return holdsAddress(decodeQueryComponent(raw));
}
