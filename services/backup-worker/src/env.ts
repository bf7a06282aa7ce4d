import { resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { SecretEnv, parseEnv, parseEnvOrExit } from '@mm/config';
import { WorkerEnv, healthPortEnv } from '@mm/worker-runtime';

export const BackupWorkerEnv = Type.Object({
  ...WorkerEnv,
  HEALTH_PORT: healthPortEnv(9101),
  BACKUP_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
  /** Where archives are stored; relative values are taken from the working directory at start. */
  BACKUP_DIR: Type.String({ minLength: 1, default: './var/backups' }),
  BACKUP_ENCRYPTION_KEY: SecretEnv.BACKUP_ENCRYPTION_KEY,
  // BACKUP_TIMEOUT_MS was removed: a backup's limit is its job name's (catalog timeoutMs, JOB_TIMEOUTS_MS).
});
export type BackupWorkerEnv = Static<typeof BackupWorkerEnv>;

const absolute = (env: BackupWorkerEnv): BackupWorkerEnv => ({ ...env, BACKUP_DIR: resolve(env.BACKUP_DIR) });

/** For tests running the worker in-process: throws EnvError naming every bad variable. BACKUP_DIR comes back absolute. */
export const parseBackupWorkerEnv = (source: Record<string, string | undefined>): BackupWorkerEnv => absolute(parseEnv(BackupWorkerEnv, source));

/** For main.ts: parsed once from process.env; a bad value prints one line and exits 1. */
export const readEnv = (): BackupWorkerEnv => absolute(parseEnvOrExit(BackupWorkerEnv, process.env));
