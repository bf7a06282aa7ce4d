import { UnrecoverableError } from 'bullmq';
import { shellQuote, type SshSession } from '@mm/ssh';
import { createBackupDecryptStream } from './backup-cipher.js';
import type { BackupStorage } from './storage/backup-storage.js';

/*
 * GNU tar snapshot files (--listed-incremental): tar records every archived folder's members and each file's inode and
 * times in it, so the next level catches files whose ctime changed (chmod, moved in with an old mtime) and records
 * deletions (an extraction with --listed-incremental=/dev/null removes what was gone at that level).
 * Stored beside the archive: `<server id>/<backup id>.snar[.enc]` (encrypted like the archive: it names every file).
 */

/** The storage key of a backup's snapshot file. */
export function snapshotFileKey(serverId: string, backupId: string, encryption: boolean): string {
  return `${serverId}/${backupId}.snar${encryption ? '.enc' : ''}`;
}

/** A private temp file on the server (mktemp creates it 0600); returns its path. */
export async function makeRemoteTempFile(session: SshSession, signal: AbortSignal | undefined): Promise<string> {
  const { code, stdout, stderr } = await session.exec('umask 077 && mktemp', { timeoutMs: 30_000, signal, maxOutputBytes: 4096 });
  const path = stdout.trim();
  if (code !== 0 || !/^\/[A-Za-z0-9._/-]+$/.test(path)) {
    throw new UnrecoverableError(`could not create a temporary snapshot file on the server (mktemp): ${stderr.trim().slice(0, 300) || `exit ${code}`}`);
  }
  return path;
}

export async function removeRemoteFile(session: SshSession, path: string): Promise<void> {
  await session.exec(`rm -f -- ${shellQuote(path)}`, { timeoutMs: 30_000 }).catch(() => undefined);
}

/** A snapshot file's two places: its key in the backup storage and its temp file on the server. */
export interface SnapshotFileTransfer {
  storage: BackupStorage;
  key: string;
  encryptionKey: string | undefined;
  session: SshSession;
  remotePath: string;
  signal: AbortSignal | undefined;
}

/** Writes a stored snapshot file (decrypted when stored encrypted) into the server's temp file. */
export async function uploadSnapshotFile({ storage, key, encryptionKey, session, remotePath, signal }: SnapshotFileTransfer): Promise<void> {
  const source = storage.read(key);
  const stdin = key.endsWith('.enc') ? source.pipe(createBackupDecryptStream(encryptionKey ?? '')) : source;
  const { code, stderr } = await session.exec(`cat > ${shellQuote(remotePath)}`, { stdin, timeoutMs: 0, signal, maxOutputBytes: 4096 });
  if (code !== 0) throw new Error(`could not upload the base snapshot file to the server: ${stderr.trim().slice(0, 300) || `exit ${code}`}`);
}

/** Reads the server's snapshot file back after tar and stores it under `key`. */
export async function storeSnapshotFile({ storage, key, encryptionKey, session, remotePath, signal }: SnapshotFileTransfer): Promise<void> {
  const writer = await storage.write(key, { encryptionKey });
  let committed = false;
  try {
    const read = await session.execToStream(`cat -- ${shellQuote(remotePath)}`, writer.input, { timeoutMs: 0, signal });
    if (read.code !== 0) throw new Error(`could not read the snapshot file back from the server: ${read.stderr.trim().slice(0, 300) || `exit ${read.code}`}`);
    await writer.commit();
    committed = true;
  } finally {
    if (!committed) await writer.discard();
  }
}
