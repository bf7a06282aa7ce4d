import { join } from 'node:path';
import { createLogger } from '@mm/config';
import { runWorkerMain } from '@mm/worker-runtime';
import { chooseDefaultTarget } from './default-target.js';
import { readEnv } from './env.js';
import { backupHandlers } from './handlers.js';
import { prepareRepository } from './restic/open-repository.js';

const env = readEnv();
const log = createLogger({ name: 'backup-worker', level: env.LOG_LEVEL, pretty: false });
const choice = await chooseDefaultTarget(env);
if (choice.note) log.warn(choice.note);
const restic = { cacheDir: join(env.BACKUP_DIR, '.restic-cache'), lockWaitMs: env.BACKUP_LOCK_WAIT_MS };
// Not awaited: a slow or unreachable repository must not hold the worker's start (prepareRepository logs its failure).
if (choice.repository) void prepareRepository({ restic }, choice.repository, log);

await runWorkerMain({
  queue: 'backup',
  env,
  concurrency: env.BACKUP_WORKER_CONCURRENCY,
  handlers: backupHandlers({
    backupDir: env.BACKUP_DIR,
    encryptionKey: env.BACKUP_ENCRYPTION_KEY,
    repository: choice.repository,
    credentialsKey: env.CREDENTIALS_KEY,
    restic,
    queues: env,
  }),
});
