/**
 * Shell-style glob matching (`*` any run of characters but `/`, `?` one character but `/`, everything else literal)
 * without building a regular expression from remote text. Iterative with one backtrack point (the last `*`), so a
 * match costs at most pattern length × name length steps, and both lengths are capped by the caller.
 */
export function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = -1;
  while (n < name.length) {
    const pc = pattern[p];
    const nc = name[n];
    if (pc === '*') {
      starP = p++;
      starN = n;
    } else if (pc !== undefined && nc !== '/' && (pc === '?' || pc === nc)) {
      p++;
      n++;
    } else if (pc !== undefined && pc === nc) {
      // A literal '/' matches itself.
      p++;
      n++;
    } else if (starP !== -1 && name[starN] !== '/') {
      // Let the last star take one more character (never a '/'), and try the rest of the pattern again.
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
