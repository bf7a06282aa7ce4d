import { and, eq, inArray } from 'drizzle-orm';
import type { Job } from 'bullmq';
import { backups, restores, scans, updates, type Db } from '@mm/db';
import { catalog, recordIdOf, validatePayload, type BackupOptions, type JobName, type QueueAlias, type RecordTableName, type RestorePayload, type UpdatePayload } from '@mm/jobs';

/** The record tables (catalog `record`), each written only by the worker of the jobs that name it. */
const recordTables = { backups, scans, updates, restores } satisfies Partial<Record<RecordTableName, unknown>>;
/** The table queue Q's main jobs write (what handlers' `ctx.record` is typed against). */
interface RecordTables {
  backup: typeof backups;
  scan: typeof scans;
  update: typeof updates;
}

type BaseColumn =
  | 'id'
  | 'serverId'
  | 'requestedBy'
  | 'status'
  | 'progress'
  | 'attempts'
  | 'options'
  | 'result'
  | 'error'
  | 'createdAt'
  | 'startedAt'
  | 'finishedAt'
  | 'updatedAt';

/** The columns only queue Q's table has (e.g. a backup's filePath); the shared ones are the runtime's business. */
export type TableSpecificInsert<Q extends QueueAlias> = Partial<Omit<RecordTables[Q]['$inferInsert'], BaseColumn>>;

export interface RecordWriter<Q extends QueueAlias> {
  /**
   * Inserts the record (id = job id, serverId, requestedBy, options, status 'running', attempts, startedAt) plus
   * `values`; the job's own options fill the table's columns (backup type, scan type, dry run) unless given.
   * On a retry (row exists, not final) moves it back to running and bumps attempts.
   */
  start(values?: TableSpecificInsert<Q>): Promise<void>;
  update(patch: Partial<TableSpecificInsert<Q>>): Promise<void>;
  /** status 'completed', finishedAt, progress 100, result. Forward-only: never moves a finished record. */
  complete(patch?: Partial<TableSpecificInsert<Q>> & { result?: unknown }): Promise<void>;
}

/** Runtime-only writes: progress, and the failure of an attempt. */
export interface RecordLifecycle<Q extends QueueAlias> extends RecordWriter<Q> {
  progress(value: number): Promise<void>;
  /** final: status failed (or cancelled), finishedAt; otherwise only attempts and the error. Inserts the record if the job failed before creating it. */
  fail(message: string, opts: { final: boolean; cancelled: boolean }): Promise<void>;
}

/** Statuses a record may still leave. Every write below has it in its WHERE clause: status only moves forward. */
const OPEN_STATUSES = ['pending', 'running'] as const;

// The three tables share recordColumns(), so the shared-column queries are typed against one of them;
// the runtime object is always the queue's own table, so table-specific keys map to its columns.
type RecordTable = typeof backups;
type RecordInsert = RecordTable['$inferInsert'];

/** Table-specific column values the job's payload already determines. */
function columnsFromPayload(name: JobName, payload: unknown): Partial<RecordInsert> & Record<string, unknown> {
  switch (name) {
    case 'backup:manual':
    case 'backup:scheduled': {
      const { options } = payload as { options: BackupOptions };
      return { backupType: options.backup_type, compression: options.compression, encryption: options.encryption, isScheduled: name === 'backup:scheduled' };
    }
    case 'backup:restore': {
      const p = payload as RestorePayload;
      return { backupId: p.backupId, targetPath: p.targetPath };
    }
    case 'scan:full':
    case 'scan:quick':
      return { scanType: name === 'scan:full' ? 'full' : 'quick' };
    case 'update:server': {
      const p = payload as UpdatePayload;
      return { dryRun: p.options.dry_run, packages: p.options.packages ?? null };
    }
    default:
      return {};
  }
}

/** For jobs without a record (catalog `record: null`): every write is a no-op. */
const noRecord: RecordLifecycle<QueueAlias> = {
  start: async () => {},
  update: async () => {},
  complete: async () => {},
  progress: async () => {},
  fail: async () => {},
};

/** The PostgreSQL error behind `err` (drizzle wraps driver errors in DrizzleQueryError with the original as cause). */
function pgError(err: unknown): { code?: string; constraint_name?: string } {
  const e = err as { code?: unknown; cause?: unknown };
  return typeof e?.code === 'string' ? (e as { code?: string }) : ((e?.cause as { code?: string; constraint_name?: string }) ?? {});
}

const FOREIGN_KEY_VIOLATION = '23503';

/** The requesting user was deleted after enqueueing (the column is ON DELETE SET NULL): keep the record, drop the link. */
async function withoutMissingUser(write: (requestedBy: 'keep' | 'drop') => Promise<unknown>): Promise<void> {
  try {
    await write('keep');
  } catch (err) {
    const { code, constraint_name } = pgError(err);
    if (code !== FOREIGN_KEY_VIOLATION || !constraint_name?.endsWith('_requested_by_users_id_fk')) throw err;
    await write('drop');
  }
}

export function createRecordLifecycle<Q extends QueueAlias>(job: Job, db: Db): RecordLifecycle<Q> {
  const name = job.name as JobName;
  const tableName = catalog[name].record as RecordTableName | null;
  if (tableName === null) return noRecord;
  const table = (recordTables as Partial<Record<RecordTableName, unknown>>)[tableName] as RecordTable | undefined;
  if (!table) throw new Error(`no record table "${tableName}" registered for ${name}`);
  // Validated by the processor before a context exists; re-read here with the schema defaults applied.
  const payload = validatePayload(name, job.data) as { serverId: string; userId?: string | null; options?: unknown };
  const id = recordIdOf(name, payload, String(job.id));
  const attempt = () => job.attemptsMade + 1;
  const open = and(eq(table.id, id), inArray(table.status, [...OPEN_STATUSES]));
  const base = (): RecordInsert => ({
    ...columnsFromPayload(name, payload),
    id,
    serverId: payload.serverId,
    requestedBy: payload.userId ?? null,
    options: payload.options ?? {},
  });

  return {
    async start(values = {}) {
      const now = new Date();
      const specific = values as Partial<RecordInsert>;
      await withoutMissingUser((user) =>
        db
          .insert(table)
          .values({ ...base(), ...(user === 'drop' ? { requestedBy: null } : {}), ...specific, status: 'running', attempts: attempt(), startedAt: now, error: null })
          .onConflictDoUpdate({
            target: table.id,
            set: { ...specific, status: 'running', attempts: attempt(), startedAt: now, error: null, updatedAt: now },
            setWhere: inArray(table.status, [...OPEN_STATUSES]),
          }),
      );
    },

    async update(patch) {
      if (Object.keys(patch).length === 0) return;
      await db
        .update(table)
        .set({ ...(patch as Partial<RecordInsert>), updatedAt: new Date() })
        .where(open);
    },

    async complete(patch = {}) {
      const now = new Date();
      await db
        .update(table)
        .set({ ...(patch as Partial<RecordInsert>), status: 'completed', progress: 100, finishedAt: now, updatedAt: now, error: null })
        .where(open);
    },

    async progress(value) {
      await db.update(table).set({ progress: Math.round(value), updatedAt: new Date() }).where(open);
    },

    async fail(message, { final, cancelled }) {
      const now = new Date();
      if (!final) {
        await db.update(table).set({ attempts: attempt(), error: message, updatedAt: now }).where(open);
        return;
      }
      const status = cancelled ? 'cancelled' : 'failed';
      await withoutMissingUser((user) =>
        db
          .insert(table)
          .values({ ...base(), ...(user === 'drop' ? { requestedBy: null } : {}), status, attempts: attempt(), error: message, finishedAt: now })
          .onConflictDoUpdate({
            target: table.id,
            set: { status, attempts: attempt(), error: message, finishedAt: now, updatedAt: now },
            setWhere: inArray(table.status, [...OPEN_STATUSES]),
          }),
      ).catch((err: unknown) => {
        // The server is gone (deleted while the job waited): there is nothing to attach a record to.
        if (pgError(err).code !== FOREIGN_KEY_VIOLATION) throw err;
      });
    },
  };
}
