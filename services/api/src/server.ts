import { createLogger } from '@mm/config';
import { checkPostgres, createDatabase, migrateDatabase } from '@mm/db';
import { describeQueueBackend, prepareQueueBackend } from '@mm/jobs';
import { readEnv } from './env.js';
import { buildApp } from './app.js';
import { seedAdmin } from './features/users/seed-admin.js';

const env = readEnv();
const log = createLogger({ name: 'api', level: env.LOG_LEVEL, pretty: env.NODE_ENV === 'development' });

try {
  await checkPostgres(env.DATABASE_URL);
  const { warnings } = await prepareQueueBackend(env);
  for (const warning of warnings) log.warn(warning);
} catch (err) {
  // One clear line naming what is down and how to start it.
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}

try {
  await migrateDatabase(env.DATABASE_URL);
  const seedDb = createDatabase(env.DATABASE_URL, { max: 1 });
  try {
    await seedAdmin(seedDb.db, { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }, log);
  } finally {
    await seedDb.close();
  }
} catch (err) {
  // A failed migration must stop the deploy, not leave an API running on an old schema.
  log.fatal({ err }, 'start-up failed: migration or admin seed');
  process.exit(1);
}

const app = await buildApp({ env });
app.log.info({ backend: env.QUEUE_BACKEND }, describeQueueBackend(env));
try {
  await app.listen({ port: env.PORT, host: env.HOST });
} catch (err) {
  app.log.fatal({ err, port: env.PORT, host: env.HOST }, 'could not listen');
  await app.close();
  process.exit(1);
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    app.log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  app.log.info({ signal }, 'shutting down');
  const timer = setTimeout(() => {
    app.log.error({ timeoutMs: env.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out');
    process.exit(1);
  }, env.SHUTDOWN_TIMEOUT_MS);
  timer.unref();
  try {
    await app.close();
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
