import { Writable } from 'node:stream';
import { UnrecoverableError } from 'bullmq';
import { assertRemotePath, shellQuote, type SshSession } from '@mm/ssh';
import type { JobContext } from '@mm/worker-runtime';
import { assertSafeRestoreTarget } from './restore-target-check.js';

type BackupContext = JobContext<'backup'>;

/**
 * The remote extraction: members are relative to `/`, so they land at <target>/<original path>; -p keeps modes.
 * -i reads past the end-of-archive blocks to the real end of the stream: without it tar exits 0 at the marker while
 * the worker is still sending the record's padding (seen restoring a repository backup: "Premature close"), and
 * the whole stream is what gets hashed against the record.
 * `listedIncremental` (an incremental level made with a snapshot file): `--listed-incremental=/dev/null` makes GNU tar
 * delete, in every archived folder, what was no longer there when that level was taken.
 */
export function extractCommand(targetPath: string, compression: boolean, listedIncremental = false, paths?: readonly string[]): string {
  const members = (paths ?? []).map((p) => shellQuote(memberOf(p)));
  return [
    'env', 'LC_ALL=C', 'tar', '-x', '-i', ...(compression ? ['-z'] : []), ...(listedIncremental ? ['--listed-incremental=/dev/null'] : []),
    '-p', '-v', '-f', '-', '-C', shellQuote(targetPath), ...(members.length ? ['--', ...members] : []),
  ].join(' ');
}

/**
 * The tar member of an absolute path inside a backup (members are relative to `/`, see tar-command.ts); a folder
 * member brings everything under it. Checked like every remote path: one argument, never an option.
 */
export function memberOf(path: string): string {
  const member = assertRemotePath(path).replace(/^\/+/, '').replace(/\/+$/, '');
  if (member === '') throw new UnrecoverableError("'/' is the whole backup: restore without paths");
  return member;
}

const NOT_FOUND = /^tar: (.+): Not found in archive$/;

/**
 * A subset extraction's tar exit: GNU tar exits 2 when a member is not in the archive, which for one level of an
 * incremental chain is normal (a file unchanged since the full is not in the incremental). When "Not found in archive"
 * is all tar complained about, the extraction is fine and `notFound` names the members this level lacked.
 */
export function subsetExit(code: number | null, stderr: string): { code: number | null; stderr: string; notFound: string[] } {
  if (code !== 2) return { code, stderr, notFound: [] };
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^tar: Exiting with failure status/.test(l));
  const notFound = lines.flatMap((l) => NOT_FOUND.exec(l)?.[1] ?? []);
  if (notFound.length === 0 || notFound.length !== lines.length) return { code, stderr, notFound: [] };
  return { code: 0, stderr: '', notFound };
}

/** Counts tar -v lines (one per extracted member) without keeping them. */
export function lineCounter(): { sink: Writable; count: () => number } {
  let lines = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const byte of chunk) if (byte === 0x0a) lines++;
      callback();
    },
  });
  return { sink, count: () => lines };
}

/** Checks the target (symlinks, world-writable folders), creates it, and checks again: mkdir -p follows what it finds. */
export async function makeTarget(session: SshSession, ctx: BackupContext, targetPath: string): Promise<void> {
  await assertSafeRestoreTarget(session, targetPath, ctx.signal);
  await mkdirTarget(session, ctx, targetPath);
  await assertSafeRestoreTarget(session, targetPath, ctx.signal);
}

async function mkdirTarget(session: SshSession, ctx: BackupContext, targetPath: string): Promise<void> {
  const { code, stderr } = await session.exec(`mkdir -p -- ${shellQuote(targetPath)}`, { timeoutMs: 30_000, signal: ctx.signal });
  if (code !== 0) throw new UnrecoverableError(`could not create the restore target ${targetPath}: ${stderr.trim().slice(0, 500) || `mkdir exited with ${code}`}`);
}
