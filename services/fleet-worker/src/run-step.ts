import { randomUUID } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { Queue } from 'bullmq';
import { serverWindowsAt, waitingMessage, type Db, type FleetAction, type FleetRunState, type ServerWindows } from '@mm/db';
import { catalog, type Producer, type QueueAlias, type ServerJobIndex } from '@mm/jobs';
import { guardedGet, type PublicUrlPolicy } from '@mm/outbound-http';
import { enqueueServerJob, jobNameOf, recordTableOf, type FleetRunOptions } from './server-jobs.js';

/** fleet_runs.rollout as the API stored it (defaults applied). */
export interface StoredRollout {
  waves: (number | string)[];
  maxFailPercentage: number;
  gate?: { scan?: 'quick' | 'full'; command?: string; httpUrl?: string };
  pauseBetweenWavesS?: number;
}

interface RunRow {
  id: string;
  action: FleetAction;
  options: FleetRunOptions;
  rollout: StoredRollout | null;
  state: FleetRunState;
  current_wave: number;
  wave_count: number;
  next_wave_at: Date | null;
  requested_by: string | null;
  concurrency: number;
  ignore_windows: boolean;
}

export interface RunSummary {
  runId: string;
  state: FleetRunState;
  reason: string | null;
  wave: number;
  waveCount: number;
  counts: Record<'pending' | 'queued' | 'completed' | 'failed' | 'cancelled' | 'skipped', number>;
}

export interface StepDeps {
  sql: Sql;
  /** The same pool through drizzle, for the maintenance windows' selectors (read before the step's transaction). */
  db: Db;
  producer: Producer;
  serverJobs: ServerJobIndex;
  /** A queued job with neither a BullMQ job nor a record for this long counts as lost and is added again. */
  lostAfterS: number;
  /** rollout.gate.httpUrl: the SSRF policy and time limit of its GET. */
  httpGate: { policy: PublicUrlPolicy; timeoutMs: number };
}

/** The outcome of a wave's HTTP gate, fetched before the step's transaction (never while holding the run's lock). */
interface HttpGateVerdict {
  wave: number;
  ok: boolean;
  error: string | null;
}

export interface StepResult {
  /** Nothing left to do: the run ended and none of its jobs is in flight. */
  finished: boolean;
  summary: RunSummary | null;
  /** Nothing in flight and every pending server of the wave waits for a maintenance window: when the first opens. */
  waitUntil: Date | null;
}

/** The maintenance windows of the current wave's pending servers of an update run, read before the step's lock. */
interface WaveWindows {
  wave: number;
  checked: Set<string>;
  states: Map<string, ServerWindows>;
}

const TERMINAL: readonly FleetRunState[] = ['completed', 'failed', 'aborted'];

/**
 * One step of a fleet run, run by its orchestrator job until the run is over. It is idempotent and holds the run's row
 * lock, so a step repeated after a crash (or a stalled job taken over) sees what the last committed step left:
 * 1. outcomes: queued servers whose record ended take its status (and gate scans theirs);
 * 2. a stop: failures of the current wave above maxFailPercentage, or a failed gate, fail the run and skip the rest;
 * 3. progress: while running, enqueue pending servers of the current wave (never more than `concurrency` in flight,
 *    counted as queued rows, which stay queued until their record ends), then its gate scans (with the gate command),
 *    then its HTTP gate (fetched before the lock, checkHttpGate), then open the next wave.
 * A server is marked queued and its job added in the same transaction: a crash before the commit leaves it pending and
 * the next step adds the same job id again, which BullMQ ignores.
 */
export async function runStep(deps: StepDeps, runId: string): Promise<StepResult> {
  const windows = await readWaveWindows(deps, runId);
  const httpGate = await checkHttpGate(deps, runId);
  return deps.sql.begin(async (tx) => {
    const [run] = await tx<RunRow[]>`
      select id, action, options, rollout, state, current_wave, wave_count, next_wave_at, requested_by, concurrency, ignore_windows
      from fleet_runs where id = ${runId} for update`;
    if (!run) return { finished: true, summary: null, waitUntil: null };
    await takeOutcomes(tx, run);
    await addLostJobs(tx, deps, run);
    let waves = await countWaves(tx, runId);
    let waitUntil: Date | null = null;
    if (run.state === 'running' || run.state === 'paused') {
      const decided = await decide(tx, deps, run, waves, windows, httpGate);
      waitUntil = decided.waitUntil;
      if (decided.changed) waves = await countWaves(tx, runId);
    }
    const [after] = await tx<{ state: FleetRunState; reason: string | null; current_wave: number }[]>`
      select state, reason, current_wave from fleet_runs where id = ${runId}`;
    const summary = summarize(runId, after ?? run, run.wave_count, waves);
    const inFlight = waves.reduce((n, w) => n + w.queued + w.gateQueued, 0);
    return { finished: TERMINAL.includes(summary.state) && inFlight === 0, summary, waitUntil: inFlight === 0 ? waitUntil : null };
  });
}

/**
 * Maintenance windows gate the servers of update runs (issue #15): read here, outside the step's transaction (the
 * selectors are drizzle SQL on the same pool), for the pending servers of the current wave. A server the step finds
 * pending but that was not checked here (the wave moved on meanwhile) waits for the next step.
 */
async function readWaveWindows(deps: StepDeps, runId: string): Promise<WaveWindows | null> {
  const [run] = await deps.sql<{ action: FleetAction; ignore_windows: boolean; current_wave: number; state: FleetRunState }[]>`
    select action, ignore_windows, current_wave, state from fleet_runs where id = ${runId}`;
  if (!run || run.action !== 'update' || run.ignore_windows || run.state !== 'running') return null;
  const pending = await deps.sql<{ server_id: string }[]>`
    select server_id from fleet_run_servers where run_id = ${runId} and wave = ${run.current_wave} and state = 'pending'`;
  const ids = pending.map((p) => p.server_id);
  return { wave: run.current_wave, checked: new Set(ids), states: await serverWindowsAt(deps.db, ids) };
}

/** The per-server gate: a scan (quick unless `scan: "full"`), which with `command` also runs it; null without one. */
function perServerGate(rollout: StoredRollout | null): 'quick' | 'full' | null {
  const gate = rollout?.gate;
  if (!gate) return null;
  return gate.scan ?? (gate.command !== undefined ? 'quick' : null);
}

/**
 * A rollout's HTTP gate (issue #15): once every server of the current wave finished and passed its per-server gate, one
 * GET of `gate.httpUrl` from this worker, under the webhooks' SSRF guard, before the step's transaction. A 2xx passes;
 * the decision is taken under the lock with this verdict. A crash before it is used just means another GET next step.
 */
async function checkHttpGate(deps: StepDeps, runId: string): Promise<HttpGateVerdict | null> {
  const [run] = await deps.sql<{ rollout: StoredRollout | null; current_wave: number; state: FleetRunState }[]>`
    select rollout, current_wave, state from fleet_runs where id = ${runId}`;
  const url = run?.rollout?.gate?.httpUrl;
  if (!run || !url || run.state !== 'running') return null;
  const [wave] = await deps.sql<{ open: number; ungated: number; gate_failed: number }[]>`
    select count(*) filter (where state in ('pending', 'queued') or gate_state = 'queued')::int as open,
      count(*) filter (where state = 'completed' and gate_state is null)::int as ungated,
      count(*) filter (where gate_state = 'failed')::int as gate_failed
    from fleet_run_servers where run_id = ${runId} and wave = ${run.current_wave}`;
  if (!wave || wave.open > 0 || wave.gate_failed > 0 || (perServerGate(run.rollout) && wave.ungated > 0)) return null;
  const res = await guardedGet(url, { policy: deps.httpGate.policy, timeoutMs: deps.httpGate.timeoutMs, userAgent: 'medicine-man-fleet-gate/1' });
  return { wave: run.current_wave, ok: res.ok, error: res.error };
}

/** The URL as a reason may show it: no query or fragment (they may carry a token). */
function shownUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

async function takeOutcomes(tx: TransactionSql, run: RunRow): Promise<void> {
  const table = recordTableOf[run.action];
  await tx`
    update fleet_run_servers f
    set state = case r.status when 'completed' then 'completed' when 'failed' then 'failed' else 'cancelled' end,
        error = r.error, updated_at = now()
    from ${tx(table)} r
    where f.run_id = ${run.id} and f.state = 'queued' and r.id = f.job_id and r.status in ('completed', 'failed', 'cancelled')`;
  // A gate passes when its scan completed and did not find the server offline.
  await tx`
    update fleet_run_servers f
    set gate_state = case when r.status = 'completed' and r.online is not false then 'passed' else 'failed' end,
        error = case when r.status = 'completed' and r.online is not false then f.error
                     else coalesce('gate: ' || r.error, 'gate: the scan found the server offline') end,
        updated_at = now()
    from scans r
    where f.run_id = ${run.id} and f.gate_state = 'queued' and r.id = f.gate_job_id and r.status in ('completed', 'failed', 'cancelled')`;
}

/** A safety net: a queued job removed from BullMQ without leaving a record (not by this product's cancel path, which writes one). */
async function addLostJobs(tx: TransactionSql, deps: StepDeps, run: RunRow): Promise<void> {
  const table = recordTableOf[run.action];
  const suspects = await tx<{ server_id: string; job_id: string; gate: boolean }[]>`
    select server_id, job_id, false as gate from fleet_run_servers f
    where f.run_id = ${run.id} and f.state = 'queued' and f.updated_at < now() - make_interval(secs => ${deps.lostAfterS})
      and not exists (select 1 from ${tx(table)} r where r.id = f.job_id)
    union all
    select server_id, gate_job_id, true from fleet_run_servers f
    where f.run_id = ${run.id} and f.gate_state = 'queued' and f.updated_at < now() - make_interval(secs => ${deps.lostAfterS})
      and not exists (select 1 from scans r where r.id = f.gate_job_id)`;
  for (const s of suspects) {
    const name = s.gate ? gateJobName(run) : jobNameOf(run.action, run.options);
    const queue: Queue = deps.producer.queue(catalog[name].queue as QueueAlias);
    if (await queue.getJob(s.job_id)) continue;
    if (run.state === 'aborted') {
      await tx`update fleet_run_servers set ${s.gate ? tx`gate_state = 'failed'` : tx`state = 'skipped'`}, error = 'run aborted', updated_at = now()
        where run_id = ${run.id} and ${s.gate ? tx`gate_job_id` : tx`job_id`} = ${s.job_id}`;
      continue;
    }
    await enqueueServerJob(deps, name, { serverId: s.server_id, jobId: s.job_id }, s.gate ? {} : run.options, run.requested_by, run.ignore_windows, gateOfRunOf(run, s.gate));
  }
}

interface WaveCounts {
  wave: number;
  size: number;
  pending: number;
  queued: number;
  completed: number;
  failed: number;
  cancelled: number;
  skipped: number;
  gateQueued: number;
  gatePassed: number;
  gateFailed: number;
}

async function countWaves(tx: TransactionSql, runId: string): Promise<WaveCounts[]> {
  return tx<WaveCounts[]>`
    select wave, count(*)::int as size,
      count(*) filter (where state = 'pending')::int as pending,
      count(*) filter (where state = 'queued')::int as queued,
      count(*) filter (where state = 'completed')::int as completed,
      count(*) filter (where state = 'failed')::int as failed,
      count(*) filter (where state = 'cancelled')::int as cancelled,
      count(*) filter (where state = 'skipped')::int as skipped,
      count(*) filter (where gate_state = 'queued')::int as "gateQueued",
      count(*) filter (where gate_state = 'passed')::int as "gatePassed",
      count(*) filter (where gate_state = 'failed')::int as "gateFailed"
    from fleet_run_servers where run_id = ${runId} group by wave order by wave`;
}

function gateJobName(run: RunRow) {
  return perServerGate(run.rollout) === 'full' ? ('scan:full' as const) : ('scan:quick' as const);
}

/** A gate scan of a run with a gate command carries the run's id, so the scan worker reads and runs the command. */
function gateOfRunOf(run: RunRow, gate: boolean): string | undefined {
  return gate && run.rollout?.gate?.command !== undefined ? run.id : undefined;
}

function gateName(run: RunRow): string {
  return run.rollout?.gate?.command !== undefined ? `${gateJobName(run)} and its command` : gateJobName(run);
}

interface Decision {
  changed: boolean;
  waitUntil: Date | null;
}
const unchanged: Decision = { changed: false, waitUntil: null };
const changed: Decision = { changed: true, waitUntil: null };

async function decide(tx: TransactionSql, deps: StepDeps, run: RunRow, waves: WaveCounts[], windows: WaveWindows | null, httpGate: HttpGateVerdict | null): Promise<Decision> {
  const current = waves.find((w) => w.wave === run.current_wave);
  if (!current) return unchanged;
  const waveNo = run.current_wave + 1;
  // Without a rollout, one wave that carries on whatever fails; with one, maxFailPercentage (default 0) per wave.
  const maxFail = run.rollout ? run.rollout.maxFailPercentage : 100;
  const failed = current.failed + current.cancelled;
  if (failed * 100 > maxFail * current.size) {
    const pct = Math.round((failed * 1000) / current.size) / 10;
    await stop(tx, run.id, `wave ${waveNo}: ${failed} of ${current.size} servers failed (${pct} %), above maxFailPercentage ${maxFail}`);
    return changed;
  }
  if (current.gateFailed > 0) {
    await stop(tx, run.id, `wave ${waveNo}: the gate (${gateName(run)}) failed on ${current.gateFailed} of ${current.completed} servers`);
    return changed;
  }
  if (run.state !== 'running') return unchanged;

  const inFlight = waves.reduce((n, w) => n + w.queued + w.gateQueued, 0);
  const capacity = run.concurrency - inFlight;
  if (current.pending > 0) {
    if (capacity <= 0 || (run.next_wave_at && run.next_wave_at.getTime() > Date.now())) return unchanged;
    const gated = run.action === 'update' && !run.ignore_windows;
    let next: { server_id: string; job_id: string }[];
    let waitUntil: Date | null = null;
    if (gated) {
      ({ next, waitUntil } = await startInsideWindows(tx, run, capacity, windows));
    } else {
      next = await tx<{ server_id: string; job_id: string }[]>`
        update fleet_run_servers set state = 'queued', updated_at = now()
        where (run_id, position) in (
          select run_id, position from fleet_run_servers
          where run_id = ${run.id} and wave = ${run.current_wave} and state = 'pending' order by position limit ${capacity})
        returning server_id, job_id`;
    }
    const name = jobNameOf(run.action, run.options);
    for (const row of next) await enqueueServerJob(deps, name, { serverId: row.server_id, jobId: row.job_id }, run.options, run.requested_by, run.ignore_windows);
    return { changed: next.length > 0, waitUntil: next.length > 0 ? null : waitUntil };
  }
  if (current.queued > 0) return unchanged;

  const gate = perServerGate(run.rollout);
  const ungated = current.completed - current.gateQueued - current.gatePassed - current.gateFailed;
  if (gate && ungated > 0) {
    let added = 0;
    // One row per statement: each gate job needs an id of its own.
    for (; added < capacity; added++) {
      const [row] = await tx<{ server_id: string; gate_job_id: string }[]>`
        update fleet_run_servers f set gate_state = 'queued', gate_job_id = ${randomUUID()}::uuid, updated_at = now()
        where (run_id, position) in (
          select run_id, position from fleet_run_servers
          where run_id = ${run.id} and wave = ${run.current_wave} and state = 'completed' and gate_state is null order by position limit 1)
        returning server_id, gate_job_id`;
      if (!row) break;
      await enqueueServerJob(deps, gateJobName(run), { serverId: row.server_id, jobId: row.gate_job_id }, {}, run.requested_by, false, gateOfRunOf(run, true));
    }
    return added > 0 ? changed : unchanged;
  }
  if (current.gateQueued > 0) return unchanged;

  const httpUrl = run.rollout?.gate?.httpUrl;
  if (httpUrl !== undefined) {
    // Not fetched for this wave yet (the step before the lock saw it unfinished): the next step fetches it.
    if (!httpGate || httpGate.wave !== run.current_wave) return unchanged;
    if (!httpGate.ok) {
      await stop(tx, run.id, `wave ${waveNo}: the HTTP gate failed: GET ${shownUrl(httpUrl)}: ${httpGate.error ?? 'no answer'}`);
      return changed;
    }
  }

  if (run.current_wave + 1 >= run.wave_count) {
    await tx`update fleet_runs set state = 'completed', finished_at = now(), updated_at = now() where id = ${run.id}`;
    return changed;
  }
  const pauseS = run.rollout?.pauseBetweenWavesS ?? 0;
  await tx`
    update fleet_runs set current_wave = current_wave + 1, updated_at = now(),
      next_wave_at = ${pauseS > 0 ? tx`now() + make_interval(secs => ${pauseS})` : null}
    where id = ${run.id}`;
  return changed;
}

/**
 * The pending servers of the wave whose maintenance windows are open (or that no window selects), in order, up to
 * `capacity`, marked queued; the others keep waiting, with the window they wait for in `waiting_for`.
 */
async function startInsideWindows(
  tx: TransactionSql,
  run: RunRow,
  capacity: number,
  windows: WaveWindows | null,
): Promise<{ next: { server_id: string; job_id: string }[]; waitUntil: Date | null }> {
  const pending = await tx<{ server_id: string; position: number; waiting_for: string | null }[]>`
    select server_id, position, waiting_for from fleet_run_servers
    where run_id = ${run.id} and wave = ${run.current_wave} and state = 'pending' order by position`;
  const start: number[] = [];
  const waiting = new Map<string, number[]>();
  let waitUntil: Date | null = null;
  for (const p of pending) {
    if (!windows || windows.wave !== run.current_wave || !windows.checked.has(p.server_id)) continue;
    const state = windows.states.get(p.server_id);
    if (!state || state.open) {
      if (start.length < capacity) start.push(p.position);
      continue;
    }
    const message = waitingMessage(state);
    if (state.nextOpenAt && (!waitUntil || state.nextOpenAt < waitUntil)) waitUntil = state.nextOpenAt;
    if (p.waiting_for !== message) waiting.set(message, [...(waiting.get(message) ?? []), p.position]);
  }
  for (const [message, positions] of waiting) {
    await tx`update fleet_run_servers set waiting_for = ${message}, updated_at = now() where run_id = ${run.id} and position = any(${positions}::int[])`;
  }
  if (start.length === 0) return { next: [], waitUntil };
  const next = await tx<{ server_id: string; job_id: string }[]>`
    update fleet_run_servers set state = 'queued', waiting_for = null, updated_at = now()
    where run_id = ${run.id} and position = any(${start}::int[]) and state = 'pending'
    returning server_id, job_id`;
  return { next, waitUntil };
}

/** The run fails with its reason; no server that has not started will be touched. */
async function stop(tx: TransactionSql, runId: string, reason: string): Promise<void> {
  await tx`update fleet_runs set state = 'failed', reason = ${reason}, finished_at = now(), updated_at = now() where id = ${runId}`;
  await tx`update fleet_run_servers set state = 'skipped', updated_at = now() where run_id = ${runId} and state = 'pending'`;
}

function summarize(runId: string, run: { state: FleetRunState; reason?: string | null; current_wave: number }, waveCount: number, waves: WaveCounts[]): RunSummary {
  const counts = { pending: 0, queued: 0, completed: 0, failed: 0, cancelled: 0, skipped: 0 };
  for (const w of waves) {
    for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += w[k];
  }
  return { runId, state: run.state, reason: run.reason ?? null, wave: run.current_wave + 1, waveCount, counts };
}
