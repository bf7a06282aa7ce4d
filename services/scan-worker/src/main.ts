import { runWorkerMain } from '@mm/worker-runtime';
import { readScanWorkerEnv } from './env.js';
import { scanHandlers } from './scan-handlers.js';

const env = readScanWorkerEnv();
await runWorkerMain({
  queue: 'scan',
  env,
  concurrency: env.SCAN_WORKER_CONCURRENCY,
  handlers: scanHandlers,
  workerOptions: { lockDuration: env.WORKER_LOCK_DURATION_MS, stalledInterval: env.WORKER_STALLED_INTERVAL_MS },
});
