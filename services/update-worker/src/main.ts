import { runWorkerMain } from '@mm/worker-runtime';
import { readUpdateWorkerEnv } from './env.js';
import { updateHandlers } from './update-handlers.js';

const env = readUpdateWorkerEnv();
await runWorkerMain({ queue: 'update', env, concurrency: env.UPDATE_WORKER_CONCURRENCY, handlers: updateHandlers });
