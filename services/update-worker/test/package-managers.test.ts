import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellQuote } from '@mm/ssh';
import { packageManagers } from '../src/package-managers/select.js';

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
