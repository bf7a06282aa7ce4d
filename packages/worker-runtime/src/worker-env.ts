import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, SecretEnv } from '@mm/config';
import { stallSettings } from './stall-settings.js';

/** A health port with a per-worker default (backup 9101, scan 9102, update 9103); 0 picks a free port. */
export function healthPortEnv(defaultPort: number) {
  return Type.Integer({ minimum: 0, maximum: 65_535, default: defaultPort, description: 'GET /health listens here; 0 = any free port' });
}

/** Variables every worker reads. Spread into a worker's own env.ts schema, which sets its HEALTH_PORT default. */
export const WorkerEnv = {
  ...CommonEnv,
  CREDENTIALS_KEY: SecretEnv.CREDENTIALS_KEY,
  HEALTH_PORT: healthPortEnv(0),
  // All interfaces by default so a container's probe can reach it; the endpoint reveals only up/down.
  HEALTH_HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  /** BullMQ job lock: a crashed worker's job is taken over once it expires. Lowered only by tests. */
  WORKER_LOCK_DURATION_MS: Type.Integer({ minimum: 1_000, default: stallSettings.lockDuration }),
  /** How often a worker looks for jobs whose lock expired. */
  WORKER_STALLED_INTERVAL_MS: Type.Integer({ minimum: 500, default: stallSettings.stalledInterval }),
  /** Per job name run-time limits over the catalog's (`backup:manual=600000,scan:quick=30000`); unknown names stop the worker at start. */
  JOB_TIMEOUTS_MS: Type.String({ default: '' }),
  /** Exclusive jobs (catalog `exclusive`) hold a per-server lease this long, renewed every SERVER_LEASE_RENEW_MS; a crashed holder frees it after this. */
  SERVER_LEASE_MS: Type.Integer({ minimum: 1_000, default: 30_000 }),
  SERVER_LEASE_RENEW_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** A job finding its server busy waits a random time in this range (without using an attempt), then tries again. */
  SERVER_BUSY_DELAY_MIN_MS: Type.Integer({ minimum: 10, default: 2_000 }),
  SERVER_BUSY_DELAY_MAX_MS: Type.Integer({ minimum: 10, default: 5_000 }),
  /**
   * Managed servers on 127.0.0.0/8 and ::1 (labs, tests). Off by default: a server's address must not lead back to this
   * machine. Link-local, cloud-metadata and this deployment's own Redis and PostgreSQL stay refused either way.
   */
  SERVER_ALLOW_LOOPBACK: Type.Boolean({ default: false }),
  /** A job whose attempt failed while PostgreSQL did not answer waits this long and tries again, without using an attempt. */
  DATABASE_RETRY_DELAY_MS: Type.Integer({ minimum: 100, default: 5_000 }),
};

export const WorkerEnvSchema = Type.Object(WorkerEnv);
export type WorkerEnvValues = Static<typeof WorkerEnvSchema>;
