import { isAbsolute, join } from 'node:path';
import { resticAvailable, type ResticLocation, type ResticTarget } from '@mm/restic';
import type { BackupWorkerEnv } from './env.js';

/** The default target's repository string as a location: a local path or `rest:<url>` (others are storage targets). */
export function locationOfRepository(repository: string): ResticLocation {
  if (repository.startsWith('rest:')) return { type: 'rest', url: repository.slice('rest:'.length) };
  const local = repository.startsWith('local:') ? repository.slice('local:'.length) : repository;
  if (isAbsolute(local)) return { type: 'local', path: local };
  throw new Error(`BACKUP_REPOSITORY must be a local path or rest:<url> (got ${repository.split(':')[0]}:…); use a storage target for S3 and SFTP`);
}

export type DefaultTargetChoice = { repository: ResticTarget; note?: undefined } | { repository: undefined; note: string };

/**
 * The default target ('default' in the API): a restic repository (BACKUP_REPOSITORY, else <BACKUP_DIR>/repository),
 * or the archive engine when BACKUP_ENGINE=archive or restic cannot be run here; `note` says which and why.
 */
export async function chooseDefaultTarget(env: BackupWorkerEnv, binary = 'restic'): Promise<DefaultTargetChoice> {
  if (env.BACKUP_ENGINE === 'archive') return { repository: undefined, note: `default target: archive engine in ${env.BACKUP_DIR} (BACKUP_ENGINE=archive)` };
  const found = await resticAvailable(binary);
  if (!found) {
    return {
      repository: undefined,
      note: `restic 0.14 or newer is not installed (apt-get install restic): the default target falls back to the archive engine in ${join(env.BACKUP_DIR)}`,
    };
  }
  return { repository: { name: 'default', location: locationOfRepository(env.BACKUP_REPOSITORY), password: env.BACKUP_REPOSITORY_PASSWORD } };
}
