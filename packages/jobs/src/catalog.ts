import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { JobsOptions } from 'bullmq';

/** Queue aliases (what the REST API accepts in `?queue=`) and the BullMQ queue names behind them. */
export const QueueName = {
  backup: 'backup-queue',
  scan: 'scan-queue',
  update: 'update-queue',
} as const;
export type QueueAlias = keyof typeof QueueName;
export const queueAliases = Object.keys(QueueName) as QueueAlias[];

export const JobPriority = {
  CRITICAL: 1, // updates
  HIGH: 2, // backups
  NORMAL: 3, // scans
  LOW: 4, // cleanup
} as const;

export const DAY_SECONDS = 86_400;

/** Applied to every job unless the producer overrides it. https://docs.bullmq.io/guide/going-to-production */
export const defaultJobOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 7 * DAY_SECONDS, count: 1_000 },
  removeOnFail: { age: 7 * DAY_SECONDS },
} as const satisfies JobsOptions;

export const BackupProgress = {
  STARTED: 10,
  SERVER_VERIFIED: 20,
  RECORD_CREATED: 30,
  EXECUTION_STARTED: 40,
  COMPLETED: 90,
  RECORD_UPDATED: 100,
} as const;

export const ScanProgress = {
  STARTED: 10,
  SERVER_VERIFIED: 20,
  RECORD_CREATED: 30,
  EXECUTION_STARTED: 40,
  EXECUTION_FINISHED: 80,
  RESULTS_STORED: 90,
  DONE: 100,
} as const;

export const UpdateProgress = {
  STARTED: 10,
  SERVER_VERIFIED: 20,
  RECORD_CREATED: 30,
  EXECUTION_STARTED: 40,
  EXECUTION_FINISHED: 80,
  RESULTS_STORED: 90,
  DONE: 100,
} as const;

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const Uuid = Type.String({ pattern: UUID_PATTERN });

/** A package name as apt, dnf, yum and apk accept it: no spaces, no shell metacharacters, no leading dash. */
export const PACKAGE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9.+_:@~-]{0,127}$';

export const BackupOptions = Type.Object(
  {
    backup_type: Type.Union([Type.Literal('full'), Type.Literal('incremental')], { default: 'full' }),
    compression: Type.Boolean({ default: true }),
    encryption: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type BackupOptions = Static<typeof BackupOptions>;

export const UpdateOptions = Type.Object(
  {
    dry_run: Type.Boolean({ default: false }),
    packages: Type.Optional(Type.Array(Type.String({ pattern: PACKAGE_NAME_PATTERN }), { maxItems: 500, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type UpdateOptions = Static<typeof UpdateOptions>;

// Payloads carry ids and small options only: BullMQ keeps job data in clear text in Redis.
export const BackupPayload = Type.Object(
  {
    serverId: Uuid,
    backupId: Uuid,
    userId: Type.Union([Uuid, Type.Null()]),
    options: BackupOptions,
    isScheduled: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type BackupPayload = Static<typeof BackupPayload>;

/**
 * What a backup schedule's job scheduler repeats on every run (`upsertJobScheduler`). BullMQ gives each run its own
 * `repeat:<scheduler>:<time>` job id, so the record id is derived from that id (`recordIdOf`), not carried here.
 */
export const ScheduledBackupPayload = Type.Object(
  { serverId: Uuid, scheduleId: Uuid, options: BackupOptions },
  { additionalProperties: false },
);
export type ScheduledBackupPayload = Static<typeof ScheduledBackupPayload>;

export const ScanPayload = Type.Object(
  { serverId: Uuid, scanId: Uuid, userId: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
);
export type ScanPayload = Static<typeof ScanPayload>;

export const UpdatePayload = Type.Object(
  { serverId: Uuid, updateId: Uuid, userId: Type.Union([Uuid, Type.Null()]), options: UpdateOptions },
  { additionalProperties: false },
);
export type UpdatePayload = Static<typeof UpdatePayload>;

/** Re-reads a stored backup: sha256, decryption, tar listing; the outcome lands on the backup record (verify_* columns). */
export const VerifyPayload = Type.Object(
  { verifyId: Uuid, backupId: Uuid, userId: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
);
export type VerifyPayload = Static<typeof VerifyPayload>;

/** Absolute, no NUL/newline, no `..` segment: where a restore extracts on the server. */
// Written without lookahead so JSON-schema tools (and fast-check's generators) can use it: every segment but '..'.
export const RESTORE_TARGET_PATTERN = '^(?:/(?:[^/.\\u0000\\n\\r][^/\\u0000\\n\\r]*|\\.(?:[^/.\\u0000\\n\\r][^/\\u0000\\n\\r]*)?|\\.\\.[^/\\u0000\\n\\r]+)?)+$';

/** Streams a backup (its whole chain, for an incremental) back over SSH and extracts it under targetPath. */
export const RestorePayload = Type.Object(
  {
    restoreId: Uuid,
    backupId: Uuid,
    serverId: Uuid,
    targetPath: Type.String({ minLength: 1, maxLength: 4096, pattern: RESTORE_TARGET_PATTERN }),
    userId: Type.Union([Uuid, Type.Null()]),
  },
  { additionalProperties: false },
);
export type RestorePayload = Static<typeof RestorePayload>;

/** Applies every server's retention policy and removes finished BullMQ jobs past their age; userId null when the daily scheduler ran it. */
export const CleanupPayload = Type.Object({ userId: Type.Union([Uuid, Type.Null()]) }, { additionalProperties: false });
export type CleanupPayload = Static<typeof CleanupPayload>;

/** The PostgreSQL table a job's worker owns a record in (one row per job), or null for jobs without one. */
export type RecordTableName = 'backups' | 'scans' | 'updates' | 'restores';

interface JobDefinition {
  queue: QueueAlias;
  payload: TSchema;
  priority: number;
  /**
   * The payload field that is the job id (and the id of its record). null: the producer gives the job a random UUID,
   * and a job scheduler its own `repeat:…` id; the record id is then derived from the job id (`recordIdOf`).
   */
  idField: string | null;
  record: RecordTableName | null;
  /** At most one exclusive job runs per server at a time, across every worker process (a backup and an update never overlap). */
  exclusive: boolean;
  /** Default run-time limit; past it the job is stopped like a cancel and fails with "timed out after N s" (env can override). */
  timeoutMs: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/** The one job catalog: every job name, its queue, payload schema, priority, id field and record table. */
export const catalog = {
  'backup:manual': {
    queue: 'backup',
    payload: BackupPayload,
    priority: JobPriority.HIGH,
    idField: 'backupId',
    record: 'backups',
    exclusive: true,
    timeoutMs: 6 * HOUR_MS,
  },
  'backup:scheduled': {
    queue: 'backup',
    payload: ScheduledBackupPayload,
    priority: JobPriority.HIGH,
    idField: null,
    record: 'backups',
    exclusive: true,
    timeoutMs: 6 * HOUR_MS,
  },
  'backup:verify': {
    queue: 'backup',
    payload: VerifyPayload,
    priority: JobPriority.LOW,
    idField: 'verifyId',
    record: null,
    exclusive: false,
    timeoutMs: 2 * HOUR_MS,
  },
  'backup:restore': {
    queue: 'backup',
    payload: RestorePayload,
    priority: JobPriority.HIGH,
    idField: 'restoreId',
    record: 'restores',
    exclusive: true,
    timeoutMs: 6 * HOUR_MS,
  },
  'backup:cleanup': {
    queue: 'backup',
    payload: CleanupPayload,
    priority: JobPriority.LOW,
    idField: null,
    record: null,
    exclusive: false,
    timeoutMs: 30 * MINUTE_MS,
  },
  'scan:full': { queue: 'scan', payload: ScanPayload, priority: JobPriority.NORMAL, idField: 'scanId', record: 'scans', exclusive: false, timeoutMs: 10 * MINUTE_MS },
  'scan:quick': { queue: 'scan', payload: ScanPayload, priority: JobPriority.NORMAL, idField: 'scanId', record: 'scans', exclusive: false, timeoutMs: 10 * MINUTE_MS },
  'update:server': {
    queue: 'update',
    payload: UpdatePayload,
    priority: JobPriority.CRITICAL,
    idField: 'updateId',
    record: 'updates',
    exclusive: true,
    timeoutMs: HOUR_MS,
  },
} as const satisfies Record<string, JobDefinition>;

export type Catalog = typeof catalog;
export type JobName = keyof Catalog;
export const jobNames = Object.keys(catalog) as JobName[];
export type PayloadOf<N extends JobName> = Static<Catalog[N]['payload']>;
/** The job names that run on queue Q. */
export type JobNameOf<Q extends QueueAlias> = { [N in JobName]: Catalog[N]['queue'] extends Q ? N : never }[JobName];

export function jobNamesOf(queue: QueueAlias): JobName[] {
  return jobNames.filter((name) => catalog[name].queue === queue);
}

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(catalog, name);
}
