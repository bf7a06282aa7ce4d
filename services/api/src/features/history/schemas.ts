import { Type, type Static } from '@sinclair/typebox';
import { NullableTimestamp, Timestamp, Uuid } from '../../shared/schemas.js';
import { RECORD_STATUSES } from '@mm/records';
import { CURSOR_PATTERN, DATE_TIME_PATTERN } from './history-cursor.js';
import { HISTORY_TYPES } from './history-kinds.js';


export const HistoryQuery = Type.Object(
  {
    serverId: Type.Optional(Uuid),
    type: Type.Optional(Type.Union(HISTORY_TYPES.map((t) => Type.Literal(t)))),
    status: Type.Optional(Type.Union(RECORD_STATUSES.map((s) => Type.Literal(s)))),
    // A pattern rather than format: date-time, so the schema itself says four-digit years and fields in range.
    from: Type.Optional(Type.String({ pattern: DATE_TIME_PATTERN, maxLength: 40, description: 'ISO 8601 date-time: created at or after (inclusive)' })),
    to: Type.Optional(Type.String({ pattern: DATE_TIME_PATTERN, maxLength: 40, description: 'ISO 8601 date-time: created before (exclusive)' })),
    // Three characters at least: the trigram index cannot narrow a shorter pattern, so it would scan every record.
    q: Type.Optional(
      Type.String({ minLength: 3, maxLength: 200, pattern: '^[^\\u0000]+$', description: 'server name or error text (substring, case-insensitive) or job id (exact or prefix)' }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    cursor: Type.Optional(Type.String({ pattern: CURSOR_PATTERN, description: "the previous page's meta.nextCursor (opaque)" })),
  },
  { additionalProperties: false },
);
export type HistoryQuery = Static<typeof HistoryQuery>;

const common = {
  id: Uuid,
  serverId: Uuid,
  serverName: Type.String(),
  status: Type.Union(RECORD_STATUSES.map((s) => Type.Literal(s))),
  createdAt: Timestamp,
  startedAt: NullableTimestamp,
  finishedAt: NullableTimestamp,
  error: Type.Union([Type.String(), Type.Null()], { description: 'as the worker stored it (secrets already redacted)' }),
};

export const BackupHistoryItem = Type.Object({
  type: Type.Literal('backup'),
  ...common,
  backupType: Type.Union([Type.Literal('full'), Type.Literal('incremental')]),
  sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
});
export const ScanHistoryItem = Type.Object({ type: Type.Literal('scan'), ...common, scanType: Type.Union([Type.Literal('quick'), Type.Literal('full')]) });
export const UpdateHistoryItem = Type.Object({ type: Type.Literal('update'), ...common, dryRun: Type.Boolean() });

export const HistoryItem = Type.Union([BackupHistoryItem, ScanHistoryItem, UpdateHistoryItem]);
export type HistoryItem = Static<typeof HistoryItem>;

export const HistoryPage = Type.Object({
  success: Type.Literal(true),
  data: Type.Array(HistoryItem),
  meta: Type.Object({
    limit: Type.Integer(),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor` for the next page; null on the last page' }),
  }),
});
