import { DelayedError, UnrecoverableError } from 'bullmq';
import { serverWindowsAt, waitingMessage } from '@mm/db';
import type { UpdatePayload } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';

export interface MaintenanceGateSettings {
  /** The longest a waiting update sleeps before it looks again: a window edited or deleted meanwhile is seen this soon. */
  recheckMs: number;
}

/**
 * An update starts only inside one of its server's maintenance windows (issue #15). Outside them the job goes back to
 * `delayed` until the next opening (BullMQ's manual delay: no attempt used, no record yet), looking again at least every
 * `recheckMs`. Checked here, at the start of every attempt, so no path around the API (a retry, a promoted delayed
 * job, a fleet run) starts an update outside its windows; `ignoreMaintenanceWindows` (an admin's `?now=true`) skips it.
 * A window that closes while an update runs does not stop it: an upgrade killed halfway leaves the package database
 * half-configured; the job's own timeout bounds it.
 */
export async function waitForMaintenanceWindow(payload: UpdatePayload, ctx: JobContext<'update'>, settings: MaintenanceGateSettings): Promise<void> {
  if (payload.ignoreMaintenanceWindows === true) return;
  const state = (await serverWindowsAt(ctx.db, [payload.serverId])).get(payload.serverId);
  if (!state || state.open) return;
  const message = waitingMessage(state);
  if (!state.nextOpenAt) throw new UnrecoverableError(`update of server ${payload.serverId} not started: ${message}`);
  const until = Math.min(state.nextOpenAt.getTime(), Date.now() + settings.recheckMs);
  ctx.log.info({ serverId: payload.serverId, windows: state.windows, nextOpenAt: state.nextOpenAt, delayUntil: new Date(until) }, 'update outside its maintenance windows: deferred');
  await ctx.job.log(message);
  await ctx.job.moveToDelayed(until, ctx.job.token);
  throw new DelayedError();
}
