import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { JobsOptions } from 'bullmq';
import { backupCompleted, fullScanCompleted, type CompletionEvents } from './job-events.js';

/** Queue aliases (what the REST API accepts in `?queue=`) and the BullMQ queue names behind them. */
export const QueueName = {
  backup: 'backup-queue',
  scan: 'scan-queue',
  update: 'update-queue',
} as const;
export type QueueAlias = keyof typeof QueueName;
/**
 * The fleet run orchestrator's queue (fleet-queue.ts). Named here, beside the catalog's queues but not among them, so
 * the stores can read its events without importing the queue factory.
 */
export const FLEET_QUEUE = 'fleet-queue';
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
    /** Absent = 'never'. 'if-required': after a real update, reboot when the server says it needs one, and wait for it to come back. */
    reboot: Type.Optional(Type.Union([Type.Literal('never'), Type.Literal('if-required')], { description: "'if-required' reboots the server after the update when it reports a reboot is required (default 'never')" })),
  },
  { additionalProperties: false },
);
export type UpdateOptions = Static<typeof UpdateOptions>;

/**
 * A storage target named by a trigger or schedule: a target's id, or 'default' for the one from the environment
 * (BACKUP_REPOSITORY). Absent in a backup payload: the server's target, then the default.
 */
export const StorageTargetRef = Type.Union([Uuid, Type.Literal('default')]);
export type StorageTargetRef = Static<typeof StorageTargetRef>;

// Payloads carry ids and small options only: BullMQ keeps job data in clear text in Redis.
export const BackupPayload = Type.Object(
  {
    serverId: Uuid,
    backupId: Uuid,
    userId: Type.Union([Uuid, Type.Null()]),
    options: BackupOptions,
    isScheduled: Type.Boolean(),
    storageTargetId: Type.Optional(StorageTargetRef),
  },
  { additionalProperties: false },
);
export type BackupPayload = Static<typeof BackupPayload>;

/**
 * What a backup schedule's job scheduler repeats on every run (`upsertJobScheduler`). BullMQ gives each run its own
 * `repeat:<scheduler>:<time>` job id, so the record id is derived from that id (`recordIdOf`), not carried here.
 */
export const ScheduledBackupPayload = Type.Object(
  { serverId: Uuid, scheduleId: Uuid, options: BackupOptions, storageTargetId: Type.Optional(StorageTargetRef) },
  { additionalProperties: false },
);
export type ScheduledBackupPayload = Static<typeof ScheduledBackupPayload>;

export const ScanPayload = Type.Object(
  {
    serverId: Uuid,
    scanId: Uuid,
    userId: Type.Union([Uuid, Type.Null()]),
    /** A rollout's gate scan: the fleet run whose `rollout.gate.command` the scan also runs (read from PostgreSQL, never carried here). */
    gateOfRun: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
export type ScanPayload = Static<typeof ScanPayload>;

export const UpdatePayload = Type.Object(
  {
    serverId: Uuid,
    updateId: Uuid,
    userId: Type.Union([Uuid, Type.Null()]),
    options: UpdateOptions,
    /** Started by an admin with `?now=true`: runs whatever the server's maintenance windows say (issue #15). */
    ignoreMaintenanceWindows: Type.Optional(Type.Boolean()),
  },
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

/** A restore's subset: absolute paths inside the backup, no '..' segment, not `/` (that is the whole backup). */
export const RestorePaths = Type.Array(Type.String({ minLength: 2, maxLength: 4096, pattern: RESTORE_TARGET_PATTERN }), { minItems: 1, maxItems: 100, uniqueItems: true });

/** Streams a backup (its whole chain, for an incremental) back over SSH and extracts it under targetPath. */
export const RestorePayload = Type.Object(
  {
    restoreId: Uuid,
    backupId: Uuid,
    serverId: Uuid,
    targetPath: Type.String({ minLength: 1, maxLength: 4096, pattern: RESTORE_TARGET_PATTERN }),
    userId: Type.Union([Uuid, Type.Null()]),
    /** Only these members (absolute paths as backed up; a folder brings what is under it); absent: everything. */
    paths: Type.Optional(RestorePaths),
  },
  { additionalProperties: false },
);
export type RestorePayload = Static<typeof RestorePayload>;

/**
 * `restic check --read-data-subset=n/t` on one storage target; `checkId` is the job id and the id of its
 * storage_target_checks row, which the API inserts (pending) before enqueueing.
 */
export const CheckTargetPayload = Type.Object(
  { checkId: Uuid, storageTargetId: StorageTargetRef, userId: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
);
export type CheckTargetPayload = Static<typeof CheckTargetPayload>;

/** Applies every server's retention policy and removes finished BullMQ jobs past their age; userId null when the daily scheduler ran it. */
export const CleanupPayload = Type.Object({ userId: Type.Union([Uuid, Type.Null()]) }, { additionalProperties: false });
export type CleanupPayload = Static<typeof CleanupPayload>;

/**
 * Deletes every backup of one server (archive files, restic snapshots by the `server:<id>` tag, records), then the
 * server itself: `DELETE /api/servers/:id?deleteBackups=true`. `purgeId` is the job id; no record table.
 */
export const PurgeServerPayload = Type.Object(
  { purgeId: Uuid, serverId: Uuid, userId: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
);
export type PurgeServerPayload = Static<typeof PurgeServerPayload>;

interface JobDefinition {
  queue: QueueAlias;
  payload: TSchema;
  priority: number;
  /**
   * The payload field that is the job id (and the id of its record). null: the producer gives the job a random UUID,
   * and a job scheduler its own `repeat:…` id; the record id is then derived from the job id (`recordIdOf`).
   */
  idField: string | null;
  /** The PostgreSQL table the job's worker owns a record in (one row per job; @mm/records), or null for jobs without one. */
  record: string | null;
  /** At most one exclusive job runs per server at a time, across every worker process (a backup and an update never overlap). */
  exclusive: boolean;
  /** Default run-time limit; past it the job is stopped like a cancel and fails with "timed out after N s" (env can override). */
  timeoutMs: number;
  /** The progress milestones its handler reports, named in the job's log (`progress 40% (execution started)`). */
  progress: Readonly<Record<string, number>>;
  /** The webhook events a completed job raises, from its handler's result (which this types: `ResultOf`). */
  completed?: CompletionEvents<never>;
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
    progress: BackupProgress,
    completed: backupCompleted,
  },
  'backup:scheduled': {
    queue: 'backup',
    payload: ScheduledBackupPayload,
    priority: JobPriority.HIGH,
    idField: null,
    record: 'backups',
    exclusive: true,
    timeoutMs: 6 * HOUR_MS,
    progress: BackupProgress,
    completed: backupCompleted,
  },
  'backup:verify': {
    queue: 'backup',
    payload: VerifyPayload,
    priority: JobPriority.LOW,
    idField: 'verifyId',
    record: null,
    exclusive: false,
    timeoutMs: 2 * HOUR_MS,
    progress: BackupProgress,
  },
  'backup:restore': {
    queue: 'backup',
    payload: RestorePayload,
    priority: JobPriority.HIGH,
    idField: 'restoreId',
    record: 'restores',
    exclusive: true,
    timeoutMs: 6 * HOUR_MS,
    progress: BackupProgress,
  },
  'backup:cleanup': {
    queue: 'backup',
    payload: CleanupPayload,
    priority: JobPriority.LOW,
    idField: null,
    record: null,
    exclusive: false,
    timeoutMs: 30 * MINUTE_MS,
    progress: BackupProgress,
  },
  // Exclusive: it never runs beside a backup, restore or update of the same server (the server lease).
  'backup:purge-server': {
    queue: 'backup',
    payload: PurgeServerPayload,
    priority: JobPriority.LOW,
    idField: 'purgeId',
    record: null,
    exclusive: true,
    timeoutMs: 2 * HOUR_MS,
    progress: BackupProgress,
  },
  'backup:check-target': {
    queue: 'backup',
    payload: CheckTargetPayload,
    priority: JobPriority.LOW,
    idField: 'checkId',
    record: null,
    exclusive: false,
    timeoutMs: 6 * HOUR_MS,
    progress: BackupProgress,
  },
  'scan:full': {
    queue: 'scan',
    payload: ScanPayload,
    priority: JobPriority.NORMAL,
    idField: 'scanId',
    record: 'scans',
    exclusive: false,
    timeoutMs: 10 * MINUTE_MS,
    progress: ScanProgress,
    completed: fullScanCompleted,
  },
  'scan:quick': {
    queue: 'scan',
    payload: ScanPayload,
    priority: JobPriority.NORMAL,
    idField: 'scanId',
    record: 'scans',
    exclusive: false,
    timeoutMs: 10 * MINUTE_MS,
    progress: ScanProgress,
  },
  'update:server': {
    queue: 'update',
    payload: UpdatePayload,
    priority: JobPriority.CRITICAL,
    idField: 'updateId',
    record: 'updates',
    exclusive: true,
    timeoutMs: HOUR_MS,
    progress: UpdateProgress,
  },
} as const satisfies Record<string, JobDefinition>;

export type Catalog = typeof catalog;
export type JobName = keyof Catalog;
export const jobNames = Object.keys(catalog) as JobName[];
/** The record tables the catalog's entries name (what @mm/records maps to drizzle tables). */
export type RecordTableName = Exclude<Catalog[JobName]['record'], null>;
export type PayloadOf<N extends JobName> = Static<Catalog[N]['payload']>;
/** What job N's handler returns: the result its `completed` events read, or anything for jobs that raise none. */
export type ResultOf<N extends JobName> = Catalog[N] extends { completed: CompletionEvents<infer R> } ? R : unknown;
/** The job names that run on queue Q. */
export type JobNameOf<Q extends QueueAlias> = { [N in JobName]: Catalog[N]['queue'] extends Q ? N : never }[JobName];

export function jobNamesOf(queue: QueueAlias): JobName[] {
  return jobNames.filter((name) => catalog[name].queue === queue);
}

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(catalog, name);
}
