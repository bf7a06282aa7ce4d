import { Type, type Static } from '@sinclair/typebox';
import { parseEnvOrExit } from '@mm/config';
import { WorkerEnv, healthPortEnv } from '@mm/worker-runtime';

export const UpdateWorkerEnv = Type.Object({
  ...WorkerEnv,
  HEALTH_PORT: healthPortEnv(9103),
  // One at a time by default: package managers hold a lock, and updates are the riskiest jobs.
  UPDATE_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 20, default: 1 }),
  /** An update waiting for its maintenance window looks again at least this often (a window edited meanwhile). */
  MAINTENANCE_RECHECK_MS: Type.Integer({ minimum: 500, maximum: 3_600_000, default: 300_000 }),
  /** Run with `sudo -n` in front (unless connected as root) when an update with `reboot: "if-required"` reboots a server. */
  UPDATE_REBOOT_COMMAND: Type.String({ minLength: 1, maxLength: 500, default: 'reboot' }),
  /** Prints the server's boot id; it must change across the reboot (a stand-in server reads a file instead). */
  UPDATE_BOOT_ID_COMMAND: Type.String({ minLength: 1, maxLength: 500, default: 'cat /proc/sys/kernel/random/boot_id' }),
  /** How long a rebooted server has to answer SSH again with a new boot id before the update fails. */
  UPDATE_REBOOT_TIMEOUT_S: Type.Integer({ minimum: 5, maximum: 3_600, default: 600 }),
  /** How often the worker tries to reach a rebooting server (a fresh SSH connection each time). */
  UPDATE_REBOOT_POLL_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5_000 }),
});
export type UpdateWorkerEnv = Static<typeof UpdateWorkerEnv>;

export const readEnv = (): UpdateWorkerEnv => parseEnvOrExit(UpdateWorkerEnv, process.env);
