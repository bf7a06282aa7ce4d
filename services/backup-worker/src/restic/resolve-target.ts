import { UnrecoverableError } from 'bullmq';
import { decryptStorageTargetSecrets, type Db, type StorageTarget } from '@mm/db';
import type { ResticLocation, ResticTarget } from '@mm/restic';
import { storageAt, storageOf, type BackupSettings } from '../settings.js';
import type { BackupStorage } from '../storage/backup-storage.js';

/** Where a backup goes (or a record lives): the default target from the environment, or a row of storage_targets. */
export type ResolvedTarget =
  | { storageTargetId: string | null; engine: 'archive'; storage: BackupStorage }
  | { storageTargetId: string | null; engine: 'restic'; repository: ResticTarget };

/**
 * `ref` is a payload's storageTargetId, a server's, or a record's: absent, null and 'default' mean the default target
 * (restic when configured, else the archive engine). A named target is read and its secrets decrypted here, in the job.
 */
export async function resolveTarget(settings: BackupSettings, db: Db, ref: string | null | undefined): Promise<ResolvedTarget> {
  if (ref === undefined || ref === null || ref === 'default') {
    return settings.repository
      ? { storageTargetId: null, engine: 'restic', repository: settings.repository }
      : { storageTargetId: null, engine: 'archive', storage: storageOf(settings) };
  }
  const row = await db.query.storageTargets.findFirst({ where: (t, { eq }) => eq(t.id, ref) });
  if (!row) throw new UnrecoverableError(`storage target ${ref} no longer exists`);
  if (row.engine === 'archive') {
    // The API accepts only a local folder for the archive engine (target-location.ts): one plain file per backup.
    if (row.location.type !== 'local') throw new UnrecoverableError(`storage target '${row.name}' uses the archive engine on a ${row.location.type} location, which only a local folder supports`);
    return { storageTargetId: row.id, engine: 'archive', storage: storageAt(settings, row.location.path) };
  }
  return { storageTargetId: row.id, engine: 'restic', repository: repositoryOf(settings, row) };
}

/** The archive storage an archive backup's record lives in (its storage_target_id; null is BACKUP_DIR). */
export async function archiveStorageOfRecord(settings: BackupSettings, db: Db, storageTargetId: string | null): Promise<BackupStorage> {
  if (storageTargetId === null) return storageOf(settings);
  const resolved = await resolveTarget(settings, db, storageTargetId);
  if (resolved.engine !== 'archive') throw new UnrecoverableError(`storage target ${storageTargetId} is a restic repository, not an archive folder`);
  return resolved.storage;
}

function repositoryOf(settings: BackupSettings, row: StorageTarget): ResticTarget {
  if (!settings.credentialsKey) throw new UnrecoverableError(`storage target '${row.name}' cannot be opened: the worker has no CREDENTIALS_KEY`);
  let secrets;
  try {
    secrets = decryptStorageTargetSecrets(row.secrets, settings.credentialsKey, row.id);
  } catch (err) {
    throw new UnrecoverableError((err as Error).message);
  }
  if (!secrets.repositoryPassword) throw new UnrecoverableError(`storage target '${row.name}' has no repository password`);
  const l = row.location;
  const location: ResticLocation =
    l.type === 'local'
      ? l
      : l.type === 's3'
        ? { ...l, accessKeyId: secrets.accessKeyId ?? '', secretAccessKey: secrets.secretAccessKey ?? '' }
        : l.type === 'rest'
          ? { ...l, password: secrets.password }
          : { ...l, privateKey: secrets.privateKey ?? '' };
  return { name: row.name, location, password: secrets.repositoryPassword };
}

/** The repository a repository backup's record lives in (its storage_target_id; null is the default target). */
export async function repositoryOfRecord(settings: BackupSettings, db: Db, storageTargetId: string | null): Promise<ResticTarget> {
  const resolved = await resolveTarget(settings, db, storageTargetId);
  if (resolved.engine !== 'restic') throw new UnrecoverableError('this backup is a snapshot in the default restic repository, but this worker has none (restic missing or BACKUP_ENGINE=archive)');
  return resolved.repository;
}
