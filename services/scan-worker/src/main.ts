import { runWorkerMain } from '@mm/worker-runtime';
import { readEnv } from './env.js';
import { scanHandlers } from './handlers.js';

const env = readEnv();
await runWorkerMain({
  queue: 'scan',
  env,
  concurrency: env.SCAN_WORKER_CONCURRENCY,
  handlers: scanHandlers,
});
