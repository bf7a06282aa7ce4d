import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { shellQuote } from '@mm/ssh';
import { assertPackageName } from '../src/package-name.js';
import { packageManagers } from '../src/package-managers/select.js';
import { planTargets } from '../src/handlers/update-server.js';

/** Output captured from apt 2.6.1 on Debian 12 (LC_ALL=C, as the commands run), stored verbatim under test/fixtures. */
const aptSample = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

// apt is exercised for real by update-worker.test.ts; dnf, yum and apk are not on this machine, so their
// parsers are checked against output in the formats those tools print, and every command against sh's parser.
describe('package manager commands', () => {
  it('are valid POSIX sh for every manager, with and without a package list', () => {
    for (const pm of Object.values(packageManagers)) {
      const commands = [
        pm.listUpgradable,
        pm.simulate(null),
        pm.simulate(['openssl', 'libc++']),
        pm.installedVersions(['openssl', 'libc++']),
        [pm.refresh, pm.upgrade(null), pm.upgrade(['openssl'])].map((argv) => argv.map(shellQuote).join(' ')),
      ].flat();
      for (const command of commands.filter((c): c is string => c !== null)) {
        expect(() => execFileSync('sh', ['-n', '-c', command]), `${pm.name}: ${command}`).not.toThrow();
      }
    }
  });
});

describe('apt output (real samples)', () => {
  it('reads `apt list --upgradable`: name, installed and candidate version; the header and several suites too', () => {
    const packages = packageManagers.apt.parseUpgradable(aptSample('apt-list-upgradable.txt'));
    expect(packages).toHaveLength(15);
    expect(packages.slice(0, 3)).toEqual([
      { name: 'appstream', current: '0.16.1-2', candidate: '0.16.1-2+b1', security: false },
      { name: 'apt-transport-https', current: '2.6.1', candidate: '2.6.2', security: true },
      { name: 'apt', current: '2.6.1', candidate: '2.6.2', security: true },
    ]);
    expect(packages).toContainEqual({ name: 'ca-certificates', current: '20230311+deb12u1', candidate: '20250419~deb12u2', security: true });
    // A security suite among several counts too.
    expect(packages).toContainEqual({ name: 'krb5-locales', current: '1.20.1-2+deb12u3', candidate: '1.20.1-2+deb12u5', security: true });
    expect(packages.filter((p) => p.security).map((p) => p.name)).toEqual(['apt-transport-https', 'apt', 'ca-certificates', 'jq', 'krb5-locales', 'libaom3']);
    expect(packages.map((p) => p.name)).not.toContain('Listing...');
  });

  it('reads a simulated upgrade: every Inst line, epochs and trailing [] included, no Conf line', () => {
    const changed = packageManagers.apt.parseSimulation(aptSample('apt-get-simulate-upgrade.txt'));
    expect(changed).toEqual([
      { name: 'base-files', from: '12.4+deb12u11', to: '12.4+deb12u15' },
      { name: 'bash', from: '5.2.15-2+b8', to: '5.2.15-2+b13' },
      { name: 'libgcrypt20-dev', from: '1.10.1-3', to: '1.10.1-3+deb12u1' },
      { name: 'libgcrypt20', from: '1.10.1-3', to: '1.10.1-3+deb12u1' },
      { name: 'liblzma-dev', from: '5.4.1-1', to: '5.4.1-1+deb12u2' },
      { name: 'liblzma5', from: '5.4.1-1', to: '5.4.1-1+deb12u2' },
      { name: 'libzstd1', from: '1.5.4+dfsg2-5', to: '1.5.4+dfsg2-5+deb12u1' },
      { name: 'zlib1g-dev', from: '1:1.2.13.dfsg-1', to: '1:1.2.13.dfsg-1+deb12u1' },
    ]);
  });

  it('reads a simulated `install --only-upgrade` with a dependency pulled along', () => {
    expect(packageManagers.apt.parseSimulation(aptSample('apt-get-simulate-only-upgrade.txt'))).toEqual([
      { name: 'libssl-dev', from: '3.0.19-1~deb12u2', to: '3.0.22-1~deb12u2' },
      { name: 'libssl3', from: '3.0.19-1~deb12u2', to: '3.0.22-1~deb12u2' },
      { name: 'openssl', from: '3.0.19-1~deb12u2', to: '3.0.22-1~deb12u2' },
    ]);
  });

  it('reports a newly installed package with no previous version', () => {
    expect(packageManagers.apt.parseSimulation(aptSample('apt-get-simulate-new-package.txt'))).toEqual([{ name: 'sl', from: null, to: '5.02-1+b1' }]);
  });
});

describe('package names reaching a command', () => {
  it('pass when the catalog schema would accept them, and are refused otherwise', () => {
    expect(assertPackageName('libssl3')).toBe('libssl3');
    expect(assertPackageName('g++')).toBe('g++');
    for (const bad of ['--allow-downgrades', 'a;b', '$(touch x)', 'a b', '`id`', 'a\nb', '']) {
      expect(() => assertPackageName(bad)).toThrow(/invalid package name/);
    }
  });
});

describe('dnf check-update output', () => {
  it('yields name, installed and candidate version, and stops at obsoleting packages', () => {
    const stdout = [
      '',
      'openssl-libs.x86_64                1:3.0.7-25.el9_3             baseos',
      'kernel.x86_64                      5.14.0-362.18.1.el9_3        baseos',
      'Obsoleting Packages',
      'grub2-tools.x86_64                 1:2.06-70.el9_3              baseos',
      '@@mm-installed openssl-libs 1:3.0.7-24.el9',
      '@@mm-installed kernel 5.14.0-362.13.1.el9_3',
    ].join('\n');
    expect(packageManagers.dnf.parseUpgradable(stdout)).toEqual([
      { name: 'openssl-libs', current: '1:3.0.7-24.el9', candidate: '1:3.0.7-25.el9_3' },
      { name: 'kernel', current: '5.14.0-362.13.1.el9_3', candidate: '5.14.0-362.18.1.el9_3' },
    ]);
    expect(packageManagers.dnf.upgrade(['kernel'])).toEqual(['env', 'LC_ALL=C', 'dnf', '-y', 'upgrade', 'kernel']);
  });
});

describe('apk output', () => {
  it('splits name and version of `apk version -l <` lines, dashes in names included', () => {
    const stdout = ['Installed:                                Available:', 'busybox-1.36.1-r5                       < 1.36.1-r6', 'py3-foo-bar-2.0.1-r0                    < 2.0.2-r0'].join('\n');
    expect(packageManagers.apk.parseUpgradable(stdout)).toEqual([
      { name: 'busybox', current: '1.36.1-r5', candidate: '1.36.1-r6' },
      { name: 'py3-foo-bar', current: '2.0.1-r0', candidate: '2.0.2-r0' },
    ]);
  });

  it('reads what a simulated upgrade would change', () => {
    const stdout = ['(1/2) Upgrading busybox (1.36.1-r5 -> 1.36.1-r6)', '(2/2) Upgrading ssl_client (1.36.1-r5 -> 1.36.1-r6)', 'OK: 8 MiB in 15 packages'].join('\n');
    expect(packageManagers.apk.parseSimulation(stdout)).toEqual([
      { name: 'busybox', from: '1.36.1-r5', to: '1.36.1-r6' },
      { name: 'ssl_client', from: '1.36.1-r5', to: '1.36.1-r6' },
    ]);
  });
});

describe('package holds', () => {
  const upgradable = [
    { name: 'curl', current: '7.88.1-10', candidate: '7.88.1-10+deb12u5' },
    { name: 'openssl', current: '3.0.11-1', candidate: '3.0.13-1' },
    { name: 'tzdata', current: '2024a-0', candidate: '2024b-0' },
  ];

  it('upgrading everything becomes the explicit list of the packages not held; without a held upgradable package it stays "everything"', () => {
    expect(planTargets(null, upgradable, new Set(['openssl', 'not-installed']))).toEqual({ targets: ['curl', 'tzdata'], held: ['openssl'], notUpgradable: [] });
    expect(planTargets(null, upgradable, new Set(['not-installed']))).toEqual({ targets: null, held: [], notUpgradable: [] });
  });

  it('a requested held package is skipped and reported as held, not as not upgradable', () => {
    expect(planTargets(['openssl', 'curl', 'nope'], upgradable, new Set(['openssl']))).toEqual({ targets: ['curl'], held: ['openssl'], notUpgradable: ['nope'] });
  });

  it('dnf and yum keep held packages out of the upgrade, dependencies included (--exclude); apt and apk cannot, so the handler checks their simulation', () => {
    expect(packageManagers.dnf.upgrade(['curl'], ['openssl', 'kernel-core'])).toEqual(['env', 'LC_ALL=C', 'dnf', '-y', '--exclude=openssl', '--exclude=kernel-core', 'upgrade', 'curl']);
    expect(packageManagers.yum.upgrade(null, ['openssl'])).toEqual(['env', 'LC_ALL=C', 'yum', '-y', '--exclude=openssl', 'upgrade']);
    expect([packageManagers.dnf.excludes, packageManagers.yum.excludes, packageManagers.apt.excludes, packageManagers.apk.excludes]).toEqual([true, true, false, false]);
  });
});
