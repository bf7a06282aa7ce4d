import { Type } from '@sinclair/typebox';
import { RECORD_STATUSES } from '@mm/records';
import { NullableTimestamp, Timestamp, Uuid } from '../../shared/schemas.js';

/** The shared record columns; each table adds its own (backupType, sizeBytes, online, rebootRequired, ...). */
export const RecordView = Type.Object(
  {
    id: Uuid,
    serverId: Type.Union([Uuid, Type.Null()]),
    requestedBy: Type.Union([Uuid, Type.Null()]),
    status: Type.Union(RECORD_STATUSES.map((s) => Type.Literal(s))),
    progress: Type.Number(),
    attempts: Type.Integer(),
    options: Type.Unknown(),
    result: Type.Unknown({ description: 'set once the job is done' }),
    error: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
    startedAt: NullableTimestamp,
    finishedAt: NullableTimestamp,
    jobState: Type.Optional(Type.String({ description: "the job's BullMQ state, when answered from the job" })),
    source: Type.Union([Type.Literal('record'), Type.Literal('job')], { description: "'job' until the worker has created the record" }),
  },
  { additionalProperties: true },
);
