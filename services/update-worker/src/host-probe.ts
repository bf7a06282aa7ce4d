import type { SshSession } from '@mm/ssh';
import type { PackageManagerName } from './package-managers/package-manager.js';

export type Privilege = 'root' | 'sudo' | 'sudo-missing' | 'sudo-denied';

export interface HostFacts {
  uid: number;
  user: string;
  manager: PackageManagerName | null;
  privilege: Privilege;
}

// dnf before yum: dnf systems often keep a yum alias. `sudo -n` never prompts: it fails when a password is wanted.
const PROBE = [
  'printf "uid=%s\\nuser=%s\\n" "$(id -u)" "$(id -un)"',
  'for m in apt-get dnf yum apk; do if command -v "$m" >/dev/null 2>&1; then echo "manager=$m"; break; fi; done',
  'if [ "$(id -u)" = 0 ]; then echo privilege=root',
  'elif ! command -v sudo >/dev/null 2>&1; then echo privilege=sudo-missing',
  'elif sudo -n true >/dev/null 2>&1; then echo privilege=sudo',
  'else echo privilege=sudo-denied',
  'fi',
].join('\n');

const MANAGERS: Record<string, PackageManagerName> = { 'apt-get': 'apt', dnf: 'dnf', yum: 'yum', apk: 'apk' };

/** Who we are on the server, which package manager it has, and whether we can act as root without a password. */
export async function probeHost(session: SshSession, signal: AbortSignal | undefined): Promise<HostFacts> {
  const res = await session.exec(PROBE, { timeoutMs: 30_000, signal });
  const kv = new Map(res.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
  const uid = Number(kv.get('uid'));
  const privilege = kv.get('privilege');
  if (res.code !== 0 || !Number.isInteger(uid) || !privilege) {
    throw new Error(`could not probe the server (exit ${res.code ?? res.signal}): ${res.stderr.trim().slice(-300) || 'no output'}`);
  }
  return {
    uid,
    user: kv.get('user') ?? String(uid),
    manager: MANAGERS[kv.get('manager') ?? ''] ?? null,
    privilege: privilege as Privilege,
  };
}
