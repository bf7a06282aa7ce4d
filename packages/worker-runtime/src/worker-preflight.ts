import type { Logger } from '@mm/config';
import { checkPostgres, migrateDatabase, upgradeStoredSecrets, type Db } from '@mm/db';
import { prepareQueueBackend } from '@mm/jobs';
import type { WorkerEnvValues } from './worker-env.js';

/** Settings that are each valid alone but not together: refused at start, before anything connects. */
export function checkSettings(env: WorkerEnvValues): void {
  if (env.SERVER_BUSY_DELAY_MAX_MS < env.SERVER_BUSY_DELAY_MIN_MS) throw new Error('SERVER_BUSY_DELAY_MAX_MS must not be below SERVER_BUSY_DELAY_MIN_MS');
  if (env.SERVER_LEASE_RENEW_MS >= env.SERVER_LEASE_MS) throw new Error('SERVER_LEASE_RENEW_MS must be below SERVER_LEASE_MS');
}

/**
 * One clear line when Redis or PostgreSQL is missing, a warning for a Redis that may evict jobs, then migrations (ours,
 * and BullMQ's own when the queues run on PostgreSQL: the database is created by ours first).
 */
export async function preflight(env: WorkerEnvValues, log: Logger): Promise<void> {
  await checkPostgres(env.DATABASE_URL);
  if (env.QUEUE_BACKEND === 'redis') await reportQueueWarnings(env, log);
  await migrateDatabase(env.DATABASE_URL);
  if (env.QUEUE_BACKEND === 'postgres') await reportQueueWarnings(env, log);
}

async function reportQueueWarnings(env: WorkerEnvValues, log: Logger): Promise<void> {
  const { warnings } = await prepareQueueBackend(env);
  for (const warning of warnings) log.warn(warning);
}

/**
 * Re-encrypts credentials and webhook secrets still in the unbound v1 format (SQL cannot: it has no key), after the
 * migrations and before any job runs, so a job never meets a v1 row (@mm/db secret-upgrade.ts).
 */
export async function upgradeSecrets(db: Db, credentialsKey: string, log: Logger): Promise<void> {
  const upgraded = await upgradeStoredSecrets(db, credentialsKey);
  if (upgraded.servers + upgraded.webhooks > 0) log.info({ servers: upgraded.servers, webhooks: upgraded.webhooks }, 'stored secrets re-encrypted in the bound v2 format');
  if (upgraded.undecryptable.length > 0) log.warn({ ids: upgraded.undecryptable }, 'stored secrets that CREDENTIALS_KEY does not decrypt were left as they are');
}
