import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.js';

export const fleetActions = ['backup', 'scan', 'update'] as const;
export type FleetAction = (typeof fleetActions)[number];
export const fleetRunStates = ['running', 'paused', 'completed', 'failed', 'aborted'] as const;
export type FleetRunState = (typeof fleetRunStates)[number];
/** pending: not enqueued yet; queued: its job exists (waiting, active or retrying); then how its record ended, or skipped. */
export const fleetServerStates = ['pending', 'queued', 'completed', 'failed', 'cancelled', 'skipped'] as const;
export type FleetServerState = (typeof fleetServerStates)[number];
export const fleetGateStates = ['queued', 'passed', 'failed'] as const;
export type FleetGateState = (typeof fleetGateStates)[number];

/** One fleet run: an action over a server list resolved once, in waves; the fleet worker's orchestrator job moves it on. */
export const fleetRuns = pgTable(
  'fleet_runs',
  {
    id: uuid('id').primaryKey(),
    action: text('action', { enum: fleetActions }).notNull(),
    options: jsonb('options').notNull().default({}),
    selector: jsonb('selector').notNull(),
    concurrency: integer('concurrency').notNull(),
    /** `{ waves, maxFailPercentage, gate?, pauseBetweenWavesS? }` as accepted; null: one wave, no stop on failures. */
    rollout: jsonb('rollout'),
    state: text('state', { enum: fleetRunStates }).notNull().default('running'),
    /** Why the run stopped (failed or aborted). */
    reason: text('reason'),
    currentWave: integer('current_wave').notNull().default(0),
    waveCount: integer('wave_count').notNull(),
    /** When the current wave may start (pauseBetweenWavesS); null: at once. */
    nextWaveAt: timestamp('next_wave_at', { withTimezone: true }),
    /** Started by an admin with `?now=true`: its updates do not wait for maintenance windows. */
    ignoreWindows: boolean('ignore_windows').notNull().default(false),
    requestedBy: uuid('requested_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('fleet_runs_created_idx').on(t.createdAt.desc(), t.id.desc()),
    index('fleet_runs_state_idx').on(t.state),
    check('fleet_runs_action_check', sql`${t.action} in ('backup', 'scan', 'update')`),
    check('fleet_runs_state_check', sql`${t.state} in ('running', 'paused', 'completed', 'failed', 'aborted')`),
  ],
);

/** One server of a run: its wave, the id its job (and record) gets, and where it stands. */
export const fleetRunServers = pgTable(
  'fleet_run_servers',
  {
    runId: uuid('run_id')
      .notNull()
      .references(() => fleetRuns.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    // No foreign key: a server deleted during the run keeps its line (its job fails with "no longer exists").
    serverId: uuid('server_id').notNull(),
    serverName: text('server_name').notNull(),
    wave: integer('wave').notNull(),
    /** Chosen when the run is created: the BullMQ job id and the record id, so a repeated enqueue is the same job. */
    jobId: uuid('job_id').notNull(),
    state: text('state', { enum: fleetServerStates }).notNull().default('pending'),
    /** The gate's scan job (rollout.gate.scan), with the same id rule as jobId. */
    gateJobId: uuid('gate_job_id'),
    gateState: text('gate_state', { enum: fleetGateStates }),
    error: text('error'),
    /** Why a pending server has not started yet: the maintenance window it waits for and when that opens. */
    waitingFor: text('waiting_for'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.position] }),
    uniqueIndex('fleet_run_servers_run_server_idx').on(t.runId, t.serverId),
    uniqueIndex('fleet_run_servers_job_idx').on(t.jobId),
    index('fleet_run_servers_open_idx')
      .on(t.runId, t.wave)
      .where(sql`${t.state} in ('pending', 'queued') or ${t.gateState} = 'queued'`),
    check('fleet_run_servers_state_check', sql`${t.state} in ('pending', 'queued', 'completed', 'failed', 'cancelled', 'skipped')`),
    check('fleet_run_servers_gate_state_check', sql`${t.gateState} in ('queued', 'passed', 'failed')`),
  ],
);

export type FleetRun = typeof fleetRuns.$inferSelect;
export type FleetRunServer = typeof fleetRunServers.$inferSelect;
