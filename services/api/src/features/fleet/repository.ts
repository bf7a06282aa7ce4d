import { and, asc, desc, eq, inArray, or, sql } from 'drizzle-orm';
import { backups, fleetRuns, fleetRunServers, scans, servers, updates, type Db, type FleetAction, type FleetRunState } from '@mm/db';
import { selectorWhere, type Labels, type Selector } from '../../shared/server-selector.js';
import type { FleetRunDetail, FleetRunSummary, SelectedServer, UpdatePlan } from './schemas.js';

const selectedColumns = {
  id: servers.id,
  name: servers.name,
  host: servers.host,
  port: servers.port,
  tags: servers.tags,
  labels: servers.labels,
  os: servers.os,
  osVersion: servers.osVersion,
  lastSeenStatus: servers.lastSeenStatus,
  lastSeenAt: servers.lastSeenAt,
};

/** One page of the servers a selector matches, by name, with the total count (one query). */
export async function selectServers(db: Db, selector: Selector, page: { limit: number; offset: number }): Promise<{ rows: SelectedServer[]; total: number }> {
  const rows = await db
    .select({ ...selectedColumns, total: sql<number>`count(*) over ()`.mapWith(Number) })
    .from(servers)
    .where(selectorWhere(selector))
    .orderBy(asc(servers.name), asc(servers.id))
    .limit(page.limit)
    .offset(page.offset);
  const total = rows[0]?.total ?? (page.offset > 0 ? await countServers(db, selector) : 0);
  return { rows: rows.map(({ total: _t, lastSeenAt, ...r }) => ({ ...r, lastSeenAt: lastSeenAt?.toISOString() ?? null })), total };
}

async function countServers(db: Db, selector: Selector): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(servers).where(selectorWhere(selector));
  return row?.n ?? 0;
}

/** Every match (up to `max` + 1, so the caller can tell "too many"), by name: a fleet run's fixed server list. */
export async function resolveSelector(db: Db, selector: Selector, max: number): Promise<{ id: string; name: string }[]> {
  return db
    .select({ id: servers.id, name: servers.name })
    .from(servers)
    .where(selectorWhere(selector))
    .orderBy(asc(servers.name), asc(servers.id))
    .limit(max + 1);
}

export async function setLabels(db: Pick<Db, 'update'>, serverId: string, labels: Labels): Promise<SelectedServer | null> {
  const [row] = await db.update(servers).set({ labels, updatedAt: new Date() }).where(eq(servers.id, serverId)).returning(selectedColumns);
  return row ? { ...row, lastSeenAt: row.lastSeenAt?.toISOString() ?? null } : null;
}

export interface NewFleetRun {
  id: string;
  action: FleetAction;
  options: Record<string, unknown>;
  selector: Selector;
  concurrency: number;
  rollout: Record<string, unknown> | null;
  waveCount: number;
  ignoreWindows: boolean;
  requestedBy: string | null;
  servers: { id: string; name: string; wave: number; jobId: string }[];
}

const INSERT_CHUNK = 2_000;

/** The run and its server list in one transaction: a run is either stored whole or not at all. */
export async function insertRun(db: Db, run: NewFleetRun): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(fleetRuns).values({
      id: run.id,
      action: run.action,
      options: run.options,
      selector: run.selector,
      concurrency: run.concurrency,
      rollout: run.rollout,
      waveCount: run.waveCount,
      ignoreWindows: run.ignoreWindows,
      requestedBy: run.requestedBy,
    });
    for (let i = 0; i < run.servers.length; i += INSERT_CHUNK) {
      await tx.insert(fleetRunServers).values(
        run.servers.slice(i, i + INSERT_CHUNK).map((s, j) => ({ runId: run.id, position: i + j, serverId: s.id, serverName: s.name, wave: s.wave, jobId: s.jobId })),
      );
    }
  });
}

export async function deleteRun(db: Db, runId: string): Promise<void> {
  await db.delete(fleetRuns).where(eq(fleetRuns.id, runId));
}

const countsSql = sql<FleetRunSummary['counts']>`(
  select json_build_object(
    'pending', count(*) filter (where f.state = 'pending'), 'queued', count(*) filter (where f.state = 'queued'),
    'completed', count(*) filter (where f.state = 'completed'), 'failed', count(*) filter (where f.state = 'failed'),
    'cancelled', count(*) filter (where f.state = 'cancelled'), 'skipped', count(*) filter (where f.state = 'skipped'))
  from ${fleetRunServers} f where f.run_id = ${fleetRuns.id})`;

const summaryColumns = {
  id: fleetRuns.id,
  action: fleetRuns.action,
  state: fleetRuns.state,
  reason: fleetRuns.reason,
  concurrency: fleetRuns.concurrency,
  currentWave: fleetRuns.currentWave,
  waveCount: fleetRuns.waveCount,
  counts: countsSql,
  requestedBy: fleetRuns.requestedBy,
  createdAt: fleetRuns.createdAt,
  finishedAt: fleetRuns.finishedAt,
};

type SummaryRow = { [K in keyof typeof summaryColumns]: K extends 'counts' ? FleetRunSummary['counts'] : (typeof fleetRuns.$inferSelect)[K & keyof typeof fleetRuns.$inferSelect] };

const summaryOf = (r: SummaryRow): FleetRunSummary => ({
  id: r.id,
  action: r.action,
  state: r.state,
  reason: r.reason,
  concurrency: r.concurrency,
  wave: r.currentWave + 1,
  waveCount: r.waveCount,
  counts: r.counts,
  requestedBy: r.requestedBy,
  createdAt: r.createdAt.toISOString(),
  finishedAt: r.finishedAt?.toISOString() ?? null,
});

export async function listRuns(db: Db, q: { state?: FleetRunState; limit: number; offset: number }): Promise<{ rows: FleetRunSummary[]; total: number }> {
  const where = q.state ? eq(fleetRuns.state, q.state) : undefined;
  const [rows, [count]] = await Promise.all([
    db.select(summaryColumns).from(fleetRuns).where(where).orderBy(desc(fleetRuns.createdAt), desc(fleetRuns.id)).limit(q.limit).offset(q.offset),
    db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(fleetRuns).where(where),
  ]);
  return { rows: (rows as SummaryRow[]).map(summaryOf), total: count?.n ?? 0 };
}

export async function findRunSummary(db: Db, runId: string): Promise<FleetRunSummary | null> {
  const [row] = await db.select(summaryColumns).from(fleetRuns).where(eq(fleetRuns.id, runId));
  return row ? summaryOf(row as SummaryRow) : null;
}

const recordTables = { backup: backups, scan: scans, update: updates } as const;

/** The run with every server: its line, and what its job's record says (status, attempts, times, error). */
export async function findRun(db: Db, runId: string): Promise<FleetRunDetail | null> {
  const [run] = await db
    .select({ ...summaryColumns, selector: fleetRuns.selector, options: fleetRuns.options, rollout: fleetRuns.rollout, ignoreWindows: fleetRuns.ignoreWindows })
    .from(fleetRuns)
    .where(eq(fleetRuns.id, runId));
  if (!run) return null;
  const r = recordTables[run.action as FleetAction];
  const gate = sql`(select ${scans.status} from ${scans} where ${scans.id} = ${fleetRunServers.gateJobId})`;
  const rows = await db
    .select({
      wave: fleetRunServers.wave,
      serverId: fleetRunServers.serverId,
      serverName: fleetRunServers.serverName,
      jobId: fleetRunServers.jobId,
      state: fleetRunServers.state,
      jobState: r.status,
      attempts: r.attempts,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      error: sql<string | null>`coalesce(${fleetRunServers.error}, ${r.error})`,
      gateJobId: fleetRunServers.gateJobId,
      gateState: fleetRunServers.gateState,
      gateRecord: sql<string | null>`${gate}`,
      waitingFor: fleetRunServers.waitingFor,
      // An update's plan, from its record's result once done: what changed (or, in a dry run, would), what its holds kept, whether it rebooted.
      plan: run.action === 'update' ? sql<UpdatePlan | null>`case when ${r.result} is null then null else jsonb_build_object('changed', coalesce(${r.result}->'changed', '[]'::jsonb), 'held', coalesce(${r.result}->'held', '[]'::jsonb), 'dryRun', ${r.result}->'dryRun', 'rebooted', coalesce(${r.result}->'rebooted', 'false'::jsonb)) end` : sql<null>`null`,
    })
    .from(fleetRunServers)
    .leftJoin(r, eq(r.id, fleetRunServers.jobId))
    .where(eq(fleetRunServers.runId, runId))
    .orderBy(asc(fleetRunServers.position));
  const waves = new Map<number, FleetRunDetail['waves'][number]>();
  for (const row of rows) {
    let wave = waves.get(row.wave);
    if (!wave) {
      wave = { wave: row.wave + 1, counts: { pending: 0, queued: 0, completed: 0, failed: 0, cancelled: 0, skipped: 0 }, servers: [] };
      waves.set(row.wave, wave);
    }
    wave.counts[row.state] += 1;
    wave.servers.push({
      serverId: row.serverId,
      serverName: row.serverName,
      jobId: row.jobId,
      state: row.state,
      jobState: row.jobState ?? null,
      attempts: row.attempts ?? 0,
      startedAt: row.startedAt?.toISOString() ?? null,
      finishedAt: row.finishedAt?.toISOString() ?? null,
      error: row.error,
      gate: row.gateJobId ? { jobId: row.gateJobId, state: row.gateState ?? row.gateRecord ?? 'queued' } : null,
      waitingFor: row.state === 'pending' ? row.waitingFor : null,
      plan: row.plan ?? null,
    });
  }
  const { selector, options, rollout, ignoreWindows, ...summary } = run;
  return { ...summaryOf(summary as SummaryRow), selector, options, rollout, ignoreMaintenanceWindows: ignoreWindows, waves: [...waves.values()] };
}

/** Moves a run from one of `from` to `to`; null when it was in none of them (the caller answers 409 or 404). */
export async function transitionRun(db: Db, runId: string, from: FleetRunState[], to: FleetRunState, reason?: string): Promise<boolean> {
  const done = to === 'aborted';
  const rows = await db
    .update(fleetRuns)
    .set({ state: to, updatedAt: new Date(), ...(reason ? { reason } : {}), ...(done ? { finishedAt: new Date() } : {}) })
    .where(and(eq(fleetRuns.id, runId), inArray(fleetRuns.state, from)))
    .returning({ id: fleetRuns.id });
  return rows.length > 0;
}

/**
 * Aborts a running or paused run in one transaction (its row lock orders it with the orchestrator's steps): servers
 * not started are skipped, and the ids of jobs still in flight come back for the caller to cancel.
 */
export async function abortRun(db: Db, runId: string, reason: string): Promise<{ aborted: boolean; inFlight: { jobId: string; serverId: string; gate: boolean }[] }> {
  return db.transaction(async (tx) => {
    const [run] = await tx.select({ state: fleetRuns.state }).from(fleetRuns).where(eq(fleetRuns.id, runId)).for('update');
    if (!run || (run.state !== 'running' && run.state !== 'paused')) return { aborted: false, inFlight: [] };
    const now = new Date();
    await tx.update(fleetRuns).set({ state: 'aborted', reason, finishedAt: now, updatedAt: now }).where(eq(fleetRuns.id, runId));
    await tx
      .update(fleetRunServers)
      .set({ state: 'skipped', updatedAt: now })
      .where(and(eq(fleetRunServers.runId, runId), eq(fleetRunServers.state, 'pending')));
    const open = await tx
      .select({ jobId: fleetRunServers.jobId, gateJobId: fleetRunServers.gateJobId, state: fleetRunServers.state, gateState: fleetRunServers.gateState, serverId: fleetRunServers.serverId })
      .from(fleetRunServers)
      .where(and(eq(fleetRunServers.runId, runId), or(eq(fleetRunServers.state, 'queued'), eq(fleetRunServers.gateState, 'queued'))));
    const inFlight = open.flatMap((o) => [
      ...(o.state === 'queued' ? [{ jobId: o.jobId, serverId: o.serverId, gate: false }] : []),
      ...(o.gateState === 'queued' && o.gateJobId ? [{ jobId: o.gateJobId, serverId: o.serverId, gate: true }] : []),
    ]);
    return { aborted: true, inFlight };
  });
}
