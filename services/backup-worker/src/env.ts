import { Type, type Static } from '@sinclair/typebox';
import { SecretEnv, parseEnv, parseEnvOrExit, resolveProjectPath, resolveRepositoryString } from '@mm/config';
import { WorkerEnv, healthPortEnv } from '@mm/worker-runtime';

export const BackupWorkerEnv = Type.Object({
  ...WorkerEnv,
  HEALTH_PORT: healthPortEnv(9101),
  BACKUP_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
  /** Where archives (and the default local repository) are stored; a relative value is taken from the project root. */
  BACKUP_DIR: Type.String({ minLength: 1, default: './var/backups' }),
  BACKUP_ENCRYPTION_KEY: SecretEnv.BACKUP_ENCRYPTION_KEY,
  /**
   * The default target's restic repository: a local path (relative: from the project root) or `rest:https://...`.
   * Empty: `<BACKUP_DIR>/repository`. S3 and SFTP repositories are storage targets (POST /api/storage-targets).
   */
  BACKUP_REPOSITORY: Type.String({ default: '' }),
  BACKUP_REPOSITORY_PASSWORD: Type.String({ minLength: 8, devDefault: 'medicine-man-development-repository', description: 'the default repository password (required in production)' }),
  /** The default target's engine: 'restic' (falls back to 'archive' when restic is not installed) or 'archive'. */
  BACKUP_ENGINE: Type.Union([Type.Literal('restic'), Type.Literal('archive')], { default: 'restic' }),
  /** How long a restic call waits for another process's lock before failing with a retryable error. */
  BACKUP_LOCK_WAIT_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 120_000 }),
  // BACKUP_TIMEOUT_MS was removed: a backup's limit is its job name's (catalog timeoutMs, JOB_TIMEOUTS_MS).
});
export type BackupWorkerEnv = Static<typeof BackupWorkerEnv>;

/** BACKUP_DIR and BACKUP_REPOSITORY come back absolute, resolved against the project root (the API resolves alike). */
const absolute = (env: BackupWorkerEnv): BackupWorkerEnv => {
  const backupDir = resolveProjectPath(env.BACKUP_DIR);
  return {
    ...env,
    BACKUP_DIR: backupDir,
    BACKUP_REPOSITORY: env.BACKUP_REPOSITORY === '' ? `${backupDir}/repository` : resolveRepositoryString(env.BACKUP_REPOSITORY),
  };
};

/** For tests running the worker in-process: throws EnvError naming every bad variable. */
export const parseBackupWorkerEnv = (source: Record<string, string | undefined>): BackupWorkerEnv => absolute(parseEnv(BackupWorkerEnv, source));

/** For main.ts: parsed once from process.env; a bad value prints one line and exits 1. */
export const readEnv = (): BackupWorkerEnv => absolute(parseEnvOrExit(BackupWorkerEnv, process.env));
