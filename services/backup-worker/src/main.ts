import { runWorkerMain } from '@mm/worker-runtime';
import { readEnv } from './env.js';
import { backupHandlers } from './handlers/backup.js';

const env = readEnv();

await runWorkerMain({
  queue: 'backup',
  env,
  concurrency: env.BACKUP_WORKER_CONCURRENCY,
  handlers: backupHandlers({
    backupDir: env.BACKUP_DIR,
    encryptionKey: env.BACKUP_ENCRYPTION_KEY,
    queues: { redisUrl: env.REDIS_URL, prefix: env.QUEUE_PREFIX },
  }),
});
