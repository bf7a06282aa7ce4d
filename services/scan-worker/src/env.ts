import { Type, type Static } from '@sinclair/typebox';
import { parseEnvOrExit } from '@mm/config';
import { WorkerEnv, healthPortEnv, stallSettings } from '@mm/worker-runtime';

export const ScanWorkerEnv = Type.Object({
  ...WorkerEnv,
  HEALTH_PORT: healthPortEnv(9102),
  // Scans are read-only and mostly wait on the network, so several run at once.
  SCAN_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  /** BullMQ job lock: a crashed worker's scan is taken over once it expires. Lowered only by tests. */
  WORKER_LOCK_DURATION_MS: Type.Integer({ minimum: 1_000, default: stallSettings.lockDuration }),
  /** How often this worker looks for jobs whose lock expired. */
  WORKER_STALLED_INTERVAL_MS: Type.Integer({ minimum: 500, default: stallSettings.stalledInterval }),
});
export type ScanWorkerEnv = Static<typeof ScanWorkerEnv>;

export const readScanWorkerEnv = (): ScanWorkerEnv => parseEnvOrExit(ScanWorkerEnv, process.env);
