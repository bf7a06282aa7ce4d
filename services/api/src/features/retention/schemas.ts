import { Type } from '@sinclair/typebox';
import { NullableTimestamp, Uuid } from '../../shared/schemas.js';

const Count = Type.Integer({ minimum: 1, maximum: 10_000 });

export const RetentionBody = Type.Object(
  { keepLast: Type.Optional(Count), keepDaily: Type.Optional(Count), keepWeekly: Type.Optional(Count) },
  { additionalProperties: false, minProperties: 1 },
);

export const RetentionView = Type.Object({
  serverId: Uuid,
  /** false: no policy, the cleanup keeps every backup of this server. */
  configured: Type.Boolean(),
  keepLast: Type.Union([Type.Integer(), Type.Null()]),
  keepDaily: Type.Union([Type.Integer(), Type.Null()]),
  keepWeekly: Type.Union([Type.Integer(), Type.Null()]),
  updatedAt: NullableTimestamp,
});
