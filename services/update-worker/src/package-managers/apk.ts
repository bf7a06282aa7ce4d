import { shellQuote } from '@mm/ssh';
import type { ChangedPackage, UpgradablePackage } from '../update-result.js';
import type { PackageManager } from './package-manager.js';

const quoted = (packages: string[]) => packages.map(shellQuote).join(' ');

/** apk prints `<name>-<version>-r<n>`; the version starts with a digit and has no dash of its own. */
const NAME_VERSION = /^(.+?)-(\d[^-\s]*-r\d+)/;

export const apk: PackageManager = {
  name: 'apk',
  refresh: ['apk', 'update', '-q'],
  listUpgradable: "apk version -l '<' 2>/dev/null",
  listExitCodes: [0],
  parseUpgradable(stdout) {
    const packages: UpgradablePackage[] = [];
    for (const line of stdout.split('\n')) {
      // busybox-1.36.1-r5   < 1.36.1-r6
      const m = /^(\S+)\s+<\s+(\S+)/.exec(line);
      const nv = m && NAME_VERSION.exec(m[1]!);
      if (m && nv) packages.push({ name: nv[1]!, current: nv[2]!, candidate: m[2]! });
    }
    return packages;
  },
  simulate: (packages) => (packages ? `apk add --upgrade --simulate ${quoted(packages)}` : 'apk upgrade --simulate'),
  parseSimulation(stdout) {
    const changed: ChangedPackage[] = [];
    for (const line of stdout.split('\n')) {
      // (1/2) Upgrading busybox (1.36.1-r5 -> 1.36.1-r6)
      const m = /^\(\d+\/\d+\) Upgrading (\S+) \((\S+) -> (\S+)\)/.exec(line);
      if (m) changed.push({ name: m[1]!, from: m[2]!, to: m[3]! });
    }
    return changed;
  },
  upgrade: (packages) => (packages ? ['apk', 'add', '--upgrade', ...packages] : ['apk', 'upgrade']),
  // No exclude option: the handler refuses an upgrade whose simulation would touch a held package.
  excludes: false,
  // apk has no per-name query with a stable format: list all installed, the handler keeps the ones it asked for.
  installedVersions: () => `apk list --installed 2>/dev/null | awk '{ print $1 }' | sed -E 's/^(.+)-([0-9][^-]*-r[0-9]+)$/\\1 \\2/'`,
};
