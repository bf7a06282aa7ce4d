import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { Backup } from '@mm/db';
import type { ResticRepository } from '@mm/restic';
import { snapshotFilePath } from '@mm/restic';

export class SnapshotIntegrityError extends Error {
  override name = 'SnapshotIntegrityError';
}

/**
 * The tar stream of a repository backup (`restic dump <snapshot> /<backup id>.tar`), hashed as it passes: the last
 * stage fails before the end of the stream when the bytes do not match the record's sha256 and size, so whoever
 * reads it (tar -x on a server, a verify) never sees a clean end of a stream that differs from what was stored.
 */
export async function readSnapshot(repo: ResticRepository, backup: Backup, onBytes?: (bytes: number) => void) {
  if (!backup.snapshotId || !backup.sha256) throw new SnapshotIntegrityError(`backup ${backup.id} has no snapshot recorded`);
  const dump = await repo.dump(backup.snapshotId, snapshotFilePath(backup.id));
  const hash = createHash('sha256');
  let bytes = 0;
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(bytes);
      callback(null, chunk);
    },
    flush(callback) {
      const digest = hash.digest('hex');
      if (digest !== backup.sha256 || (backup.sizeBytes !== null && bytes !== backup.sizeBytes)) {
        callback(new SnapshotIntegrityError(`snapshot ${backup.snapshotId} reads back as ${bytes} bytes with sha256 ${digest}; the record says ${backup.sizeBytes} bytes, ${backup.sha256}`));
      } else callback();
    },
  });
  // restic failing mid-stream (a damaged pack fails its MAC) must fail the stream, not end it cleanly.
  dump.done.catch((err: unknown) => checked.destroy(err as Error));
  dump.stdout.on('error', (err) => checked.destroy(err));
  dump.stdout.pipe(checked);
  return { stream: checked, done: dump.done, kill: dump.kill, bytes: () => bytes };
}
