// Seeded "random" NDJSON traffic for cardinality checks: random ids, urls, skus and order ids, plus garbage, duplicates and late events.
import { seededRandom } from "../helpers/seeded-random.ts";

const START = Date.UTC(2026, 2, 2);
const TWO_DAYS_MS = 2 * 86_400_000;

/**
 * `count` NDJSON lines over two days of event time: page views of random urls by 20,000 random visitors, carts of
 * random skus, purchases with random order ids, identifies of random users, plus 1% garbage, 1% repeated lines
 * (duplicates) and 1% events 3 hours late. Random tokens of 8+ characters go to `tokens` when given.
 */
export function* randomTraffic(count: number, seed: number, tokens?: Set<string>): Generator<string> {
  const random = seededRandom(seed);
  const hex = (length: number) => {
    let text = "";
    while (text.length < length) text += Math.floor(random() * 0x100000000).toString(16).padStart(8, "0");
    const token = text.slice(0, length);
    if (length >= 8) tokens?.add(token);
    return token;
  };
  const visitors = Array.from({ length: 20_000 }, () => hex(16));
  let previous: string | undefined;
  for (let index = 0; index < count; index++) {
    const roll = random();
    if (roll < 0.01) {
      yield `{"type":"${hex(6)}","ts":"${hex(10)}","garbage":`;
      continue;
    }
    if (roll < 0.02 && previous !== undefined) {
      yield previous;
      continue;
    }
    let ts = START + Math.floor((index / count) * TWO_DAYS_MS);
    if (roll < 0.03) ts -= 3 * 3_600_000;
    const anon = visitors[Math.floor(random() * visitors.length)];
    const base = { ts, event_id: hex(20), anon_id: anon, site_id: "s1", user_id: random() < 0.3 ? `u-${hex(12)}` : undefined };
    const kind = random();
    const event =
      kind < 0.8
        ? { ...base, type: "page_view", url: `https://${hex(8)}.example/p/${hex(12)}?q=${hex(8)}`, referrer: `https://${hex(8)}.example/` }
        : kind < 0.9
          ? { ...base, type: "add_to_cart", sku: hex(10), price: Math.round(random() * 10_000) / 100 }
          : kind < 0.97
            ? {
                ...base,
                type: "purchase",
                user_id: base.user_id ?? `u-${hex(12)}`,
                order_id: hex(14),
                revenue: Math.round(random() * 50_000) / 100,
                items: [{ sku: hex(10), category: hex(5), price: 10, qty: 1 }],
              }
            : { ...base, type: "identify", user_id: `u-${hex(12)}` };
    previous = JSON.stringify(event);
    yield previous;
  }
}
