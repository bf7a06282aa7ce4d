import type { Worker } from 'bullmq';
import { createLogger, type Logger } from '@mm/config';
import { createDatabase } from '@mm/db';
import { createQueueEventsProducer, openQueueBackend, assertHandlers, type Handlers, type QueueAlias, type QueueBackend } from '@mm/jobs';
import { deploymentHostPolicy, SshPool, type SshPoolOptions } from '@mm/ssh';
import { startCancelListener, type CancelListener } from './cancel-listener.js';
import { databaseOutageCheck } from './database-outage.js';
import { startHealthServer } from './health-server.js';
import type { JobContext } from './job-context.js';
import { createJobPipeline } from './job-pipeline.js';
import { parseJobTimeouts } from './job-timeout.js';
import { JobLogEvents } from './job-log-events.js';
import { JobLogWriter } from './job-log-writer.js';
import { closeQueueWorker, startQueueWorker, type QueueWorkerOptions } from './queue-worker.js';
import { pingRedis, watchRedis } from './redis-watch.js';
import { ServerLeases } from './server-lease.js';
import { Teardown } from './teardown.js';
import { createWebhookOutbox } from './webhook-outbox.js';
import { createWorkerMetrics } from './worker-metrics.js';
import type { WorkerEnvValues } from './worker-env.js';
import { checkSettings, preflight, upgradeSecrets } from './worker-preflight.js';

export interface RunWorkerOptions<Q extends QueueAlias> {
  queue: Q;
  /** The worker's parsed env (its own schema spreads WorkerEnv). */
  env: WorkerEnvValues;
  concurrency: number;
  handlers: Handlers<Q, JobContext<Q>>;
  /** Overrides of the stall settings and other BullMQ options (tests shrink lockDuration / stalledInterval). */
  workerOptions?: QueueWorkerOptions['options'];
  ssh?: Omit<SshPoolOptions, 'log'>;
  /** Defaults to a pino logger named `<queue>-worker` at LOG_LEVEL. */
  log?: Logger;
  /** Job log batching (PostgreSQL) and live streaming limits; defaults 250 ms, 100 lines, 20 output lines/s per job. */
  jobLogs?: { flushIntervalMs?: number; maxBatch?: number; liveOutputLinesPerSecond?: number };
}

export interface RunningWorker {
  worker: Worker;
  /** The queue backend this worker runs on (QUEUE_BACKEND): its connection and stores. */
  backend: QueueBackend;
  healthPort: number;
  log: Logger;
  /** Stops taking jobs, lets active ones finish (up to SHUTDOWN_TIMEOUT_MS), closes everything. Idempotent; never hangs when Redis is down. */
  close(): Promise<void>;
}

/**
 * Starts one worker process's queue consumer: settings, preflight, connections, the job pipeline
 * (job-pipeline.ts), the BullMQ worker, the cancel listener and the health probe; everything opened is closed by one
 * teardown, whether the start fails half-way or close() is called.
 */
export async function runWorker<Q extends QueueAlias>(opts: RunWorkerOptions<Q>): Promise<RunningWorker> {
  const { queue, env, concurrency } = opts;
  const log = opts.log ?? createLogger({ name: `${queue}-worker`, level: env.LOG_LEVEL, pretty: env.NODE_ENV === 'development' });
  const timeouts = parseJobTimeouts(env.JOB_TIMEOUTS_MS);
  checkSettings(env);
  assertHandlers(queue, opts.handlers);
  await preflight(env, log);

  const teardown = new Teardown(log);
  const database = createDatabase(env.DATABASE_URL, { max: concurrency + 2 });
  teardown.add('database', () => database.close());
  await upgradeSecrets(database.db, env.CREDENTIALS_KEY, log).catch(async (err: unknown) => {
    await teardown.run();
    throw err;
  });
  const backend = openQueueBackend(env, 'worker');
  teardown.add('queue backend', () => backend.close());
  if (backend.redis) watchRedis(backend.redis, log);
  const hostPolicy = deploymentHostPolicy({ allowLoopback: env.SERVER_ALLOW_LOOPBACK, redisUrl: env.REDIS_URL, databaseUrl: env.DATABASE_URL });
  const ssh = new SshPool({ hostPolicy, ...opts.ssh, log });
  teardown.add('ssh', () => ssh.close());
  const metrics = createWorkerMetrics(queue, () => ssh.size);
  const jobLogs = new JobLogWriter({ db: database.db, log, ...opts.jobLogs, onDropped: (count, reason) => metrics.logLinesDropped(count, reason) });
  const jobLogEvents = new JobLogEvents({
    producer: createQueueEventsProducer(queue, backend.queueConfig),
    log,
    ...(opts.jobLogs?.liveOutputLinesPerSecond ? { outputLinesPerSecond: opts.jobLogs.liveOutputLinesPerSecond } : {}),
    connected: () => backend.isReady(),
    ordered: backend.kind === 'postgres',
    onSkipped: (count) => metrics.logLinesDropped(count, 'live_rate_limit'),
  });
  teardown.add('live log events', () => jobLogEvents.close(), 2_000);
  // Lines of jobs cut short by a forced close are still buffered: written while PostgreSQL is still open.
  teardown.add('job log lines', () => jobLogs.flush());

  let worker: Worker | undefined;
  let cancels: CancelListener | undefined;
  const processor = createJobPipeline({
    queue,
    handlers: opts.handlers,
    db: database.db,
    ssh,
    log,
    credentialsKey: env.CREDENTIALS_KEY,
    lease: {
      leases: new ServerLeases(backend.leases, { prefix: env.QUEUE_PREFIX, leaseMs: env.SERVER_LEASE_MS, renewEveryMs: env.SERVER_LEASE_RENEW_MS, log }),
      busyDelayMinMs: env.SERVER_BUSY_DELAY_MIN_MS,
      busyDelayMaxMs: env.SERVER_BUSY_DELAY_MAX_MS,
      log,
    },
    timeouts,
    serverJobs: backend.serverJobs,
    journal: { writer: jobLogs, events: jobLogEvents, metrics },
    outbox: createWebhookOutbox(database.db, log),
    outage: databaseOutageCheck(() => database.sql`select 1`),
    databaseRetryDelayMs: env.DATABASE_RETRY_DELAY_MS,
    cancelJob: (jobId, reason) => worker?.cancelJob(jobId, reason),
    cancels: () => cancels,
  });

  // Registered before the worker so it closes after it (reverse order): a job finishing during shutdown may still clear its marker.
  teardown.add('cancel listener', () => cancels?.close(), 2_000);
  try {
    const started = startQueueWorker({ queue, processor, backend, env, concurrency, log, ...(opts.workerOptions ? { options: opts.workerOptions } : {}) });
    worker = started;
    teardown.add('worker', () => closeQueueWorker(started, backend, env.SHUTDOWN_TIMEOUT_MS, log), env.SHUTDOWN_TIMEOUT_MS + 5_000);
    await started.waitUntilReady();
    cancels = await startCancelListener({ worker: started, backend, name: `${queue}-worker`, log });
    const health = await startHealthServer({
      host: env.HEALTH_HOST,
      port: env.HEALTH_PORT,
      checks: { [backend.kind === 'redis' ? 'redis' : 'queues']: () => (backend.redis ? pingRedis(backend.redis, env.QUEUE_PREFIX) : backend.ping()), database: () => database.sql`select 1` },
      metrics: metrics.registry,
    });
    teardown.add('health probe', () => health.close());
    log.info({ queue, concurrency, healthPort: health.port, backend: backend.kind, queues: backend.describe() }, 'worker ready');
    return {
      worker: started,
      backend,
      healthPort: health.port,
      log,
      close: async () => {
        await teardown.run();
        log.info({ queue }, 'worker closed');
      },
    };
  } catch (err) {
    // Fail fast at start: the worker is forced shut, nothing waits for jobs.
    await worker?.close(true).catch(() => {});
    await teardown.run();
    throw err;
  }
}

