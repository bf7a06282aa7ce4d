import { join } from 'node:path';
import { resolveProjectPath, resolveRepositoryString } from '@mm/config';
import type { ResticLocation } from '@mm/restic';

/** The environment's storage target, shown as `default`: what every server without a target of its own uses. */
export interface DefaultTarget {
  engine: 'restic' | 'archive';
  location: ResticLocation;
  password: string;
}

export interface DefaultTargetEnv {
  BACKUP_DIR: string;
  BACKUP_REPOSITORY: string;
  BACKUP_REPOSITORY_PASSWORD: string;
  BACKUP_ENGINE: 'restic' | 'archive';
}

/**
 * Reads BACKUP_REPOSITORY the way the backup worker does (services/backup-worker/src/env.ts): empty is
 * `<BACKUP_DIR>/repository`, a relative path is taken from the project root, `rest:` URLs may carry basic-auth
 * credentials (kept out of every answer). S3 and SFTP repositories are storage targets of their own.
 * For the archive engine the location is BACKUP_DIR itself.
 */
export function defaultTarget(env: DefaultTargetEnv): DefaultTarget {
  const backupDir = resolveProjectPath(env.BACKUP_DIR);
  if (env.BACKUP_ENGINE === 'archive') return { engine: 'archive', location: { type: 'local', path: backupDir }, password: env.BACKUP_REPOSITORY_PASSWORD };
  const repository = env.BACKUP_REPOSITORY === '' ? join(backupDir, 'repository') : resolveRepositoryString(env.BACKUP_REPOSITORY);
  return { engine: 'restic', location: parseRepositoryString(repository), password: env.BACKUP_REPOSITORY_PASSWORD };
}

/** A local path or `rest:http(s)://[user:pass@]host/...`; anything else is a configuration error at start. */
export function parseRepositoryString(repository: string): ResticLocation {
  if (repository.startsWith('rest:')) {
    const url = new URL(repository.slice('rest:'.length));
    const username = url.username ? decodeURIComponent(url.username) : undefined;
    const password = url.password ? decodeURIComponent(url.password) : undefined;
    url.username = '';
    url.password = '';
    return { type: 'rest', url: url.toString(), ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
  }
  const local = repository.startsWith('local:') ? repository.slice('local:'.length) : repository;
  if (local.startsWith('/')) return { type: 'local', path: local };
  throw new Error(`BACKUP_REPOSITORY must be a local path or a rest: URL (S3 and SFTP repositories are storage targets: POST /api/storage-targets), not ${repository.split(':')[0]}:…`);
}
