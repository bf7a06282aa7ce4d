import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Backup, Db } from '@mm/db';
import { ResticError } from '@mm/restic';
import type { BackupSettings } from '../settings.js';
import { TarListing } from '../tar-listing.js';
import { jobError, openRepository } from './open-repository.js';
import { readSnapshot } from './read-snapshot.js';
import { repositoryOfRecord } from './resolve-target.js';

export interface SnapshotCheck {
  status: 'passed' | 'failed';
  error: string | null;
  entries: number | null;
  sha256: string | null;
  sizeBytes: number;
}

/**
 * Reads a repository backup back in full (`restic dump`) and hashes it against the record. A damaged pack (restic's
 * MAC check fails) or a mismatching digest is a 'failed' outcome naming the backup; an unreachable or locked
 * repository is a job failure (retried), since nothing was learnt about the data.
 */
export async function verifySnapshot(settings: BackupSettings, db: Db, backup: Backup, onBytes: (bytes: number) => void): Promise<SnapshotCheck> {
  const repo = await openRepository(settings, await repositoryOfRecord(settings, db, backup.storageTargetId));
  try {
    const read = await readSnapshot(repo, backup, onBytes);
    const listing = new TarListing(() => undefined);
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        listing.push(chunk);
        callback();
      },
    });
    const outcome = await pipeline(read.stream, sink).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    const dumpError = await read.done.then(() => undefined, (err: unknown) => err);
    if (dumpError instanceof ResticError && dumpError.retryable) throw jobError(dumpError);
    const failure = (dumpError as Error | undefined) ?? outcome;
    if (failure) {
      return { status: 'failed', error: `backup ${backup.id} (snapshot ${backup.snapshotId}): ${failure.message}`, entries: null, sha256: null, sizeBytes: read.bytes() };
    }
    return { status: 'passed', error: null, entries: listing.count, sha256: backup.sha256, sizeBytes: read.bytes() };
  } finally {
    await repo.close();
  }
}
