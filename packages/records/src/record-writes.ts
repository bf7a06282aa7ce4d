import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { users, type Db } from '@mm/db';
import { catalog, isJobName, recordIdOf, validatePayload, InvalidPayloadError, type JobName, type PayloadOf, type QueueAlias } from '@mm/jobs';
import { payloadColumns } from './payload-columns.js';
import { recordKindOf, type RecordJobName, type RecordTableOf, type TableSpecificInsert } from './record-kinds.js';

export interface RecordWriter<Q extends QueueAlias> {
  /**
   * Inserts the record (id = job id, serverId, requestedBy, options, status 'running', attempts, startedAt) plus
   * `values`; the job's own payload fills the table's columns (backup type, scan type, dry run) unless given.
   * On a retry (row exists, not final) moves it back to running and bumps attempts.
   */
  start(values?: TableSpecificInsert<Q>): Promise<void>;
  update(patch: TableSpecificInsert<Q>): Promise<void>;
  /** status 'completed', finishedAt, progress 100, result. Forward-only: never moves a finished record. */
  complete(patch?: TableSpecificInsert<Q> & { result?: unknown }): Promise<void>;
}

/** The runtime's writes besides the handler's: progress, and the failure of an attempt. */
export interface RecordLifecycle<Q extends QueueAlias> extends RecordWriter<Q> {
  progress(value: number): Promise<void>;
  /** final: status failed (or cancelled), finishedAt; otherwise only attempts and the error. Inserts the record if the job failed before creating it. */
  fail(message: string, opts: { final: boolean; cancelled: boolean }): Promise<void>;
}

/** One attempt of a job whose payload was already validated (`validatePayload`, schema defaults applied). */
export interface RecordJob<N extends JobName = JobName> {
  name: N;
  payload: PayloadOf<N>;
  jobId: string;
  /** 1 for the first run (BullMQ's attemptsMade + 1). */
  attempt: number;
}

/** Statuses a record may still leave. Every write below has it in its WHERE clause: status only moves forward. */
const OPEN_STATUSES = ['pending', 'running'] as const;
const FOREIGN_KEY_VIOLATION = '23503';

// Every record table shares recordColumns(), so the shared-column writes are typed against one of them; the runtime
// object is always the job's own table, so table-specific keys map to its columns.
type RecordTable = RecordTableOf<'backups'>;
type RecordInsert = RecordTable['$inferInsert'];

/** The PostgreSQL error code behind `err` (drizzle wraps driver errors in DrizzleQueryError with the original as cause). */
function pgCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = typeof e?.code === 'string' ? e.code : e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** For jobs without a record (catalog `record: null`): every write is a no-op. */
const noRecord: RecordLifecycle<QueueAlias> = {
  start: async () => {},
  update: async () => {},
  complete: async () => {},
  progress: async () => {},
  fail: async () => {},
};

/** What creating the record sets besides its status: the id, the server, the requester, the payload's columns. */
function baseValues(job: RecordJob): RecordInsert {
  const payload = job.payload as { serverId: string; userId?: string | null; options?: unknown };
  const columns = (payloadColumns[job.name as RecordJobName] as (p: unknown) => Partial<RecordInsert>)(job.payload);
  const userId = payload.userId ?? null;
  return {
    ...columns,
    id: recordIdOf(job.name, job.payload, job.jobId),
    serverId: payload.serverId,
    // The requester may have been deleted since (the column is ON DELETE SET NULL): keep the record, drop the link.
    requestedBy: (userId === null ? null : sql`(select ${users.id} from ${users} where ${users.id} = ${userId})`) as unknown as string | null,
    options: payload.options ?? {},
  };
}

/**
 * Ends a record for good (failed or cancelled), creating it if the job never got as far: an existing record moves
 * only from pending or running. A server deleted while the job waited leaves nothing to attach a record to.
 */
async function finish(db: Db, table: RecordTable, values: RecordInsert, set: Partial<RecordInsert>, openOnly: SQL): Promise<void> {
  try {
    await db.insert(table).values(values).onConflictDoUpdate({ target: table.id, set, setWhere: openOnly });
  } catch (err) {
    if (pgCode(err) !== FOREIGN_KEY_VIOLATION) throw err;
  }
}

/** The writes of one attempt of a job on its record (the catalog says which table; none for jobs without one). */
export function createRecordLifecycle<Q extends QueueAlias>(db: Db, job: RecordJob): RecordLifecycle<Q> {
  const kind = recordKindOf(job.name);
  if (kind === null) return noRecord as unknown as RecordLifecycle<Q>;
  const table = kind.table;
  const id = recordIdOf(job.name, job.payload, job.jobId);
  const openOnly = inArray(table.status, [...OPEN_STATUSES]);
  const open = and(eq(table.id, id), openOnly);

  return {
    async start(values = {} as TableSpecificInsert<Q>) {
      const now = new Date();
      const specific = values as Partial<RecordInsert>;
      const running = { status: 'running', attempts: job.attempt, startedAt: now, error: null } as const;
      await db
        .insert(table)
        .values({ ...baseValues(job), ...specific, ...running })
        .onConflictDoUpdate({ target: table.id, set: { ...specific, ...running, updatedAt: now }, setWhere: openOnly });
    },

    async update(patch) {
      if (Object.keys(patch).length === 0) return;
      await db
        .update(table)
        .set({ ...(patch as Partial<RecordInsert>), updatedAt: new Date() })
        .where(open);
    },

    async complete(patch = {} as TableSpecificInsert<Q>) {
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
        await db.update(table).set({ attempts: job.attempt, error: message, updatedAt: now }).where(open);
        return;
      }
      const ended = { status: cancelled ? 'cancelled' : 'failed', attempts: job.attempt, error: message, finishedAt: now } as const;
      await finish(db, table, { ...baseValues(job), ...ended }, { ...ended, updatedAt: now }, openOnly);
    },
  };
}

/**
 * Marks the record of a job removed before it ran as cancelled (one of the API's two record writes, with reopenFailedRecord). The job never started,
 * so the record may not exist: it is inserted, forward-only. `job` is the BullMQ job as found in Redis; its data is
 * validated here, and a payload the worker would have refused (no trustworthy record id) leaves records untouched.
 */
export async function cancelRecord(db: Db, job: { name: string; data: unknown; id?: string | undefined }, message: string): Promise<void> {
  if (!isJobName(job.name) || catalog[job.name].record === null || job.id === undefined) return;
  let payload: PayloadOf<JobName>;
  try {
    payload = validatePayload(job.name, job.data);
  } catch (err) {
    if (err instanceof InvalidPayloadError) return;
    throw err;
  }
  const kind = recordKindOf(job.name);
  if (kind === null) return;
  const now = new Date();
  const ended = { status: 'cancelled', error: message, finishedAt: now } as const;
  const values = { ...baseValues({ name: job.name, payload, jobId: job.id, attempt: 0 }), ...ended };
  await finish(db, kind.table, values, { ...ended, updatedAt: now }, inArray(kind.table.status, [...OPEN_STATUSES]));
}
