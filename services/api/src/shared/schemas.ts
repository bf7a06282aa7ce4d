import { Type, type TSchema } from '@sinclair/typebox';
import { UUID_PATTERN } from '@mm/jobs';
import { errorCodes } from './errors.js';

export const Uuid = Type.String({ pattern: UUID_PATTERN, format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid });
/** A job id: a UUID (producer-made), or `repeat:<scheduler>:<millis>` (a job scheduler's run, e.g. a scheduled backup). */
export const JobIdParams = Type.Object({
  id: Type.String({
    pattern: `(${UUID_PATTERN})|(^repeat:[A-Za-z0-9:_-]{1,128}:[0-9]{1,16}$)`,
    maxLength: 160,
    description: 'job id (a UUID, or `repeat:…` for a scheduled job)',
  }),
});
export const ServerIdParams = Type.Object({ serverId: Uuid });
export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const Pagination = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  offset: Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }),
};

export const ErrorEnvelope = Type.Object({
  success: Type.Literal(false),
  error: Type.Object({
    code: Type.Union(errorCodes.map((c) => Type.Literal(c))),
    message: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  }),
});

export const ok = <T extends TSchema>(data: T) => Type.Object({ success: Type.Literal(true), data });

export const okList = <T extends TSchema>(item: T) =>
  Type.Object({
    success: Type.Literal(true),
    data: Type.Array(item),
    meta: Type.Object({ limit: Type.Integer(), offset: Type.Integer(), total: Type.Optional(Type.Integer()) }),
  });

/** The error statuses a route documents, all with the same envelope. */
export const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ErrorEnvelope]));

/** Every /api route can answer these. */
export const commonErrors = [400, 401, 403, 429, 503];
