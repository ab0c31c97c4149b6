// Ids that are unique only within a site (an anon_id, an order number), as one key per (site_id, id).

const SEPARATOR = "\u0001";

/**
 * The key of an id scoped by its site: the id itself without a site_id (or with an empty one), so state keyed by it
 * before sites were told apart, and every single-site pipeline, keeps its keys; `<site_id> U+0001 <id>` otherwise.
 * sessionize keys visitors by (site_id, anon_id) the same way (sessionize-visitor.ts' visitorKey): two shops' cookie
 * ids, or their order numbers (#1001 in each), are different people and different orders.
 */
export function siteKey(siteId: string | null | undefined, id: string): string {
  return siteId === undefined || siteId === null || siteId === "" ? id : `${siteId}${SEPARATOR}${id}`;
}

/** The id of a siteKey, without its site (tombstones name anon_ids, not sites). */
export function idOfSiteKey(key: string): string {
  const separator = key.indexOf(SEPARATOR);
  return separator < 0 ? key : key.slice(separator + 1);
}

/** A siteKey taken apart: its site_id ("" for none) and its id. */
export function splitSiteKey(key: string): [site: string, id: string] {
  const separator = key.indexOf(SEPARATOR);
  return separator < 0 ? ["", key] : [key.slice(0, separator), key.slice(separator + 1)];
}
