import type { FullScanResult } from './result-schema.js';

type SshdSettings = NonNullable<FullScanResult['sshd']>;

const FILE_MARKER = '@@mm-file ';
const UNREADABLE = '@@mm-unreadable';

// OpenSSH's compiled-in defaults (sshd_config(5)) when no file sets the keyword.
const DEFAULTS = { permitrootlogin: 'prohibit-password', passwordauthentication: 'yes' };

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
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
  for (const line of lines.slice(1)) {
    if (line.startsWith(FILE_MARKER)) {
      current = [];
      files.set(line.slice(FILE_MARKER.length), current);
    } else if (source === 'sshd -T') {
      files.set('sshd -T', [...(files.get('sshd -T') ?? []), line]);
    } else {
      current?.push(line);
    }
  }

  const found: Record<string, string> = {};
  const visit = (path: string, depth: number) => {
    const content = files.get(path);
    if (!content) return;
    if (content.includes(UNREADABLE)) {
      notes.push(`sshd settings: ${path} is not readable without root; values may be incomplete`);
      return;
    }
    let inMatch = false;
    for (const line of content) {
      const m = /^\s*(\S+?)(?:\s*=\s*|\s+)(.+?)\s*$/.exec(line);
      if (!m) continue;
      const keyword = m[1]!.toLowerCase();
      const value = m[2]!;
      if (keyword === 'match') inMatch = value.toLowerCase() !== 'all';
      else if (inMatch) continue;
      else if (keyword === 'include' && depth < 8) {
        for (const pattern of value.split(/\s+/)) {
          const absolute = pattern.startsWith('/') ? pattern : `/etc/ssh/${pattern}`;
          const re = globToRegExp(absolute);
          for (const name of [...files.keys()].filter((f) => re.test(f)).sort()) visit(name, depth + 1);
        }
      } else if (!(keyword in found)) {
        found[keyword] = value.toLowerCase();
      }
    }
  };
  visit(source === 'sshd -T' ? 'sshd -T' : '/etc/ssh/sshd_config', 0);

  return {
    source,
    permitRootLogin: found.permitrootlogin ?? DEFAULTS.permitrootlogin,
    passwordAuthentication: found.passwordauthentication ?? DEFAULTS.passwordauthentication,
  };
}
