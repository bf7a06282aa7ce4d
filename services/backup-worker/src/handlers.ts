import type { BackupPayload, CheckTargetPayload, CleanupPayload, Handlers, PurgeServerPayload, RestorePayload, ScheduledBackupPayload, VerifyPayload } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { runBackup } from './handlers/backup.js';
import { runCheckTarget } from './handlers/check-target.js';
import { runCleanup } from './handlers/cleanup.js';
import { runPurgeServer } from './handlers/purge-server.js';
import { runRestore } from './handlers/restore.js';
import { runVerify } from './handlers/verify.js';
import type { BackupSettings } from './settings.js';

/** The backup queue's handler map: the compiler demands exactly one per catalog job name. A scheduled backup's record id comes from its scheduler-made job id (ctx.recordId). */
export function backupHandlers(settings: BackupSettings): Handlers<'backup', JobContext<'backup'>> {
  return {
    'backup:manual': (payload: BackupPayload, ctx) => runBackup(settings, payload, ctx),
    'backup:scheduled': (payload: ScheduledBackupPayload, ctx) =>
      runBackup(settings, { backupId: ctx.recordId, serverId: payload.serverId, options: payload.options, isScheduled: true, storageTargetId: payload.storageTargetId }, ctx),
    'backup:verify': (payload: VerifyPayload, ctx) => runVerify(settings, payload, ctx),
    'backup:restore': (payload: RestorePayload, ctx) => runRestore(settings, payload, ctx),
    'backup:cleanup': (payload: CleanupPayload, ctx) => runCleanup(settings, payload, ctx),
    'backup:purge-server': (payload: PurgeServerPayload, ctx) => runPurgeServer(settings, payload, ctx),
    'backup:check-target': (payload: CheckTargetPayload, ctx) => runCheckTarget(settings, payload, ctx),
  };
}
