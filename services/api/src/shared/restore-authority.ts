import { posix } from 'node:path';

/** Where a restore writes: the server it lands on and the folder, and the server its backup came from. */
export interface RestoreTarget {
  backupServerId: string;
  serverId: string;
  targetPath: string;
}

/**
 * Why a restore needs the admin role, or null when an operator may run it: onto the backup's own server, under a
 * folder. Writing another server's files, or over `/` itself (however it is spelt: `//`, `/./`), is admin power
 * (issue #12). One rule for the restore route and for a retry of a restore job.
 */
export function restoreNeedsAdmin(target: RestoreTarget): string | null {
  if (target.serverId !== target.backupServerId) return "Restoring a backup onto another server than the one it came from needs the admin role.";
  if (posix.normalize(target.targetPath) === '/') return "Restoring in place over '/' needs the admin role; an operator restores under a folder.";
  return null;
}
