// Association rules with one consequent item (arules' apriori, Spark's FP-Growth) and cross-sell lists derived from them.
import { compareItemLists, compareItems } from "./itemset-sequence.ts";
import type { FrequentItemset } from "./fp-growth.ts";

export interface AssociationRule {
  /** Sorted items. */
  antecedent: string[];
  consequent: string;
  /** Transactions holding antecedent ∪ consequent, over all transactions. */
  support: number;
  /** count(antecedent ∪ consequent) / count(antecedent). */
  confidence: number;
  /** confidence / support(consequent). */
  lift: number;
  /** Transactions holding antecedent ∪ consequent (arules' `count`). */
  count: number;
}

export const ANTECEDENT_SEPARATOR = " & ";

/**
 * Every rule A ⇒ {c} with A ∪ {c} frequent, A non-empty and confidence ≥ minConfidence, sorted by lift, confidence,
 * support (all descending), then antecedent and consequent. Every subset of a frequent itemset is frequent, so the
 * antecedent's and consequent's counts are always in `itemsets`.
 */
export function associationRules(itemsets: readonly FrequentItemset[], transactionCount: number, minConfidence: number): AssociationRule[] {
  const countOf = new Map<string, number>();
  for (const { items, count } of itemsets) countOf.set(itemsetKey(items), count);
  const rules: AssociationRule[] = [];
  for (const { items, count } of itemsets) {
    if (items.length < 2) continue;
    for (let drop = 0; drop < items.length; drop += 1) {
      const antecedent = items.filter((_, index) => index !== drop);
      const consequent = items[drop];
      const confidence = count / countOf.get(itemsetKey(antecedent))!;
      if (confidence < minConfidence) continue;
      const consequentSupport = countOf.get(itemsetKey([consequent]))! / transactionCount;
      rules.push({ antecedent, consequent, support: count / transactionCount, confidence, lift: confidence / consequentSupport, count });
    }
  }
  return rules.sort(byStrength);
}

export interface CrossSell {
  product: string;
  rank: number;
  recommended: string;
  lift: number;
  confidence: number;
  support: number;
}

/**
 * For every product, the `top` consequents of one-item-antecedent rules {product} ⇒ {recommended} by lift: "bought
 * product, also buys recommended". Larger antecedents are left out so every list reads from a single product.
 */
export function crossSellLists(rules: readonly AssociationRule[], top: number): CrossSell[] {
  const byProduct = new Map<string, AssociationRule[]>();
  for (const rule of rules) {
    if (rule.antecedent.length !== 1) continue;
    const product = rule.antecedent[0];
    const list = byProduct.get(product);
    if (list === undefined) byProduct.set(product, [rule]);
    else list.push(rule);
  }
  const lists: CrossSell[] = [];
  for (const product of [...byProduct.keys()].sort(compareItems)) {
    const ranked = byProduct.get(product)!.sort(byStrength).slice(0, top);
    ranked.forEach((rule, index) =>
      lists.push({ product, rank: index + 1, recommended: rule.consequent, lift: rule.lift, confidence: rule.confidence, support: rule.support }),
    );
  }
  return lists;
}

export function formatAntecedent(antecedent: readonly string[]): string {
  return antecedent.join(ANTECEDENT_SEPARATOR);
}

/** One key per itemset whatever its items hold (joined by NUL, the item "a\0b" and {a, b} shared a key). */
function itemsetKey(items: readonly string[]): string {
  return JSON.stringify(items);
}

function byStrength(a: AssociationRule, b: AssociationRule): number {
  return (
    b.lift - a.lift ||
    b.confidence - a.confidence ||
    b.support - a.support ||
    compareItems(formatAntecedent(a.antecedent), formatAntecedent(b.antecedent)) ||
    compareItemLists(a.antecedent, b.antecedent) ||
    compareItems(a.consequent, b.consequent)
  );
}
