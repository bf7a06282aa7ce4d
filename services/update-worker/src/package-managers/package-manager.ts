import type { ChangedPackage, UpgradablePackage } from '../update-result.js';

export type PackageManagerName = 'apt' | 'dnf' | 'yum' | 'apk';

/**
 * What the update handler needs from a package manager. Commands are built from constants and
 * package names already checked with assertPackageName and shell-quoted. Root-only commands are argv
 * lists so the handler can put `sudo -n` in front; the others are shell commands run as the SSH user.
 */
export interface PackageManager {
  name: PackageManagerName;
  /** Refreshes the package index (root). */
  refresh: string[];
  /** Lists upgradable packages from the current index, changing nothing (no root needed). */
  listUpgradable: string;
  /** Exit codes of `listUpgradable` that mean success (dnf check-update exits 100 when it lists updates). */
  listExitCodes: readonly number[];
  parseUpgradable(stdout: string): UpgradablePackage[];
  /** A simulation of the upgrade that changes nothing and needs no root; null when the upgradable list is the best preview. */
  simulate(packages: string[] | null): string | null;
  parseSimulation(stdout: string): ChangedPackage[];
  /** Upgrades everything (null) or only `packages` (root), never `exclude` where the manager can say so (dnf/yum --exclude). */
  upgrade(packages: string[] | null, exclude?: string[]): string[];
  /** Whether `upgrade` itself keeps `exclude` out, dependencies included; if not, the handler checks a simulation first. */
  excludes: boolean;
  /** Prints `<name> <version>` for the installed packages of `names`, possibly for others too (no root needed). */
  installedVersions(names: string[]): string;
}

/** `<name> <version>` lines into a map; the first line per name wins (multi-arch installs repeat a name). */
export function parseNameVersionLines(stdout: string): Map<string, string> {
  const versions = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [name, version] = line.trim().split(/\s+/);
    if (name && version && !versions.has(name)) versions.set(name, version);
  }
  return versions;
}
