import { Type } from '@sinclair/typebox';
import { QueueAliasSchema } from '../jobs/schemas.js';
import { QueueCounts } from '../metrics/schemas.js';

export const QueueParams = Type.Object({ queue: QueueAliasSchema });

export const QueueView = Type.Object({
  queue: QueueAliasSchema,
  name: Type.String({ description: 'the BullMQ queue name' }),
  paused: Type.Boolean(),
  workers: Type.Integer({ description: 'worker connections BullMQ sees on this queue (each worker process holds one per queue)' }),
  counts: QueueCounts,
});

/** The states `clean` may empty: never `active`, which would pull a job from under its worker. */
export const cleanableStates = ['completed', 'failed', 'delayed', 'waiting', 'prioritized'] as const;

export const CleanBody = Type.Object(
  {
    state: Type.Union(cleanableStates.map((s) => Type.Literal(s))),
    olderThanMs: Type.Integer({ minimum: 0, description: 'only jobs older than this (finished time for completed and failed, creation time otherwise)' }),
    limit: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'at most this many jobs; 0 for all' }),
  },
  { additionalProperties: false },
);

export const PauseResult = Type.Object({ queue: QueueAliasSchema, paused: Type.Boolean() });
export const RetryResult = Type.Object({
  queue: QueueAliasSchema,
  retried: Type.Integer({ description: 'failed jobs moved back to waiting, their failed records reopened' }),
  skipped: Type.Integer({ description: 'failed jobs left failed: their record was cancelled or is no longer failed' }),
});
export const CleanResult = Type.Object({ queue: QueueAliasSchema, state: Type.String(), removed: Type.Integer() });
export const PromoteResult = Type.Object({ queue: QueueAliasSchema, promoted: Type.Integer() });
