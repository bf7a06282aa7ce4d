import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CommonEnv, createLogger, projectRoot, resolveProjectPath } from '@mm/config';
import { migrateDatabase } from '@mm/db';
import { readLauncherConfig } from './env.js';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { chooseStartMode, startLine } from './start-mode.js';

// `pnpm start` / `pnpm dev`: choose the database and the queue backend once, run the embedded PostgreSQL when
// development has no DATABASE_URL, then run every service through turbo and stop the database after them.
const TURBO_ARGS = {
  start: ['run', 'start', '--concurrency=8', '--output-logs=full'],
  dev: ['run', 'dev', '--concurrency=8'],
} as const;

const task = process.argv[2];
if (task !== 'start' && task !== 'dev') {
  process.stderr.write('usage: launcher start|dev\n');
  process.exit(2);
}

const { env, inherited } = readLauncherConfig();
const log = createLogger({ name: 'launcher', level: env.LOG_LEVEL, pretty: env.NODE_ENV === 'development' });
const root = projectRoot();
const mode = chooseStartMode(env, inherited);

let embedded: EmbeddedPostgres | undefined;
const embeddedDir = resolveProjectPath(env.EMBEDDED_POSTGRES_DIR, root);
if (mode.embedded) {
  try {
    embedded = await startEmbeddedPostgres({ dir: embeddedDir, database: 'medicine_man', rootRunsAs: env.EMBEDDED_POSTGRES_USER });
    // Once here, so the services start on a migrated database (each also migrates at start, idempotently).
    await migrateDatabase(embedded.url);
  } catch (err) {
    await embedded?.stop().catch((stopErr: unknown) => log.error({ err: stopErr }, 'embedded PostgreSQL did not stop'));
    if (err instanceof EmbeddedPostgresError) process.stderr.write(`${err.message}\n`);
    else log.fatal({ err }, 'start-up failed: embedded PostgreSQL or migration');
    process.exit(1);
  }
}

log.info(
  startLine({
    mode,
    embedded: embedded && { dir: embeddedDir, port: embedded.port, shared: !embedded.owned },
    databaseUrl: env.DATABASE_URL ?? CommonEnv.DATABASE_URL.default,
    redisUrl: env.REDIS_URL,
    root,
  }),
);

const services = spawn(join(root, 'node_modules', '.bin', 'turbo'), [...TURBO_ARGS[task]], {
  cwd: root,
  stdio: 'inherit',
  env: { ...inherited, ...(embedded ? { DATABASE_URL: embedded.url } : {}), QUEUE_BACKEND: mode.queues },
});

async function finish(code: number): Promise<never> {
  try {
    await embedded?.stop();
  } catch (err) {
    log.error({ err }, 'embedded PostgreSQL did not stop');
    code = code || 1;
  }
  process.exit(code);
}

services.once('error', (err) => {
  log.fatal({ err }, 'could not run turbo');
  void finish(1);
});
// The database stops only after every service has exited: they may still be finishing jobs and writing records.
services.once('exit', (code, signal) => void finish(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1)));

// Ctrl-C reaches turbo and the services from the terminal itself (same process group): forwarding it would be a
// second SIGINT, which the services take as "exit now". SIGTERM and SIGHUP come to this process alone.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => services.kill('SIGTERM'));
process.on('SIGHUP', () => services.kill('SIGTERM'));
