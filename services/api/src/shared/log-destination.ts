import pino, { type DestinationStream } from 'pino';

/** Bytes of log lines gathered before one write; a quiet API's lines still go out within FLUSH_MS. */
const MIN_BYTES = 4_096;
const FLUSH_MS = 1_000;

/**
 * Where the API writes its log lines (stdout in production): buffered, so a busy API makes one write syscall per
 * 4 KiB of lines instead of one per request line (writing each line cost ~10 % of the API's CPU on the hot paths,
 * docs/PERFORMANCE.md). Flushed every second, and on exit by pino (lines are not lost when the process ends).
 */
export function logDestination(dest: number | string = 1): DestinationStream {
  return pino.destination({ dest, sync: false, minLength: MIN_BYTES, periodicFlush: FLUSH_MS });
}
