import { runWorkerMain } from '@mm/worker-runtime';
import { readEnv } from './env.js';
import { createUpdateHandlers, updateSettingsOf } from './handlers.js';

const env = readEnv();
await runWorkerMain({ queue: 'update', env, concurrency: env.UPDATE_WORKER_CONCURRENCY, handlers: createUpdateHandlers(updateSettingsOf(env)) });
