import { runWorkerMain } from '@mm/worker-runtime';
import { readScanWorkerEnv } from './env.js';
import { scanHandlers } from './scan-handlers.js';

const env = readScanWorkerEnv();
await runWorkerMain({
  queue: 'scan',
  env,
  concurrency: env.SCAN_WORKER_CONCURRENCY,
  handlers: scanHandlers,
});
