import { describe, expect, it } from 'vitest';
import { SecretRedactor } from '../src/index.js';

describe('SecretRedactor', () => {
  it('hides the server’s own secrets wherever they appear', () => {
    const r = new SecretRedactor();
    r.addSecret('S3cr3t-pa55');
    expect(r.line('login with S3cr3t-pa55 failed')).toBe('login with [redacted] failed');
    expect(r.text('x S3cr3t-pa55 y S3cr3t-pa55')).toBe('x [redacted] y [redacted]');
  });

  it('hides a private key block that arrives line by line, and nothing after it', () => {
    const r = new SecretRedactor();
    const lines = ['before', '-----BEGIN OPENSSH PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAA', '-----END OPENSSH PRIVATE KEY-----', 'after'];
    expect(lines.map((l) => r.line(l))).toEqual(['before', '[redacted private key]', '[redacted private key]', '[redacted private key]', 'after']);
  });

  it('hides credential assignments and token-like values but leaves ordinary output alone', () => {
    const r = new SecretRedactor();
    expect(r.line('DB_PASSWORD=hunter2 user=app')).toBe('DB_PASSWORD=[redacted] user=app');
    expect(r.line('{"passphrase": "abc def", "user": "x"}')).toBe('{"passphrase": [redacted], "user": "x"}');
    expect(r.line("export MYSQL_PWD='p w'")).toBe('export MYSQL_PWD=[redacted]');
    expect(r.line('curl -H "Authorization: Bearer abc.def-ghi"')).toBe('curl -H "Authorization: [redacted]"');
    expect(r.line('token ghp_0123456789abcdefghijABCDEFGHIJ')).toBe('token [redacted]');
    expect(r.line('jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U')).toBe('jwt [redacted]');
    for (const plain of ['PasswordAuthentication no', 'Reading package lists... Done', 'Inst libssl3 [3.0.11-1] (3.0.13-1 Debian:12.5/stable)', 'tar: etc/shadow: Cannot open: Permission denied']) {
      expect(r.line(plain)).toBe(plain);
    }
  });

  it('hides secrets of any length, not only those of 6 characters or more (issue #12)', () => {
    const r = new SecretRedactor();
    for (const secret of ['x9', 'abc', 'Pa55']) r.addSecret(secret);
    expect(r.line('sudo: password was abc, then Pa55, then x9')).toBe('sudo: password was [redacted], then [redacted], then [redacted]');
    expect(r.text('ssh: x9 rejected')).toBe('ssh: [redacted] rejected');
    // A secret with surrounding blanks is hidden as given too, not only trimmed.
    r.addSecret(' q ');
    expect(r.line('got q here')).toBe('got[redacted]here');
    expect(r.line('q')).toBe('[redacted]');
  });
});
