import { Type } from '@sinclair/typebox';
import { BackupOptions } from '@mm/jobs';
import { Timestamp, Uuid } from './common.js';

const Cron = Type.String({ minLength: 1, maxLength: 128, description: '5 fields (minute first), or 6 with seconds first; read in `timezone`' });
const TimeZone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. "UTC" or "Europe/Berlin"' });

export const ScheduleParams = Type.Object({ id: Uuid, scheduleId: Uuid });

export const CreateScheduleBody = Type.Object(
  { cron: Cron, timezone: Type.Optional(TimeZone), options: BackupOptions, enabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

/** `options`, when given, replaces the whole options object (omitted option fields take their defaults). */
export const UpdateScheduleBody = Type.Object(
  { cron: Type.Optional(Cron), timezone: Type.Optional(TimeZone), options: Type.Optional(BackupOptions), enabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);

export const ScheduleView = Type.Object({
  id: Uuid,
  serverId: Uuid,
  cron: Type.String(),
  timezone: Type.String(),
  options: BackupOptions,
  enabled: Type.Boolean(),
  createdBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  nextRuns: Type.Array(Timestamp, { description: 'the next 5 run times (UTC ISO 8601); empty while disabled' }),
});
