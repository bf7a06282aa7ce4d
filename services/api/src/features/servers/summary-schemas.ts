import { Type, type Static } from '@sinclair/typebox';
import { NullableTimestamp, Timestamp, Uuid } from '../../shared/schemas.js';

const Nullable = <T extends ReturnType<typeof Type.Object>>(schema: T) => Type.Union([schema, Type.Null()]);

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;

export const FindingsBySeverity = Type.Object(Object.fromEntries(SEVERITIES.map((s) => [s, Type.Integer({ minimum: 0 })])) as Record<(typeof SEVERITIES)[number], ReturnType<typeof Type.Integer>>);

/** What the server's newest records say, in one block (GET /api/servers/:id/summary and each item of GET /api/servers). */
export const ServerSummary = Type.Object({
  lastBackup: Nullable(
    Type.Object(
      {
        id: Uuid,
        backupType: Type.Union([Type.Literal('full'), Type.Literal('incremental')]),
        finishedAt: NullableTimestamp,
        ageSeconds: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
        sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
      },
      { description: 'the newest completed backup' },
    ),
  ),
  lastScan: Nullable(
    Type.Object(
      {
        id: Uuid,
        type: Type.Union([Type.Literal('quick'), Type.Literal('full')]),
        status: Type.Union([Type.Literal('completed'), Type.Literal('failed')]),
        finishedAt: NullableTimestamp,
        online: Type.Union([Type.Boolean(), Type.Null()], { description: 'false: unreachable; null: reached but not verified (e.g. host key or login refused)' }),
        findings: Type.Union([FindingsBySeverity, Type.Null()], { description: 'a completed full scan only' }),
      },
      { description: 'the newest finished scan, completed or failed' },
    ),
  ),
  lastUpdate: Nullable(
    Type.Object(
      {
        id: Uuid,
        status: Type.Union([Type.Literal('completed'), Type.Literal('failed')]),
        finishedAt: NullableTimestamp,
        dryRun: Type.Boolean(),
        packagesChanged: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'in a dry run: what would change; null without a result' }),
        rebootRequired: Type.Union([Type.Boolean(), Type.Null()]),
      },
      { description: 'the newest finished update, completed or failed' },
    ),
  ),
  upgradablePackages: Nullable(
    Type.Object(
      {
        count: Type.Integer({ minimum: 0 }),
        source: Type.Union([Type.Literal('full-scan'), Type.Literal('dry-run-update')]),
        recordId: Uuid,
        at: Timestamp,
      },
      { description: 'from the newer of the newest completed full scan and the newest completed dry-run update; one that could not count them is skipped' },
    ),
  ),
  nextScheduledBackupAt: NullableTimestamp,
});
export type ServerSummary = Static<typeof ServerSummary>;
