import fp from 'fastify-plugin';
import { eq } from 'drizzle-orm';
import { backupSchedules } from '@mm/db';
import { reconcileSchedulers, type ReconcileResult } from '@mm/jobs';
import { isTimeZone, nextRuns } from '../shared/schedule-cron.js';
import { withQueue } from '../shared/queue-guard.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Makes Redis' job schedulers match PostgreSQL's backup schedules and the daily cleanup, now. */
    reconcileSchedules(): Promise<ReconcileResult>;
  }
}

const CLEANUP_OFF = 'off';
const RECONCILE_CEILING_MS = 30_000;

export interface ScheduleReconcilerOptions {
  intervalMs: number;
  cleanupCron: string;
  cleanupTimezone: string;
}

/**
 * PostgreSQL holds the schedules; Redis holds BullMQ's job schedulers. This brings Redis in line at start and every
 * `intervalMs` (a write whose Redis half failed, a flushed Redis, a schedule deleted by a server's cascade). Every API
 * process runs it: upserts are skipped when Redis already matches, so runs never duplicate a schedule.
 */
export default fp<ScheduleReconcilerOptions>(
  async (app, { intervalMs, cleanupCron, cleanupTimezone }) => {
    if (!isTimeZone(cleanupTimezone)) throw new Error(`CLEANUP_TIMEZONE "${cleanupTimezone}" is not an IANA time zone`);
    if (cleanupCron !== CLEANUP_OFF) {
      try {
        nextRuns(cleanupCron, cleanupTimezone, 1);
      } catch (err) {
        throw new Error(`CLEANUP_CRON "${cleanupCron}" is not a valid cron expression: ${(err as Error).message}`, { cause: err });
      }
    }
    // "off" removes the daily scheduler at the next reconcile; POST /api/maintenance/cleanup still runs it.
    const cleanup = cleanupCron === CLEANUP_OFF ? null : { cron: cleanupCron, timezone: cleanupTimezone };
    let running: Promise<ReconcileResult> | undefined;

    const reconcile = () => {
      running ??= (async () => {
        const rows = await app.db.select().from(backupSchedules).where(eq(backupSchedules.enabled, true));
        const specs = rows.map((r) => ({ id: r.id, serverId: r.serverId, cron: r.cron, timezone: r.timezone, options: r.options, storageTargetId: r.storageTargetId }));
        // Fails at once while Redis is down (BullMQ would otherwise wait for it), and never runs longer than the ceiling.
        const result = await withQueue(app.queueBackend, () => reconcileSchedulers(app.producer.queue('backup'), specs, cleanup), RECONCILE_CEILING_MS);
        if (result.upserted.length || result.removed.length) app.log.info({ ...result }, 'job schedulers reconciled');
        return result;
      })().finally(() => {
        running = undefined;
      });
      return running;
    };
    app.decorate('reconcileSchedules', reconcile);

    const tick = () => {
      reconcile().catch((err: unknown) => app.log.warn({ err }, 'job scheduler reconcile failed; retrying at the next interval'));
    };
    let timer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      // Not awaited on purpose: a Redis outage at start must not keep the API from serving; the next tick retries.
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    });
    app.addHook('onClose', async () => {
      clearInterval(timer);
      await running?.catch(() => undefined);
    });
  },
  { name: 'schedule-reconciler', dependencies: ['database', 'queues'] },
);
