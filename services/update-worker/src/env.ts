import { Type, type Static } from '@sinclair/typebox';
import { parseEnvOrExit } from '@mm/config';
import { WorkerEnv, healthPortEnv } from '@mm/worker-runtime';

export const UpdateWorkerEnv = Type.Object({
  ...WorkerEnv,
  HEALTH_PORT: healthPortEnv(9103),
  // One at a time by default: package managers hold a lock, and updates are the riskiest jobs.
  UPDATE_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 20, default: 1 }),
});
export type UpdateWorkerEnv = Static<typeof UpdateWorkerEnv>;

export const readUpdateWorkerEnv = (): UpdateWorkerEnv => parseEnvOrExit(UpdateWorkerEnv, process.env);
