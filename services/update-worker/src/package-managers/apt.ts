import { shellQuote } from '@mm/ssh';
import type { ChangedPackage, UpgradablePackage } from '../update-result.js';
import type { PackageManager } from './package-manager.js';

// Keep existing config files and never ask: an unattended upgrade cannot answer a dpkg prompt.
const NONINTERACTIVE = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-y', '-q', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'];

const quoted = (packages: string[]) => packages.map(shellQuote).join(' ');

export const apt: PackageManager = {
  name: 'apt',
  refresh: ['env', 'LC_ALL=C', 'apt-get', 'update', '-q'],
  // `apt list` warns that its CLI is unstable; its line format has been the same since apt 1.0.
  listUpgradable: 'LC_ALL=C apt list --upgradable 2>/dev/null',
  listExitCodes: [0],
  parseUpgradable(stdout) {
    const packages: UpgradablePackage[] = [];
    for (const line of stdout.split('\n')) {
      // appstream/oldstable 0.16.1-2+b1 amd64 [upgradable from: 0.16.1-2]; krb5-locales/oldstable,oldstable-security ...
      const m = /^([^/\s]+)\/(\S+)\s+(\S+)\s+\S+\s+\[upgradable from: ([^\]]+)\]/.exec(line);
      // A candidate from a *-security suite (bookworm-security, jammy-security) is a security update.
      if (m) packages.push({ name: m[1]!, current: m[4]!, candidate: m[3]!, security: m[2]!.split(',').some((suite) => suite.endsWith('-security')) });
    }
    return packages;
  },
  // -s simulates without root and without taking the dpkg lock.
  simulate: (packages) => (packages ? `LC_ALL=C apt-get -s -q install --only-upgrade ${quoted(packages)}` : 'LC_ALL=C apt-get -s -q upgrade'),
  parseSimulation(stdout) {
    const changed: ChangedPackage[] = [];
    for (const line of stdout.split('\n')) {
      // Inst libfoo [1.0-1] (1.0-2 Debian:12.5/stable [amd64])   (no [..] for a newly installed package)
      const m = /^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+)/.exec(line);
      if (m) changed.push({ name: m[1]!, from: m[2] ?? null, to: m[3]! });
    }
    return changed;
  },
  upgrade: (packages) => (packages ? [...NONINTERACTIVE, 'install', '--only-upgrade', ...packages] : [...NONINTERACTIVE, 'upgrade']),
  // No exclude option: the handler refuses an upgrade whose simulation would touch a held package.
  excludes: false,
  installedVersions: (names) => `dpkg-query -W -f '\${Package} \${Version}\\n' ${quoted(names)} 2>/dev/null`,
};
