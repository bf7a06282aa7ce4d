import { index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

export const jobLogKinds = ['output', 'milestone', 'warning'] as const;
export type JobLogKind = (typeof jobLogKinds)[number];

/**
 * A job's log lines (remote output, progress milestones, warnings), already redacted by the worker, kept here so
 * they outlive the job's removal from Redis. Keyed by the BullMQ job id as text: a scheduler's jobs have ids like
 * `repeat:…`, and the record a line belongs to lives in one of three tables, so there is no foreign key (and no
 * cascade): pruneJobLogs() removes them.
 */
export const jobLogs = pgTable(
  'job_logs',
  {
    jobId: text('job_id').notNull(),
    /** The queue alias of @mm/jobs' catalog (this package knows no queue names; the writer's type says which). */
    queue: text('queue').notNull(),
    /** 1, 2, 3… per job, across its attempts: a retry continues where the previous attempt stopped. */
    seq: integer('seq').notNull(),
    kind: text('kind', { enum: jobLogKinds }).notNull(),
    line: text('line').notNull(),
    /** When the worker saw the line (not when the batch holding it was written). */
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'job_logs_job_seq_pk', columns: [t.jobId, t.seq] }), index('job_logs_created_idx').on(t.createdAt)],
);

export type JobLogLine = typeof jobLogs.$inferSelect;
export type NewJobLogLine = typeof jobLogs.$inferInsert;
