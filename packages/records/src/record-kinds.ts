import { backups, restores, scans, updates } from '@mm/db';
import { catalog, jobNames, type Catalog, type JobName, type JobNameOf, type QueueAlias, type RecordTableName } from '@mm/jobs';

/** The record table names the catalog's entries use (`record`), derived from the catalog itself. */
export type RecordName = RecordTableName;

/**
 * Every record table a catalog entry may name. Adding `record: 'dumps'` to a catalog entry makes the compiler ask
 * for its line here (and in `payloadColumns`).
 */
export const recordTables = {
  backups: { table: backups, singular: 'Backup' },
  scans: { table: scans, singular: 'Scan' },
  updates: { table: updates, singular: 'Update' },
  restores: { table: restores, singular: 'Restore' },
} as const satisfies Record<RecordName, { table: unknown; singular: string }>;

export type RecordTableOf<R extends RecordName> = (typeof recordTables)[R]['table'];

/** The job names that write a record (catalog `record` not null). */
export type RecordJobName = { [N in JobName]: Catalog[N]['record'] extends null ? never : N }[JobName];
/** The record table job N writes. */
export type RecordNameOf<N extends JobName> = Exclude<Catalog[N]['record'], null>;
/** The record tables queue Q's jobs write (backup queue: backups and restores). */
export type RecordNameOfQueue<Q extends QueueAlias> = { [N in JobNameOf<Q>]: RecordNameOf<N> }[JobNameOf<Q>];

/** The columns every record table shares (packages/db/src/schema/record-columns.ts): the runtime's business, not a handler's. */
export type BaseColumn =
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

type SpecificInsertOf<R> = R extends RecordName ? Partial<Omit<RecordTableOf<R>['$inferInsert'], BaseColumn>> : never;

/** The columns only the tables of queue Q have (a backup's filePath, a restore's chain); what a handler may write. */
export type TableSpecificInsert<Q extends QueueAlias> = SpecificInsertOf<RecordNameOfQueue<Q>>;

export interface RecordKind {
  /** Table name, and the path segment of its routes (`/api/backups/:id`). */
  name: RecordName;
  singular: string;
  table: RecordTableOf<'backups'>;
  /** The queue whose job ids are this table's ids. */
  queue: QueueAlias;
  /** The catalog's job names that write it. */
  jobNames: JobName[];
}

function queueOf(name: RecordName): QueueAlias {
  const queues = new Set(jobNames.filter((n) => catalog[n].record === name).map((n) => catalog[n].queue));
  const [queue, ...others] = queues;
  // Record ids are job ids of one queue: a record table fed by two queues could not be found from a job id.
  if (!queue || others.length > 0) throw new Error(`record table ${name} must be written by the jobs of exactly one queue`);
  return queue;
}

/**
 * The record kinds, in recordTables' order: what the API lists, looks records up in, and checks before deleting a
 * server. Every table shares recordColumns(), so the shared-column queries are typed against one of them.
 */
export const recordKinds: readonly RecordKind[] = (Object.keys(recordTables) as RecordName[]).map((name) => ({
  name,
  singular: recordTables[name].singular,
  table: recordTables[name].table as unknown as RecordTableOf<'backups'>,
  queue: queueOf(name),
  jobNames: jobNames.filter((n) => catalog[n].record === name),
}));

/** The record kind job `name` writes, or null for jobs without a record (verify, cleanup). */
export function recordKindOf(name: JobName): RecordKind | null {
  const record = catalog[name].record;
  return record === null ? null : (recordKinds.find((k) => k.name === record) ?? null);
}
