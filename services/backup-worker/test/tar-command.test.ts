import { describe, expect, it } from 'vitest';
import { buildTarCommand, interpretTarExit } from '../src/tar-command.js';

describe('buildTarCommand', () => {
  it('quotes every path as one word after `--`, relative to /', () => {
    expect(buildTarCommand({ paths: ['/srv/app', "/home/o'brien/x y", '/'], compression: true })).toBe(
      `env LC_ALL=C tar -C / -czf - -- 'srv/app' 'home/o'\\''brien/x y' '.'`,
    );
  });

  it('adds --newer (mtime and ctime) for a fallback incremental backup', () => {
    expect(buildTarCommand({ paths: ['/etc'], compression: false, newerThanEpochSeconds: 1_700_000_000 })).toBe(
      `env LC_ALL=C tar -C / -cf - --newer=@1700000000 -- 'etc'`,
    );
  });

  it('rejects relative paths and line breaks', () => {
    expect(() => buildTarCommand({ paths: ['etc'], compression: false })).toThrow(/absolute/);
    expect(() => buildTarCommand({ paths: ['/etc\nrm -rf /'], compression: false })).toThrow(/newline/);
  });
});

describe('interpretTarExit', () => {
  it('treats exit 1 (file changed as we read it) as a warning', () => {
    const outcome = interpretTarExit(1, null, 'tar: srv/log/app.log: file changed as we read it\n');
    expect(outcome).toEqual({ ok: true, warnings: ['tar: srv/log/app.log: file changed as we read it'] });
  });

  it('fails on exit 2 with tar\'s own words, not retryable', () => {
    const outcome = interpretTarExit(2, null, 'tar: srv/nope: Cannot stat: No such file or directory\ntar: Exiting with failure status due to previous errors\n');
    expect(outcome).toEqual({ ok: false, reason: 'tar exited with status 2: tar: srv/nope: Cannot stat: No such file or directory', retryable: false });
  });

  it('retries a tar killed by a signal', () => {
    expect(interpretTarExit(null, 'KILL', '')).toEqual({ ok: false, reason: 'tar was killed by signal KILL', retryable: true });
  });

  it('bounds the reason length', () => {
    const outcome = interpretTarExit(2, null, 'tar: x: Cannot open: Permission denied\n'.repeat(500));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.reason.length).toBeLessThanOrEqual(2_003);
  });
});
