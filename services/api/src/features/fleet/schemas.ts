import { Type, type Static } from '@sinclair/typebox';
import { NullableTimestamp, Timestamp, Uuid } from '../../shared/schemas.js';
import { Labels, Selector } from '../../shared/server-selector.js';

export const SelectBody = Type.Object(
  {
    selector: Selector,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
  },
  { additionalProperties: false },
);

export const SelectedServer = Type.Object({
  id: Uuid,
  name: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  tags: Type.Array(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
  os: Type.Union([Type.String(), Type.Null()]),
  osVersion: Type.Union([Type.String(), Type.Null()]),
  lastSeenStatus: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Null()]),
  lastSeenAt: NullableTimestamp,
});
export type SelectedServer = Static<typeof SelectedServer>;

export const LabelsBody = Type.Object({ labels: Labels }, { additionalProperties: false });

/** One wave's size: a count of servers, or a share of the run's servers (rounded up). */
const WaveSize = Type.Union([
  Type.Integer({ minimum: 1, maximum: 100_000 }),
  Type.String({ pattern: '^(100|[1-9][0-9]?)(\\.[0-9]{1,2})?%$', description: 'a percentage, e.g. "10%"; the last wave must be "100%"' }),
]);

export const Rollout = Type.Object(
  {
    waves: Type.Array(WaveSize, { minItems: 1, maxItems: 20, description: 'wave sizes in order, like Ansible serial; the last must be "100%" (all the rest)' }),
    maxFailPercentage: Type.Optional(Type.Number({ minimum: 0, maximum: 100, default: 0, description: 'failures above this share of a wave stop the run (default 0)' })),
    gate: Type.Optional(
      Type.Object(
        {
          scan: Type.Optional(Type.Union([Type.Literal('quick'), Type.Literal('full')], { description: 'a scan of every server of the wave after its jobs; one that fails or finds the server offline stops the run' })),
          command: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 4_096,
              pattern: '^[^\\u0000]+$',
              description: "admin only: a shell command run over SSH on every server of the wave after its jobs (with the gate's scan, quick by default); a non-zero exit stops the run",
            }),
          ),
          httpUrl: Type.Optional(
            Type.String({ minLength: 1, maxLength: 2_048, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'GET once per wave by the fleet worker after the per-server gates; a non-2xx answer stops the run (SSRF guard as for webhooks)' }),
          ),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    ),
    pauseBetweenWavesS: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, default: 0 })),
  },
  { additionalProperties: false },
);
export type Rollout = Static<typeof Rollout>;

export const ScanRunOptions = Type.Object(
  { scan_type: Type.Union([Type.Literal('quick'), Type.Literal('full')], { default: 'quick' }) },
  { additionalProperties: false },
);

export const CreateFleetRunBody = Type.Object(
  {
    action: Type.Union([Type.Literal('backup'), Type.Literal('scan'), Type.Literal('update')]),
    selector: Selector,
    options: Type.Optional(
      Type.Object({}, {
        additionalProperties: true,
        maxProperties: 10,
        description: "the action's options, checked against its schema: backup { backup_type, compression, encryption }, scan { scan_type }, update { dry_run, packages, reboot }",
      }),
    ),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
    rollout: Type.Optional(Rollout),
  },
  { additionalProperties: false },
);
export type CreateFleetRunBody = Static<typeof CreateFleetRunBody>;

const RunState = Type.Union([Type.Literal('running'), Type.Literal('paused'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('aborted')]);
const ServerState = Type.Union([Type.Literal('pending'), Type.Literal('queued'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled'), Type.Literal('skipped')]);
const Counts = Type.Object({
  pending: Type.Integer(),
  queued: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  cancelled: Type.Integer(),
  skipped: Type.Integer(),
});

export const CreatedFleetRun = Type.Object({
  runId: Uuid,
  servers: Type.Array(Type.Object({ id: Uuid, name: Type.String(), wave: Type.Integer(), jobId: Uuid })),
});

export const FleetRunSummary = Type.Object({
  id: Uuid,
  action: Type.String(),
  state: RunState,
  reason: Type.Union([Type.String(), Type.Null()]),
  concurrency: Type.Integer(),
  wave: Type.Integer({ description: 'the current wave, from 1' }),
  waveCount: Type.Integer(),
  counts: Counts,
  requestedBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
  finishedAt: NullableTimestamp,
});
export type FleetRunSummary = Static<typeof FleetRunSummary>;

export const UpdatePlan = Type.Object(
  {
    dryRun: Type.Boolean(),
    changed: Type.Array(Type.Object({ name: Type.String(), from: Type.Union([Type.String(), Type.Null()]), to: Type.String() })),
    held: Type.Array(Type.String()),
    rebooted: Type.Boolean({ description: 'rebooted by reboot: "if-required" and back with a new boot id' }),
  },
  { description: "an update run's server once its update finished: the packages (and versions before and after) it changed, or in a dry run would change; the held packages it left alone; whether it rebooted" },
);
export type UpdatePlan = Static<typeof UpdatePlan>;

export const FleetRunServer = Type.Object({
  serverId: Uuid,
  serverName: Type.String(),
  jobId: Uuid,
  state: ServerState,
  jobState: Type.Union([Type.String(), Type.Null()], { description: 'the record status (pending, running, completed, failed, cancelled) once the job created it' }),
  attempts: Type.Integer(),
  startedAt: NullableTimestamp,
  finishedAt: NullableTimestamp,
  error: Type.Union([Type.String(), Type.Null()]),
  gate: Type.Union([Type.Object({ jobId: Uuid, state: Type.String() }), Type.Null()]),
  waitingFor: Type.Union([Type.String(), Type.Null()], { description: 'a pending server of an update run: the maintenance window it waits for and when that opens' }),
  plan: Type.Union([UpdatePlan, Type.Null()]),
});

export const FleetRunDetail = Type.Composite([
  FleetRunSummary,
  Type.Object({
    selector: Type.Unknown(),
    options: Type.Unknown(),
    rollout: Type.Unknown(),
    ignoreMaintenanceWindows: Type.Boolean({ description: 'started by an admin with ?now=true' }),
    waves: Type.Array(Type.Object({ wave: Type.Integer(), counts: Counts, servers: Type.Array(FleetRunServer) })),
  }),
]);
export type FleetRunDetail = Static<typeof FleetRunDetail>;

export const ListFleetRunsQuery = Type.Object(
  {
    state: Type.Optional(RunState),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    offset: Type.Integer({ minimum: 0, maximum: 100_000, default: 0 }),
  },
  { additionalProperties: false },
);

export const AbortQuery = Type.Object({ cancelRunning: Type.Boolean({ default: false }) }, { additionalProperties: false });

export const FleetSummary = Type.Object({
  servers: Type.Object({ total: Type.Integer(), online: Type.Integer(), offline: Type.Integer(), unknown: Type.Integer({ description: 'never scanned' }) }),
  backups: Type.Object({
    overdue: Type.Integer({ description: "servers past their backup RPO, as the fleet worker's dead-man check last found (every FLEET_SWEEP_INTERVAL_MS)" }),
    overdueServers: Type.Array(
      Type.Object({ id: Uuid, name: Type.String(), overdueSince: Timestamp, lastSuccessfulBackupAt: NullableTimestamp }),
      { description: 'the first 100, longest overdue first' },
    ),
    serversWithSchedule: Type.Integer(),
  }),
  scans: Type.Object(
    {
      fullScanned: Type.Integer({ description: 'servers with a completed full scan; the three counts below are from the newest one' }),
      withUpgradablePackages: Type.Integer({ description: 'servers with pending updates' }),
      withSecurityUpdates: Type.Integer({ description: 'servers with pending security updates (apt: from a *-security suite; dnf/yum: named by a security advisory; apk cannot tell)' }),
      rebootRequired: Type.Integer(),
      withCriticalFindings: Type.Integer(),
    },
  ),
  fleetRuns: Type.Object({ running: Type.Integer(), paused: Type.Integer(), failedLast7Days: Type.Integer() }),
});
export type FleetSummary = Static<typeof FleetSummary>;

/** One row of the dashboard's fleet table (GET /api/fleet/servers): only the columns it shows. */
export const FleetTableRow = Type.Object({
  id: Uuid,
  name: Type.String(),
  host: Type.String(),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Null()], { description: 'the last scan saw it online or offline; null: never scanned' }),
  tags: Type.Array(Type.String()),
  lastBackup: Type.Union([Type.Object({ finishedAt: NullableTimestamp, ageSeconds: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]) }), Type.Null()], {
    description: 'the newest completed backup',
  }),
  lastScan: Type.Union(
    [
      Type.Object({
        finishedAt: NullableTimestamp,
        type: Type.Union([Type.Literal('quick'), Type.Literal('full')]),
        status: Type.Union([Type.Literal('completed'), Type.Literal('failed')]),
      }),
      Type.Null(),
    ],
    { description: 'the newest finished scan' },
  ),
  pendingUpdates: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: "the summary's upgradablePackages.count (GET /api/servers/:id/summary)" }),
});
export type FleetTableRow = Static<typeof FleetTableRow>;
