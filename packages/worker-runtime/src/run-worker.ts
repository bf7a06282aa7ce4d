import { setTimeout as delay } from 'node:timers/promises';
import { DelayedError, UnrecoverableError, type Job, type Processor, type Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { createLogger, type Logger } from '@mm/config';
import { checkPostgres, createDatabase, migrateDatabase, type Database } from '@mm/db';
import {
  catalog,
  checkRedis,
  createProcessor,
  createQueueEventsProducer,
  createRedisConnection,
  createWorker,
  isJobName,
  ServerJobIndex,
  type Handlers,
  type QueueAlias,
} from '@mm/jobs';
import { SshPool, type SshPoolOptions } from '@mm/ssh';
import { startCancelListener, type CancelListener } from './cancel-listener.js';
import { classifyError } from './error-classification.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import { createJobContext, type JobContext, type JobRuntime } from './job-context.js';
import { parseJobTimeouts, startJobTimer, timeoutMessage, timeoutOf } from './job-timeout.js';
import { ServerLeases, type HeldLease } from './server-lease.js';
import { createJobJournal, type JobJournal } from './job-journal.js';
import { JobLogEvents } from './job-log-events.js';
import { JobLogWriter } from './job-log-writer.js';
import { createWorkerMetrics } from './worker-metrics.js';
import { stallSettings } from './stall-settings.js';
import { createWebhookOutbox } from './webhook-outbox.js';
import type { WorkerEnvValues } from './worker-env.js';

export interface RunWorkerOptions<Q extends QueueAlias> {
  queue: Q;
  /** The worker's parsed env (its own schema spreads WorkerEnv). */
  env: WorkerEnvValues;
  concurrency: number;
  handlers: Handlers<Q, JobContext<Q>>;
  /** Overrides of the stall settings and other BullMQ options (tests shrink lockDuration / stalledInterval). */
  workerOptions?: Partial<Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency' | 'autorun'>>;
  ssh?: Omit<SshPoolOptions, 'log'>;
  /** Defaults to a pino logger named `<queue>-worker` at LOG_LEVEL. */
  log?: Logger;
  /** Job log batching (PostgreSQL) and live streaming limits; defaults 250 ms, 100 lines, 20 output lines/s per job. */
  jobLogs?: { flushIntervalMs?: number; maxBatch?: number; liveOutputLinesPerSecond?: number };
}

export interface RunningWorker {
  worker: Worker;
  healthPort: number;
  log: Logger;
  /** Stops taking jobs, lets active ones finish (up to SHUTDOWN_TIMEOUT_MS), closes everything. Idempotent; never hangs when Redis is down. */
  close(): Promise<void>;
}

/** setTimeout's ceiling: a job name without a limit still gets a timer (that never fires in practice). */
const MAX_TIMER_MS = 2_147_483_647;

const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Resolves true if `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const ac = new AbortController();
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timedOut = delay(ms, false, { signal: ac.signal }).catch(() => false);
  const result = await Promise.race([settled, timedOut]);
  ac.abort();
  return result;
}

function pingRedis(connection: Redis): Promise<unknown> {
  // The worker connection queues commands while Redis is away; a probe must answer "down" instead of waiting.
  if (connection.status !== 'ready') return Promise.reject(new Error(`redis ${connection.status}`));
  return connection.ping();
}

/**
 * Starts one worker process's queue consumer: preflight (one clear line when Redis or PostgreSQL is missing),
 * migrations, connections, the BullMQ worker built from the catalog, error handlers, and the health probe.
 */
export async function runWorker<Q extends QueueAlias>(opts: RunWorkerOptions<Q>): Promise<RunningWorker> {
  const { queue, env, concurrency } = opts;
  const log = opts.log ?? createLogger({ name: `${queue}-worker`, level: env.LOG_LEVEL, pretty: env.NODE_ENV === 'development' });
  const timeouts = parseJobTimeouts(env.JOB_TIMEOUTS_MS);
  if (env.SERVER_BUSY_DELAY_MAX_MS < env.SERVER_BUSY_DELAY_MIN_MS) throw new Error('SERVER_BUSY_DELAY_MAX_MS must not be below SERVER_BUSY_DELAY_MIN_MS');
  if (env.SERVER_LEASE_RENEW_MS >= env.SERVER_LEASE_MS) throw new Error('SERVER_LEASE_RENEW_MS must be below SERVER_LEASE_MS');

  await checkPostgres(env.DATABASE_URL);
  const { maxmemoryPolicy } = await checkRedis(env.REDIS_URL);
  if (maxmemoryPolicy && maxmemoryPolicy !== 'noeviction') {
    log.warn({ maxmemoryPolicy }, 'Redis maxmemory-policy is not noeviction: BullMQ can lose jobs (https://docs.bullmq.io/guide/going-to-production)');
  }
  await migrateDatabase(env.DATABASE_URL);

  const database: Database = createDatabase(env.DATABASE_URL, { max: concurrency + 2 });
  const connection = createRedisConnection(env.REDIS_URL, 'worker');
  const serverJobs = new ServerJobIndex(connection, env.QUEUE_PREFIX);
  let redisDown = false;
  // Log the transitions, not every reconnect attempt.
  connection.on('error', (err) => {
    if (!redisDown) log.error({ err }, 'Redis connection lost; retrying');
    redisDown = true;
  });
  connection.on('ready', () => {
    if (redisDown) log.info('Redis connection restored');
    redisDown = false;
  });
  const ssh = new SshPool({ ...opts.ssh, log });
  const leases = new ServerLeases(connection, { prefix: env.QUEUE_PREFIX, leaseMs: env.SERVER_LEASE_MS, renewEveryMs: env.SERVER_LEASE_RENEW_MS, log });
  let cancels: CancelListener | undefined;
  const outbox = createWebhookOutbox(database.db, log);
  const metrics = createWorkerMetrics(queue, () => ssh.size);
  const jobLogs = new JobLogWriter({
    db: database.db,
    log,
    ...opts.jobLogs,
    onDropped: (count, reason) => metrics.logLinesDropped(count, reason),
  });
  const jobLogEvents = new JobLogEvents({
    producer: createQueueEventsProducer(queue, { connection, prefix: env.QUEUE_PREFIX }),
    log,
    ...(opts.jobLogs?.liveOutputLinesPerSecond ? { outputLinesPerSecond: opts.jobLogs.liveOutputLinesPerSecond } : {}),
    connected: () => connection.status === 'ready',
    onSkipped: (count) => metrics.logLinesDropped(count, 'live_rate_limit'),
  });
  const journals = new WeakMap<Job, JobJournal>();

  const runtimes = new WeakMap<Job, JobRuntime<Q>>();
  const inner = createProcessor(queue, opts.handlers, (job, signal) => {
    const runtime = createJobContext({ queue, job, signal, db: database.db, ssh, log, credentialsKey: env.CREDENTIALS_KEY, journal: journals.get(job) });
    runtimes.set(job, runtime);
    return runtime.ctx;
  });
  // Classifies every failure once and records it on the job's record. A job without a runtime failed
  // before its payload was valid: its record id cannot be trusted, so the record is left untouched.
  const processor: Processor = async (job, token, signal) => {
    const name = isJobName(job.name) ? job.name : undefined;
    const serverId = (job.data as { serverId?: unknown } | undefined)?.serverId;
    let lease: HeldLease | undefined;
    const leaseLost = new AbortController();
    // One exclusive job per server: a busy server defers the job without using an attempt (BullMQ's manual delay).
    // https://docs.bullmq.io/patterns/process-step-jobs#delaying
    if (name && catalog[name].exclusive && typeof serverId === 'string' && job.id) {
      const outcome = await leases.acquire(serverId, job.id, token ?? '', () => leaseLost.abort('server lease lost'));
      // Cancelled while asking: run on into the handler, which stops at once on the aborted signal and records it.
      if (!outcome.acquired && !signal?.aborted) {
        const delayMs = env.SERVER_BUSY_DELAY_MIN_MS + Math.floor(Math.random() * (env.SERVER_BUSY_DELAY_MAX_MS - env.SERVER_BUSY_DELAY_MIN_MS + 1));
        log.info({ jobId: job.id, jobName: job.name, serverId, heldBy: outcome.holder, delayMs }, 'server busy with another job: deferred');
        await job.log(`waiting: server ${serverId} is busy with job ${outcome.holder}; trying again in ${delayMs} ms`);
        await job.moveToDelayed(Date.now() + delayMs, token);
        throw new DelayedError();
      }
      if (outcome.acquired) lease = outcome.lease;
    }
    // A job scheduler's run (a scheduled backup) was announced by no producer: index it under its server here, so
    // `GET /api/jobs?serverId=` lists it and a server delete sees it. ZADD is idempotent across retries.
    if (name && catalog[name].idField === null && typeof serverId === 'string' && job.id) {
      await serverJobs.add(serverId, queue, job.id, job.timestamp).catch((err: unknown) => log.warn({ err, jobId: job.id }, 'could not index the job under its server'));
    }
    const timeoutMs = name ? timeoutOf(name, timeouts) : 0;
    // A lost server lease stops the job like a cancel does, but the job is retried (below).
    const stop = signal ? AbortSignal.any([signal, leaseLost.signal]) : leaseLost.signal;
    const timer = startJobTimer(stop, timeoutMs > 0 ? timeoutMs : MAX_TIMER_MS);
    const journal = createJobJournal({ queue, job, writer: jobLogs, events: jobLogEvents, metrics });
    journals.set(job, journal);
    try {
      // Cancelled between Redis handing the job over and this processor starting: stop before doing any work.
      const cancelReason = job.id ? await cancels?.consume(job.id) : null;
      if (cancelReason && job.id) worker?.cancelJob(job.id, cancelReason);
      const result = await inner(job, token, timer.signal);
      // Every line is in PostgreSQL before BullMQ says the job completed.
      await journal.completed();
      await outbox.jobCompleted(queue, job, result);
      return result;
    } catch (err) {
      const runtime = runtimes.get(job);
      const timedOut = timer.timedOut();
      const cancelled = !timedOut && signal?.aborted === true;
      const lostLease = !timedOut && !cancelled && leaseLost.signal.aborted;
      // A cancelled (worker.cancelJob) or timed-out job is not retried, whatever error the abort surfaced as.
      const classified = timedOut
        ? new UnrecoverableError(timeoutMessage(timeoutMs))
        : cancelled
          ? new UnrecoverableError(`job cancelled${typeof signal?.reason === 'string' ? `: ${signal.reason}` : ''}`)
          : lostLease
            ? new Error(`stopped: the server lease was lost while the job ran (Redis unreachable for over SERVER_LEASE_MS); it will be retried`)
            : classifyError(err, runtime ? (text) => runtime.redactor.text(text) : undefined);
      const final = classified instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const jobLog = runtime?.ctx.log ?? log.child({ jobId: job.id, queue, jobName: job.name });
      jobLog.warn({ err: classified, attempt: job.attemptsMade + 1, final }, final ? 'job failed' : 'job attempt failed; will retry');
      // A timeout surfaces as the abort it caused: classify it by the timeout's own error.
      await journal.failed({ err: timedOut ? classified : err, message: classified.message, final, cancelled });
      if (runtime) {
        await runtime.lifecycle
          .fail(classified.message, { final, cancelled })
          .catch((dbErr: unknown) => jobLog.error({ err: dbErr }, 'could not record the failure'));
      }
      if (final && !cancelled) await outbox.jobFailed(queue, job, classified.message);
      // Ended for good: a pending cancel has nothing left to stop, and must not stop a later retry by hand.
      if (final && job.id) await cancels?.clear(job.id);
      throw classified;
    } finally {
      timer.clear();
      await lease?.release();
    }
  };

  let worker: Worker | undefined;
  let health: HealthServer | undefined;
  try {
    worker = createWorker(queue, processor, {
      connection,
      prefix: env.QUEUE_PREFIX,
      concurrency,
      ...stallSettings,
      lockDuration: env.WORKER_LOCK_DURATION_MS,
      stalledInterval: env.WORKER_STALLED_INTERVAL_MS,
      ...opts.workerOptions,
    });
    worker.on('error', (err) => {
      // While Redis is away every reconnect attempt surfaces here too; the transition was already logged.
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) log.debug({ err }, 'worker lost Redis');
      else log.error({ err }, 'worker error');
    });
    worker.on('stalled', (jobId) => log.warn({ jobId }, 'job stalled; moved back to wait'));
    worker.on('lockRenewalFailed', (jobIds) => log.warn({ jobIds }, 'job lock renewal failed'));
    worker.on('completed', (job) => log.info({ jobId: job.id, jobName: job.name }, 'job completed'));
    await worker.waitUntilReady();
    cancels = await startCancelListener({ worker, connection, prefix: env.QUEUE_PREFIX, name: `${queue}-worker`, log });
    health = await startHealthServer({
      host: env.HEALTH_HOST,
      port: env.HEALTH_PORT,
      checks: { redis: () => pingRedis(connection), database: () => database.sql`select 1` },
      metrics: metrics.registry,
    });
  } catch (err) {
    await worker?.close(true).catch(() => {});
    await settlesWithin(jobLogEvents.close(), 2_000);
    if (cancels) await settlesWithin(cancels.close(), 2_000);
    connection.disconnect();
    await ssh.close();
    await database.close();
    throw err;
  }

  const running = worker;
  const probe = health;
  let closing: Promise<void> | undefined;
  log.info({ queue, concurrency, healthPort: probe.port }, 'worker ready');

  return {
    worker: running,
    healthPort: probe.port,
    log,
    close() {
      closing ??= (async () => {
        await probe.close();
        // With Redis away BullMQ's graceful close waits for a reconnect that may never come: force it.
        const graceful = connection.status === 'ready';
        const closed = running.close(!graceful);
        if (!(await settlesWithin(closed, graceful ? env.SHUTDOWN_TIMEOUT_MS : 2_000))) {
          log.warn('worker did not close in time; disconnecting (unfinished jobs are recovered as stalled)');
          await settlesWithin(running.disconnect(), 2_000);
        }
        // Lines of jobs cut short by the timeout above are still buffered: write them while PostgreSQL is open.
        await settlesWithin(jobLogs.flush(), 5_000);
        await settlesWithin(jobLogEvents.close(), 2_000);
        if (cancels) await settlesWithin(cancels.close(), 2_000);
        connection.disconnect();
        await ssh.close();
        await database.close();
        log.info({ queue }, 'worker closed');
      })();
      return closing;
    },
  };
}
