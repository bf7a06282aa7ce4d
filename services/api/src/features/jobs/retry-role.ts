import type { Role } from '../../shared/roles.js';
import { restoreNeedsAdmin } from '../../shared/restore-authority.js';

/** The server a backup came from, or null once its record is gone. */
export type BackupServerOf = (backupId: string) => Promise<string | null>;

/**
 * The least role that may retry a job: the role its trigger route required for this payload (issue #12). A retry runs
 * the same payload again, so an operator must not re-run what only an admin could start: the cleanup
 * (POST /api/maintenance/cleanup), restores onto another server or over `/`, and updates started past their
 * maintenance windows (`?now=true`). Everything else an operator started.
 */
export async function roleToRetry(name: string, data: unknown, backupServerOf: BackupServerOf): Promise<{ role: Role; reason?: string }> {
  if (name === 'backup:cleanup') return { role: 'admin', reason: 'Retrying the cleanup needs the admin role, as starting it does.' };
  if (name === 'backup:restore') {
    const payload = (data ?? {}) as { backupId?: unknown; serverId?: unknown; targetPath?: unknown };
    if (typeof payload.backupId !== 'string' || typeof payload.serverId !== 'string' || typeof payload.targetPath !== 'string') {
      return { role: 'admin', reason: 'This restore job has no readable target; only an admin may retry it.' };
    }
    const backupServerId = await backupServerOf(payload.backupId);
    // The backup is gone: its origin cannot be shown to be the destination.
    if (backupServerId === null) return { role: 'admin', reason: "This restore's backup no longer exists; only an admin may retry it." };
    const reason = restoreNeedsAdmin({ backupServerId, serverId: payload.serverId, targetPath: payload.targetPath });
    if (reason) return { role: 'admin', reason: `${reason} Retrying such a restore does too.` };
  }
  if (name === 'update:server' && (data as { ignoreMaintenanceWindows?: unknown } | null)?.ignoreMaintenanceWindows === true) {
    return { role: 'admin', reason: 'This update was started with ?now=true, past its maintenance windows; only an admin may retry it.' };
  }
  return { role: 'operator' };
}
