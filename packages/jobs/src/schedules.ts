import type { JobSchedulerJson, Queue } from 'bullmq';
import { catalog, type BackupOptions, type JobName } from './catalog.js';
import { validatePayload } from './payload-validation.js';

/**
 * The Redis side of backup schedules and the daily cleanup: the only code that builds BullMQ job scheduler calls.
 * PostgreSQL holds the schedules; these functions make the backup queue's schedulers match it.
 * https://docs.bullmq.io/guide/job-schedulers
 */
export const BACKUP_SCHEDULER_PREFIX = 'backup-schedule:';
export const CLEANUP_SCHEDULER_ID = 'maintenance:cleanup';

export interface BackupScheduleSpec {
  id: string;
  serverId: string;
  cron: string;
  timezone: string;
  options: BackupOptions;
  /** The schedule's own storage target (null/absent: the server's, then the default). */
  storageTargetId?: string | null;
}

export interface CleanupScheduleSpec {
  cron: string;
  timezone: string;
}

export const backupSchedulerId = (scheduleId: string): string => `${BACKUP_SCHEDULER_PREFIX}${scheduleId}`;

interface SchedulerTemplate {
  id: string;
  name: JobName;
  pattern: string;
  tz: string;
  data: unknown;
  priority: number;
}

function backupTemplate(spec: BackupScheduleSpec): SchedulerTemplate {
  const data = validatePayload('backup:scheduled', {
    serverId: spec.serverId,
    scheduleId: spec.id,
    options: spec.options,
    ...(spec.storageTargetId ? { storageTargetId: spec.storageTargetId } : {}),
  });
  return { id: backupSchedulerId(spec.id), name: 'backup:scheduled', pattern: spec.cron, tz: spec.timezone, data, priority: catalog['backup:scheduled'].priority };
}

function cleanupTemplate(spec: CleanupScheduleSpec): SchedulerTemplate {
  const data = validatePayload('backup:cleanup', { userId: null });
  return { id: CLEANUP_SCHEDULER_ID, name: 'backup:cleanup', pattern: spec.cron, tz: spec.timezone, data, priority: catalog['backup:cleanup'].priority };
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** True when Redis already holds this scheduler with the same pattern, zone, job name, data and priority. */
function matches(existing: JobSchedulerJson | undefined, t: SchedulerTemplate): boolean {
  return (
    existing !== undefined &&
    existing.pattern === t.pattern &&
    (existing.tz ?? 'UTC') === t.tz &&
    existing.name === t.name &&
    sameJson(existing.template?.data, t.data) &&
    existing.template?.opts?.priority === t.priority
  );
}

/**
 * Upserts one scheduler unless Redis already has it exactly so, with its next run queued. Skipping the no-op matters: BullMQ's upsert
 * replaces a run that is due but not yet taken by a worker with the next one, so re-upserting on every
 * reconcile could drop a run. Returns whether it wrote.
 */
async function ensure(queue: Queue, t: SchedulerTemplate, current: JobSchedulerJson | undefined): Promise<boolean> {
  // A scheduler makes its next run when the current one starts: if that job was removed by hand, it would never fire again.
  if (matches(current, t) && current?.next !== undefined && (await queue.getJobState(`repeat:${t.id}:${current.next}`)) !== 'unknown') return false;
  await queue.upsertJobScheduler(t.id, { pattern: t.pattern, tz: t.tz }, { name: t.name, data: t.data, opts: { priority: t.priority } });
  return true;
}

export async function upsertBackupScheduler(queue: Queue, spec: BackupScheduleSpec): Promise<boolean> {
  const t = backupTemplate(spec);
  return ensure(queue, t, await queue.getJobScheduler(t.id));
}

/** Removes a schedule's scheduler and its next (not yet started) run. Returns whether one existed. */
export function removeBackupScheduler(queue: Queue, scheduleId: string): Promise<boolean> {
  return queue.removeJobScheduler(backupSchedulerId(scheduleId));
}

export async function upsertCleanupScheduler(queue: Queue, spec: CleanupScheduleSpec): Promise<boolean> {
  const t = cleanupTemplate(spec);
  return ensure(queue, t, await queue.getJobScheduler(t.id));
}

/** Every scheduler on the queue (ours and any other), a page at a time. */
async function allSchedulers(queue: Queue): Promise<JobSchedulerJson[]> {
  const out: JobSchedulerJson[] = [];
  for (let start = 0; ; start += 500) {
    const page = await queue.getJobSchedulers(start, start + 499, true);
    out.push(...page);
    if (page.length < 500) return out;
  }
}

/** The backup schedules Redis holds a scheduler for, by schedule id, with the next run time. */
export async function listBackupSchedulers(queue: Queue): Promise<Map<string, { pattern: string | null; tz: string | null; next: number | null }>> {
  const out = new Map<string, { pattern: string | null; tz: string | null; next: number | null }>();
  for (const s of await allSchedulers(queue)) {
    if (!s.key.startsWith(BACKUP_SCHEDULER_PREFIX)) continue;
    out.set(s.key.slice(BACKUP_SCHEDULER_PREFIX.length), { pattern: s.pattern ?? null, tz: s.tz ?? null, next: s.next ?? null });
  }
  return out;
}

export interface ReconcileResult {
  upserted: string[];
  removed: string[];
}

/**
 * Makes the queue's schedulers match `schedules` (every enabled schedule) and the daily cleanup: upserts what is
 * missing or different, removes every `backup-schedule:*` scheduler without an enabled schedule. Idempotent, so
 * several API processes may run it at once.
 */
export async function reconcileSchedulers(queue: Queue, schedules: BackupScheduleSpec[], cleanup: CleanupScheduleSpec | null): Promise<ReconcileResult> {
  const existing = new Map((await allSchedulers(queue)).map((s) => [s.key, s]));
  const wanted = new Set<string>();
  const upserted: string[] = [];
  const removed: string[] = [];
  const templates = schedules.map(backupTemplate);
  if (cleanup) templates.push(cleanupTemplate(cleanup));
  for (const t of templates) {
    wanted.add(t.id);
    if (await ensure(queue, t, existing.get(t.id))) upserted.push(t.id);
  }
  for (const key of existing.keys()) {
    const ours = key.startsWith(BACKUP_SCHEDULER_PREFIX) || (key === CLEANUP_SCHEDULER_ID && cleanup === null);
    if (ours && !wanted.has(key)) {
      await queue.removeJobScheduler(key);
      removed.push(key);
    }
  }
  return { upserted, removed };
}
