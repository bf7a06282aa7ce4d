import { Type } from '@sinclair/typebox';
import { queueAliases } from '@mm/jobs';
import { jobStates } from '../../shared/job-view.js';
import { NullableTimestamp, Timestamp, Uuid } from '../../shared/schemas.js';

export const QueueAliasSchema = Type.Union(queueAliases.map((q) => Type.Literal(q)));
export const JobStateSchema = Type.Union(jobStates.map((s) => Type.Literal(s)));

const list = (names: readonly string[]) => `^(${names.join('|')})(,(${names.join('|')}))*$`;

export const JobView = Type.Object({
  id: Type.String(),
  queue: QueueAliasSchema,
  name: Type.String(),
  state: Type.Union([JobStateSchema, Type.Literal('unknown')]),
  progress: Type.Number(),
  attempts: Type.Integer({ description: 'attempts made so far' }),
  maxAttempts: Type.Integer(),
  serverId: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
  processedAt: NullableTimestamp,
  finishedAt: NullableTimestamp,
  failedReason: Type.Optional(Type.String()),
  result: Type.Optional(Type.Unknown()),
});

export const ListJobsQuery = Type.Object(
  {
    queue: Type.Optional(Type.String({ pattern: list(queueAliases), description: 'one alias or a comma-separated list: backup,scan,update' })),
    state: Type.Optional(Type.String({ pattern: list(jobStates), description: 'one BullMQ state or a comma-separated list, e.g. failed,completed' })),
    serverId: Type.Optional(Uuid),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    offset: Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }),
  },
  { additionalProperties: false },
);

const StateCounts = Type.Record(Type.String(), Type.Integer());
export const JobStats = Type.Object({
  queues: Type.Object(Object.fromEntries(queueAliases.map((q) => [q, StateCounts]))),
  totals: StateCounts,
});
