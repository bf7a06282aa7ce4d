import { Type } from '@sinclair/typebox';
import { BackupOptions } from '@mm/jobs';
import { Timestamp, Uuid } from '../../shared/schemas.js';
import { NullableStorageTargetRef } from '../storage-targets/target-ref.js';

const Cron = Type.String({ minLength: 1, maxLength: 128, description: '5 fields (minute first), or 6 with seconds first; read in `timezone`' });
const TimeZone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. "UTC" or "Europe/Berlin"' });

/** Recovery point objective: a server whose newest successful backup is older is overdue (backup.overdue, GET /api/fleet/summary). */
const RpoSeconds = Type.Union([Type.Integer({ minimum: 60, maximum: 366 * 86_400 }), Type.Null()], {
  description: 'seconds; null or absent = twice the longest gap between two runs of the cron',
});

export const ScheduleParams = Type.Object({ id: Uuid, scheduleId: Uuid });

export const CreateScheduleBody = Type.Object(
  { cron: Cron, timezone: Type.Optional(TimeZone), options: BackupOptions, enabled: Type.Optional(Type.Boolean()), storageTargetId: Type.Optional(NullableStorageTargetRef), rpoSeconds: Type.Optional(RpoSeconds) },
  { additionalProperties: false },
);

/** `options`, when given, replaces the whole options object (omitted option fields take their defaults). */
export const UpdateScheduleBody = Type.Object(
  {
    cron: Type.Optional(Cron),
    timezone: Type.Optional(TimeZone),
    options: Type.Optional(BackupOptions),
    enabled: Type.Optional(Type.Boolean()),
    storageTargetId: Type.Optional(NullableStorageTargetRef),
    rpoSeconds: Type.Optional(RpoSeconds),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ScheduleView = Type.Object({
  id: Uuid,
  serverId: Uuid,
  cron: Type.String(),
  timezone: Type.String(),
  options: BackupOptions,
  enabled: Type.Boolean(),
  storageTargetId: Type.Union([Uuid, Type.Null()], { description: "the target its runs store to; null = the server's target, then 'default'" }),
  rpoSeconds: Type.Union([Type.Integer(), Type.Null()], { description: 'explicit RPO; null = twice the longest gap between runs' }),
  createdBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  nextRuns: Type.Array(Timestamp, { description: 'the next 5 run times (UTC ISO 8601); empty while disabled' }),
});
