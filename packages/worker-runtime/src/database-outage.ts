import { UnrecoverableError } from 'bullmq';
import { DrizzleQueryError } from 'drizzle-orm';
import { settlesWithin } from './settles-within.js';

/**
 * Tells "PostgreSQL is unavailable" apart from a failure of the job itself. Asked only after an attempt failed. The
 * failure is the outage's, and the job waits it out instead of spending one of its attempts, when the error itself
 * says the database connection could not be had or was lost, or when the database does not answer `select 1` within
 * PROBE_MS right then (whatever error the handler surfaced it as).
 */
export interface DatabaseOutageCheck {
  /**
   * True when the failure should defer the job: a retryable failure while PostgreSQL is unavailable. `classified` is
   * the error as classified for BullMQ; `raw` what the handler threw, whose causes say where a query error came from.
   */
  explains(classified: unknown, raw?: unknown): Promise<boolean>;
}

const PROBE_MS = 2_000;

export function databaseOutageCheck(ping: () => Promise<unknown>): DatabaseOutageCheck {
  return {
    async explains(classified, raw) {
      // A failure that retrying cannot heal (bad payload, host key mismatch) is the job's own, outage or not.
      if (classified instanceof UnrecoverableError) return false;
      // Said by the error itself: an outage that has just ended (the probe below would answer) still deferred the job.
      if (lostDatabaseConnection(raw ?? classified)) return true;
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

/** postgres.js's own codes for a connection it could not open or lost. */
const CLIENT_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);
/** Socket errors, trusted to be the database's only as the cause of a failed query (an SSH or HTTP one is not). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** How far down `cause` to look: a handler may wrap a query error once or twice. */
const CAUSE_DEPTH = 4;

/**
 * True when `err`, or an error it was caused by, is the database client saying it has no connection: postgres.js's
 * connection codes; PostgreSQL's connection-exception class (08), admin or crash shutdown and "cannot connect now"
 * (57P01-57P03), too many connections (53300), or any FATAL/PANIC, which ends the session (such as 55000, "database is
 * not currently accepting connections"); a socket error under a failed query. Never a statement's own error
 * (a constraint, a type, a division by zero): those are the job's failures.
 */
export function lostDatabaseConnection(err: unknown): boolean {
  let current: unknown = err;
  let underQuery = false;
  for (let depth = 0; depth <= CAUSE_DEPTH && current instanceof Error; depth += 1) {
    const { code, severity } = current as { code?: unknown; severity?: unknown };
    if (typeof code === 'string') {
      if (CLIENT_CODES.has(code)) return true;
      if (underQuery && SOCKET_CODES.has(code)) return true;
      if (current.name === 'PostgresError' && (code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300')) return true;
    }
    if (current.name === 'PostgresError' && (severity === 'FATAL' || severity === 'PANIC')) return true;
    underQuery = current instanceof DrizzleQueryError;
    current = current.cause;
  }
  return false;
}
