// "did you mean …?": the closest allowed word to a misspelt key or value, by edit distance.

/**
 * Edit distance counting a swap of two neighbouring letters as one edit (optimal string alignment), case-insensitive
 * (config keys are camelCase, people type them in any case): "brust" is one typo away from "burst", not two.
 */
export function editDistance(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const substitution = previous[j - 1] + (left[i - 1] === right[j - 1] ? 0 : 1);
      let best = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
      if (i > 1 && j > 1 && left[i - 1] === right[j - 2] && left[i - 2] === right[j - 1]) best = Math.min(best, beforePrevious[j - 2] + 1);
      current.push(best);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[right.length];
}

/** The candidate closest to `word` when it is close enough to be a typo (at most a third of its letters off). */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * The one candidate that shares a stem with `word` though too many letters apart for a typo: a type written short or
 * as its table ("churn", "patterns", "sessions" for churnFeatures, sequencePatterns, sessionize). One starts or ends with
 * the other, or they share their first 6 letters; undefined when no candidate or several do.
 */
export function relatedName(word: string, candidates: readonly string[]): string | undefined {
  const mine = word.toLowerCase().replace(/[_\s-]/g, "");
  if (mine.length < 4) return undefined;
  const related = candidates.filter((candidate) => {
    const theirs = candidate.toLowerCase();
    const [shorter, longer] = mine.length <= theirs.length ? [mine, theirs] : [theirs, mine];
    return longer.startsWith(shorter) || longer.endsWith(shorter) || (shorter.length >= 6 && longer.startsWith(shorter.slice(0, 6)));
  });
  return related.length === 1 ? related[0] : undefined;
}
