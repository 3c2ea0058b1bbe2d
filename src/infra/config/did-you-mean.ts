/** "Did you mean …?" for a mistyped setting or variable name. */
import { distance } from 'fastest-levenshtein';

/** The candidate nearest to `name` (case-insensitively), if it is a near miss (a typo) rather than any short word. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
