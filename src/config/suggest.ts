/**
 * "Did you mean ...?" for a mistyped setting or flag: a wrong case, `-`/`_`
 * where camelCase was meant, or a letter or two off.
 *
 * @module
 */

/** Lower case without `-` and `_`: `max_requests`, `max-requests` and `maxRequests` are one word. */
function fold(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** Levenshtein distance, stopping early past `limit`. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      best = Math.min(best, row[j]!);
    }
    if (best > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The candidate closest to `name`, if one is close enough to be what was
 * meant: the same word in another spelling, else at most 1 edit for short
 * names and 2 for longer ones.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const folded = fold(name);
  const limit = folded.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = fold(c) === folded ? -1 : distance(folded, fold(c), limit);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
