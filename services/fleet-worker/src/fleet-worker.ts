import { DelayedError, UnrecoverableError, type Job, type Worker } from 'bullmq';
import { createLogger, type Logger } from '@mm/config';
import { createDatabase, migrateDatabase } from '@mm/db';
import {
  FLEET_QUEUE,
  FLEET_RUN_JOB,
  createFleetQueue,
  createNamedWorker,
  createProducer,
  fleetRunJobOptions,
  isFleetRunJobData,
  openQueueBackend,
  prepareQueueBackend,
} from '@mm/jobs';
import { parseAllowedHosts } from '@mm/outbound-http';
import { startHealthServer } from '@mm/worker-runtime';
import type { FleetWorkerEnv } from './env.js';
import { checkBackupDeadlines, refreshScheduleIntervals } from './backup-deadman.js';
import { runStep, type StepDeps } from './run-step.js';
import { startRunWake } from './run-wake.js';

export const FLEET_SWEEP_JOB = 'fleet:sweep';
const SWEEP_SCHEDULER_ID = 'fleet-sweep';

export interface RunningFleetWorker {
  worker: Worker;
  log: Logger;
  /** Where GET /health answers (HEALTH_PORT, or the free port 0 picked). */
  healthPort: number;
  /** Stops taking steps, lets the active ones finish, closes everything. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The fleet runs' orchestrator: one BullMQ job per run (id = run id) that takes a step (run-step.ts) and puts itself
 * back as delayed until the run is over. Nothing lives in memory: a killed process's steps are taken over by another
 * (BullMQ stalled-job recovery) and start from PostgreSQL. A job scheduler's sweep re-adds the job of any open run
 * and runs the backup dead-man check (backup-deadman.ts).
 */
export async function startFleetWorker(env: FleetWorkerEnv, opts: { log?: Logger } = {}): Promise<RunningFleetWorker> {
  const log = opts.log ?? createLogger({ name: 'fleet-worker', level: env.LOG_LEVEL, pretty: env.NODE_ENV === 'development' });
  await migrateDatabase(env.DATABASE_URL);
  if (env.QUEUE_BACKEND === 'postgres') await prepareQueueBackend(env);
  const database = createDatabase(env.DATABASE_URL, { max: env.FLEET_WORKER_CONCURRENCY + 2 });
  const backend = openQueueBackend(env, 'worker');
  // Enqueues fail fast (a step retries later) rather than hanging while holding a run's row lock.
  const producerBackend = openQueueBackend(env, 'producer');
  backend.redis?.on('error', (err) => log.debug({ err }, 'fleet worker Redis connection error'));
  producerBackend.redis?.on('error', (err) => log.debug({ err }, 'fleet producer Redis connection error'));
  const producer = createProducer(producerBackend.queueConfig);
  const fleetQueue = createFleetQueue(producerBackend.queueConfig);
  const wake = startRunWake({ queueConfig: backend.queueConfig, sql: database.sql, fleetQueue, log });
  const deps: StepDeps = {
    sql: database.sql,
    db: database.db,
    producer,
    serverJobs: producerBackend.serverJobs,
    lostAfterS: env.FLEET_LOST_JOB_AFTER_S,
    httpGate: {
      timeoutMs: env.GATE_HTTP_TIMEOUT_MS,
      policy: { allowPrivate: env.GATE_HTTP_ALLOW_PRIVATE, allowedHosts: parseAllowedHosts(env.GATE_HTTP_ALLOWED_HOSTS), subject: 'rollout gate URLs', allowSetting: 'GATE_HTTP_ALLOWED_HOSTS' },
    },
  };

  const sweep = async (): Promise<number> => {
    const open = await database.sql<{ id: string }[]>`select id from fleet_runs where state in ('running', 'paused') or finished_at > now() - interval '1 hour'`;
    // Adding an existing job id is a no-op; a run whose job already finished takes one step and ends again.
    await Promise.all(open.map((r) => fleetQueue.add(FLEET_RUN_JOB, { runId: r.id }, fleetRunJobOptions(r.id))));
    return open.length;
  };

  const step = async (job: Job, token: string | undefined): Promise<unknown> => {
    if (job.name === FLEET_SWEEP_JOB) {
      await refreshScheduleIntervals(database.sql);
      const deadlines = await checkBackupDeadlines(database.sql, log);
      return { runs: await sweep(), ...deadlines };
    }
    if (job.name !== FLEET_RUN_JOB || !isFleetRunJobData(job.data)) throw new UnrecoverableError(`unknown job ${job.name} on ${FLEET_QUEUE}`);
    const { runId } = job.data;
    let delayMs = env.FLEET_STEP_INTERVAL_MS;
    try {
      const result = await runStep(deps, runId);
      if (result.summary && JSON.stringify(result.summary) !== JSON.stringify(job.progress)) await job.updateProgress(result.summary);
      const woken = wake.takeWokenWhileActive(runId);
      if (result.finished) {
        log.info({ runId, state: result.summary?.state }, 'fleet run finished');
        return result.summary;
      }
      // Every pending server waits for a maintenance window: sleep till the first opens, looking again meanwhile (a window edited).
      if (result.waitUntil) delayMs = Math.max(delayMs, Math.min(result.waitUntil.getTime() - Date.now(), env.FLEET_WINDOW_RECHECK_MS));
      // A server's job ended while this step ran (run-wake.ts): its slot is given at once, not after the interval.
      else if (woken) delayMs = 0;
    } catch (err) {
      // PostgreSQL or Redis away: the run waits, its attempts untouched (they count crashes of this code only).
      log.warn({ err, runId }, 'fleet run step failed; trying again');
      delayMs = Math.max(delayMs, 2_000);
    }
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  };

  const worker = createNamedWorker(FLEET_QUEUE, step, {
    ...backend.queueConfig,
    concurrency: env.FLEET_WORKER_CONCURRENCY,
    lockDuration: env.WORKER_LOCK_DURATION_MS,
    stalledInterval: env.WORKER_STALLED_INTERVAL_MS,
    // Steps are idempotent: a run whose worker was killed many times over its life must still be taken over.
    maxStalledCount: 1_000,
  });
  worker.on('error', (err) => log.error({ err }, 'fleet worker error'));
  worker.on('stalled', (jobId) => log.warn({ jobId }, 'fleet run step stalled; taken over'));
  await worker.waitUntilReady();
  await fleetQueue.upsertJobScheduler(SWEEP_SCHEDULER_ID, { every: env.FLEET_SWEEP_INTERVAL_MS }, { name: FLEET_SWEEP_JOB, data: { runId: '' } });
  await sweep();
  const health = await startHealthServer({
    host: env.HEALTH_HOST,
    port: env.HEALTH_PORT,
    checks: { [backend.kind === 'redis' ? 'redis' : 'queues']: () => backend.ping(), database: () => database.sql`select 1` },
  });
  log.info({ concurrency: env.FLEET_WORKER_CONCURRENCY, healthPort: health.port }, 'fleet worker ready');

  let closing: Promise<void> | undefined;
  return {
    worker,
    log,
    healthPort: health.port,
    close() {
      closing ??= (async () => {
        await health.close();
        await wake.close();
        await worker.close().catch((err: unknown) => log.warn({ err }, 'fleet worker close failed'));
        await Promise.allSettled([producer.close(), fleetQueue.close()]);
        await Promise.allSettled([producerBackend.close(), backend.close()]);
        await database.close();
      })();
      return closing;
    },
  };
}
