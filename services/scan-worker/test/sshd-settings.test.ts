import { describe, expect, it } from 'vitest';
import { parseFullScanOutput } from '../src/full-scan/parse-output.js';
import { globMatches } from '../src/full-scan/remote-glob.js';
import { SECTION_MARKER } from '../src/full-scan/script.js';
import { sshdSettingsOf } from '../src/full-scan/sshd-settings.js';

// The machine running the tests has no sshd_config.d files and no Match blocks, so the rules sshd
// applies to them (first value wins, Include splices in place, Match blocks are conditional) are checked here.
describe('sshd settings from config files', () => {
  it('lets an included file override later lines, in sorted order, and skips Match blocks', () => {
    const notes: string[] = [];
    const settings = sshdSettingsOf(
      [
        'source=config files',
        '@@mm-file /etc/ssh/sshd_config',
        'Include /etc/ssh/sshd_config.d/*.conf',
        'PermitRootLogin yes',
        'PasswordAuthentication yes',
        '@@mm-file /etc/ssh/sshd_config.d/50-cloud.conf',
        'PasswordAuthentication=no',
        '@@mm-file /etc/ssh/sshd_config.d/10-admin.conf',
        'Match User backup',
        '  PermitRootLogin no',
        'Match all',
        'PermitRootLogin Prohibit-Password',
      ],
      notes,
    );
    expect(settings).toEqual({ source: 'config files', permitRootLogin: 'prohibit-password', passwordAuthentication: 'no' });
    expect(notes).toEqual([]);
  });

  it('falls back to OpenSSH defaults and notes a file it could not read', () => {
    const notes: string[] = [];
    const settings = sshdSettingsOf(
      ['source=config files', '@@mm-file /etc/ssh/sshd_config', 'Include sshd_config.d/*.conf', '@@mm-file /etc/ssh/sshd_config.d/secret.conf', '@@mm-unreadable'],
      notes,
    );
    expect(settings).toEqual({ source: 'config files', permitRootLogin: 'prohibit-password', passwordAuthentication: 'yes' });
    expect(notes).toEqual(['sshd settings: /etc/ssh/sshd_config.d/secret.conf is not readable without root; values may be incomplete']);
  });

  it('reads the effective values sshd -T prints', () => {
    const settings = sshdSettingsOf(['source=sshd -T', 'permitrootlogin without-password', 'passwordauthentication no'], []);
    expect(settings).toEqual({ source: 'sshd -T', permitRootLogin: 'without-password', passwordAuthentication: 'no' });
  });
});

describe('glob matching of Include patterns', () => {
  it.each([
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/50-cloud.conf', true],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/50-cloud.conf.bak', false],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/sub/x.conf', false],
    ['/etc/ssh/*/*.conf', '/etc/ssh/sshd_config.d/x.conf', true],
    ['/etc/ssh/?0-*', '/etc/ssh/50-x', true],
    ['/etc/ssh/?0-*', '/etc/ssh//0-x', false],
    ['/etc/ssh/a*b*c', '/etc/ssh/abxbyc', true],
    ['/etc/ssh/a*b*c', '/etc/ssh/abxbyd', false],
    ['/etc/ssh/[ab].conf', '/etc/ssh/[ab].conf', true],
    ['/etc/ssh/[ab].conf', '/etc/ssh/a.conf', false],
    ['/etc/ssh/x.*', '/etc/ssh/xyconf', false],
    ['*', '', true],
    ['', 'x', false],
  ])('%s against %s is %s', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
  });
});

// A hostile host chooses its config files' names and contents. Each of these hung the scan worker before (a regular
// expression built from the Include pattern, a backtracking line regex, an Include fan-out without a bound).
describe('sshd settings from a hostile host', () => {
  it('an Include pattern of many stars against long file names', { timeout: 2_000 }, () => {
    const pattern = `/etc/ssh/${'*a'.repeat(40)}b`;
    const lines = ['source=config files', '@@mm-file /etc/ssh/sshd_config', `Include ${pattern}`, 'PermitRootLogin no'];
    for (let i = 0; i < 20; i++) lines.push(`@@mm-file /etc/ssh/${'a'.repeat(200)}${i}`, 'PermitRootLogin yes');
    expect(sshdSettingsOf(lines, [])).toMatchObject({ permitRootLogin: 'no' });
  });

  it('a config line with a long run of spaces inside', { timeout: 2_000 }, () => {
    const long = `PermitRootLogin yes${' '.repeat(200_000)}x`;
    const settings = sshdSettingsOf(['source=config files', '@@mm-file /etc/ssh/sshd_config', long, 'PermitRootLogin no'], []);
    // Past sshd's own 4 KiB line limit the line is skipped.
    expect(settings?.permitRootLogin).toBe('no');
    const spaced = `PermitRootLogin yes${' '.repeat(3_000)}x`;
    expect(sshdSettingsOf(['source=config files', '@@mm-file /etc/ssh/sshd_config', spaced], [])?.permitRootLogin).toBe(`yes${' '.repeat(3_000)}x`);
  });

  it('files that include each other without end', { timeout: 2_000 }, () => {
    const lines = ['source=config files', '@@mm-file /etc/ssh/sshd_config', 'Include /etc/ssh/d/*'];
    for (let i = 0; i < 30; i++) lines.push(`@@mm-file /etc/ssh/d/${i}`, 'Include /etc/ssh/d/* /etc/ssh/sshd_config');
    lines.push('@@mm-file /etc/ssh/d/z', 'PasswordAuthentication no');
    const notes: string[] = [];
    expect(sshdSettingsOf(lines, notes)).toMatchObject({ passwordAuthentication: 'no' });
    expect(notes).toEqual(['sshd settings: Include reaches more than 256 files; the rest were not read']);
  });

  it('parses keyword and value the way sshd splits them', () => {
    const settings = (line: string) => sshdSettingsOf(['source=config files', '@@mm-file /etc/ssh/sshd_config', line], []);
    expect(settings('  PermitRootLogin   =   No  ')?.permitRootLogin).toBe('no');
    expect(settings('PermitRootLogin=without-password')?.permitRootLogin).toBe('without-password');
    expect(settings('# PermitRootLogin yes')?.permitRootLogin).toBe('prohibit-password');
    expect(settings('PermitRootLogin')?.permitRootLogin).toBe('prohibit-password');
  });
});

describe('full scan output from a hostile host', () => {
  it('a memory line with a long run of spaces', { timeout: 2_000 }, () => {
    const stdout = [`${SECTION_MARKER}memory`, `MemTotal: 1${' '.repeat(200_000)}x`, `MemAvailable:  2048 kB`].join('\n');
    const result = parseFullScanOutput(stdout, new Date());
    // Lines are cut at 4,096 characters before any parser sees them: what is left reads as "1".
    expect(result.memory).toMatchObject({ totalBytes: 1024, availableBytes: 2048 * 1024 });
  });

  it('a memory line in /proc/meminfo form still reads', () => {
    const stdout = [`${SECTION_MARKER}memory`, 'MemTotal:       16384 kB', 'MemAvailable:    8192 kB'].join('\n');
    expect(parseFullScanOutput(stdout, new Date()).memory).toMatchObject({ totalBytes: 16384 * 1024, availableBytes: 8192 * 1024 });
  });
});
