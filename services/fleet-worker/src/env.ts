import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, parseEnvOrExit } from '@mm/config';
import { healthPortEnv } from '@mm/worker-runtime';

export const FleetWorkerEnv = Type.Object({
  ...CommonEnv,
  /** GET /health (Redis and PostgreSQL answer) like the other workers'; 0 = any free port. */
  HEALTH_PORT: healthPortEnv(9104),
  HEALTH_HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  /** Fleet runs stepped at once by this process (a step is a few queries and enqueues, not the servers' work). */
  FLEET_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  /** Longest pause between two steps of a run: a server job's end wakes the run at once (run-wake.ts); this is the safety net. */
  FLEET_STEP_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 1_000 }),
  /** How often the job scheduler's sweep re-adds the orchestrator job of every open run (after an API crash between insert and enqueue) and checks backup RPOs. */
  FLEET_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 1_000, default: 30_000 }),
  /** An update run whose pending servers all wait for a maintenance window looks again at least this often (a window edited meanwhile). */
  FLEET_WINDOW_RECHECK_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 60_000 }),
  /** A queued server whose job is neither in BullMQ nor recorded after this long is added again (a safety net). */
  FLEET_LOST_JOB_AFTER_S: Type.Integer({ minimum: 1, default: 30 }),
  /** BullMQ lock of a step: a killed fleet worker's runs are taken over once it expires. Lowered only by tests. */
  WORKER_LOCK_DURATION_MS: Type.Integer({ minimum: 1_000, default: 30_000 }),
  WORKER_STALLED_INTERVAL_MS: Type.Integer({ minimum: 500, default: 15_000 }),
  /** A rollout's `gate.httpUrl`: the webhooks' SSRF guard (@mm/outbound-http), relaxed as the API's variables of the same names. */
  GATE_HTTP_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  GATE_HTTP_ALLOWED_HOSTS: Type.String({ default: '' }),
  /** How long the gate's GET may take before it counts as failed. */
  GATE_HTTP_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
});
export type FleetWorkerEnv = Static<typeof FleetWorkerEnv>;

export const readEnv = (): FleetWorkerEnv => parseEnvOrExit(FleetWorkerEnv, process.env);
