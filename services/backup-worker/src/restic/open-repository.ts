import { UnrecoverableError } from 'bullmq';
import { ResticError, ResticRepository, type ResticTarget } from '@mm/restic';
import type { BackupSettings } from '../settings.js';

// One initOrOpen per target and process: the first job creates the repository, later ones only open it.
const ready = new Map<string, Promise<unknown>>();

/**
 * The repository a record or a new backup uses, opened (created on first use). Close it when the job ends: that
 * removes its password file. `storageTargetId` null is the default target; named targets are resolved by the caller.
 */
export async function openRepository(settings: Pick<BackupSettings, 'restic'>, target: ResticTarget | undefined): Promise<ResticRepository> {
  if (!target) throw new UnrecoverableError('this backup is stored in a restic repository, but no repository is configured (restic missing or BACKUP_ENGINE=archive)');
  const repo = new ResticRepository(target, settings.restic);
  const key = `${target.name}\0${repo.repository}`;
  let init = ready.get(key);
  if (!init) {
    init = repo.initOrOpen();
    ready.set(key, init);
    init.catch(() => ready.delete(key));
  }
  try {
    await init;
  } catch (err) {
    await repo.close();
    throw jobError(err);
  }
  return repo;
}

/**
 * Opens (or creates) the default repository when the worker starts, so the first backup does not pay for it and a
 * wrong password or an unreachable repository shows in the log at start. A failure is only logged: the first job
 * tries again and fails with the reason.
 */
export async function prepareRepository(settings: Pick<BackupSettings, 'restic'>, target: ResticTarget, log: { warn: (obj: object, msg: string) => void }): Promise<void> {
  try {
    const repo = await openRepository(settings, target);
    await repo.close();
  } catch (err) {
    log.warn({ err, target: target.name }, 'the default repository could not be opened at start; the first backup tries again');
  }
}

/** A restic failure as a job failure: unreachable and locked are retried (BullMQ backoff); the rest are not. */
export function jobError(err: unknown): Error {
  if (err instanceof ResticError && !err.retryable) return new UnrecoverableError(err.message);
  return err instanceof Error ? err : new Error(String(err));
}
