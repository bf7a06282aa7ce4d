import { Type, type Static } from '@sinclair/typebox';
import { parseEnvOrExit } from '@mm/config';
import { WorkerEnv, healthPortEnv } from '@mm/worker-runtime';

export const ScanWorkerEnv = Type.Object({
  ...WorkerEnv,
  HEALTH_PORT: healthPortEnv(9102),
  // Scans are read-only and mostly wait on the network, so several run at once.
  SCAN_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
});
export type ScanWorkerEnv = Static<typeof ScanWorkerEnv>;

export const readEnv = (): ScanWorkerEnv => parseEnvOrExit(ScanWorkerEnv, process.env);
