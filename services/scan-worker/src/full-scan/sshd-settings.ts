import type { FullScanResult } from './result-schema.js';
import { globMatches } from './remote-glob.js';

type SshdSettings = NonNullable<FullScanResult['sshd']>;

const FILE_MARKER = '@@mm-file ';
const UNREADABLE = '@@mm-unreadable';

// OpenSSH's compiled-in defaults (sshd_config(5)) when no file sets the keyword.
const DEFAULTS = { permitrootlogin: 'prohibit-password', passwordauthentication: 'yes' };

// Everything below comes from the managed host, so every loop has a bound (lines are already cut by the SSH layer).
/** Longer config lines are skipped (sshd's own line buffer is 4 KiB too). */
const MAX_LINE_LENGTH = 4_096;
/** Include patterns and file paths past these lengths are not matched. */
const MAX_PATTERN_LENGTH = 256;
const MAX_PATH_LENGTH = 1_024;
/** Dumped files considered, and file visits in all (Include may name the same files again and again). */
const MAX_FILES = 512;
const MAX_VISITS = 256;
/** Include nesting, as sshd's own limit (READCONF_MAX_DEPTH 16) but lower: real configs nest once or twice. */
const MAX_DEPTH = 8;

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v';

/** `Keyword value`, `Keyword=value` or `Keyword = value`, as sshd splits a line; null for blank lines and comments. */
export function configLine(line: string): { keyword: string; value: string } | null {
  if (line.length > MAX_LINE_LENGTH) return null;
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return null;
  let end = 0;
  while (end < text.length && !isSpace(text[end]) && text[end] !== '=') end++;
  if (end === 0) return null;
  let start = end;
  while (isSpace(text[start])) start++;
  if (text[start] === '=') start++;
  while (isSpace(text[start])) start++;
  const value = text.slice(start);
  return value === '' ? null : { keyword: text.slice(0, end).toLowerCase(), value };
}

/**
 * The effective PermitRootLogin and PasswordAuthentication, from `sshd -T` output (root) or from the
 * config files the script dumped (unprivileged). For files it follows sshd's rules: the first value wins,
 * Include splices files in where it stands, and lines inside a Match block apply only to some connections
 * so they are skipped.
 */
export function sshdSettingsOf(lines: string[], notes: string[]): SshdSettings | null {
  const source = lines[0] === 'source=sshd -T' ? 'sshd -T' : lines[0] === 'source=config files' ? 'config files' : null;
  if (!source) return null;

  const files = new Map<string, string[]>();
  let current: string[] | undefined;
  let ignoredFiles = 0;
  for (const line of lines.slice(1)) {
    if (line.startsWith(FILE_MARKER)) {
      const path = line.slice(FILE_MARKER.length);
      current = path.length <= MAX_PATH_LENGTH && files.size < MAX_FILES ? [] : undefined;
      if (current) files.set(path, current);
      else ignoredFiles++;
    } else if (source === 'sshd -T') {
      let output = files.get('sshd -T');
      if (!output) files.set('sshd -T', (output = []));
      output.push(line);
    } else {
      current?.push(line);
    }
  }
  if (ignoredFiles > 0) notes.push(`sshd settings: ${ignoredFiles} config files past the first ${MAX_FILES} (or with over-long paths) were not read`);

  const found: Record<string, string> = {};
  const matching = new Map<string, string[]>();
  const filesMatching = (pattern: string): string[] => {
    let names = matching.get(pattern);
    if (!names) {
      names = pattern.length > MAX_PATTERN_LENGTH ? [] : [...files.keys()].filter((f) => globMatches(pattern, f)).sort();
      matching.set(pattern, names);
    }
    return names;
  };
  let visits = 0;
  const open = new Set<string>();
  const visit = (path: string, depth: number) => {
    const content = files.get(path);
    if (!content || open.has(path)) return;
    if (++visits > MAX_VISITS) {
      if (visits === MAX_VISITS + 1) notes.push(`sshd settings: Include reaches more than ${MAX_VISITS} files; the rest were not read`);
      return;
    }
    if (content.includes(UNREADABLE)) {
      notes.push(`sshd settings: ${path} is not readable without root; values may be incomplete`);
      return;
    }
    open.add(path);
    let inMatch = false;
    for (const line of content) {
      const parsed = configLine(line);
      if (!parsed) continue;
      const { keyword, value } = parsed;
      if (keyword === 'match') inMatch = value.toLowerCase() !== 'all';
      else if (inMatch) continue;
      else if (keyword === 'include' && depth < MAX_DEPTH) {
        for (const pattern of value.split(/[ \t]+/)) {
          const absolute = pattern.startsWith('/') ? pattern : `/etc/ssh/${pattern}`;
          for (const name of filesMatching(absolute)) visit(name, depth + 1);
        }
      } else if (!(keyword in found)) {
        found[keyword] = value.toLowerCase();
      }
    }
    open.delete(path);
  };
  visit(source === 'sshd -T' ? 'sshd -T' : '/etc/ssh/sshd_config', 0);

  return {
    source,
    permitRootLogin: found.permitrootlogin ?? DEFAULTS.permitrootlogin,
    passwordAuthentication: found.passwordauthentication ?? DEFAULTS.passwordauthentication,
  };
}
