import { assertRemotePath, shellQuote } from '@mm/ssh';

export interface TarCommandOptions {
  /** Absolute remote paths; each is checked and quoted, so a path is only ever one argument. */
  paths: readonly string[];
  /** Gzip on the server, so the compressed bytes are what crosses the network. */
  compression: boolean;
  /**
   * Only files whose contents or inode changed after this time (epoch seconds; GNU tar's --newer compares ctime as well as
   * mtime): the fallback incremental when the base has no snapshot file.
   */
  newerThanEpochSeconds?: number;
  /** A GNU tar snapshot file on the server (--listed-incremental): empty for a full, the base's for an incremental. */
  snapshotFile?: string;
}

/**
 * The remote command writing a tar archive of `paths` to stdout. Members are relative to `/`
 * (`-C /` and the leading slash dropped) so tar prints no "Removing leading `/'" notice and extraction
 * stays inside the chosen target. `env LC_ALL=C` keeps tar's messages parseable whatever the login shell.
 */
export function buildTarCommand({ paths, compression, newerThanEpochSeconds, snapshotFile }: TarCommandOptions): string {
  const members = paths.map((p) => {
    const relative = assertRemotePath(p).replace(/^\/+/, '');
    return shellQuote(relative === '' ? '.' : relative);
  });
  const args = ['env', 'LC_ALL=C', 'tar', '-C', '/', compression ? '-czf' : '-cf', '-'];
  if (newerThanEpochSeconds !== undefined) {
    if (!Number.isSafeInteger(newerThanEpochSeconds) || newerThanEpochSeconds < 0) throw new Error(`invalid incremental base time ${newerThanEpochSeconds}`);
    args.push(`--newer=@${newerThanEpochSeconds}`);
  }
  if (snapshotFile !== undefined) args.push(shellQuote(`--listed-incremental=${assertRemotePath(snapshotFile)}`));
  return [...args, '--', ...members].join(' ');
}

/**
 * GNU tar exit status: 0 ok, 1 "some files differ" (changed while read: a warning), 2 fatal (a missing or
 * unreadable path: the same paths fail the same way, so not retryable). A tar killed by a signal may have
 * met a transient condition (the server's OOM killer, a reboot): retryable.
 */
export type TarOutcome = { ok: true; warnings: string[] } | { ok: false; reason: string; retryable: boolean };

const MAX_REASON_CHARS = 2_000;

function stderrLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^tar: Exiting with failure status/.test(l));
}

export function interpretTarExit(code: number | null, signal: string | null, stderr: string): TarOutcome {
  const lines = stderrLines(stderr);
  if (code === 0) return { ok: true, warnings: lines };
  if (code === 1) return { ok: true, warnings: lines.length ? lines : ['tar reported files that changed while being archived'] };
  const how = code === null ? `was killed by signal ${signal ?? 'unknown'}` : `exited with status ${code}`;
  const detail = lines.join('; ');
  const reason = `tar ${how}${detail ? `: ${detail}` : ''}`;
  return {
    ok: false,
    reason: reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}...` : reason,
    retryable: code === null || code >= 128,
  };
}
