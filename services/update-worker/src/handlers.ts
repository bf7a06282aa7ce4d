import type { Handlers } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import type { UpdateWorkerEnv } from './env.js';
import { runUpdate, type UpdateSettings } from './handlers/update-server.js';

/** One handler per update job name of the catalog; the compiler rejects a missing or extra one. */
export function createUpdateHandlers(settings: UpdateSettings): Handlers<'update', JobContext<'update'>> {
  return {
    'update:server': (payload, ctx) => runUpdate(payload, ctx, settings),
  };
}

/** The handler's settings from the worker's env. */
export function updateSettingsOf(env: Pick<UpdateWorkerEnv, 'MAINTENANCE_RECHECK_MS' | 'UPDATE_REBOOT_COMMAND' | 'UPDATE_BOOT_ID_COMMAND' | 'UPDATE_REBOOT_TIMEOUT_S' | 'UPDATE_REBOOT_POLL_MS'>): UpdateSettings {
  return {
    recheckMs: env.MAINTENANCE_RECHECK_MS,
    reboot: { command: env.UPDATE_REBOOT_COMMAND, bootIdCommand: env.UPDATE_BOOT_ID_COMMAND, timeoutMs: env.UPDATE_REBOOT_TIMEOUT_S * 1_000, pollMs: env.UPDATE_REBOOT_POLL_MS },
  };
}

/** With the default settings (the env's defaults). */
export const updateHandlers = createUpdateHandlers(
  updateSettingsOf({ MAINTENANCE_RECHECK_MS: 5 * 60_000, UPDATE_REBOOT_COMMAND: 'reboot', UPDATE_BOOT_ID_COMMAND: 'cat /proc/sys/kernel/random/boot_id', UPDATE_REBOOT_TIMEOUT_S: 600, UPDATE_REBOOT_POLL_MS: 5_000 }),
);
