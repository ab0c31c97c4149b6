// The browser tracker as the collector serves it (GET /v1/clickpipe.js): read and minified once at start, with ETags.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";

/** The tracker's source: readable and commented, type-checked by src/ingest/tracker/tsconfig.json. */
export const TRACKER_SOURCE = new URL("./tracker/clickpipe-tracker.js", import.meta.url);

/** One representation of the script: its bytes and their strong ETag. */
export interface ScriptVariant {
  body: Buffer;
  etag: string;
}

export interface TrackerScript {
  plain: ScriptVariant;
  gzip: ScriptVariant;
}

/**
 * Reads the tracker and minifies it with esbuild (a dependency already: the CLI bundle's), down to ES2017: the
 * comments that explain the source are a third of its bytes, and gzip takes it to about 3.9 KB. Where esbuild cannot
 * run, the source is served as it is, which works the same.
 */
export async function loadTrackerScript(log: (line: string) => void): Promise<TrackerScript> {
  const source = await readFile(TRACKER_SOURCE, "utf8");
  let code = source;
  try {
    const { transformSync } = await import("esbuild");
    code = transformSync(source, { minify: true, target: "es2017", loader: "js", charset: "utf8" }).code;
  } catch (error) {
    log(`http collector: serving the tracker unminified (esbuild failed: ${(error as Error).message})`);
  }
  const plain = Buffer.from(code, "utf8");
  const tag = createHash("sha256").update(plain).digest("base64url").slice(0, 22);
  return { plain: { body: plain, etag: `"${tag}"` }, gzip: { body: gzipSync(plain, { level: 9 }), etag: `"${tag}-gzip"` } };
}

/** Whether an Accept-Encoding header takes gzip: named (or `*`) with a q-value above 0 (RFC 9110 §12.5.3). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let star = false;
  for (const part of header.split(",")) {
    const [name, ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith("q="));
    const accepted = q === undefined || Number(q.slice(2)) > 0;
    if (name === "gzip" || name === "x-gzip") return accepted;
    if (name === "*") star = accepted;
  }
  return star;
}

/**
 * Whether If-None-Match names `etag`: `*`, or a listed tag equal to it by the weak comparison RFC 9110 §13.1.2
 * prescribes for this header (a `W/` prefix ignored).
 */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || (trimmed.startsWith("W/") ? trimmed.slice(2) : trimmed) === etag;
  });
}
