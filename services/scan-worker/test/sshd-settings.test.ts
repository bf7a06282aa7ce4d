import { describe, expect, it } from 'vitest';
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
