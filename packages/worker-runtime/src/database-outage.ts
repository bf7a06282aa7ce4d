import { UnrecoverableError } from 'bullmq';
import { settlesWithin } from './settles-within.js';

/**
 * Tells "PostgreSQL is unavailable" apart from a failure of the job itself. Asked only after an attempt failed: if the
 * database does not answer `select 1` within PROBE_MS right then, the failure is the outage's (whatever error the
 * handler surfaced it as), and the job waits it out instead of spending one of its attempts.
 */
export interface DatabaseOutageCheck {
  /** True when `err` should defer the job: a retryable failure while PostgreSQL does not answer. */
  explains(err: unknown): Promise<boolean>;
}

const PROBE_MS = 2_000;

export function databaseOutageCheck(ping: () => Promise<unknown>): DatabaseOutageCheck {
  return {
    async explains(err) {
      // A failure that retrying cannot heal (bad payload, host key mismatch) is the job's own, outage or not.
      if (err instanceof UnrecoverableError) return false;
      let reachable = false;
      const answered = await settlesWithin(
        ping().then(() => {
          reachable = true;
        }),
        PROBE_MS,
      );
      return !answered || !reachable;
    },
  };
}
