import { shellQuote } from '@mm/ssh';
import type { UpgradablePackage } from '../update-result.js';
import type { PackageManager } from './package-manager.js';

const quoted = (packages: string[]) => packages.map(shellQuote).join(' ');
// Epoch only when set, as dnf prints versions.
const RPM_FORMAT = shellQuote('%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n');
const INSTALLED_MARK = '@@mm-installed ';

/** dnf and yum share their output formats; `bin` is the one the server has. */
function rpmFamily(bin: 'dnf' | 'yum'): PackageManager {
  return {
    name: bin,
    refresh: ['env', 'LC_ALL=C', bin, '-q', '-y', 'makecache'],
    // check-update exits 100 when it lists updates; the installed versions are appended, marked, for the `current` column.
    listUpgradable: [
      `out=$(LC_ALL=C ${bin} -q check-update 2>/dev/null); rc=$?`,
      'printf "%s\\n" "$out"',
      `if [ "$rc" -eq 100 ]; then printf "%s\\n" "$out" | awk '/^Obsolet/ { exit } NF == 3 { sub(/\\.[^.]+$/, "", $1); print $1 }' | xargs rpm -q --qf ${shellQuote(INSTALLED_MARK)}${RPM_FORMAT} 2>/dev/null; fi`,
      'exit $rc',
    ].join('\n'),
    listExitCodes: [0, 100],
    parseUpgradable(stdout) {
      const installed = new Map<string, string>();
      for (const line of stdout.split('\n').filter((l) => l.startsWith(INSTALLED_MARK))) {
        const [name, version] = line.slice(INSTALLED_MARK.length).split(' ');
        if (name && version && !installed.has(name)) installed.set(name, version);
      }
      const packages: UpgradablePackage[] = [];
      for (const line of stdout.split('\n')) {
        if (/^Obsolet/.test(line)) break;
        // openssl-libs.x86_64   1:3.0.7-25.el9   baseos
        const m = /^(\S+)\.([^.\s]+)\s+(\S+)\s+\S+$/.exec(line);
        if (m && !line.startsWith(INSTALLED_MARK)) packages.push({ name: m[1]!, current: installed.get(m[1]!) ?? null, candidate: m[3]! });
      }
      return packages;
    },
    // dnf/yum refuse `upgrade --assumeno` without root; the check-update list is the preview.
    simulate: () => null,
    parseSimulation: () => [],
    upgrade: (packages, exclude = []) => ['env', 'LC_ALL=C', bin, '-y', ...exclude.map((name) => `--exclude=${name}`), 'upgrade', ...(packages ?? [])],
    excludes: true,
    installedVersions: (names) => `rpm -q --qf ${RPM_FORMAT} ${quoted(names)} 2>/dev/null`,
  };
}

export const dnf = rpmFamily('dnf');
export const yum = rpmFamily('yum');
