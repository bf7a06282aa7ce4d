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

interface JobDefinition {
  queue: QueueAlias;
  payload: TSchema;
  priority: number;
  /** The payload field that is also the job id and the id of the domain record the worker writes. */
  recordId: string;
}

/** The one job catalog: every job name, its queue, payload schema, priority and id field. */
export const catalog = {
  'backup:manual': { queue: 'backup', payload: BackupPayload, priority: JobPriority.HIGH, recordId: 'backupId' },
  'backup:scheduled': { queue: 'backup', payload: BackupPayload, priority: JobPriority.HIGH, recordId: 'backupId' },
  'scan:full': { queue: 'scan', payload: ScanPayload, priority: JobPriority.NORMAL, recordId: 'scanId' },
  'scan:quick': { queue: 'scan', payload: ScanPayload, priority: JobPriority.NORMAL, recordId: 'scanId' },
  'update:server': { queue: 'update', payload: UpdatePayload, priority: JobPriority.CRITICAL, recordId: 'updateId' },
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
