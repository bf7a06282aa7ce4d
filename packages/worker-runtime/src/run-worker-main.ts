import { DependencyUnavailableError } from '@mm/db';
import { RedisUnavailableError, type QueueAlias } from '@mm/jobs';
import { runWorker, type RunWorkerOptions } from './run-worker.js';

/**
 * For a worker's main.ts: start, then shut down gracefully on SIGTERM / SIGINT (stop taking jobs, let active
 * ones finish up to SHUTDOWN_TIMEOUT_MS, close Redis and PostgreSQL, exit 0). A second signal or the timeout
 * exits at once with 1; BullMQ then recovers the unfinished job as stalled on another worker.
 */
export async function runWorkerMain<Q extends QueueAlias>(opts: RunWorkerOptions<Q>): Promise<void> {
  let running;
  try {
    running = await runWorker(opts);
  } catch (err) {
    // A missing dependency is an operator problem: one clear line, no stack trace.
    if (err instanceof DependencyUnavailableError || err instanceof RedisUnavailableError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const { log } = running;
  let shuttingDown = false;

  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    log.info({ signal, timeoutMs: opts.env.SHUTDOWN_TIMEOUT_MS }, 'shutting down: finishing active jobs');
    // The runtime bounds its own close; this timer is the last resort if something still hangs.
    const deadline = setTimeout(() => {
      log.error({ timeoutMs: opts.env.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out: exiting now');
      process.exit(1);
    }, opts.env.SHUTDOWN_TIMEOUT_MS + 5_000);
    deadline.unref();
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
